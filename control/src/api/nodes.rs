//! Operator routes for nodes and discovered MACs.
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::extract::{Admin, ApiJson};
use super::state::AppState;
use crate::error::ApiError;
use crate::node::{NewNode, NextBoot, Node, NodePatch};
use crate::sync::lock;
use crate::store::StoreError;
use crate::store::agent_status::AgentStatus;
use crate::store::discovered::Discovered;

/// `GET /api/v1/nodes`
pub async fn list(_: Admin, State(st): State<Arc<AppState>>) -> Result<Json<Vec<Node>>, ApiError> {
    Ok(Json(st.store.nodes()?))
}

/// `POST /api/v1/nodes`
pub async fn add(_: Admin, State(st): State<Arc<AppState>>, ApiJson(new): ApiJson<NewNode>) -> Result<(StatusCode, Json<Node>), ApiError> {
    let node = new.into_node().map_err(ApiError::Invalid)?;
    st.store.insert_node(&node)?;
    Ok((StatusCode::CREATED, Json(node)))
}

/// `GET /api/v1/nodes/{name}`
pub async fn show(_: Admin, State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Node>, ApiError> {
    Ok(Json(st.store.node(&name)?))
}

/// `GET /api/v1/nodes/{name}/agent`: what the node's agent last reported (`null` before it has).
pub async fn agent_status(_: Admin, State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Option<AgentStatus>>, ApiError> {
    Ok(Json(st.store.agent_status(&name)?))
}

/// `PATCH /api/v1/nodes/{name}`
pub async fn set(_: Admin, State(st): State<Arc<AppState>>, Path(name): Path<String>, ApiJson(patch): ApiJson<NodePatch>) -> Result<Json<Node>, ApiError> {
    let node = st.store.update_node(&name, |n| n.patched(patch).map_err(StoreError::Invalid))?;
    if node.next_boot != NextBoot::Reimage {
        lock(&st.gatherer).withdraw(&name);
    }
    Ok(Json(node))
}

/// `POST /api/v1/nodes/{name}/reimage`: the next boot re-images the node.
pub async fn reimage(_: Admin, State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Node>, ApiError> {
    Ok(Json(st.store.set_reimage(&name)?))
}

/// `GET /api/v1/discovered`
pub async fn discovered(_: Admin, State(st): State<Arc<AppState>>) -> Result<Json<Vec<Discovered>>, ApiError> {
    Ok(Json(st.store.discovered()?))
}
