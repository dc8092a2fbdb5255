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
use crate::publish::{self, PublishError};

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
/// checked (see [`publish`]); the artifact is hashed off the async runtime.
pub async fn add_version(
    _: Admin,
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    ApiJson(new): ApiJson<NewVersion>,
) -> Result<(StatusCode, Json<ImageVersion>), ApiError> {
    st.store.image(&name)?;
    let make_default = new.make_default;
    let images = st.data_dir.join(IMAGES_DIR);
    let files = tokio::task::spawn_blocking(move || publish::check_files(&images, &new.artifact, new.manifest.as_deref()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| match e {
            PublishError::Exists(_) => ApiError::Conflict(e.to_string()),
            PublishError::Write(..) => ApiError::Internal(e.to_string()),
            e => ApiError::Invalid(e.to_string()),
        })?;
    Ok((StatusCode::CREATED, Json(st.store.add_version(&name, &files, make_default)?)))
}

/// `POST /api/v1/images/{name}/rollback`
pub async fn rollback(_: Admin, State(st): State<Arc<AppState>>, Path(name): Path<String>, ApiJson(r): ApiJson<Rollback>) -> Result<Json<RollbackDone>, ApiError> {
    Ok(Json(st.store.rollback(&name, r.to, r.node.as_deref())?))
}
