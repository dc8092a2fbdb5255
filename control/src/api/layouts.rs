//! Operator routes for disk layouts. Bodies are the layout YAML itself, so `curl --data-binary @x.yaml`
//! and the CLI send the operator's file unchanged, comments and all; [`crate::yaml`] bounds them and
//! parses them off the runtime.
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::extract::{Admin, ApiQuery};
use super::state::AppState;
use crate::error::ApiError;
use crate::layout;
use crate::names::check_name;
use crate::yaml::{YamlBody, parse_blocking};

/// Query of `PUT /api/v1/layouts/{name}`.
#[derive(Deserialize)]
pub struct PutQuery {
    /// Overwrite an existing layout.
    #[serde(default)]
    replace: bool,
}

/// Result of a successful check.
#[derive(Serialize)]
pub struct Valid {
    /// Always true: an invalid layout is a 422.
    pub valid: bool,
}

/// `GET /api/v1/layouts`
pub async fn list(_: Admin, State(st): State<Arc<AppState>>) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(st.store.layouts()?))
}

/// `PUT /api/v1/layouts/{name}`
pub async fn put(_: Admin, State(st): State<Arc<AppState>>, Path(name): Path<String>, ApiQuery(q): ApiQuery<PutQuery>, YamlBody(body): YamlBody) -> Result<StatusCode, ApiError> {
    check_name("layout", &name).map_err(ApiError::Invalid)?;
    let (body, parsed) = parse_blocking(body, layout::parse).await?;
    parsed.map_err(ApiError::Layout)?;
    st.store.put_layout(&name, &body, q.replace)?;
    Ok(StatusCode::CREATED)
}

/// `GET /api/v1/layouts/{name}`: the YAML as uploaded.
pub async fn show(_: Admin, State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Result<impl IntoResponse, ApiError> {
    Ok(([(header::CONTENT_TYPE, "application/yaml")], st.store.layout(&name)?))
}

/// `DELETE /api/v1/layouts/{name}`: refused while a node is assigned it.
pub async fn delete(_: Admin, State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    st.store.delete_layout(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/layouts/validate`: checks a layout without storing it.
pub async fn validate(_: Admin, YamlBody(body): YamlBody) -> Result<Json<Valid>, ApiError> {
    parse_blocking(body, layout::parse).await?.1.map_err(ApiError::Layout)?;
    Ok(Json(Valid { valid: true }))
}
