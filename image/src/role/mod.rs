//! Roles: what makes a compute node differ from a login or storage node, written as a small YAML file
//! that the image builders apply on top of a base system (packages first, then users, files, services
//! and a post-install script, in that order, so files can belong to the role's users and the script
//! sees everything in place).
//!
//! ```yaml
//! name: compute
//! description: batch compute node
//! packages: [numactl, hwloc]
//! groups: [infiniband]          # comps groups (EL only)
//! services: { enable: [slurmd], disable: [] }
//! files:
//!   - { path: /etc/motd, content: "compute\n", mode: "0644", owner: root, group: root }
//! users:
//!   - { name: slurm, uid: 990, system: true }
//! post_install: |
//!   echo done > /etc/role
//! ```
mod apply;
mod builtin;
mod error;

use serde::{Deserialize, Serialize};

pub use apply::{ApplyError, PackageInstaller, apply};
pub use builtin::{BUILTIN_ROLES, builtin};
pub use error::RoleError;

use crate::meta::Family;

/// Largest role document accepted, bytes: a real one is a few KiB, and the content of files is inline.
pub const ROLE_MAX_BYTES: usize = 1024 * 1024;

/// One role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Role name, recorded in the image metadata.
    pub name: String,
    /// What the role is for.
    #[serde(default)]
    pub description: String,
    /// Packages installed on top of the base system.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Package groups (EL comps group ids) installed on top of the base system.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Services to enable or disable.
    #[serde(default)]
    pub services: Services,
    /// Files written into the image.
    #[serde(default)]
    pub files: Vec<RoleFile>,
    /// Users created in the image.
    #[serde(default)]
    pub users: Vec<RoleUser>,
    /// Shell script run last, with `/bin/sh` inside the image root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_install: Option<String>,
}

/// Services (systemd unit names; `.service` may be left off).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Services {
    /// Units enabled at boot.
    #[serde(default)]
    pub enable: Vec<String>,
    /// Units disabled.
    #[serde(default)]
    pub disable: Vec<String>,
}

/// One file written into the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleFile {
    /// Absolute path inside the image.
    pub path: String,
    /// The file's content.
    pub content: String,
    /// Octal mode, `"0644"` when absent.
    #[serde(default = "default_mode")]
    pub mode: String,
    /// Owner, a user name of the image (not of the build host).
    #[serde(default = "root")]
    pub owner: String,
    /// Group, a group name of the image.
    #[serde(default = "root")]
    pub group: String,
}

/// One user created in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleUser {
    /// Login name.
    pub name: String,
    /// Fixed uid (cluster-wide ids matter for NFS); the next free one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// A system account (no home directory, system uid range).
    #[serde(default)]
    pub system: bool,
    /// Supplementary groups, which must exist in the image.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Login shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
}

fn default_mode() -> String {
    "0644".to_owned()
}

fn root() -> String {
    "root".to_owned()
}

impl Role {
    /// Parses and checks a role; `family` is the family it will be applied to, which decides whether
    /// comps groups make sense.
    pub fn parse(yaml: &str, family: Family) -> Result<Role, RoleError> {
        if yaml.len() > ROLE_MAX_BYTES {
            return Err(RoleError::TooLarge(ROLE_MAX_BYTES));
        }
        let role: Role = serde_norway::from_str(yaml).map_err(|e| RoleError::Syntax(e.to_string()))?;
        role.check(family)?;
        Ok(role)
    }

    /// Loads a role: a built-in one by name (`compute`), or a YAML file by path.
    pub fn load(name_or_path: &str, family: Family) -> Result<Role, RoleError> {
        if let Some(yaml) = builtin(name_or_path, family) {
            return Role::parse(yaml, family);
        }
        let path = std::path::Path::new(name_or_path);
        if !name_or_path.contains('/') && !path.exists() {
            return Err(RoleError::Unknown(name_or_path.to_owned()));
        }
        let yaml = std::fs::read_to_string(path).map_err(|e| RoleError::Read(name_or_path.to_owned(), e.to_string()))?;
        Role::parse(&yaml, family)
    }

    /// The file mode of `file`, checked by [`Role::parse`].
    pub fn mode_of(file: &RoleFile) -> u32 {
        u32::from_str_radix(&file.mode, 8).unwrap_or(0o644)
    }

    fn check(&self, family: Family) -> Result<(), RoleError> {
        check_word("role name", &self.name)?;
        for p in &self.packages {
            check_word("package", p)?;
        }
        for g in &self.groups {
            check_word("group", g)?;
        }
        if family == Family::Debian && !self.groups.is_empty() {
            return Err(RoleError::GroupsOnDebian(self.groups.clone()));
        }
        for s in self.services.enable.iter().chain(&self.services.disable) {
            check_word("service", s)?;
        }
        for f in &self.files {
            check_image_path(&f.path)?;
            let mode = u32::from_str_radix(&f.mode, 8).ok().filter(|m| *m <= 0o7777);
            if mode.is_none() {
                return Err(RoleError::BadMode { path: f.path.clone(), mode: f.mode.clone() });
            }
            check_word("owner", &f.owner)?;
            check_word("group", &f.group)?;
        }
        for u in &self.users {
            check_word("user", &u.name)?;
            for g in &u.groups {
                check_word("group", g)?;
            }
            if let Some(shell) = &u.shell {
                check_image_path(shell)?;
            }
        }
        Ok(())
    }
}

/// Names end up as arguments of apt, dnf, systemctl and useradd: nothing that a tool could read as an
/// option or that a shell would split.
fn check_word(what: &'static str, value: &str) -> Result<(), RoleError> {
    let ok = !value.is_empty()
        && !value.starts_with('-')
        && value.len() <= 128
        && value.chars().all(|c| c.is_ascii_alphanumeric() || "._+-@:".contains(c));
    if ok { Ok(()) } else { Err(RoleError::BadName { what, value: value.to_owned() }) }
}

/// Paths inside the image are absolute and cannot climb out of it.
fn check_image_path(path: &str) -> Result<(), RoleError> {
    let p = std::path::Path::new(path);
    let climbs = p.components().any(|c| matches!(c, std::path::Component::ParentDir));
    if !p.is_absolute() || climbs || path.len() > 4096 {
        return Err(RoleError::BadPath(path.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
