//! A Debian image per built-in role from debootstrap (network: deb.debian.org).
use std::net::{TcpStream, ToSocketAddrs};
use std::process::Command;
use std::time::{Duration, Instant};

use image::build::debian::{self, DebianSpec};
use image::meta::{Family, Source};
use image::role::Role;

use crate::{cache_dir, has_package};

const MIRROR_HOST: &str = "deb.debian.org:80";

fn mirror_reachable() -> bool {
    let Ok(mut addrs) = MIRROR_HOST.to_socket_addrs() else { return false };
    addrs.any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(10)).is_ok())
}

/// Installed per dpkg's own database in the root, not per the metadata we derived.
fn dpkg_installed(root: &std::path::Path, name: &str) -> bool {
    let out = Command::new("dpkg-query")
        .arg("--admindir")
        .arg(root.join("var/lib/dpkg"))
        .args(["-W", "-f", "${db:Status-Abbrev}", name])
        .output()
        .unwrap();
    out.status.success() && out.stdout.starts_with(b"ii")
}

#[test]
fn compute_and_storage_roles_differ_as_they_say() {
    if !mirror_reachable() {
        println!("SKIP: {MIRROR_HOST} cannot be reached; the Debian build test needs the mirror");
        return;
    }
    let spec = DebianSpec { suite: "bookworm".into(), mirror: debian::DEFAULT_MIRROR.into(), cache_dir: cache_dir() };
    let mut built = Vec::new();
    for name in ["compute", "storage"] {
        let role = Role::load(name, Family::Debian).unwrap();
        let work = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let result = debian::build(&spec, &role, work.path()).unwrap_or_else(|e| panic!("building {name}: {e}"));
        println!("built {name} in {:.1} s: {} packages", started.elapsed().as_secs_f64(), result.meta.packages.len());
        built.push((role, result, work));
    }
    for (role, result, _work) in &built {
        let (root, meta) = (&result.root, &result.meta);
        assert_eq!(meta.family, Family::Debian);
        assert_eq!(meta.release, "12");
        assert_eq!(meta.role.as_deref(), Some(role.name.as_str()));
        assert!(matches!(&meta.source, Source::Debootstrap { suite, .. } if suite == "bookworm"));
        assert!(!meta.kernels.is_empty(), "no kernel in /lib/modules");
        assert!(root.join("lib/modules").join(&meta.kernels[0]).join("modules.dep").exists());
        assert!(root.join("boot").join(format!("initrd.img-{}", meta.kernels[0])).exists(), "no initramfs");
        assert!(root.join("boot").join(format!("vmlinuz-{}", meta.kernels[0])).exists(), "no kernel image");
        let keygen = root.join("etc/systemd/system/multi-user.target.wants/fountain-ssh-host-keys.service");
        assert!(keygen.symlink_metadata().is_ok(), "nothing makes new SSH host keys on first boot");
        for needed in ["linux-image-amd64", "grub-pc", "mdadm", "lvm2", "openssh-server", "initramfs-tools"] {
            assert!(dpkg_installed(root, needed), "{}: {needed} missing", role.name);
            assert!(has_package(meta, needed));
        }
        for package in &role.packages {
            assert!(dpkg_installed(root, package), "{}: {package} missing", role.name);
        }
        assert_eq!(std::fs::read(root.join("etc/machine-id")).unwrap(), b"", "machine-id not emptied");
        let host_keys = std::fs::read_dir(root.join("etc/ssh")).unwrap().filter_map(Result::ok);
        assert!(host_keys.filter(|e| e.file_name().to_string_lossy().starts_with("ssh_host_")).count() == 0);
        assert!(!root.join("etc/resolv.conf").exists() && !root.join("usr/sbin/policy-rc.d").exists());
        let debs = std::fs::read_dir(root.join("var/cache/apt/archives")).unwrap().map(|e| e.unwrap().file_name());
        assert!(debs.filter(|n| n.to_string_lossy().ends_with(".deb")).count() == 0, "apt cache not emptied");
        for unit in &role.services.enable {
            let wants = root.join("etc/systemd/system/multi-user.target.wants").join(format!("{unit}.service"));
            assert!(wants.symlink_metadata().is_ok(), "{}: {unit} not enabled", role.name);
        }
    }
    let (compute, storage) = (&built[0].1, &built[1].1);
    assert!(dpkg_installed(&compute.root, "slurmd") && !dpkg_installed(&storage.root, "slurmd"));
    assert!(dpkg_installed(&storage.root, "nfs-kernel-server") && !dpkg_installed(&compute.root, "nfs-kernel-server"));
    assert_ne!(compute.meta.packages, storage.meta.packages);
}
