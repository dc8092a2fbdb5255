//! The seam between the control plane and the multicast engine.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::gather::Gatherer;
use super::{EncodedTicket, ReceiverState, SessionId};
use crate::store::Store;
use crate::sync::lock;

/// Everything a sender needs to run one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchPlan {
    /// Session id (goes into every data packet's header).
    pub id: SessionId,
    /// Image name.
    pub image: String,
    /// Image version.
    pub version: u32,
    /// The artifact to send.
    pub artifact: PathBuf,
    /// Its manifest.
    pub manifest: PathBuf,
    /// blake3 of the manifest when the version was published (hex), so a swapped file is refused.
    pub manifest_blake3: String,
    /// Nodes expected to receive, each with the receiver id it will join with.
    pub receivers: Vec<PlannedReceiver>,
}

/// A node of a launch and the id it joins the sender with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedReceiver {
    /// Node name.
    pub node: String,
    /// Its receiver id in the session (the control plane picks it, so the sender's events name nodes).
    pub id: u64,
}

/// Why a sender could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    /// No engine is linked in.
    #[error("no multicast sender is available: {0}")]
    Unavailable(String),
    /// The engine refused the plan.
    #[error("sender failed to start: {0}")]
    Failed(String),
}

/// Starts sender sessions. `launch` must return quickly (run the sender on its own thread or task) and
/// report what happens through `events`.
pub trait TransferLauncher: Send + Sync + 'static {
    /// Starts a sender for `plan`; returns the ticket the plan's receivers join with.
    fn launch(&self, plan: LaunchPlan, events: EventSink) -> Result<EncodedTicket, LaunchError>;

    /// Stops every running sender (each reports its end through its sink) and returns once they
    /// have; later launches fail. Called when the control plane shuts down.
    fn shutdown(&self) {}
}

/// Where a running sender reports its receivers' progress and its end; what it reports shows in the
/// transfer status API.
#[derive(Debug, Clone)]
pub struct EventSink {
    gatherer: Arc<Mutex<Gatherer>>,
    session: SessionId,
    /// Where the session's end is recorded, so it outlives a restart.
    journal: Option<Arc<Store>>,
}

impl EventSink {
    /// A sink for `session`.
    pub fn new(gatherer: Arc<Mutex<Gatherer>>, session: SessionId) -> Self {
        EventSink { gatherer, session, journal: None }
    }

    /// This sink, recording the session's end in `store`.
    pub fn with_journal(self, store: Arc<Store>) -> Self {
        EventSink { journal: Some(store), ..self }
    }

    /// The session this sink reports on.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// A receiver's new state; unknown nodes are ignored (a sender may hear from strays).
    pub fn receiver(&self, node: &str, state: ReceiverState) {
        let mut g = lock(&self.gatherer);
        let _ = g.update_receiver(self.session, node, state);
    }

    /// A receiver the sender never heard from, unless something (its agent's report) said more since.
    pub fn never_joined(&self, node: &str) {
        lock(&self.gatherer).fail_waiting(self.session, node, "never joined the multicast session");
    }

    /// The session ended; when it failed, every receiver not done or failed already fails with it.
    pub fn finished(&self, outcome: Result<(), String>) {
        match &outcome {
            Ok(()) => tracing::info!(session = self.session, "transfer session finished"),
            Err(reason) => tracing::warn!(session = self.session, %reason, "transfer session failed"),
        }
        let status = {
            let mut g = lock(&self.gatherer);
            g.finish(self.session, outcome);
            g.session_status(self.session)
        };
        if let (Some(store), Some(status)) = (&self.journal, status)
            && let Err(e) = store.record_session(&status)
        {
            tracing::warn!(session = self.session, %e, "could not record the end of a transfer session");
        }
    }
}

/// A launcher for builds and embedders without the engine: every session fails with a clear reason,
/// so operators see why nothing is sent instead of a session that waits forever.
#[derive(Debug, Default)]
pub struct NoEngine;

impl TransferLauncher for NoEngine {
    fn launch(&self, _plan: LaunchPlan, _events: EventSink) -> Result<EncodedTicket, LaunchError> {
        Err(LaunchError::Unavailable("this build has no multicast engine wired into the control plane".into()))
    }
}
