//! Operator routes for stateless servers.
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::extract::{Admin, ApiJson};
use super::state::AppState;
use crate::error::ApiError;
use crate::stateless::{NewServer, ServerPatch, StatelessServer, check_url, check_weight};

/// `GET /api/v1/servers`
pub async fn list(_: Admin, State(st): State<Arc<AppState>>) -> Result<Json<Vec<StatelessServer>>, ApiError> {
    Ok(Json(st.store.servers()?))
}

/// `POST /api/v1/servers`
pub async fn add(_: Admin, State(st): State<Arc<AppState>>, ApiJson(new): ApiJson<NewServer>) -> Result<(StatusCode, Json<StatelessServer>), ApiError> {
    check_url(&new.url).map_err(ApiError::Invalid)?;
    check_weight(new.weight).map_err(ApiError::Invalid)?;
    let server = st.store.add_server(&new)?;
    st.reload_pool()?;
    Ok((StatusCode::CREATED, Json(server)))
}

/// `PATCH /api/v1/servers/{id}`: change weight or health (a health checker's report lands here).
pub async fn set(_: Admin, State(st): State<Arc<AppState>>, Path(id): Path<String>, ApiJson(patch): ApiJson<ServerPatch>) -> Result<Json<StatelessServer>, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::BadRequest(format!("invalid server id {id:?}: expected a number from `server list`")))?;
    if let Some(w) = patch.weight {
        check_weight(w).map_err(ApiError::Invalid)?;
    }
    let server = st.store.patch_server(id, &patch)?;
    st.reload_pool()?;
    Ok(Json(server))
}
