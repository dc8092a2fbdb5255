use super::*;
use crate::meta::Family;

#[test]
fn builtin_roles_parse_for_both_families_and_differ() {
    for family in [Family::Debian, Family::El] {
        let roles: Vec<Role> = BUILTIN_ROLES.iter().map(|n| Role::load(n, family).unwrap()).collect();
        for (role, name) in roles.iter().zip(BUILTIN_ROLES) {
            assert_eq!(role.name, name);
        }
        for (i, a) in roles.iter().enumerate() {
            for b in &roles[i + 1..] {
                assert_ne!((&a.packages, &a.groups), (&b.packages, &b.groups), "{} and {} install the same", a.name, b.name);
            }
        }
    }
    let deb = Role::load("storage", Family::Debian).unwrap();
    let el = Role::load("storage", Family::El).unwrap();
    assert!(deb.packages.contains(&"nfs-kernel-server".to_owned()));
    assert!(el.packages.contains(&"nfs-utils".to_owned()));
}

#[test]
fn errors_say_what_is_wrong() {
    let unknown = Role::parse("name: x\npackagez: [a]\n", Family::El).unwrap_err();
    assert!(matches!(&unknown, RoleError::Syntax(m) if m.contains("unknown field `packagez`")), "{unknown}");
    let bad_yaml = Role::parse("name: [x\n", Family::El).unwrap_err();
    assert!(matches!(bad_yaml, RoleError::Syntax(_)));
    assert!(matches!(Role::parse("packages: [a]\n", Family::El), Err(RoleError::Syntax(m)) if m.contains("name")));
    assert!(matches!(
        Role::parse("name: x\npackages: [--nogpgcheck]\n", Family::El),
        Err(RoleError::BadName { what: "package", .. })
    ));
    assert!(matches!(Role::parse("name: x\ngroups: [core]\n", Family::Debian), Err(RoleError::GroupsOnDebian(_))));
    let relative = "name: x\nfiles: [{path: etc/motd, content: hi}]\n";
    assert!(matches!(Role::parse(relative, Family::El), Err(RoleError::BadPath(_))));
    let climbing = "name: x\nfiles: [{path: /etc/../../motd, content: hi}]\n";
    assert!(matches!(Role::parse(climbing, Family::El), Err(RoleError::BadPath(_))));
    let mode = "name: x\nfiles: [{path: /etc/motd, content: hi, mode: \"0999\"}]\n";
    assert!(matches!(Role::parse(mode, Family::El), Err(RoleError::BadMode { .. })));
    assert!(matches!(Role::load("gpu", Family::El), Err(RoleError::Unknown(n)) if n == "gpu"));
}

/// Packages, users, files, services and the script land in a root, each as the role says.
#[test]
fn apply_puts_everything_in_the_root() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in ["etc", "bin", "usr/lib/systemd/system"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nwheel:x:10:\n").unwrap();
    std::fs::write(root.join("etc/shadow"), "root:*:19000:0:99999:7:::\n").unwrap();
    std::fs::write(root.join("etc/gshadow"), "root:*::\nwheel:*::\n").unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static is installed");
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    std::fs::write(
        root.join("usr/lib/systemd/system/demo.service"),
        "[Unit]\nDescription=demo\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
    )
    .unwrap();
    let yaml = r#"
name: demo
packages: [alpha, beta]
groups: [tools]
services: { enable: [demo] }
users:
  - { name: alice, uid: 1234, groups: [wheel], shell: /bin/sh }
files:
  - { path: /etc/demo/conf, content: "x=1\n", mode: "0640", owner: alice, group: wheel }
post_install: |
  echo "ran as $(id -u)" > /etc/post-install-ran
"#;
    let role = Role::parse(yaml, Family::El).unwrap();
    struct Recorder(Vec<(Vec<String>, Vec<String>)>);
    impl PackageInstaller for Recorder {
        fn install(&mut self, p: &[String], g: &[String]) -> Result<(), crate::command::CommandError> {
            self.0.push((p.to_vec(), g.to_vec()));
            Ok(())
        }
    }
    let mut installer = Recorder(Vec::new());
    apply(root, &role, &mut installer).unwrap();
    assert_eq!(installer.0, [(vec!["alpha".to_owned(), "beta".to_owned()], vec!["tools".to_owned()])]);
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("alice:x:1234:")), "{passwd}");
    assert!(std::fs::read_to_string(root.join("etc/group")).unwrap().contains("wheel:x:10:alice"));
    let conf = std::fs::metadata(root.join("etc/demo/conf")).unwrap();
    assert_eq!((conf.uid(), conf.gid(), conf.permissions().mode() & 0o7777), (1234, 10, 0o640));
    assert!(root.join("etc/systemd/system/multi-user.target.wants/demo.service").symlink_metadata().is_ok());
    assert_eq!(std::fs::read_to_string(root.join("etc/post-install-ran")).unwrap(), "ran as 0\n");

    let failing = Role::parse("name: f\npost_install: exit 3\n", Family::El).unwrap();
    let err = apply(root, &failing, &mut installer).unwrap_err().to_string();
    assert!(err.contains("post-install script of role f"), "{err}");
}
