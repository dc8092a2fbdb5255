//! Node config plugins: what the agent writes into an installed (or stateless) root after the image is
//! unpacked, so that the node comes up with its own name, addresses, mounts, keys and files.
//!
//! Each concern is one [`Plugin`] in one file. Rendering is pure: a checked [`NodeConfig`] and the
//! image's [`Family`] go in, a [`Rendered`] comes out (files, symlinks, fstab lines, kernel arguments),
//! and golden tests compare it byte for byte. Only [`apply`] touches a disk, and it keeps every write
//! inside the root.
mod fstab;
pub mod files;
pub mod hostname;
pub mod kernel_args;
pub mod network;
mod networkd;
pub mod nfs;
mod nm_keyfile;
pub mod ssh_keys;
mod write;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use control::node::NodeConfig;
pub use control::node_config::ConfigError;
pub use image::meta::Family;
pub use write::{apply, write_files, WriteError};

/// One file to write, at an absolute path inside the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileToWrite {
    /// Absolute path inside the root (`/etc/hostname`).
    pub path: String,
    /// Permission bits; missing parent directories get these plus search (`x`) wherever read is set.
    pub mode: u32,
    /// The bytes.
    pub contents: Vec<u8>,
}

/// One symbolic link to make inside the root (how systemd units are enabled without running
/// systemctl).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkToMake {
    /// Absolute path of the link inside the root.
    pub path: String,
    /// What it points to, as the installed system will read it.
    pub target: String,
}

/// What the plugins produce for one node and family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Files to write.
    pub files: Vec<FileToWrite>,
    /// Symlinks to make.
    pub links: Vec<LinkToMake>,
    /// Lines for the root's `/etc/fstab`, kept in a block of their own (see [`apply`]).
    pub fstab: Vec<String>,
    /// Kernel arguments for the bootloader step, which owns the kernel command line of the installed
    /// system (it writes `GRUB_CMDLINE_LINUX`), so a later kernel update keeps them.
    pub kernel_args: Vec<String>,
}

/// A [`NodeConfig`] that passed [`NodeConfig::check`]; plugins take only this, so none renders
/// an unchecked string into a file.
#[derive(Debug, Clone, Copy)]
pub struct Checked<'a>(&'a NodeConfig);

impl<'a> Checked<'a> {
    /// Checks `config`.
    pub fn new(config: &'a NodeConfig) -> Result<Self, ConfigError> {
        config.check()?;
        Ok(Checked(config))
    }
}

impl std::ops::Deref for Checked<'_> {
    type Target = NodeConfig;

    fn deref(&self) -> &NodeConfig {
        self.0
    }
}

/// One concern of the node's configuration.
pub trait Plugin: Sync {
    /// Short name, for errors and logs.
    fn name(&self) -> &'static str;
    /// Adds what this concern needs in the root of an image of `family` to `out`.
    fn render(&self, config: Checked<'_>, family: Family, out: &mut Rendered);
}

/// Every plugin, in the order their output is applied; `files` last, so an operator's file cannot be
/// silently replaced by a plugin (a clash is refused instead).
pub const PLUGINS: &[&dyn Plugin] = &[
    &hostname::Hostname,
    &network::Network,
    &nfs::Nfs,
    &ssh_keys::SshKeys,
    &kernel_args::KernelArgs,
    &files::Files,
];

/// Why a node config could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The config breaks a rule of its schema.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// Two plugins would write one path.
    #[error("{path} would be written by both the {first} and the {second} config plugin")]
    Clash {
        /// The path inside the root.
        path: String,
        /// The plugin that claimed it first.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
}

/// Checks `config` and renders every plugin for `family`.
pub fn render(config: &NodeConfig, family: Family) -> Result<Rendered, RenderError> {
    render_with(PLUGINS, config, family)
}

/// Checks `config` and renders `plugins` for `family`, refusing two writers of one path.
pub fn render_with(plugins: &[&dyn Plugin], config: &NodeConfig, family: Family) -> Result<Rendered, RenderError> {
    let checked = Checked::new(config)?;
    let mut out = Rendered::default();
    let mut owners: BTreeMap<String, &'static str> = BTreeMap::new();
    for plugin in plugins {
        let mut part = Rendered::default();
        plugin.render(checked, family, &mut part);
        let paths = part.files.iter().map(|f| &f.path).chain(part.links.iter().map(|l| &l.path));
        for path in paths {
            if let Some(first) = owners.insert(normalize(path), plugin.name()) {
                return Err(RenderError::Clash { path: path.clone(), first, second: plugin.name() });
            }
        }
        out.files.extend(part.files);
        out.links.extend(part.links);
        out.fstab.extend(part.fstab);
        out.kernel_args.extend(part.kernel_args);
    }
    Ok(out)
}

/// `path` without empty or `.` components, so `/etc//hostname` and `/etc/./hostname` compare equal.
fn normalize(path: &str) -> String {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").collect::<Vec<_>>().join("/")
}
