//! What every request handler shares.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::health::{self, HealthTracker};
use crate::image::IMAGES_DIR;
use crate::node::ImageRef;
use crate::selection::ServerPool;
use crate::stateless::ServerPatch;
use crate::store::Store;
use crate::sync::lock;
use crate::transfer::gather::{Gatherer, Launch};
use crate::transfer::{Delivery, ReceiverState, SessionId, SessionState};
use crate::transfer::launcher::{EventSink, LaunchPlan, PlannedReceiver, TransferLauncher};

/// Shared server state.
pub struct AppState {
    /// The store (shared with the senders' event sinks, which record each session's end).
    pub store: Arc<Store>,
    /// Token material.
    pub auth: Auth,
    /// Stateless servers with their loads.
    pub pool: Mutex<ServerPool>,
    /// Re-imaging nodes being gathered into sessions.
    pub gatherer: Arc<Mutex<Gatherer>>,
    /// Wakes the window timer when a deadline may have moved.
    pub window_changed: Notify,
    /// Starts senders.
    pub launcher: Arc<dyn TransferLauncher>,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The URL nodes reach this server at, for boot scripts.
    pub public_url: String,
    /// The MTU of the network sessions go out on: manifests the server writes are cut for it.
    pub mtu: u16,
    /// Recent stateless token exchanges, so a lost reply can be asked for again.
    pub exchanges: Mutex<super::stateless_boot::Exchanges>,
}

impl AppState {
    /// Refuses `token` (401) unless it is the current token of `node` or an unexpired stateless boot
    /// credential of it (see [`super::stateless_boot`]): wrong, revoked and other nodes'
    /// tokens alike, and unknown nodes get the same answer, so a token holder cannot probe for node
    /// names.
    pub fn check_node_token(&self, node: &str, token: &str) -> Result<(), ApiError> {
        let generation = self.store.token_generation(node).map_err(|_| ApiError::Unauthorized)?;
        let now = crate::store::now_unix_s();
        if self.auth.is_node(node, generation, token) || super::stateless_boot::is_credential(&self.auth, node, generation, token, now) { Ok(()) } else { Err(ApiError::Unauthorized) }
    }

    /// Sets what a node's agent says of itself in `session` (its end: done or failed) and records
    /// where the session stands once its window has closed, as its sender's events do: a unicast
    /// session has no sender, and ends with its last receiver.
    pub fn receiver_ended(&self, session: SessionId, node: &str, state: ReceiverState) -> Result<(), ApiError> {
        let status = {
            let mut g = lock(&self.gatherer);
            // A node the session does not list (a stray report) changes nothing in it.
            let _ = g.update_receiver(session, node, state);
            g.session_status(session).filter(|s| s.state != SessionState::Gathering)
        };
        if let Some(status) = status {
            self.store.record_session(&status)?;
        }
        Ok(())
    }

    /// Reloads the server pool from the store after a server changed.
    pub fn reload_pool(&self) -> Result<(), ApiError> {
        let servers = self.store.servers()?;
        lock(&self.pool).set_servers(servers);
        Ok(())
    }

    /// Probes every stateless server once and stores the health changes `tracker` decides; blocking
    /// (runs on a blocking thread in the server).
    pub fn check_health(&self, tracker: &mut HealthTracker) -> Result<(), ApiError> {
        let mut changed = false;
        for server in self.store.servers()? {
            if let Some(healthy) = tracker.observe(&server, health::probe(&server.url)) {
                tracing::info!(url = %server.url, healthy, "stateless server health changed");
                self.store.patch_server(server.id, &ServerPatch { weight: None, healthy: Some(healthy) })?;
                changed = true;
            }
        }
        if changed {
            self.reload_pool()?;
        }
        Ok(())
    }

    /// Starts a sender for every multicast session whose window has closed; a unicast session is only
    /// recorded (its node downloads over HTTP ranges by itself).
    pub fn start_launches(&self) {
        loop {
            let Some(launch) = lock(&self.gatherer).poll_launch() else { break };
            if launch.delivery == Delivery::Unicast {
                tracing::info!(session = launch.id, image = %launch.key.image, version = launch.key.version, node = %launch.receivers.join(","), "unicast session: the node downloads over HTTP ranges");
                if let Err(e) = self.store.record_launch(&launch) {
                    tracing::warn!(session = launch.id, %e, "could not record a unicast session");
                }
                continue;
            }
            let sink = EventSink::new(self.gatherer.clone(), launch.id).with_journal(self.store.clone());
            if let Err(reason) = self.start(launch, sink.clone()) {
                sink.finished(Err(format!("the sender could not start: {reason}")));
            }
        }
    }

    fn start(&self, launch: Launch, sink: EventSink) -> Result<(), String> {
        let version = self
            .store
            .resolve(&ImageRef { name: launch.key.image.clone(), version: Some(launch.key.version) })
            .map_err(|e| e.to_string())?;
        self.store.record_launch(&launch).map_err(|e| e.to_string())?;
        let images = self.data_dir.join(IMAGES_DIR);
        let plan = LaunchPlan {
            id: launch.id,
            image: launch.key.image,
            version: launch.key.version,
            artifact: images.join(&version.artifact),
            manifest: images.join(&version.manifest),
            manifest_blake3: version.manifest_blake3,
            receivers: receiver_ids(launch.receivers),
        };
        tracing::info!(session = plan.id, image = %plan.image, version = plan.version, receivers = plan.receivers.len(), "starting transfer session");
        let ids = plan.receivers.iter().map(|r| (r.node.clone(), r.id)).collect();
        let ticket = self.launcher.launch(plan, sink).map_err(|e| e.to_string())?;
        lock(&self.gatherer).set_ticket(launch.id, ticket, ids);
        Ok(())
    }
}

/// Receiver ids are below 2^53 so that JSON readers that parse numbers as doubles keep them exact.
const RECEIVER_ID_LIMIT: u64 = 1 << 53;

/// Gives each node a distinct random receiver id: random, so a node cannot guess another session's
/// ids from its own.
fn receiver_ids(nodes: Vec<String>) -> Vec<PlannedReceiver> {
    let mut taken = std::collections::HashSet::new();
    nodes
        .into_iter()
        .map(|node| loop {
            let id = rand::Rng::gen_range(&mut rand::thread_rng(), 1..RECEIVER_ID_LIMIT);
            if taken.insert(id) {
                break PlannedReceiver { node, id };
            }
        })
        .collect()
}
