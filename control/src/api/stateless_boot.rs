//! The stateless boot's token exchange. A stateless node's token rides on its kernel command line, and
//! every user of the running node can read `/proc/cmdline`. So that token is good for one call: the
//! agent trades it, first thing, for a boot credential that expires within the boot's time budget and
//! that the agent holds only in memory, and the exchange revokes the token. Before switch_root the
//! agent ends the credential too, so nothing the booted system can read opens the node's API.
//!
//! A credential is `boot.<expiry>.<mac>`: a keyed blake3 over the expiry under a key derived from the
//! node's token of the generation after the exchange. It is not stored, a forged expiry fails the MAC,
//! and revoking that generation (the next exchange, the end of the boot, a re-image) ends it.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
use crate::sync::lock;
use crate::transfer::ReceiverState;

/// How long a boot credential lasts: the download of the largest image on a slow link and the config
/// plugins fit; a boot that takes longer reboots and gets a fresh token from its boot script.
pub const BOOT_CREDENTIAL_TTL: Duration = Duration::from_secs(30 * 60);
/// How long after an exchange the same token may ask for its reply again: a reply lost on the way
/// (a reset connection, a timeout) is asked for again by the agent's retries within seconds.
pub const EXCHANGE_REPLAY_WINDOW: Duration = Duration::from_secs(120);
/// How many times one exchange's reply is given again.
pub const EXCHANGE_REPLAYS: u32 = 3;
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

/// The last exchange of each node, so that a reply lost on the way can be asked for again without a
/// reboot: the same token gets the same credential, while that credential is still the node's
/// (the boot has not finished, nothing revoked it), within [`EXCHANGE_REPLAY_WINDOW`] and at most
/// [`EXCHANGE_REPLAYS`] times. Sans-IO: the caller passes the time. Held in memory only: after a
/// control plane restart a lost reply costs a reboot, as before.
#[derive(Debug, Default)]
pub struct Exchanges(HashMap<String, Exchanged>);

#[derive(Debug, Clone, Copy)]
struct Exchanged {
    /// Token generation of the credential handed out (the exchanged token's plus one).
    generation: u64,
    at: Instant,
    expires_unix_s: u64,
    replays: u32,
}

impl Exchanges {
    /// Records that `node` was given a credential of `generation` expiring at `expires_unix_s`.
    pub fn record(&mut self, node: &str, generation: u64, expires_unix_s: u64, now: Instant) {
        self.0.retain(|_, e| now.duration_since(e.at) < EXCHANGE_REPLAY_WINDOW);
        self.0.insert(node.to_string(), Exchanged { generation, at: now, expires_unix_s, replays: 0 });
    }

    /// The expiry of the credential to give `node` again, when its last exchange handed out one of
    /// `generation` (the node's current one) less than the window ago and replays are left.
    pub fn replay(&mut self, node: &str, generation: u64, now: Instant) -> Option<u64> {
        let e = self.0.get_mut(node).filter(|e| e.generation == generation && now.duration_since(e.at) < EXCHANGE_REPLAY_WINDOW && e.replays < EXCHANGE_REPLAYS)?;
        e.replays += 1;
        Some(e.expires_unix_s)
    }
}

/// `POST /api/v1/agent/nodes/{name}/stateless/exchange`: trades the kernel command line's token for a
/// boot credential and revokes the token. Only the node token itself is accepted (a credential cannot
/// renew itself), only for a node set to boot stateless, and each token only once (401 afterwards),
/// except that a reply lost on the way is given again (see [`Exchanges`]).
pub async fn exchange(State(st): State<Arc<AppState>>, Path(name): Path<String>, NodeToken(t): NodeToken) -> Result<Json<StatelessBoot>, ApiError> {
    let generation = st.store.token_generation(&name).map_err(|_| ApiError::Unauthorized)?;
    // The generation and expiry of the credential to hand out, with the node and its image.
    let (credential_generation, expires_unix_s, node, image) = if st.auth.is_node(&name, generation, &t) {
        let node = st.store.node(&name)?;
        if node.next_boot != NextBoot::Stateless {
            return Err(ApiError::Conflict(format!("node {name} is not set to boot stateless")));
        }
        let image = assigned_image(&st, &node)?;
        if !st.store.revoke_token_generation(&name, generation)? {
            // Another exchange of the same token won the race.
            return Err(ApiError::Unauthorized);
        }
        let expires_unix_s = now_unix_s() + BOOT_CREDENTIAL_TTL.as_secs();
        lock(&st.exchanges).record(&name, generation + 1, expires_unix_s, Instant::now());
        tracing::info!(node = %name, image = %image.image, version = image.version, "stateless boot: token exchanged and revoked");
        (generation + 1, expires_unix_s, node, image)
    } else {
        // The token exchanged last, asking again for a reply it did not get.
        let previous = generation.checked_sub(1).filter(|&g| st.auth.is_node(&name, g, &t));
        let expires_unix_s = previous.and_then(|_| lock(&st.exchanges).replay(&name, generation, Instant::now())).ok_or(ApiError::Unauthorized)?;
        let node = st.store.node(&name)?;
        let image = assigned_image(&st, &node)?;
        tracing::info!(node = %name, "stateless boot: exchange reply given again");
        (generation, expires_unix_s, node, image)
    };
    let servers = super::mirrors::servers_for(&st, &name)?;
    let credential = credential(&st.auth, &name, credential_generation, expires_unix_s);
    Ok(Json(StatelessBoot { credential, expires_unix_s, node, image, servers }))
}

/// The image version assigned to `node`.
fn assigned_image(st: &AppState, node: &Node) -> Result<ImageVersion, ApiError> {
    let image_ref = node.image.as_ref().ok_or_else(|| ApiError::Conflict(format!("node {} has no image assigned", node.name)))?;
    Ok(st.store.resolve(image_ref)?)
}

/// `POST /api/v1/agent/nodes/{name}/stateless/finish`: the agent is about to switch_root; its
/// credential ends now rather than at its expiry.
pub async fn finish(State(st): State<Arc<AppState>>, Path(name): Path<String>, NodeToken(t): NodeToken) -> Result<StatusCode, ApiError> {
    let generation = st.store.token_generation(&name).map_err(|_| ApiError::Unauthorized)?;
    if !is_credential(&st.auth, &name, generation, &t, now_unix_s()) {
        return Err(ApiError::Unauthorized);
    }
    st.store.revoke_token_generation(&name, generation)?;
    // The node has its image: done in the session it registered in (a unicast session has no
    // sender to say so, and ends with its last receiver).
    let session = lock(&st.gatherer).session_of(&name);
    if let Some(session) = session {
        st.receiver_ended(session, &name, ReceiverState::Done)?;
    }
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
    fn a_lost_reply_is_given_again_a_few_times_within_the_window_while_the_credential_is_current() {
        let t0 = Instant::now();
        let mut ex = Exchanges::default();
        assert_eq!(ex.replay("n1", 5, t0), None, "no exchange yet");
        ex.record("n1", 5, 1000, t0);
        assert_eq!(ex.replay("n2", 5, t0), None, "another node");
        assert_eq!(ex.replay("n1", 6, t0), None, "the credential was ended (finish or a re-image bumped the generation)");
        for _ in 0..EXCHANGE_REPLAYS {
            assert_eq!(ex.replay("n1", 5, t0 + Duration::from_secs(1)), Some(1000));
        }
        assert_eq!(ex.replay("n1", 5, t0 + Duration::from_secs(2)), None, "replays are bounded");
        ex.record("n1", 7, 2000, t0);
        assert_eq!(ex.replay("n1", 7, t0 + EXCHANGE_REPLAY_WINDOW), None, "the window is short");
        assert_eq!(ex.replay("n1", 7, t0 + EXCHANGE_REPLAY_WINDOW - Duration::from_secs(1)), Some(2000));
    }

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
