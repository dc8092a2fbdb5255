//! Operator routes for nodes and discovered MACs.
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::body::Bytes;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::extract::{Admin, ApiJson, ApiQuery};
use super::state::AppState;
use crate::error::ApiError;
use crate::node::{NewNode, NextBoot, Node, NodePatch};
use crate::sync::lock;
use crate::store::StoreError;
use crate::store::agent_status::AgentStatus;
use crate::store::attempts::ReimageAttempt;
use crate::transfer::DeliveryChoice;
use crate::store::discovered::{Cursor, DISCOVERED_PAGE_DEFAULT, DISCOVERED_PAGE_MAX, DiscoveredPage, PageQuery};

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
    let reimage_requested = patch.next_boot == Some(NextBoot::Reimage);
    let node = st.store.update_node(&name, reimage_requested, |n| {
        let node = n.patched(patch).map_err(StoreError::Invalid)?;
        // A re-image requested here has no delivery of its own: the server's default.
        Ok(if reimage_requested { Node { delivery: None, ..node } } else { node })
    })?;
    if node.next_boot != NextBoot::Reimage {
        lock(&st.gatherer).withdraw(&name);
    }
    Ok(Json(node))
}

/// `DELETE /api/v1/nodes/{name}`: the node, its MACs and its token; it leaves any gathering window.
pub async fn delete(_: Admin, State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    st.store.delete_node(&name)?;
    lock(&st.gatherer).withdraw(&name);
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /api/v1/nodes/{name}/reimage` (optional: no body, `null` and `{}` alike re-image
/// with the server's default delivery).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReimageRequest {
    /// How this re-image is delivered: `auto`, `multicast` or `unicast`; absent: the server's default.
    #[serde(default)]
    pub delivery: Option<DeliveryChoice>,
}

/// `POST /api/v1/nodes/{name}/reimage`: the next boot re-images the node.
pub async fn reimage(_: Admin, State(st): State<Arc<AppState>>, Path(name): Path<String>, body: Bytes) -> Result<Json<Node>, ApiError> {
    let request: Option<ReimageRequest> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => ApiError::Invalid(format!("invalid request body: {e}")),
            _ => ApiError::BadRequest(format!("malformed JSON: {e}")),
        })?
    };
    Ok(Json(st.store.set_reimage(&name, request.unwrap_or_default().delivery)?))
}

/// `GET /api/v1/nodes/{name}/reimages`: the node's current re-image attempt and the one before,
/// newest first: phase times, failures and the last error.
pub async fn reimages(_: Admin, State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Vec<ReimageAttempt>>, ApiError> {
    Ok(Json(st.store.reimage_attempts(&name)?))
}

/// `GET /api/v1/discovered?limit=N&after=CURSOR`: one page of unknown MACs, most recently seen first;
/// `next` is the cursor of the following page.
pub async fn discovered(_: Admin, State(st): State<Arc<AppState>>, ApiQuery(q): ApiQuery<PageQuery>) -> Result<Json<DiscoveredPage>, ApiError> {
    let limit = q.limit.unwrap_or(DISCOVERED_PAGE_DEFAULT);
    if !(1..=DISCOVERED_PAGE_MAX).contains(&limit) {
        return Err(ApiError::BadRequest(format!("invalid limit {limit}: use 1 to {DISCOVERED_PAGE_MAX}")));
    }
    let after = q.after.as_deref().map(str::parse::<Cursor>).transpose().map_err(ApiError::BadRequest)?;
    Ok(Json(st.store.discovered_page(limit, after.as_ref())?))
}
