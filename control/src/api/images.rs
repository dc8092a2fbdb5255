//! Operator routes for images, versions and rollback.
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::extract::{Admin, ApiJson};
use super::state::AppState;
use crate::error::ApiError;
use crate::image::{IMAGES_DIR, Image, ImageVersion, NewImage, NewVersion, Rollback, RollbackDone};
use crate::names::check_name;
use crate::publish::{self, PublishError};
use crate::sync::lock;
use crate::transfer::SessionState;

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

/// `POST /api/v1/images/{name}/versions`: publishes files already in `<data>/images` once they are
/// checked (see [`publish`]; the artifact is hashed off the async runtime), creating the image on its
/// first version in the same transaction, so a refused version leaves no empty image.
pub async fn add_version(
    _: Admin,
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    ApiJson(new): ApiJson<NewVersion>,
) -> Result<(StatusCode, Json<ImageVersion>), ApiError> {
    check_name("image", &name).map_err(ApiError::Invalid)?;
    let make_default = new.make_default;
    let (images, mtu) = (st.data_dir.join(IMAGES_DIR), st.mtu);
    let files = tokio::task::spawn_blocking(move || publish::check_files(&images, &new.artifact, new.manifest.as_deref(), mtu))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| match e {
            PublishError::Exists(_) => ApiError::Conflict(e.to_string()),
            PublishError::Write(..) => ApiError::Internal(e.to_string()),
            e => ApiError::Invalid(e.to_string()),
        })?;
    Ok((StatusCode::CREATED, Json(st.store.publish(&name, &files, make_default)?)))
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
