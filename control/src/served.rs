//! The appliance's image store (`<data>/store`, [`::image::store`]) and ISO folder (`<data>/isos`)
//! as the control plane uses them, and serving a stored version to nodes.
//!
//! The store keeps every version as deduplicated chunks; the engine (sender, `recv` HTTP fallback)
//! needs one plain artifact file and its fec manifest, read by block and by range at line rate. So a
//! version is *materialised* when an operator serves it (`POST /api/v1/store/serve`,
//! `fountain image serve NAME@V`): its chunks are assembled into `images/store/NAME/V/artifact.sqfs`
//! (each chunk and the whole checked against their blake3), the fec manifest is hashed beside it,
//! and it is registered as the next version of image NAME, like `image add`. Keeping an artifact
//! file per version in the store instead would give up the sharing that lets it keep every version;
//! the copy is paid only for versions nodes are given.
use std::path::Path;

use ::image::store::{Store as ImageStore, StoreError as ImageStoreError, parse_label};

use crate::error::ApiError;
use crate::image::{IMAGES_DIR, ImageVersion};
use crate::publish::{PublishError, check_files};
use crate::store::Store;

/// The image store under the data directory.
pub const STORE_DIR: &str = "store";
/// The ISO folder under the data directory.
pub const ISOS_DIR: &str = "isos";
/// Where served versions are materialised, under the images folder.
pub const SERVED_DIR: &str = "store";

/// Opens the image store of `data_dir`.
pub fn image_store(data_dir: &Path) -> Result<ImageStore, ApiError> {
    ImageStore::open(data_dir.join(STORE_DIR)).map_err(store_error)
}

/// Maps the image store's errors onto API refusals.
pub fn store_error(e: ImageStoreError) -> ApiError {
    match e {
        ImageStoreError::NoSuchVersion(v) => ApiError::NotFound(format!("stored version {v}")),
        e @ (ImageStoreError::BadName(_) | ImageStoreError::BadLabel(_)) => ApiError::Invalid(e.to_string()),
        e => ApiError::Internal(e.to_string()),
    }
}

/// Removes what ISO uploads killed midway left behind (never listed); run at start, before any
/// upload can be in flight. A failure is logged, not fatal: leftovers only take space.
pub fn clean_interrupted_uploads(data_dir: &Path) {
    match ::image::iso::IsoStore::open(data_dir.join(ISOS_DIR)).and_then(|s| s.clean()) {
        Ok(0) => {}
        Ok(n) => tracing::info!(files = n, "removed the leftovers of interrupted ISO uploads"),
        Err(e) => tracing::warn!(error = %e, "could not clean the ISO folder"),
    }
}

/// The artifact file a served version `name@version` gets, relative to the images folder (its
/// manifest is written beside it, as `image add` without `--manifest` does).
fn served_artifact(name: &str, version: u32) -> String {
    format!("{SERVED_DIR}/{name}/{version}/artifact.sqfs")
}

/// Materialises stored version `label` (`NAME@V`) and registers it as the next version of image
/// NAME (created if needed). Blocking: run it off the async workers.
pub fn serve(data_dir: &Path, db: &Store, label: &str, make_default: bool) -> Result<ImageVersion, ApiError> {
    let (name, version) = parse_label(label).map_err(store_error)?;
    let store = image_store(data_dir)?;
    store.get(&name, version).map_err(store_error)?;
    let artifact_rel = served_artifact(&name, version);
    if let Ok(existing) = db.versions(&name)
        && let Some(v) = existing.iter().find(|v| v.artifact == artifact_rel)
    {
        return Err(ApiError::Conflict(format!("{label} is already served as version {} of image {name}", v.version)));
    }
    let images = data_dir.join(IMAGES_DIR);
    let artifact = images.join(&artifact_rel);
    let dir = artifact.parent().expect("a served path has a parent");
    std::fs::create_dir_all(dir).map_err(|e| ApiError::Internal(format!("creating {}: {e}", dir.display())))?;
    store.materialise(&name, version, &artifact).map_err(store_error)?;
    let files = check_files(&images, &artifact_rel, None).map_err(|e| match e {
        e @ PublishError::Exists(_) => ApiError::Conflict(e.to_string()),
        e => ApiError::Internal(e.to_string()),
    })?;
    Ok(db.publish(&name, &files, make_default)?)
}
