//! Routes for the node agent, authenticated by the node's own token: a node reads and reports only
//! about itself.
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::extract::{ApiJson, NodeToken};
use super::state::AppState;
use crate::sync::lock;
use crate::error::ApiError;
use crate::image::ImageVersion;
use crate::inventory::Inventory;
use crate::mac::Mac;
use crate::store::agent_status::{AgentReport, AgentStatus};
use crate::node::{ImageRef, NextBoot, Node};
use crate::transfer::gather::GatherError;
use crate::transfer::{ReceiverState, SessionId, SessionKey, TransferGrant};

/// What the agent needs to do its job.
#[derive(Debug, Serialize, Deserialize)]
pub struct AgentConfig {
    /// The node, with its configuration.
    pub node: Node,
    /// The image version it should run or install.
    pub image: Option<ImageVersion>,
    /// Its disk layout as YAML.
    pub layout: Option<String>,
    /// Once its session's sender runs: the ticket and receiver id to join it with.
    pub transfer: Option<TransferGrant>,
}

/// Reply to a registration.
#[derive(Debug, Serialize, Deserialize)]
pub struct Registered {
    /// The session to join (may differ from the boot script's if that window closed meanwhile).
    pub session: SessionId,
    /// Present when this registration started the sender; otherwise poll the config until it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferGrant>,
}

/// Body of a progress report.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// Blocks verified so far.
    pub blocks_done: u64,
    /// Blocks in the image.
    pub blocks_total: u64,
}

/// How a re-image ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Installed and verified.
    Success,
    /// Gave up.
    Failure,
}

/// Body of the final report.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Outcome.
    pub outcome: Outcome,
    /// Image installed.
    pub image: String,
    /// Version installed.
    pub version: u32,
    /// Details for the operator.
    #[serde(default)]
    pub message: Option<String>,
}

/// `GET /api/v1/agent/nodes/{name}/config`
pub async fn config(State(st): State<Arc<AppState>>, Path(name): Path<String>, NodeToken(t): NodeToken) -> Result<Json<AgentConfig>, ApiError> {
    st.check_node_token(&name, &t)?;
    let node = st.store.node(&name)?;
    let image = node.image.as_ref().map(|r| st.store.resolve(r)).transpose()?;
    let layout = node.layout.as_ref().map(|l| st.store.layout(l)).transpose()?;
    let transfer = if node.next_boot == NextBoot::Reimage { lock(&st.gatherer).grant(&name) } else { None };
    Ok(Json(AgentConfig { node, image, layout, transfer }))
}

/// `POST /api/v1/agent/nodes/{name}/register`: the agent is up and waits for its transfer.
pub async fn register(State(st): State<Arc<AppState>>, Path(name): Path<String>, NodeToken(t): NodeToken) -> Result<Json<Registered>, ApiError> {
    st.check_node_token(&name, &t)?;
    let node = st.store.node(&name)?;
    let image = match (&node.image, node.next_boot) {
        (Some(image), NextBoot::Reimage) => st.store.resolve(image)?,
        _ => return Err(ApiError::Conflict(format!("node {name} is not set to re-image"))),
    };
    let session = {
        let mut g = lock(&st.gatherer);
        match g.register(Instant::now(), &name) {
            // The boot script came from before a restart: put the node in a window now.
            Err(GatherError::NotAssigned(_)) => {
                g.assign(&name, SessionKey { image: image.image, version: image.version });
                g.register(Instant::now(), &name)
            }
            other => other,
        }
        .map_err(|e| ApiError::Conflict(e.to_string()))?
    };
    st.window_changed.notify_one();
    st.start_launches();
    let transfer = lock(&st.gatherer).grant(&name).filter(|g| g.session == session);
    Ok(Json(Registered { session, transfer }))
}

/// `POST /api/v1/agent/nodes/{name}/progress`
pub async fn progress(State(st): State<Arc<AppState>>, Path(name): Path<String>, NodeToken(t): NodeToken, ApiJson(p): ApiJson<Progress>) -> Result<Json<Registered>, ApiError> {
    st.check_node_token(&name, &t)?;
    if p.blocks_done > p.blocks_total {
        return Err(ApiError::Invalid(format!("blocks_done {} exceeds blocks_total {}", p.blocks_done, p.blocks_total)));
    }
    let mut g = lock(&st.gatherer);
    let session = g.session_of(&name).ok_or_else(|| ApiError::Conflict(format!("node {name} is in no transfer session")))?;
    g.update_receiver(session, &name, ReceiverState::Receiving { blocks_done: p.blocks_done, blocks_total: p.blocks_total })
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    Ok(Json(Registered { session, transfer: None }))
}

/// `POST /api/v1/agent/nodes/{name}/report`: the end of a re-image. Success flips the next boot to
/// local in the same transaction that records the installed version.
pub async fn report(State(st): State<Arc<AppState>>, Path(name): Path<String>, NodeToken(t): NodeToken, ApiJson(r): ApiJson<Report>) -> Result<Json<Node>, ApiError> {
    st.check_node_token(&name, &t)?;
    let installed = st.store.resolve(&ImageRef { name: r.image.clone(), version: Some(r.version) })?;
    let (node, state) = match r.outcome {
        Outcome::Success => (st.store.finish_reimage(&name, &installed)?, ReceiverState::Done),
        Outcome::Failure => {
            let reason = r.message.unwrap_or_else(|| "agent reported failure".into());
            tracing::warn!(node = %name, %reason, "re-image failed");
            (st.store.node(&name)?, ReceiverState::Failed { reason })
        }
    };
    let mut g = lock(&st.gatherer);
    if let Some(session) = g.session_of(&name) {
        let _ = g.update_receiver(session, &name, state);
    }
    Ok(Json(node))
}

/// `POST /api/v1/agent/nodes/{name}/status`: the agent's progress, error or inventory, which
/// `fountain node show` prints.
pub async fn status(State(st): State<Arc<AppState>>, Path(name): Path<String>, NodeToken(t): NodeToken, ApiJson(r): ApiJson<AgentReport>) -> Result<Json<AgentStatus>, ApiError> {
    st.check_node_token(&name, &t)?;
    if let Some(error) = &r.error {
        tracing::warn!(node = %name, %error, "agent reported an error");
    }
    Ok(Json(st.store.record_agent_report(&name, r)?))
}

/// `POST /api/v1/agent/discovered/{mac}/inventory`: an unknown machine's discovery agent reports its
/// hardware. Open like the boot routes (it has no token), and accepted only for a MAC that booted the
/// discovery script and belongs to no node.
pub async fn discovered_inventory(State(st): State<Arc<AppState>>, Path(mac): Path<String>, ApiJson(inventory): ApiJson<Inventory>) -> Result<Json<Inventory>, ApiError> {
    let mac: Mac = mac.parse().map_err(|e: crate::mac::MacError| ApiError::BadRequest(e.to_string()))?;
    st.store.record_discovered_inventory(mac, &inventory)?;
    Ok(Json(inventory))
}
