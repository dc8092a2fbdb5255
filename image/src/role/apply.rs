//! Applying a role to an image root: packages (through the family's package manager), users, files,
//! services, then the post-install script.
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Role, RoleFile};
use crate::command::{self, CommandError};
use crate::rootfs::{self, RootPathError};

/// Installs packages into an image root: apt in a chroot for Debian, `dnf --installroot` for EL.
pub trait PackageInstaller {
    /// Installs `packages` and comps `groups` into the root.
    fn install(&mut self, packages: &[String], groups: &[String]) -> Result<(), CommandError>;
}

/// Why a role could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A tool failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A file of the role could not be written.
    #[error("role file {path}: {source}")]
    File {
        /// The path inside the image.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file path that leads outside the image through its symlinks.
    #[error(transparent)]
    Path(#[from] RootPathError),
    /// An owner or group that the image does not have.
    #[error("role file {path}: the image has no {kind} {name:?}")]
    UnknownId {
        /// The path inside the image.
        path: String,
        /// `user` or `group`.
        kind: &'static str,
        /// The name.
        name: String,
    },
}

/// Applies `role` to the image at `root`.
pub fn apply(root: &Path, role: &Role, installer: &mut dyn PackageInstaller) -> Result<(), ApplyError> {
    if !role.packages.is_empty() || !role.groups.is_empty() {
        installer.install(&role.packages, &role.groups)?;
    }
    for user in &role.users {
        if rootfs::lookup_id(root, "etc/passwd", &user.name).is_some() {
            tracing::info!(user = user.name, "user already in the image");
            continue;
        }
        let mut cmd = Command::new("useradd");
        cmd.arg("--root").arg(root);
        if let Some(uid) = user.uid {
            cmd.args(["--uid", &uid.to_string()]);
        }
        if user.system {
            cmd.arg("--system");
        } else {
            cmd.arg("--create-home");
        }
        if !user.groups.is_empty() {
            cmd.args(["--groups", &user.groups.join(",")]);
        }
        if let Some(shell) = &user.shell {
            cmd.args(["--shell", shell]);
        }
        cmd.arg(&user.name);
        command::run(&format!("adding user {}", user.name), &mut cmd)?;
    }
    for file in &role.files {
        write_file(root, file)?;
    }
    for (verb, units) in [("enable", &role.services.enable), ("disable", &role.services.disable)] {
        if units.is_empty() {
            continue;
        }
        let mut cmd = Command::new("systemctl");
        cmd.arg("--root").arg(root).arg(verb).args(units);
        command::run(&format!("{verb} services {}", units.join(" ")), &mut cmd)?;
    }
    if let Some(script) = &role.post_install {
        let mut cmd = command::in_chroot(root, &["/bin/sh", "-e", "-s"]);
        command::run_with_input(&format!("post-install script of role {}", role.name), &mut cmd, Some(script.as_bytes()))?;
    }
    Ok(())
}

fn write_file(root: &Path, file: &RoleFile) -> Result<(), ApplyError> {
    let io = |source| ApplyError::File { path: file.path.clone(), source };
    let unknown = |kind, name: &str| ApplyError::UnknownId { path: file.path.clone(), kind, name: name.to_owned() };
    let uid = rootfs::lookup_id(root, "etc/passwd", &file.owner).ok_or_else(|| unknown("user", &file.owner))?;
    let gid = rootfs::lookup_id(root, "etc/group", &file.group).ok_or_else(|| unknown("group", &file.group))?;
    let target: PathBuf = rootfs::resolve(root, Path::new(&file.path))?;
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    fs::write(&target, &file.content).map_err(io)?;
    // chown before chmod: chown clears set-id bits.
    std::os::unix::fs::chown(&target, Some(uid), Some(gid)).map_err(io)?;
    fs::set_permissions(&target, fs::Permissions::from_mode(Role::mode_of(file))).map_err(io)?;
    Ok(())
}
