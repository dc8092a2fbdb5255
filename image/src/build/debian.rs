//! Debian images: a debootstrapped base with what a node needs to boot from its own disk (kernel,
//! grub, mdadm, lvm2, an initramfs generator, networking, sshd, NFS client), a role installed with apt
//! inside a chroot, identity scrubbed.
use std::path::{Path, PathBuf};
use std::process::Command;

use super::debootstrap_cache::{self, BaseSpec};
use super::{BuildError, BuiltRoot, inspect, scrub};
use crate::command::{self, CommandError};
use crate::meta::{Family, Source};
use crate::role::{self, PackageInstaller, Role};

/// The mirror used when none is given.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// Packages added to debootstrap's minbase: a kernel and the tools to boot from a disk laid out with
/// GPT, MD RAID and LVM under BIOS or UEFI, networking with DHCP, sshd and an NFS client.
pub const NODE_PACKAGES: &[&str] = &[
    "linux-image-amd64",
    "initramfs-tools",
    "systemd-sysv",
    "udev",
    "kmod",
    "grub-pc",
    "grub-efi-amd64-bin",
    "mdadm",
    "lvm2",
    "xfsprogs",
    "dosfstools",
    "ifupdown",
    "isc-dhcp-client",
    "iproute2",
    "openssh-server",
    "nfs-common",
];

/// What to build.
#[derive(Debug, Clone)]
pub struct DebianSpec {
    /// Debian suite (`bookworm`).
    pub suite: String,
    /// Mirror URL.
    pub mirror: String,
    /// Where debootstrapped bases are kept between builds.
    pub cache_dir: PathBuf,
}

/// Builds `role` on a Debian base into `work/root`.
pub fn build(spec: &DebianSpec, role: &Role, work: &Path) -> Result<BuiltRoot, BuildError> {
    let base_spec = BaseSpec { suite: &spec.suite, mirror: &spec.mirror, include: NODE_PACKAGES };
    let (base, reused) = debootstrap_cache::base(&spec.cache_dir, &base_spec)?;
    tracing::info!(reused, "debian base ready");
    let root = work.join("root");
    std::fs::create_dir_all(&root).map_err(BuildError::io(format!("creating {}", root.display())))?;
    // -a keeps owners, modes, hard links, xattrs and ACLs; the copy is what makes the cache reusable.
    let mut cp = Command::new("cp");
    cp.args(["-a", "--reflink=auto"]).arg(base.join(".")).arg(&root);
    command::run("copying the debootstrapped base", &mut cp)?;

    let resolv = root.join("etc/resolv.conf");
    let policy = root.join("usr/sbin/policy-rc.d");
    let _ = std::fs::remove_file(&resolv);
    std::fs::copy("/etc/resolv.conf", &resolv).map_err(BuildError::io("copying resolv.conf into the root"))?;
    // Debian's convention for "do not start services while installing into this root".
    std::fs::write(&policy, "#!/bin/sh\nexit 101\n").map_err(BuildError::io("writing policy-rc.d"))?;
    set_mode(&policy, 0o755)?;
    let applied = role::apply(&root, role, &mut Apt { root: &root });
    std::fs::remove_file(&policy).map_err(BuildError::io("removing policy-rc.d"))?;
    std::fs::remove_file(&resolv).map_err(BuildError::io("removing the build's resolv.conf"))?;
    applied?;

    let scrubbed = scrub::scrub(&root).map_err(BuildError::io("scrubbing identity"))?;
    tracing::info!(files = scrubbed.len(), "identity scrubbed");
    let source = Source::Debootstrap { suite: spec.suite.clone(), mirror: spec.mirror.clone() };
    let meta = inspect(&root, Family::Debian, Some(role.name.clone()), source)?;
    Ok(BuiltRoot { root, meta })
}

fn set_mode(path: &Path, mode: u32) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(BuildError::io(format!("chmod {}", path.display())))
}

/// apt-get inside the root.
struct Apt<'a> {
    root: &'a Path,
}

impl PackageInstaller for Apt<'_> {
    fn install(&mut self, packages: &[String], groups: &[String]) -> Result<(), CommandError> {
        debug_assert!(groups.is_empty(), "Role::parse refuses groups for Debian");
        let apt = |args: &[&str]| {
            let mut argv = vec!["apt-get", "-q", "-y", "-o", "Dpkg::Options::=--force-confdef"];
            // A stalled mirror fails the build instead of hanging it.
            argv.extend_from_slice(&["-o", "Acquire::http::Timeout=60", "-o", "Acquire::Retries=2"]);
            argv.extend_from_slice(args);
            let mut cmd = command::in_chroot(self.root, &argv);
            cmd.env("DEBIAN_FRONTEND", "noninteractive").env("LC_ALL", "C");
            cmd
        };
        command::run("apt-get update in the image", &mut apt(&["update"]))?;
        let mut install = vec!["install", "--no-install-recommends"];
        install.extend(packages.iter().map(String::as_str));
        command::run(&format!("installing {}", packages.join(" ")), &mut apt(&install))?;
        command::run("apt-get clean in the image", &mut apt(&["clean"]))?;
        Ok(())
    }
}
