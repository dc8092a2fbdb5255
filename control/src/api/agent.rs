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
use crate::transfer::{Delivery, ReceiverState, SessionId, SessionKey, TransferGrant};

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
    /// How it receives its image, once its session's window has closed: an agent told `multicast`
    /// at registration (the default while the window is open) polls this config until it says
    /// `unicast` (download over HTTP ranges, no ticket will come) or `transfer` carries the ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// Why its transfer session failed (the sender could not start or gave up): the agent stops
    /// waiting for `transfer` and reports the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_error: Option<String>,
}

/// Reply to a registration.
#[derive(Debug, Serialize, Deserialize)]
pub struct Registered {
    /// The session to join (may differ from the boot script's if that window closed meanwhile).
    pub session: SessionId,
    /// Multicast: join `transfer` (now or once the config carries it). Unicast: no sender runs for
    /// this node; it downloads the image over HTTP ranges from the object route and reports against
    /// `session` all the same. While the window is still open this says multicast and the config's
    /// `delivery` gives the decision once it closes.
    #[serde(default)]
    pub delivery: Delivery,
    /// Present when this registration started the sender; otherwise poll the config until it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferGrant>,
    /// Present when the session failed, e.g. its sender could not start: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_error: Option<String>,
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
    /// The transfer session the node was given (its `register` reply or config says which); a report
    /// for any other session, image or version is refused.
    pub session: SessionId,
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
    let (transfer, transfer_error, delivery) = if matches!(node.next_boot, NextBoot::Reimage | NextBoot::Stateless) {
        let g = lock(&st.gatherer);
        (g.grant(&name), g.failure(&name), g.delivery_of(&name))
    } else {
        (None, None, None)
    };
    Ok(Json(AgentConfig { node, image, layout, transfer, delivery, transfer_error }))
}

/// `POST /api/v1/agent/nodes/{name}/register`: the agent is up and waits for its transfer. A stateless
/// node registers too (with its boot credential), so nodes booting one version together share a
/// session; it never reports, and its `finish` marks it done.
///
/// The request's body (the agent sends `{}`) is read though unused. A handler that leaves it unread
/// lets hyper close the connection with the body possibly still in the socket, which the kernel
/// answers with a reset; twice in the VM deploy bench a TCG node lost a 10 KB register reply (one
/// carrying its session ticket) to a reset at byte 10,025. This removes that cause.
pub async fn register(State(st): State<Arc<AppState>>, Path(name): Path<String>, NodeToken(t): NodeToken, _body: axum::body::Bytes) -> Result<Json<Registered>, ApiError> {
    st.check_node_token(&name, &t)?;
    let node = st.store.node(&name)?;
    let image = match (&node.image, node.next_boot) {
        (Some(image), NextBoot::Reimage | NextBoot::Stateless) => st.store.resolve(image)?,
        _ => return Err(ApiError::Conflict(format!("node {name} is not set to re-image or boot stateless"))),
    };
    // The window closes once every node that could join it is in it (see `window_peers`).
    let default = st.store.resolve(&ImageRef { name: image.image.clone(), version: None }).ok().map(|v| v.version);
    let company = super::window_peers::company(&st.store.nodes()?, &name, &image.image, image.version, |r| r.version.or(default));
    let session = {
        let mut g = lock(&st.gatherer);
        let registered = match g.register(Instant::now(), &name) {
            // The boot script came from before a restart: put the node in a window now.
            Err(GatherError::NotAssigned(_)) => {
                g.assign(&name, SessionKey { image: image.image, version: image.version }, node.delivery);
                g.register(Instant::now(), &name)
            }
            other => other,
        }
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
        if g.close_if_complete(registered, &company) {
            tracing::info!(node = %name, session = registered, others = company.len(), "every node that could join the window has registered: not waiting it out");
        }
        registered
    };
    tracing::info!(node = %name, session, "node registered for its transfer");
    st.window_changed.notify_one();
    st.start_launches();
    let g = lock(&st.gatherer);
    let transfer = g.grant(&name).filter(|g| g.session == session);
    let transfer_error = g.failure(&name).filter(|_| g.session_of(&name) == Some(session));
    let delivery = g.delivery_of(&name).unwrap_or_default();
    Ok(Json(Registered { session, delivery, transfer, transfer_error }))
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
    Ok(Json(Registered { session, delivery: g.delivery_of(&name).unwrap_or_default(), transfer: None, transfer_error: None }))
}

/// `POST /api/v1/agent/nodes/{name}/report`: the end of a re-image. Success flips the next boot to
/// local in the same transaction that records the installed version. Only a report about the node's own
/// assignment counts: the session it is in, that session's image version, and for success a node that
/// registered (so a node cannot record itself as running an image it was never sent).
pub async fn report(State(st): State<Arc<AppState>>, Path(name): Path<String>, NodeToken(t): NodeToken, ApiJson(r): ApiJson<Report>) -> Result<Json<Node>, ApiError> {
    st.check_node_token(&name, &t)?;
    check_assignment(&st, &name, &r)?;
    let installed = st.store.resolve(&ImageRef { name: r.image.clone(), version: Some(r.version) })?;
    let (node, state) = match r.outcome {
        Outcome::Success => {
            tracing::info!(node = %name, image = %installed.image, version = installed.version, "node reported a successful re-image");
            st.store.record_reimage_success(&name)?;
            (st.store.finish_reimage(&name, &installed)?, ReceiverState::Done)
        }
        Outcome::Failure => {
            let reason = r.message.unwrap_or_else(|| "agent reported failure".into());
            tracing::warn!(node = %name, %reason, "re-image failed");
            // The node stays set to re-image: its agent may retry, or the operator re-images again.
            st.store.record_reimage_failure(&name, &reason)?;
            (st.store.node(&name)?, ReceiverState::Failed { reason })
        }
    };
    st.receiver_ended(r.session, &name, state)?;
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

/// Refuses a report that is not about what `name` was given: its current session, and the image version
/// that session sends; a success needs the node to have registered in it.
fn check_assignment(st: &AppState, name: &str, r: &Report) -> Result<(), ApiError> {
    let g = lock(&st.gatherer);
    let Some(session) = g.session_of(name) else {
        return Err(ApiError::Conflict(format!("node {name} is in no transfer session: register before reporting")));
    };
    if session != r.session {
        return Err(ApiError::Conflict(format!("node {name} is in transfer session {session}, not {}", r.session)));
    }
    let (key, state) = g.receiver(session, name).ok_or_else(|| ApiError::Conflict(format!("transfer session {session} has ended")))?;
    if (key.image.as_str(), key.version) != (r.image.as_str(), r.version) {
        return Err(ApiError::Conflict(format!("node {name} was given {}@{}, not {}@{}", key.image, key.version, r.image, r.version)));
    }
    let registered = state.is_some_and(|s| *s != ReceiverState::Assigned);
    if r.outcome == Outcome::Success && !registered {
        return Err(ApiError::Conflict(format!("node {name} never registered in session {session}, so it cannot have installed its image")));
    }
    Ok(())
}

/// Refuses a download of `v` by `name` unless it is the version the node is assigned now, or the one
/// its transfer session sends (the default may have moved since the session began): a node token
/// reads no other image.
pub(crate) fn check_download(st: &AppState, name: &str, v: &ImageVersion) -> Result<(), ApiError> {
    let node = st.store.node(name)?;
    let assigned = node.image.as_ref().and_then(|r| st.store.resolve(r).ok());
    if assigned.is_some_and(|a| (a.image.as_str(), a.version) == (v.image.as_str(), v.version)) {
        return Ok(());
    }
    let g = lock(&st.gatherer);
    let in_session = g.session_of(name).and_then(|id| g.receiver(id, name)).is_some_and(|(key, _)| key.image == v.image && key.version == v.version);
    if in_session { Ok(()) } else { Err(ApiError::Forbidden) }
}
