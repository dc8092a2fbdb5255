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
use crate::names::check_name;
use crate::sync::lock;
use crate::transfer::SessionState;
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

/// `POST /api/v1/images/{name}/versions`: publishes files already in `<data>/images`, creating the
/// image on its first version in the same transaction, so a refused version leaves no empty image.
pub async fn add_version(
    _: Admin,
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    ApiJson(new): ApiJson<NewVersion>,
) -> Result<(StatusCode, Json<ImageVersion>), ApiError> {
    check_name("image", &name).map_err(ApiError::Invalid)?;
    check_relative_path("artifact", &new.artifact).map_err(ApiError::Invalid)?;
    check_relative_path("manifest", &new.manifest).map_err(ApiError::Invalid)?;
    let images = st.data_dir.join(IMAGES_DIR);
    let artifact_bytes = regular_file(&images, &new.artifact)?.len();
    let manifest_blake3 = hash_manifest(&images, &new.manifest)?;
    let files = VersionFiles { artifact: new.artifact, manifest: new.manifest, artifact_bytes, manifest_blake3 };
    Ok((StatusCode::CREATED, Json(st.store.publish(&name, &files, new.make_default)?)))
}

/// `DELETE /api/v1/images/{name}`: the image and its versions, unless a node is assigned it or a
/// transfer session sends it.
pub async fn delete(_: Admin, State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    refuse_if_sending(&st, &name, None)?;
    st.store.delete_image(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/images/{name}/versions/{version}`: one version, unless it is the default, a node is
/// assigned it, or a transfer session sends it.
pub async fn delete_version(_: Admin, State(st): State<Arc<AppState>>, Path((name, version)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    let version: u32 = version.parse().map_err(|_| ApiError::BadRequest(format!("invalid version {version:?}: expected a number")))?;
    refuse_if_sending(&st, &name, Some(version))?;
    st.store.delete_version(&name, version)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Refuses while a gathering or running session is for `image` (and `version`, when given).
fn refuse_if_sending(st: &AppState, image: &str, version: Option<u32>) -> Result<(), ApiError> {
    let busy = lock(&st.gatherer)
        .status()
        .into_iter()
        .find(|s| s.image == image && version.is_none_or(|v| v == s.version) && matches!(s.state, SessionState::Gathering | SessionState::Running));
    match busy {
        Some(s) => Err(ApiError::Conflict(format!("transfer session {} is sending {}@{}", s.id, s.image, s.version))),
        None => Ok(()),
    }
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
