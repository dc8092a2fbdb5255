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
//! the copy is paid only for versions nodes are given, and `gc` removes copies no image version
//! refers to any more (their versions deleted).
use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

use ::image::store::{Store as ImageStore, StoreError as ImageStoreError, parse_label};

use crate::error::ApiError;
use crate::image::{IMAGES_DIR, ImageVersion};
use crate::publish::{PublishError, check_files};
use crate::store::Store;
use crate::sync::lock;

/// Held while a copy is materialised and registered, and while copies are swept: between the two
/// steps of serving, a copy is on disk but not yet referenced, and the sweep must not take it.
static MATERIALISING: Mutex<()> = Mutex::new(());

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
    // No request runs yet: every capture staged before is one the old server never finished.
    crate::capture::staging::clean(data_dir, std::time::Duration::ZERO);
}

/// The artifact file a served version `name@version` gets, relative to the images folder (its
/// manifest is written beside it, as `image add` without `--manifest` does).
fn served_artifact(name: &str, version: u32) -> String {
    format!("{SERVED_DIR}/{name}/{version}/artifact.sqfs")
}

/// Materialises stored version `label` (`NAME@V`) and registers it as the next version of image
/// NAME (created if needed), its manifest cut for `mtu`. Blocking: run it off the async workers.
pub fn serve(data_dir: &Path, db: &Store, label: &str, make_default: bool, mtu: u16) -> Result<ImageVersion, ApiError> {
    let (name, version) = parse_label(label).map_err(store_error)?;
    let _serving = lock(&MATERIALISING);
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
    let files = check_files(&images, &artifact_rel, None, mtu).map_err(|e| match e {
        e @ PublishError::Exists(_) => ApiError::Conflict(e.to_string()),
        e => ApiError::Internal(e.to_string()),
    })?;
    Ok(db.publish(&name, &files, make_default)?)
}

/// What sweeping the materialised copies removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Swept {
    /// Copies (artifact and manifest) removed.
    pub served_copies_removed: usize,
    /// Their bytes.
    pub served_bytes_freed: u64,
}

/// Removes the materialised copies (`images/store/NAME/V/`) that no image version refers to.
/// Blocking.
pub fn sweep_materialised(data_dir: &Path, db: &Store) -> Result<Swept, ApiError> {
    let _sweeping = lock(&MATERIALISING);
    let root = data_dir.join(IMAGES_DIR).join(SERVED_DIR);
    let mut referenced = HashSet::new();
    for image in db.images()? {
        referenced.extend(db.versions(&image.name)?.into_iter().map(|v| v.artifact));
    }
    let io = |what: &str, p: &Path, e: std::io::Error| ApiError::Internal(format!("{what} {}: {e}", p.display()));
    let mut swept = Swept::default();
    let dirs = |d: &Path| -> Result<Vec<std::path::PathBuf>, ApiError> {
        match std::fs::read_dir(d) {
            Ok(entries) => entries.map(|e| e.map(|e| e.path()).map_err(|e| io("listing", d, e))).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io("listing", d, e)),
        }
    };
    for name_dir in dirs(&root)? {
        for copy in dirs(&name_dir)? {
            let (Some(name), Some(version)) = (name_dir.file_name().and_then(|n| n.to_str()), copy.file_name().and_then(|n| n.to_str())) else { continue };
            if referenced.contains(&format!("{SERVED_DIR}/{name}/{version}/artifact.sqfs")) {
                continue;
            }
            for f in dirs(&copy)? {
                swept.served_bytes_freed += std::fs::symlink_metadata(&f).map_or(0, |m| m.len());
            }
            std::fs::remove_dir_all(&copy).map_err(|e| io("removing", &copy, e))?;
            swept.served_copies_removed += 1;
        }
    }
    Ok(swept)
}
