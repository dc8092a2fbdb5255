//! Operator routes an image server pulls the versions it carries from: the same manifest and
//! artifact the node routes serve, under the image servers' token (or the admin's) instead of a
//! node's.
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;

use super::extract::ServerOrAdmin;
use super::objects::{manifest_response, object_response, resolve};
use super::state::AppState;
use crate::error::ApiError;

/// `GET /api/v1/images/{name}/versions/{version}/manifest`
pub async fn manifest(_: ServerOrAdmin, State(st): State<Arc<AppState>>, Path((image, version)): Path<(String, String)>) -> Result<Response, ApiError> {
    let v = resolve(&st, image, &version)?;
    manifest_response(&st, &v).await
}

/// `GET|HEAD /api/v1/images/{name}/versions/{version}/object`: whole or one byte range.
pub async fn object(
    _: ServerOrAdmin,
    State(st): State<Arc<AppState>>,
    Path((image, version)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let v = resolve(&st, image, &version)?;
    object_response(&st, &v, &method, &headers).await
}
