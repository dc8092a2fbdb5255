//! The last step of every build and capture: the root packed into an artifact and published as the
//! next version of an image, descending from the image's latest version when it has one.
use std::path::Path;

use crate::artifact::{self, ArtifactError};
use crate::meta::ImageMeta;
use crate::store::{Published, Store, StoreError};

/// Why a root could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Packing failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Packs `root` into `artifact` (a scratch path outside `root`, removed afterwards) and publishes it
/// to `store` as the next version of `name` with `meta`.
pub fn publish_root(store: &Store, name: &str, root: &Path, meta: &ImageMeta, artifact: &Path) -> Result<Published, PublishError> {
    let mut meta = meta.clone();
    if meta.parent_version.is_none() {
        meta.parent_version = store.versions(Some(name))?.last().map(|v| v.version);
    }
    artifact::pack(root, artifact)?;
    let published = store.publish(name, artifact, &meta);
    // The store holds the bytes now (or refused them); the scratch file is of no further use.
    let _ = std::fs::remove_file(artifact);
    Ok(published?)
}
