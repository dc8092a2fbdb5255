//! Capturing a node that was set up by hand: its local filesystems, one at a time, as tar streams
//! (see [`tar`] for what they keep), unpacked on the control plane into a staging root that is then
//! scrubbed of the node's identity and described like a built image.
pub mod mounts;
pub mod plan;
pub mod tar;

use std::path::{Component, Path, PathBuf};

use crate::build::{BuildError, inspect, scrub};
use crate::meta::{Family, ImageMeta, Source};
use crate::rootfs;

pub use plan::Filesystem;
pub use tar::StreamError;

/// Why a capture could not be received or finished.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// A mount point that is not absolute or climbs with `..`.
    #[error("mount point {0:?} must be absolute and must not contain '..'")]
    BadMountPoint(String),
    /// The stream failed.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The staging root could not be prepared or read.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The captured root has no os-release naming a family fountain knows.
    #[error("the captured root is neither Debian nor EL (its os-release says ID={id:?} ID_LIKE={like:?})")]
    UnknownFamily {
        /// os-release ID.
        id: String,
        /// os-release ID_LIKE.
        like: String,
    },
}

/// The filesystems of this machine to stream, for a node whose `/` is `root` (`/` on a real node).
pub fn plan_node(root: &Path, excludes: &[PathBuf]) -> std::io::Result<Vec<Filesystem>> {
    Ok(plan::plan(&mounts::read()?, root, excludes))
}

/// Unpacks one filesystem's stream into the staging root `staging` at `mount_point` (as the node saw
/// it). Filesystems come parents first, so a mount point is normally already there as a folder of its
/// parent; it is resolved inside `staging`, so a symlink in the stream cannot redirect it outside.
pub fn receive_filesystem(staging: &Path, mount_point: &str, input: &mut dyn std::io::Read) -> Result<(), CaptureError> {
    let at = Path::new(mount_point);
    if !at.is_absolute() || at.components().any(|c| c == Component::ParentDir) {
        return Err(CaptureError::BadMountPoint(mount_point.to_owned()));
    }
    let io = |what: String| move |source| CaptureError::Build(BuildError::Io { what, source });
    let dest = rootfs::resolve(staging, at).map_err(|e| io(format!("resolving {mount_point}"))(std::io::Error::other(e)))?;
    std::fs::create_dir_all(&dest).map_err(io(format!("creating {}", dest.display())))?;
    tar::receive(&dest, input)?;
    Ok(())
}

/// Finishes a capture received into `staging`: scrubs the node's identity and reads the metadata;
/// `node` is the node's name, recorded as the source.
pub fn finish(staging: &Path, node: &str) -> Result<ImageMeta, CaptureError> {
    scrub::scrub(staging).map_err(|source| BuildError::Io { what: "scrubbing identity".into(), source })?;
    let family = detect_family(staging)?;
    Ok(inspect(staging, family, None, Source::Captured { node: node.to_owned() })?)
}

/// The family from os-release's `ID` and `ID_LIKE` (`ubuntu` is like `debian`, `rocky` like `rhel`).
pub fn detect_family(root: &Path) -> Result<Family, CaptureError> {
    let release = rootfs::os_release(root);
    let get = |key: &str| release.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
    let (id, like) = (get("ID"), get("ID_LIKE"));
    let words: Vec<&str> = id.split_whitespace().chain(like.split_whitespace()).collect();
    if words.iter().any(|w| *w == "debian" || *w == "ubuntu") {
        Ok(Family::Debian)
    } else if words.iter().any(|w| ["rhel", "centos", "fedora", "rocky", "almalinux"].contains(w)) {
        Ok(Family::El)
    } else {
        Err(CaptureError::UnknownFamily { id, like })
    }
}
