//! Operator routes for images, versions and rollback.
use std::io::Read;
use std::path::Path as FsPath;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::extract::{Admin, ApiJson};
use super::state::AppState;
use crate::error::ApiError;
use crate::image::{IMAGES_DIR, Image, ImageVersion, NewImage, NewVersion, Rollback, RollbackDone, check_relative_path};
use crate::store::images::VersionFiles;

/// Largest manifest accepted, bytes: a manifest holds one hash per block, a few MiB for the largest images.
pub(crate) const MANIFEST_MAX_BYTES: u64 = 64 << 20;

/// An image with its versions.
#[derive(Serialize, Deserialize)]
pub struct ImageDetail {
    /// The image.
    #[serde(flatten)]
    pub image: Image,
    /// Its versions, oldest first.
    pub versions: Vec<ImageVersion>,
}

/// `GET /api/v1/images`
pub async fn list(_: Admin, State(st): State<Arc<AppState>>) -> Result<Json<Vec<Image>>, ApiError> {
    Ok(Json(st.store.images()?))
}

/// `POST /api/v1/images`
pub async fn add(_: Admin, State(st): State<Arc<AppState>>, ApiJson(new): ApiJson<NewImage>) -> Result<(StatusCode, Json<Image>), ApiError> {
    new.check().map_err(ApiError::Invalid)?;
    Ok((StatusCode::CREATED, Json(st.store.create_image(&new.name)?)))
}

/// `GET /api/v1/images/{name}`
pub async fn show(_: Admin, State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<ImageDetail>, ApiError> {
    Ok(Json(ImageDetail { image: st.store.image(&name)?, versions: st.store.versions(&name)? }))
}

/// `POST /api/v1/images/{name}/versions`: publishes files already in `<data>/images`.
pub async fn add_version(
    _: Admin,
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    ApiJson(new): ApiJson<NewVersion>,
) -> Result<(StatusCode, Json<ImageVersion>), ApiError> {
    check_relative_path("artifact", &new.artifact).map_err(ApiError::Invalid)?;
    check_relative_path("manifest", &new.manifest).map_err(ApiError::Invalid)?;
    let images = st.data_dir.join(IMAGES_DIR);
    let artifact_bytes = regular_file(&images, &new.artifact)?.len();
    let manifest_blake3 = hash_manifest(&images, &new.manifest)?;
    let files = VersionFiles { artifact: new.artifact, manifest: new.manifest, artifact_bytes, manifest_blake3 };
    Ok((StatusCode::CREATED, Json(st.store.add_version(&name, &files, new.make_default)?)))
}

/// `POST /api/v1/images/{name}/rollback`
pub async fn rollback(_: Admin, State(st): State<Arc<AppState>>, Path(name): Path<String>, ApiJson(r): ApiJson<Rollback>) -> Result<Json<RollbackDone>, ApiError> {
    Ok(Json(st.store.rollback(&name, r.to, r.node.as_deref())?))
}

fn regular_file(images: &FsPath, rel: &str) -> Result<std::fs::Metadata, ApiError> {
    match std::fs::symlink_metadata(images.join(rel)) {
        Ok(m) if m.is_file() => Ok(m),
        Ok(_) => Err(ApiError::Invalid(format!("{IMAGES_DIR}/{rel} is not a regular file"))),
        Err(e) => Err(ApiError::Invalid(format!("{IMAGES_DIR}/{rel}: {e}"))),
    }
}

fn hash_manifest(images: &FsPath, rel: &str) -> Result<String, ApiError> {
    if regular_file(images, rel)?.len() > MANIFEST_MAX_BYTES {
        return Err(ApiError::Invalid(format!("manifest {rel} is larger than {MANIFEST_MAX_BYTES} bytes")));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(images.join(rel))
        .and_then(|f| f.take(MANIFEST_MAX_BYTES).read_to_end(&mut bytes))
        .map_err(|e| ApiError::Invalid(format!("{IMAGES_DIR}/{rel}: {e}")))?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}
