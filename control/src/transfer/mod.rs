//! Transfer sessions: nodes that boot to re-image are gathered per image version for a short window,
//! then one multicast sender session is started for each group.
//!
//! [`gather::Gatherer`] is the sans-IO state machine (time passed in, no threads); the engine that
//! actually sends is behind [`launcher::TransferLauncher`], so the control plane can be built, run and
//! tested before and apart from the sender.
pub mod gather;
pub mod launcher;

use serde::{Deserialize, Serialize};

/// A transfer session's id, unique across restarts (the store hands out the first one).
pub type SessionId = u64;

/// What one session sends: one image version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionKey {
    /// Image name.
    pub image: String,
    /// Image version.
    pub version: u32,
}

/// Where one node stands in its session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ReceiverState {
    /// Given the session in its boot script; its agent has not registered yet.
    Assigned,
    /// Its agent registered and waits for the sender.
    Registered,
    /// Receiving blocks.
    Receiving {
        /// Blocks verified so far.
        blocks_done: u64,
        /// Blocks in the image.
        blocks_total: u64,
    },
    /// Has the whole image.
    Done,
    /// Gave up.
    Failed {
        /// Why.
        reason: String,
    },
}

/// Where a session stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum SessionState {
    /// Collecting receivers; the window closes `window_ms` after the first registration.
    Gathering,
    /// Handed to the sender.
    Running,
    /// The sender finished.
    Finished,
    /// The sender could not start or failed.
    Failed {
        /// Why.
        reason: String,
    },
}

/// One session as the status API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStatus {
    /// Session id.
    pub id: SessionId,
    /// Image name.
    pub image: String,
    /// Image version.
    pub version: u32,
    /// State.
    pub state: SessionState,
    /// Each receiver's state, by node name.
    pub receivers: std::collections::BTreeMap<String, ReceiverState>,
}
