//! Transfer sessions: nodes that boot to re-image are gathered per image version for a short window,
//! then one multicast sender session is started for each group.
//!
//! [`gather::Gatherer`] is the sans-IO state machine (time passed in, no threads); the engine that
//! actually sends is behind [`launcher::TransferLauncher`], so the control plane can be tested apart
//! from the sender; [`engine::MulticastLauncher`] is the real one.
pub mod engine;
pub mod gather;
pub mod launcher;
pub mod manifest_file;

use serde::{Deserialize, Serialize};

/// A sender's session ticket as the engine encodes it (manifest, session id, group, packet key). It
/// holds the key that authenticates the session's packets, so it is shown only to the session's
/// receivers over their authenticated agent API and never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedTicket(Vec<u8>);

impl EncodedTicket {
    /// Wraps encoded ticket bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        EncodedTicket(bytes)
    }

    /// The bytes, as `fountain recv --manifest` reads them from a file.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lower-case hex, for JSON.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(2 * self.0.len());
        for b in &self.0 {
            hex.push(char::from(DIGITS[usize::from(b >> 4)]));
            hex.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
        hex
    }

    /// Parses [`EncodedTicket::to_hex`]'s form (what an agent reads from its grant); `None` for
    /// anything but an even number of hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
        let bytes = hex.as_bytes();
        if !bytes.len().is_multiple_of(2) {
            return None;
        }
        bytes.chunks_exact(2).map(|p| Some(digit(p[0])? << 4 | digit(p[1])?)).collect::<Option<Vec<u8>>>().map(EncodedTicket)
    }
}

impl std::fmt::Debug for EncodedTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncodedTicket({} bytes)", self.0.len())
    }
}

/// What a node's agent needs to join its running session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferGrant {
    /// The session.
    pub session: SessionId,
    /// The id this node joins the sender with, so the sender's events map to it (below 2^53, so
    /// JSON tools that read numbers as doubles keep it exact).
    pub receiver_id: u64,
    /// The encoded session ticket, hex; decoded, it is the file `fountain recv --manifest` takes.
    pub ticket: String,
}

/// How a node receives its image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// One multicast session for every node gathered in the window (peers and HTTP repair the rest).
    #[default]
    Multicast,
    /// HTTP ranges from the control plane's object route: one node alone, or forced by the operator.
    Unicast,
}

/// How an operator wants a re-image delivered: per re-image (`fountain node reimage --delivery`) or as
/// the server's default (`fountain serve --delivery`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryChoice {
    /// Decided when the window closes: unicast for one node alone, multicast for two or more.
    #[default]
    Auto,
    /// Always a multicast session, even for one node.
    Multicast,
    /// Always HTTP ranges: the node does not wait for a window.
    Unicast,
}

impl std::fmt::Display for DeliveryChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeliveryChoice::Auto => "auto",
            DeliveryChoice::Multicast => "multicast",
            DeliveryChoice::Unicast => "unicast",
        })
    }
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Delivery::Multicast => "multicast",
            Delivery::Unicast => "unicast",
        })
    }
}

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
    /// How its nodes receive the image, once its window has closed (absent while gathering, and in
    /// records from before deliveries were chosen, which were all multicast).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// Each receiver's state, by node name.
    pub receivers: std::collections::BTreeMap<String, ReceiverState>,
}
