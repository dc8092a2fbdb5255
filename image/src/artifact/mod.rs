//! The artifact: one squashfs image per version, which a stateless node mounts as it is and a stateful
//! node unpacks onto its disks (see docs/decisions.md, "Images", for squashfs over erofs, and
//! `cargo bench -p image --bench artifact_formats` for the figures).
//!
//! Entry points other modules and the image builders call:
//! - [`pack`]`(root_dir, out) -> Result<Packed, ArtifactError>`: a reproducible artifact of a root
//!   directory (sorted, fixed filesystem time, xattrs, hard links and sparse files kept);
//! - [`unpack`]`(artifact, target_dir) -> Result<(), ArtifactError>`: what a stateful node runs onto its
//!   mounted target filesystems.
//!
//! POSIX ACLs, which squashfs has no place for, travel as a dump inside the artifact ([`acls`]).
pub mod acls;
mod pack;
mod tool;
mod unpack;

pub use pack::{PackOptions, Packed, pack, pack_with};
pub use unpack::unpack;

use std::path::PathBuf;

/// What can go wrong making or unpacking an artifact.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The root to pack is missing or not a directory.
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    /// A file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What we were doing.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// mksquashfs, unsquashfs, getfacl or setfacl could not be started (not installed?).
    #[error("running {tool} (is it installed? squashfs-tools, acl): {source}")]
    Spawn {
        /// The program.
        tool: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// mksquashfs, unsquashfs, getfacl or setfacl failed; nothing was left at the destination.
    #[error("{tool} failed ({status}): {stderr}")]
    Tool {
        /// The program.
        tool: &'static str,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The end of what it printed.
        stderr: String,
    },
}
