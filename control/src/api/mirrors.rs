//! The route a stateless node asks which servers to load its image from: the one the pool chose
//! for it (power of two choices on load, or uniform), then every other healthy server as a
//! fallback, least loaded first, and the control plane itself last, since it serves the same
//! routes. The node moves down the list only when a server fails mid-download.
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};

use super::extract::NodeToken;
use super::state::AppState;
use crate::error::ApiError;
use crate::stateless::StatelessServer;
use crate::sync::lock;

/// Answer of `POST /api/v1/agent/nodes/{name}/servers`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ImageMirrors {
    /// Image the node runs.
    pub image: String,
    /// Its version (resolved now: every server is asked for this one).
    pub version: u32,
    /// Base URLs to fetch from, in order: the chosen server first.
    pub servers: Vec<String>,
}

/// `POST /api/v1/agent/nodes/{name}/servers`: keeps the node's current server while it is healthy
/// (the boot script already counted the node on it), else chooses one by the pool's policy.
pub async fn choose(State(st): State<Arc<AppState>>, Path(name): Path<String>, NodeToken(t): NodeToken) -> Result<Json<ImageMirrors>, ApiError> {
    st.check_node_token(&name, &t)?;
    let node = st.store.node(&name)?;
    let image_ref = node.image.as_ref().ok_or_else(|| ApiError::Conflict(format!("node {name} has no image assigned")))?;
    let image = st.store.resolve(image_ref)?;
    let servers = servers_for(&st, &name)?;
    Ok(Json(ImageMirrors { image: image.image, version: image.version, servers }))
}

/// The servers node `name` loads its image from, in order: its current server while healthy, else
/// the pool's choice (recorded), then the healthy fallbacks and the control plane. One ordering for
/// this route and the stateless boot's token exchange.
pub(crate) fn servers_for(st: &AppState, name: &str) -> Result<Vec<String>, ApiError> {
    let previous = st.store.stateless_server(name)?;
    let (chosen, others) = {
        let mut pool = lock(&st.pool);
        let kept = previous.and_then(|id| pool.servers().iter().find(|s| s.id == id && s.healthy).cloned());
        let chosen = match kept {
            Some(s) => Some(s),
            None => pool.assign(previous),
        };
        (chosen, fallbacks(pool.servers()))
    };
    if let Some(c) = &chosen
        && previous != Some(c.id)
    {
        st.store.set_stateless_server(name, Some(c.id))?;
    }
    let mut servers: Vec<String> = chosen.iter().map(|s| s.url.clone()).collect();
    for url in others.into_iter().chain(std::iter::once(st.public_url.clone())) {
        if !servers.contains(&url) {
            servers.push(url);
        }
    }
    Ok(servers)
}

/// Healthy servers' URLs, least load per weight first.
fn fallbacks(servers: &[StatelessServer]) -> Vec<String> {
    let mut healthy: Vec<&StatelessServer> = servers.iter().filter(|s| s.healthy).collect();
    healthy.sort_by(|a, b| (u128::from(a.load) * u128::from(b.weight)).cmp(&(u128::from(b.load) * u128::from(a.weight))));
    healthy.into_iter().map(|s| s.url.clone()).collect()
}
