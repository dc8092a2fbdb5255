//! Images: named, immutably versioned OS artifacts, each with a manifest, and a movable default.
use serde::{Deserialize, Serialize};

use crate::names::check_name;

/// Folder under the data directory that holds artifacts and manifests; image paths are relative to it
/// so that a version can never point outside the data directory.
pub const IMAGES_DIR: &str = "images";

/// An image and its default version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Unique name.
    pub name: String,
    /// The version nodes without a pinned version get; `None` until a version is published.
    pub default_version: Option<u32>,
    /// Highest version published.
    pub latest_version: Option<u32>,
}

/// One published version: immutable once stored (the store refuses updates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageVersion {
    /// Image name.
    pub image: String,
    /// Version number, 1, 2, ... in publication order.
    pub version: u32,
    /// Artifact path relative to the images folder.
    pub artifact: String,
    /// Manifest path relative to the images folder.
    pub manifest: String,
    /// Artifact size when published.
    pub artifact_bytes: u64,
    /// blake3 of the manifest when published, so a swapped manifest file is noticed.
    pub manifest_blake3: String,
    /// Unix time of publication, seconds.
    pub created_unix_s: u64,
}

/// Body of `POST /api/v1/images`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewImage {
    /// Image name.
    pub name: String,
}

/// Body of `POST /api/v1/images/{name}/versions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// Artifact path relative to `<data>/images`.
    pub artifact: String,
    /// Manifest path relative to `<data>/images`; when absent the server hashes the artifact and
    /// writes its manifest next to it as `<artifact>.manifest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// Make the new version the default (true unless said otherwise).
    #[serde(default = "yes")]
    pub make_default: bool,
}

fn yes() -> bool {
    true
}

/// Body of `POST /api/v1/images/{name}/rollback`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// Version to go back to; the newest version older than the current default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u32>,
    /// Pin only this node to the version instead of moving the image's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// What a rollback changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackDone {
    /// Image name.
    pub image: String,
    /// Version before.
    pub from: Option<u32>,
    /// Version now.
    pub to: u32,
    /// The node pinned, when the rollback was for one node.
    pub node: Option<String>,
}

/// Checks a path relative to the images folder: plain components only, so it cannot climb out.
pub fn check_relative_path(what: &str, path: &str) -> Result<(), String> {
    let ok = !path.is_empty()
        && path.len() <= 1024
        && !path.starts_with('/')
        && path.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && c.bytes().all(|b| b.is_ascii_graphic()));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid {what} path {path:?}: expected a path relative to the data directory's {IMAGES_DIR}/ folder, without '..'"))
    }
}

impl NewImage {
    /// Checks the name.
    pub fn check(&self) -> Result<(), String> {
        check_name("image", &self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_cannot_escape() {
        assert!(check_relative_path("artifact", "rocky/9.4/root.img").is_ok());
        for bad in ["/etc/passwd", "../x", "a/../../x", "a//b", "", "a b"] {
            assert!(check_relative_path("artifact", bad).is_err(), "{bad}");
        }
    }
}
