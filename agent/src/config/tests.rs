//! Golden tests (one folder per plugin under `agent/testdata/config/`, expected output per family,
//! compared byte for byte), every refusal of the schema, and writes into a real directory tree.
//!
//! `FOUNTAIN_BLESS=1 cargo test -p agent config::` rewrites the expected files; review the diff.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;
use control::node_config::ConfigError as E;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/config")
}

fn parse(yaml: &str) -> NodeConfig {
    serde_norway::from_str(yaml).unwrap_or_else(|e| panic!("{e}: {yaml}"))
}

/// The modes, links, fstab lines and kernel arguments of `r`, one per line.
fn manifest(r: &Rendered) -> String {
    let mut s = String::new();
    for f in &r.files {
        let _ = writeln!(s, "file {:04o} {}", f.mode, f.path);
    }
    for l in &r.links {
        let _ = writeln!(s, "link {} -> {}", l.path, l.target);
    }
    for l in &r.fstab {
        let _ = writeln!(s, "fstab {l}");
    }
    for a in &r.kernel_args {
        let _ = writeln!(s, "kernel-arg {a}");
    }
    s
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(format!("/{}", p.strip_prefix(dir).unwrap().display()), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Renders the case `name` with `plugin` alone for both families and compares with the checked-in
/// files; a plugin with output for neither family fails, so an empty golden proves nothing.
fn golden(name: &str, plugin: &dyn Plugin) {
    let dir = testdata().join(name);
    let config = parse(&std::fs::read_to_string(dir.join("node.yaml")).unwrap());
    for (family, fam) in [(Family::Debian, "debian"), (Family::El, "el")] {
        let rendered = render_with(&[plugin], &config, family).unwrap();
        assert_ne!(rendered, Rendered::default(), "{name}/{fam}: plugin rendered nothing");
        let expect_dir = dir.join(fam);
        let files: BTreeMap<String, Vec<u8>> = rendered.files.iter().map(|f| (f.path.clone(), f.contents.clone())).collect();
        if std::env::var_os("FOUNTAIN_BLESS").is_some() {
            let _ = std::fs::remove_dir_all(&expect_dir);
            std::fs::create_dir_all(&expect_dir).unwrap();
            std::fs::write(expect_dir.join("manifest"), manifest(&rendered)).unwrap();
            for (path, bytes) in &files {
                let p = expect_dir.join("root").join(path.trim_start_matches('/'));
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, bytes).unwrap();
            }
        }
        let want_manifest = std::fs::read_to_string(expect_dir.join("manifest")).unwrap();
        assert_eq!(manifest(&rendered), want_manifest, "{name}/{fam}/manifest");
        let want = tree(&expect_dir.join("root"));
        assert_eq!(files.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{name}/{fam}: file list");
        for (path, bytes) in &files {
            assert!(want[path] == *bytes, "{name}/{fam}{path} differs:\n{}", String::from_utf8_lossy(bytes));
        }
    }
}

#[test]
fn golden_hostname() {
    golden("hostname", &hostname::Hostname);
}

#[test]
fn golden_network() {
    golden("network", &network::Network);
}

#[test]
fn golden_nfs() {
    golden("nfs", &nfs::Nfs);
}

#[test]
fn golden_ssh_keys() {
    golden("ssh_keys", &ssh_keys::SshKeys);
}

#[test]
fn golden_kernel_args() {
    golden("kernel_args", &kernel_args::KernelArgs);
}

#[test]
fn golden_files() {
    golden("files", &files::Files);
}

#[test]
fn empty_config_renders_nothing() {
    for family in [Family::Debian, Family::El] {
        assert_eq!(render(&NodeConfig::default(), family).unwrap(), Rendered::default());
    }
}

/// A valid config that each refusal below breaks in one place.
const BASE: &str = "
hostname: n1
interfaces:
  - {name: eno1, mac: '52:54:00:00:00:01'}
  - {name: eno2, mac: '52:54:00:00:00:02'}
bonds:
  - {name: bond0, members: ['52:54:00:00:00:01', '52:54:00:00:00:02']}
vlans:
  - {name: v10, link: bond0, id: 10}
";

fn refused(yaml: &str) -> ConfigError {
    match render(&parse(yaml), Family::Debian) {
        Err(RenderError::Invalid(e)) => e,
        other => panic!("accepted or wrong error: {other:?}\n{yaml}"),
    }
}

#[test]
fn base_config_is_accepted_for_both_families() {
    for family in [Family::Debian, Family::El] {
        let r = render(&parse(BASE), family).unwrap();
        assert!(r.files.iter().any(|f| f.path == "/etc/hostname"));
    }
}

/// Whether a refusal is the one a case expects.
type Expected = fn(&ConfigError) -> bool;

#[test]
fn refusals_name_the_problem() {
    let with = |from: &str, to: &str| {
        assert!(BASE.contains(from), "{from}");
        BASE.replacen(from, to, 1)
    };
    let cases: Vec<(String, Expected)> = vec![
        (with("hostname: n1", "hostname: -bad-"), |e| matches!(e, E::Hostname(h) if h == "-bad-")),
        (with("hostname: n1", "hostname: 'a b'"), |e| matches!(e, E::Hostname(_))),
        (with("name: eno1", "name: 'eth0;reboot'"), |e| matches!(e, E::InterfaceName(_))),
        (with("name: eno1", "name: averyverylongname0"), |e| matches!(e, E::InterfaceName(_))),
        (with("name: eno2", "name: eno1"), |e| matches!(e, E::DuplicateInterface(n) if n == "eno1")),
        (with("name: v10", "name: bond0"), |e| matches!(e, E::DuplicateInterface(n) if n == "bond0")),
        (with("'52:54:00:00:00:02'}", "'52:54:00:00:00:01'}"), |e| matches!(e, E::DuplicateMac(_))),
        (with("name: eno1,", "name: x, addresses: [10.0.0.5/33], dhcp: false}\n  - {name: eno1,"), |e| {
            matches!(e, E::Cidr(a, i) if a == "10.0.0.5/33" && i == "x")
        }),
        (with("name: eno1,", "name: x, addresses: [10.0.0.5]}\n  - {name: eno1,"), |e| matches!(e, E::Cidr(..))),
        (with("name: eno1,", "name: x, addresses: [10.0.0.5/+8]}\n  - {name: eno1,"), |e| matches!(e, E::Cidr(..))),
        (with("name: eno1,", "name: x, addresses: [10.0.0.5/24], gateway: 'fd00::1'}\n  - {name: eno1,"), |e| {
            matches!(e, E::GatewayFamily { .. })
        }),
        (with("id: 10}", "id: 10, mtu: 100}"), |e| matches!(e, E::Mtu { mtu: 100, .. })),
        (with("id: 10}", "id: 10, mtu: 65000}"), |e| matches!(e, E::Mtu { .. })),
        (with("members: ['52:54:00:00:00:01', '52:54:00:00:00:02']", "members: []"), |e| matches!(e, E::BondEmpty(_))),
        (with("'52:54:00:00:00:02']}", "'52:54:00:00:00:09']}"), |e| {
            matches!(e, E::BondUnknownMac { bond, mac } if bond == "bond0" && mac.to_string() == "52:54:00:00:00:09")
        }),
        (with("'52:54:00:00:00:02']}", "'52:54:00:00:00:01']}"), |e| matches!(e, E::BondMemberTwice(_))),
        (with("mac: '52:54:00:00:00:01'}", "mac: '52:54:00:00:00:01', addresses: [10.0.0.5/24]}"), |e| {
            matches!(e, E::BondMemberAddressed(i) if i == "eno1")
        }),
        (with("mac: '52:54:00:00:00:01'}", "mac: '52:54:00:00:00:01', dhcp: true}"), |e| matches!(e, E::BondMemberAddressed(_))),
        (with("id: 10}", "id: 0}"), |e| matches!(e, E::VlanId { id: 0, .. })),
        (with("id: 10}", "id: 4095}"), |e| matches!(e, E::VlanId { id: 4095, .. })),
        (with("link: bond0", "link: bond9"), |e| matches!(e, E::VlanUnknownLink { link, .. } if link == "bond9")),
        (format!("{BASE}nfs_mounts: [{{server: 'a b', export: /x, mount_point: /x}}]"), |e| matches!(e, E::Nfs { what: "server", .. })),
        (format!("{BASE}nfs_mounts: [{{server: s, export: x, mount_point: /x}}]"), |e| matches!(e, E::Nfs { what: "export", .. })),
        (format!("{BASE}nfs_mounts: [{{server: s, export: /x, mount_point: /a/../etc}}]"), |e| {
            matches!(e, E::Nfs { what: "mount point", .. })
        }),
        (format!("{BASE}nfs_mounts: [{{server: s, export: /x, mount_point: /x, options: 'ro,x=$y'}}]"), |e| {
            matches!(e, E::Nfs { what: "options", .. })
        }),
        (format!("{BASE}nfs_mounts: [{{server: s, export: /x, mount_point: /x}}, {{server: t, export: /y, mount_point: /x}}]"), |e| {
            matches!(e, E::NfsDuplicate(_))
        }),
        (format!("{BASE}kernel_args: ['quiet splash']"), |e| matches!(e, E::KernelArg(_))),
        (format!("{BASE}ssh_authorized_keys: ['command=\"/bin/sh\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA']"), |e| matches!(e, E::SshKey(_))),
        (format!("{BASE}ssh_authorized_keys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA\\nssh-rsa AAAAB3NzaC1yc2EAAAA\"]"), |e| {
            matches!(e, E::SshKey(_))
        }),
        (format!("{BASE}ssh_authorized_keys: ['ssh-ed25519 not*base64*data!!']"), |e| matches!(e, E::SshKey(_))),
        (format!("{BASE}files: [{{path: /etc/../../host/passwd, content: x}}]"), |e| matches!(e, E::FilePath(_))),
        (format!("{BASE}files: [{{path: etc/motd, content: x}}]"), |e| matches!(e, E::FilePath(_))),
        (format!("{BASE}files: [{{path: /etc/, content: x}}]"), |e| matches!(e, E::FilePath(_))),
        (format!("{BASE}files: [{{path: /etc/motd, content: x, mode: '4755'}}]"), |e| matches!(e, E::FileMode { .. })),
        (format!("{BASE}files: [{{path: /etc/motd, content: x, mode: '0948'}}]"), |e| matches!(e, E::FileMode { .. })),
        (format!("{BASE}files: [{{path: /etc/motd, content: '{}'}}]", "x".repeat(control::node_config::FILE_MAX_BYTES + 1)), |e| {
            matches!(e, E::FileSize(_))
        }),
        (format!("{BASE}files: [{{path: /etc/motd, content: x}}, {{path: /etc//./motd, content: y}}]"), |e| matches!(e, E::FileDuplicate(_))),
    ];
    for (yaml, is_expected) in &cases {
        let e = refused(yaml);
        assert!(is_expected(&e), "wrong refusal {e:?} for\n{yaml}");
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn unknown_fields_are_refused_when_parsed() {
    let err = serde_norway::from_str::<NodeConfig>("vlans: [{name: v, link: l, id: 5, vid: 5}]").unwrap_err();
    assert!(err.to_string().contains("unknown field `vid`"), "{err}");
}

#[test]
fn a_file_clashing_with_a_plugin_is_refused() {
    let yaml = "hostname: n1\nfiles: [{path: /etc/hostname, content: other}]";
    match render(&parse(yaml), Family::El) {
        Err(RenderError::Clash { path, first: "hostname", second: "files" }) => assert_eq!(path, "/etc/hostname"),
        other => panic!("{other:?}"),
    }
}

fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn apply_writes_files_links_and_fstab_and_converges() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/fstab"), "UUID=1 / ext4 defaults 0 1\n").unwrap();
    let yaml = format!(
        "{BASE}nfs_mounts: [{{server: s, export: /x, mount_point: /x}}]\nssh_authorized_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA k']\nkernel_args: [quiet]"
    );
    let rendered = render(&parse(&yaml), Family::Debian).unwrap();
    apply(root, &rendered).unwrap();
    apply(root, &rendered).unwrap();
    assert_eq!(std::fs::read_to_string(root.join("etc/hostname")).unwrap(), "n1\n");
    assert_eq!(mode_of(&root.join("root/.ssh")), 0o700);
    assert_eq!(mode_of(&root.join("root/.ssh/authorized_keys")), 0o600);
    assert_eq!(mode_of(&root.join("etc/systemd/network")), 0o755);
    let link = root.join("etc/systemd/system/multi-user.target.wants/systemd-networkd.service");
    assert_eq!(std::fs::read_link(link).unwrap(), Path::new("/lib/systemd/system/systemd-networkd.service"));
    let fstab = std::fs::read_to_string(root.join("etc/fstab")).unwrap();
    assert!(fstab.starts_with("UUID=1 / ext4 defaults 0 1\n# BEGIN fountain"), "{fstab}");
    assert_eq!(fstab.matches("s:/x /x nfs defaults 0 0").count(), 1, "{fstab}");
    assert!(!tree(root).keys().any(|p| p.contains("fountain-tmp")), "temporary files left");
    // Files written later (the install's /etc/default/grub) leave the block alone.
    write_files(root, &one_file("/etc/default/grub").files, &[]).unwrap();
    assert_eq!(std::fs::read_to_string(root.join("etc/fstab")).unwrap(), fstab);
    assert_eq!(std::fs::read_to_string(root.join("etc/default/grub")).unwrap(), "x\n");
    // The same node without NFS mounts drops the old block.
    apply(root, &render(&parse(BASE), Family::Debian).unwrap()).unwrap();
    assert_eq!(std::fs::read_to_string(root.join("etc/fstab")).unwrap(), "UUID=1 / ext4 defaults 0 1\n");
}

fn one_file(path: &str) -> Rendered {
    Rendered { files: vec![FileToWrite { path: path.into(), mode: 0o644, contents: b"x\n".to_vec() }], ..Rendered::default() }
}

#[test]
fn apply_refuses_paths_that_leave_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    for bad in ["/../outside", "/etc/../../outside", "relative/file", "", "/", "/./"] {
        match apply(&root, &one_file(bad)) {
            Err(WriteError::Escape(p)) => assert_eq!(p, bad),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "something was written beside the root");
}

#[test]
fn apply_follows_symlinks_only_inside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    let root = dir.path().join("root");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(root.join("usr/etc")).unwrap();
    std::fs::write(outside.join("hostname"), "host's own\n").unwrap();
    // An absolute link to the host's directory, a relative link climbing above the root, and a file
    // that is itself an absolute link to a host file.
    std::os::unix::fs::symlink(&outside, root.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../..", root.join("usr/etc/up")).unwrap();
    std::os::unix::fs::symlink("/usr/etc", root.join("etc")).unwrap();
    std::os::unix::fs::symlink(outside.join("hostname"), root.join("usr/etc/hostname")).unwrap();
    apply(&root, &one_file("/abs/hostname")).unwrap();
    apply(&root, &one_file("/etc/up/escaped")).unwrap();
    apply(&root, &one_file("/etc/hostname")).unwrap();
    assert_eq!(std::fs::read_to_string(outside.join("hostname")).unwrap(), "host's own\n");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1, "a file was written outside the root");
    assert!(!dir.path().join("escaped").exists());
    // Each landed where the installed system will look: the link target read inside the root.
    let inner = root.join(outside.strip_prefix("/").unwrap()).join("hostname");
    assert_eq!(std::fs::read_to_string(inner).unwrap(), "x\n");
    assert_eq!(std::fs::read_to_string(root.join("escaped")).unwrap(), "x\n");
    let replaced = root.join("usr/etc/hostname");
    assert!(std::fs::symlink_metadata(&replaced).unwrap().is_file(), "the final symlink was followed, not replaced");
    assert_eq!(std::fs::read_to_string(replaced).unwrap(), "x\n");
}

#[test]
fn readme_example_renders_for_both_families() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../control/README.md")).unwrap();
    let section = readme.split("## Node config").nth(1).expect("control/README.md has a Node config section");
    let yaml = section.split("```yaml\n").nth(1).and_then(|s| s.split("```").next()).unwrap();
    for family in [Family::Debian, Family::El] {
        let r = render(&parse(yaml), family).unwrap();
        assert_eq!(r.kernel_args, ["console=ttyS0,115200n8"]);
        assert_eq!(r.fstab.len(), 1);
    }
}
