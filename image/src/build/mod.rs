//! Building an image root from distribution media: a base system (debootstrap for Debian, `dnf
//! --installroot` from an ISO's own repositories for EL), a role on top, identity scrubbed, metadata
//! read back from the result. The builders end at a root directory plus [`ImageMeta`]; packing it into
//! an artifact and publishing it is the store's job.
pub mod debian;
mod debootstrap_cache;
pub mod el;
mod inspect;
pub mod scrub;
pub mod treeinfo;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::command::CommandError;
use crate::meta::ImageMeta;
use crate::role::{ApplyError, RoleError};

pub use inspect::inspect;

/// A built image root, ready to be packed.
#[derive(Debug)]
pub struct BuiltRoot {
    /// The root directory.
    pub root: PathBuf,
    /// Its metadata (`size_bytes` is 0 until the artifact is packed).
    pub meta: ImageMeta,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The role cannot be used.
    #[error(transparent)]
    Role(#[from] RoleError),
    /// The role could not be applied.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A tool failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// The step.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The ISO's `.treeinfo` is missing or names no repositories.
    #[error(transparent)]
    Treeinfo(#[from] treeinfo::TreeinfoError),
}

/// Removes a build's work folder (or a partial debootstrapped base) without crossing into anything
/// still mounted in it: commands in a root run in private mount namespaces, but a debootstrap from
/// before its mounts were private could have left /proc there, and `/proc` must never be emptied.
pub fn remove_work(dir: &Path) -> Result<(), BuildError> {
    let mut rm = Command::new("rm");
    rm.args(["-rf", "--one-file-system"]).arg(dir);
    crate::command::run(&format!("removing {}", dir.display()), &mut rm)?;
    Ok(())
}

impl BuildError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
        let what = what.into();
        move |source| BuildError::Io { what, source }
    }
}
