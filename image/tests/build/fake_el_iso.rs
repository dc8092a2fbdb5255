//! A small EL install ISO made here, since no EL media can be fetched: trivial noarch packages from one
//! rpmbuild spec (setup's /etc/passwd and /etc/group, a kernel's /lib/modules folder, unit files for the
//! services roles enable, busybox as /bin/sh), two repositories (BaseOS, AppStream) made with createrepo_c
//! with comps groups, a productmd `.treeinfo`, and xorriso to make the ISO.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The fake kernel's version, as `/lib/modules` shows it.
pub const KERNEL: &str = "5.14.0-427.13.1.el9_4.x86_64";

/// A package of the fake disc.
struct Pkg {
    name: &'static str,
    repo: &'static str,
    requires: &'static [&'static str],
    /// Extra files: (path, content).
    files: &'static [(&'static str, &'static str)],
}

const fn pkg(name: &'static str, repo: &'static str) -> Pkg {
    Pkg { name, repo, requires: &[], files: &[] }
}

const UNIT: &str = "[Unit]\nDescription=fake\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n";

const PACKAGES: &[Pkg] = &[
    Pkg {
        name: "setup",
        repo: "BaseOS",
        requires: &[],
        files: &[
            ("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
            ("/etc/group", "root:x:0:\nwheel:x:10:\n"),
            ("/etc/shadow", "root:*:19000:0:99999:7:::\n"),
            ("/etc/gshadow", "root:*::\nwheel:*::\n"),
        ],
    },
    Pkg {
        name: "fountain-test-release",
        repo: "BaseOS",
        requires: &["setup"],
        files: &[("/etc/os-release", "NAME=\"Fountain Test Linux\"\nID=\"rocky\"\nVERSION_ID=\"9.4\"\n")],
    },
    Pkg { name: "bash", repo: "BaseOS", requires: &[], files: &[] },
    // Real systemd makes a machine-id when installed; the build must empty it.
    Pkg { name: "systemd", repo: "BaseOS", requires: &[], files: &[("/etc/machine-id", "0123456789abcdef0123456789abcdef\n")] },
    Pkg {
        name: "kernel",
        repo: "BaseOS",
        requires: &[],
        files: &[("/lib/modules/5.14.0-427.13.1.el9_4.x86_64/modules.order", ""), ("/boot/vmlinuz-5.14.0-427.13.1.el9_4.x86_64", "k")],
    },
    pkg("dracut", "BaseOS"),
    pkg("grub2-pc", "BaseOS"),
    pkg("grub2-efi-x64", "BaseOS"),
    pkg("shim-x64", "BaseOS"),
    pkg("mdadm", "BaseOS"),
    pkg("lvm2", "BaseOS"),
    pkg("xfsprogs", "BaseOS"),
    pkg("dosfstools", "BaseOS"),
    pkg("NetworkManager", "BaseOS"),
    Pkg { name: "openssh-server", repo: "BaseOS", requires: &[], files: &[("/usr/lib/systemd/system/sshd.service", UNIT)] },
    pkg("rpcbind", "BaseOS"),
    Pkg {
        name: "nfs-utils",
        repo: "BaseOS",
        requires: &["rpcbind"],
        files: &[("/usr/lib/systemd/system/nfs-server.service", UNIT)],
    },
    pkg("libibverbs", "BaseOS"),
    Pkg { name: "rdma-core", repo: "BaseOS", requires: &["libibverbs"], files: &[] },
    pkg("numactl", "BaseOS"),
    pkg("hwloc", "AppStream"),
    Pkg { name: "tuned", repo: "BaseOS", requires: &[], files: &[("/usr/lib/systemd/system/tuned.service", UNIT)] },
    pkg("perf", "AppStream"),
    pkg("targetcli", "AppStream"),
    pkg("smartmontools", "BaseOS"),
    pkg("gcc", "AppStream"),
    pkg("make", "BaseOS"),
];

/// Comps groups: (repository, id, packages).
const GROUPS: &[(&str, &str, &[&str])] = &[
    ("BaseOS", "core", &["setup", "fountain-test-release", "bash", "systemd"]),
    ("BaseOS", "infiniband", &["rdma-core", "libibverbs"]),
    ("AppStream", "performance", &["perf", "tuned"]),
    ("AppStream", "development", &["gcc", "make"]),
];

/// Makes the ISO under `dir` and returns its path.
pub fn make(dir: &Path) -> PathBuf {
    let top = dir.join("rpmbuild");
    let spec = top.join("fake-el.spec");
    std::fs::create_dir_all(&top).unwrap();
    std::fs::write(&spec, spec_text()).unwrap();
    run(Command::new("rpmbuild").args(["-bb", "--define"]).arg(format!("_topdir {}", top.display())).arg(&spec));
    let disc = dir.join("disc");
    for repo in ["BaseOS", "AppStream"] {
        let packages = disc.join(repo).join("Packages");
        std::fs::create_dir_all(&packages).unwrap();
        for p in PACKAGES.iter().filter(|p| p.repo == repo) {
            let rpm = format!("{}-1.0-1.el9.noarch.rpm", p.name);
            std::fs::copy(top.join("RPMS/noarch").join(&rpm), packages.join(&rpm)).unwrap();
        }
        let comps = dir.join(format!("comps-{repo}.xml"));
        std::fs::write(&comps, comps_text(repo)).unwrap();
        run(Command::new("createrepo_c").arg("-q").arg("-g").arg(&comps).arg(disc.join(repo)));
    }
    std::fs::write(
        disc.join(".treeinfo"),
        "[header]\ntype = productmd.treeinfo\nversion = 1.2\n\n[release]\nname = Fountain Test Linux\nversion = 9.4\n\n\
         [general]\nfamily = Fountain Test Linux\nversion = 9.4\narch = x86_64\n\n[tree]\narch = x86_64\n\
         variants = AppStream,BaseOS\n\n[variant-AppStream]\nrepository = AppStream\n\n[variant-BaseOS]\nrepository = BaseOS\n",
    )
    .unwrap();
    let iso = dir.join("fake-el-9.4.iso");
    run(Command::new("xorriso").args(["-as", "mkisofs", "-quiet", "-R", "-J", "-V", "FAKE-EL-9", "-o"]).arg(&iso).arg(&disc));
    iso
}

fn spec_text() -> String {
    let mut s = String::from(
        "Name: fake-el\nVersion: 1.0\nRelease: 1.el9\nSummary: fake EL packages\nLicense: MIT\nBuildArch: noarch\n\
         %define _binaries_in_noarch_packages_terminate_build 0\n%define __os_install_post %{nil}\n\
         %define _build_id_links none\n%description\nfake\n",
    );
    let mut install = String::from("%install\nmkdir -p %{buildroot}/bin %{buildroot}/usr/share/fake-el\ncp /bin/busybox %{buildroot}/bin/busybox\nln -s busybox %{buildroot}/bin/sh\n");
    for p in PACKAGES {
        let _ = writeln!(s, "%package -n {}\nSummary: fake {}", p.name, p.name);
        for r in p.requires {
            let _ = writeln!(s, "Requires: {r}");
        }
        let _ = writeln!(s, "%description -n {}\nfake\n%files -n {}\n/usr/share/fake-el/{}", p.name, p.name, p.name);
        let _ = writeln!(install, "echo {} > %{{buildroot}}/usr/share/fake-el/{}", p.name, p.name);
        if p.name == "bash" {
            s.push_str("/bin/busybox\n/bin/sh\n");
        }
        for (path, content) in p.files {
            let _ = writeln!(s, "{path}");
            let _ = writeln!(install, "mkdir -p $(dirname %{{buildroot}}{path})\nprintf '%s' '{}' > %{{buildroot}}{path}", content.replace('\'', "'\\''"));
        }
    }
    s.push_str(&install);
    s
}

fn comps_text(repo: &str) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<comps>\n");
    for (_, id, packages) in GROUPS.iter().filter(|g| g.0 == repo) {
        let _ = write!(s, "  <group>\n    <id>{id}</id>\n    <name>{id}</name>\n    <description>{id}</description>\n    <default>false</default>\n    <uservisible>true</uservisible>\n    <packagelist>\n");
        for p in *packages {
            let _ = writeln!(s, "      <packagereq type=\"mandatory\">{p}</packagereq>");
        }
        s.push_str("    </packagelist>\n  </group>\n");
    }
    s.push_str("</comps>\n");
    s
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
