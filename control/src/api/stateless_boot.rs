//! The stateless boot's token exchange. A stateless node's token rides on its kernel command line, and
//! every user of the running node can read `/proc/cmdline`. So that token is good for one call: the
//! agent trades it, first thing, for a boot credential that expires within the boot's time budget and
//! that the agent holds only in memory, and the exchange revokes the token. Before switch_root the
//! agent ends the credential too, so nothing the booted system can read opens the node's API.
//!
//! A credential is `boot.<expiry>.<mac>`: a keyed blake3 over the expiry under a key derived from the
//! node's token of the generation after the exchange. It is not stored, a forged expiry fails the MAC,
//! and revoking that generation (the next exchange, the end of the boot, a re-image) ends it.
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::extract::NodeToken;
use super::state::AppState;
use crate::auth::{Auth, Secret};
use crate::error::ApiError;
use crate::image::ImageVersion;
use crate::node::{NextBoot, Node};
use crate::store::now_unix_s;

/// How long a boot credential lasts: the download of the largest image on a slow link and the config
/// plugins fit; a boot that takes longer reboots and gets a fresh token from its boot script.
pub const BOOT_CREDENTIAL_TTL: Duration = Duration::from_secs(30 * 60);
/// Prefix of every boot credential, so it is never mistaken for a node token.
const CREDENTIAL_PREFIX: &str = "boot.";
/// Domain separation for the key a credential's MAC is made with.
const CREDENTIAL_CONTEXT: &str = "fountain stateless boot credential v1";

/// Reply to the exchange: everything the agent needs for the rest of the boot.
#[derive(Debug, Serialize, Deserialize)]
pub struct StatelessBoot {
    /// The credential for the boot's remaining agent calls (download, status, finish).
    pub credential: String,
    /// When it stops working, Unix seconds.
    pub expires_unix_s: u64,
    /// The node, with the config the plugins render.
    pub node: Node,
    /// The image version to run.
    pub image: ImageVersion,
    /// Base URLs to load the image from, in the order of `POST .../servers` (the node's chosen
    /// server first, the healthy fallbacks, the control plane last).
    pub servers: Vec<String>,
}

/// `POST /api/v1/agent/nodes/{name}/stateless/exchange`: trades the kernel command line's token for a
/// boot credential and revokes the token. Only the node token itself is accepted (a credential cannot
/// renew itself), only for a node set to boot stateless, and each token only once (401 afterwards).
pub async fn exchange(State(st): State<Arc<AppState>>, Path(name): Path<String>, NodeToken(t): NodeToken) -> Result<Json<StatelessBoot>, ApiError> {
    let generation = st.store.token_generation(&name).map_err(|_| ApiError::Unauthorized)?;
    if !st.auth.is_node(&name, generation, &t) {
        return Err(ApiError::Unauthorized);
    }
    let node = st.store.node(&name)?;
    if node.next_boot != NextBoot::Stateless {
        return Err(ApiError::Conflict(format!("node {name} is not set to boot stateless")));
    }
    let image_ref = node.image.as_ref().ok_or_else(|| ApiError::Conflict(format!("node {name} has no image assigned")))?;
    let image = st.store.resolve(image_ref)?;
    if !st.store.revoke_token_generation(&name, generation)? {
        // Another exchange of the same token won the race.
        return Err(ApiError::Unauthorized);
    }
    let expires_unix_s = now_unix_s() + BOOT_CREDENTIAL_TTL.as_secs();
    let credential = credential(&st.auth, &name, generation + 1, expires_unix_s);
    let servers = super::mirrors::servers_for(&st, &name)?;
    tracing::info!(node = %name, image = %image.image, version = image.version, "stateless boot: token exchanged and revoked");
    Ok(Json(StatelessBoot { credential, expires_unix_s, node, image, servers }))
}

/// `POST /api/v1/agent/nodes/{name}/stateless/finish`: the agent is about to switch_root; its
/// credential ends now rather than at its expiry.
pub async fn finish(State(st): State<Arc<AppState>>, Path(name): Path<String>, NodeToken(t): NodeToken) -> Result<StatusCode, ApiError> {
    let generation = st.store.token_generation(&name).map_err(|_| ApiError::Unauthorized)?;
    if !is_credential(&st.auth, &name, generation, &t, now_unix_s()) {
        return Err(ApiError::Unauthorized);
    }
    st.store.revoke_token_generation(&name, generation)?;
    tracing::info!(node = %name, "stateless boot: switching root, boot credential ended");
    Ok(StatusCode::NO_CONTENT)
}

/// The credential of `node` at token generation `generation` that expires at `expires_unix_s`.
fn credential(auth: &Auth, node: &str, generation: u64, expires_unix_s: u64) -> String {
    format!("{CREDENTIAL_PREFIX}{expires_unix_s}.{}", mac(auth, node, generation, expires_unix_s))
}

fn mac(auth: &Auth, node: &str, generation: u64, expires_unix_s: u64) -> String {
    let key = blake3::derive_key(CREDENTIAL_CONTEXT, auth.node_token(node, generation).expose().as_bytes());
    blake3::keyed_hash(&key, &expires_unix_s.to_le_bytes()).to_hex().to_string()
}

/// Whether `presented` is an unexpired boot credential of `node` at its current `generation`.
pub fn is_credential(auth: &Auth, node: &str, generation: u64, presented: &str, now_unix_s: u64) -> bool {
    let Some((expiry, tag)) = presented.strip_prefix(CREDENTIAL_PREFIX).and_then(|rest| rest.split_once('.')) else { return false };
    let Ok(expires_unix_s) = expiry.parse::<u64>() else { return false };
    now_unix_s < expires_unix_s && Secret::new(mac(auth, node, generation, expires_unix_s)).matches(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_bound_to_node_generation_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Auth::load_or_create(dir.path()).unwrap();
        let c = credential(&auth, "n1", 4, 1000);
        assert!(is_credential(&auth, "n1", 4, &c, 999));
        assert!(!is_credential(&auth, "n1", 4, &c, 1000), "expired");
        assert!(!is_credential(&auth, "n1", 5, &c, 999), "revoked generation");
        assert!(!is_credential(&auth, "n2", 4, &c, 999), "another node");
        let forged = c.replacen("1000", "9000", 1);
        assert!(!is_credential(&auth, "n1", 4, &forged, 999), "a later expiry fails the MAC");
        assert!(!is_credential(&auth, "n1", 4, auth.node_token("n1", 4).expose(), 999), "a node token is no credential");
    }
}
