//! Operator routes for stateless servers.
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::extract::{Admin, ApiJson};
use super::state::AppState;
use crate::error::ApiError;
use crate::health;
use crate::stateless::{NewServer, ServerPatch, StatelessServer, check_url, check_weight};

/// `GET /api/v1/servers`
pub async fn list(_: Admin, State(st): State<Arc<AppState>>) -> Result<Json<Vec<StatelessServer>>, ApiError> {
    Ok(Json(st.store.servers()?))
}

/// `POST /api/v1/servers`: without an explicit `healthy`, the server is probed first (up to
/// [`health::PROBE_TIMEOUT`]) and starts with that answer.
pub async fn add(_: Admin, State(st): State<Arc<AppState>>, ApiJson(new): ApiJson<NewServer>) -> Result<(StatusCode, Json<StatelessServer>), ApiError> {
    check_url(&new.url).map_err(ApiError::Invalid)?;
    check_weight(new.weight).map_err(ApiError::Invalid)?;
    let healthy = match new.healthy {
        Some(h) => h,
        None => {
            let url = new.url.clone();
            tokio::task::spawn_blocking(move || health::probe(&url)).await.map_err(|e| ApiError::Internal(e.to_string()))?
        }
    };
    let server = st.store.add_server(&new, healthy)?;
    st.reload_pool()?;
    Ok((StatusCode::CREATED, Json(server)))
}

/// `DELETE /api/v1/servers/{id}`: its stateless nodes get another server at their next boot.
pub async fn delete(_: Admin, State(st): State<Arc<AppState>>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    st.store.delete_server(parse_id(&id)?)?;
    st.reload_pool()?;
    Ok(StatusCode::NO_CONTENT)
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::BadRequest(format!("invalid server id {id:?}: expected a number from `server list`")))
}

/// `PATCH /api/v1/servers/{id}`: change weight or health (a health checker's report lands here).
pub async fn set(_: Admin, State(st): State<Arc<AppState>>, Path(id): Path<String>, ApiJson(patch): ApiJson<ServerPatch>) -> Result<Json<StatelessServer>, ApiError> {
    let id = parse_id(&id)?;
    if let Some(w) = patch.weight {
        check_weight(w).map_err(ApiError::Invalid)?;
    }
    let server = st.store.patch_server(id, &patch)?;
    st.reload_pool()?;
    Ok(Json(server))
}
