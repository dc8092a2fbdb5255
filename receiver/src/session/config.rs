//! Receiver configuration.

use crate::peer::PeerConfig;
use fec::wire::SessionKey;
use std::time::Duration;

/// How a [`super::ReceiverSession`] behaves.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// The session to join; packets of other sessions are ignored.
    pub session_id: u64,
    /// When set, only packets tagged with this key are accepted.
    pub key: Option<SessionKey>,
    /// This receiver's id in the session (random unless the caller fixes it).
    pub receiver_id: u64,
    /// Seed for the feedback timers' jitter.
    pub seed: u64,
    /// Mean time between status reports while something is needed; each is jittered by ±50%
    /// so hundreds of receivers do not report in lockstep.
    pub status_interval: Duration,
    /// Time between status reports when nothing is needed, so the sender knows we are alive.
    pub keepalive_interval: Duration,
    /// Time between join (and done) attempts until the sender acknowledges.
    pub retry_interval: Duration,
    /// Extra symbols beyond K to collect before a non-systematic decode: RaptorQ fails with
    /// probability ~1/256^(h+1) with K+h symbols.
    pub decode_overhead_symbols: u32,
    /// Without a packet from the sender for this long, the receiver gives up (its journal keeps
    /// what it has).
    pub sender_timeout: Duration,
    /// Receivers expected in the session (1 if unknown). While the first pass runs, a receiver
    /// sends a status report only after `group_size × data_packets_per_report` data packets, so
    /// the group's feedback stays about `1 / data_packets_per_report` of the data at any size.
    pub group_size: usize,
    /// Data packets per status report of the whole group (100: feedback ≤ ~1% of the data).
    pub data_packets_per_report: u32,
    /// Blocks assembled at once (each holds up to a block of symbols). At the cap, a symbol of a
    /// block below the highest open one evicts that highest assembly, and any other is dropped
    /// and asked for again like a loss: memory stays a window of the lowest open blocks, whatever
    /// the object's size or how long repair takes (a stalled disk, a burst of loss).
    pub max_assemblies: usize,
    /// Symbol accounting (simulation only): assemblies count distinct ESIs instead of holding
    /// payloads; see [`super::ReceiverSession::handle_symbol_accounted`].
    pub symbol_accounting: bool,
    /// Peer repair: asking peers for symbols and serving them.
    pub peer: PeerConfig,
    /// The sender's feedback address when known in advance (the control plane knows it), so a
    /// receiver that comes up after the multicast ended can still join and be handed to its
    /// peers. Otherwise it is learned from the first progress packet.
    pub sender: Option<std::net::SocketAddr>,
}

impl ReceiverConfig {
    /// Defaults for joining `session_id` as `receiver_id`.
    pub fn new(session_id: u64, receiver_id: u64) -> Self {
        Self {
            session_id,
            key: None,
            receiver_id,
            seed: receiver_id,
            status_interval: Duration::from_millis(20),
            keepalive_interval: Duration::from_millis(500),
            retry_interval: Duration::from_millis(100),
            decode_overhead_symbols: 1,
            sender_timeout: Duration::from_secs(30),
            group_size: 1,
            data_packets_per_report: 100,
            max_assemblies: 64,
            symbol_accounting: false,
            peer: PeerConfig::default(),
            sender: None,
        }
    }
}
