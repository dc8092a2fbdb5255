//! Peer repair: receivers help each other, so the multicast never waits for the slowest node and
//! a node that joined late, restarted or lost a burst still finishes fast.
//!
//! A member that holds a verified block can mint fresh repair symbols for it from its own ESI
//! range ([`esi`]), so symbols from different peers never duplicate. Members learn who holds what
//! from compact have-maps ([`have`]) gossiped between them; the sender only hands out addresses.
//! Asking and serving are part of the sans-IO [`crate::ReceiverSession`]; what it decides
//! here (which peer to ask, how much to serve) lives in these modules.

pub mod budget;
pub mod esi;
pub mod have;
pub mod intake;
pub mod table;

pub use budget::ServeBudget;
pub use esi::{PEER_ESI_BASE, is_peer_esi, peer_esis};
pub use have::HaveMap;
pub use intake::IntakeMeter;
pub use table::{PeerInfo, PeerTable};

use fec::BlockId;
use std::net::SocketAddr;
use std::time::Duration;

/// How a receiver takes part in peer repair.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Ask peers and serve them.
    pub enabled: bool,
    /// Peers our have-map goes to each interval (and to anyone whose map we receive).
    pub have_fanout: usize,
    /// Mean time between have-map rounds, jittered ±50%.
    pub have_interval: Duration,
    /// A need above this share of the block (percent of K) goes to peers first: the node
    /// missed much of the block (it joined late, restarted, its link was down or slow). Smaller
    /// needs are random loss, which the sender's multicast repair fixes for everyone at once.
    pub large_need_pct: u32,
    /// How long a large need waits for a peer to advertise the block before it goes to the
    /// sender after all (see [`Self::large_need_pct`]).
    pub holder_wait: Duration,
    /// Peer requests outstanding at once. With [`Self::serve_rate_bps`] it sets how fast a
    /// node can pull from peers: keep their product near the node's link rate.
    pub asks_in_flight: usize,
    /// A request not answered by then goes to another peer (a refusal is silent; see
    /// [`Self::serve_backlog`]).
    pub ask_timeout: Duration,
    /// A request whose answer stops this long before the block is complete (symbols lost on
    /// the way) is asked again, of another peer.
    pub ask_stall: Duration,
    /// Extra symbols asked for beyond the need (percent), so a lost one costs no round trip.
    pub ask_margin_pct: u32,
    /// How fast one request is served, in bits per second of symbol payload.
    pub serve_rate_bps: u64,
    /// Requests served at once, each at [`Self::serve_rate_bps`]: two askers that picked the
    /// same peer both get the full rate (one after the other, each took twice as long: a late
    /// joiner pulling from random holders lost a third of its rate to such collisions). A run at
    /// a lower rate its asker named counts in these streams at this rate (it takes no more of
    /// the link, only longer) and is sent beside the others.
    pub serve_streams: usize,
    /// Granted symbols queued at most, in time at the serving rate: requests beyond it are
    /// refused and the asker turns to another peer. Well under [`Self::ask_timeout`].
    pub serve_backlog: Duration,
    /// Distinct requesters served at once.
    pub max_requesters: usize,
    /// How long a member that finished stays to serve peers after its last request, so late
    /// joiners and stragglers can finish from it.
    pub linger: Duration,
    /// A member that finished also stays while the sender is still sending, up to this long:
    /// the sender hands the receivers still unfinished off to their peers when its straggler
    /// deadline runs out (10 s after the last receiver finished, by default), and they must
    /// find members there. With only [`Self::linger`], every member had left by then unless a
    /// straggler had asked it meanwhile, and a straggler alone with the sender failed
    /// (`benches/slow_receiver.sh`). The bound keeps a sender held by a long tail from holding
    /// the members that finished too.
    pub serve_while_sending: Duration,
    /// Nothing heard for this long in the middle of a session (the sender ended or crashed
    /// while our path to it was cut, its `End` and handoffs lost: netsim stragglers_faults, a
    /// rack uplink down when the session ended), we finish from peers, as its `End` would have
    /// told us. Far longer than the sender's progress interval (10 ms).
    pub sender_silence: Duration,
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            have_fanout: 2,
            have_interval: Duration::from_millis(200),
            large_need_pct: 10,
            holder_wait: Duration::from_millis(500),
            asks_in_flight: 4,
            ask_timeout: Duration::from_millis(200),
            ask_stall: Duration::from_millis(200),
            ask_margin_pct: 2,
            serve_rate_bps: 1_000_000_000,
            serve_streams: 4,
            serve_backlog: Duration::from_millis(50),
            max_requesters: 32,
            linger: Duration::from_secs(3),
            serve_while_sending: Duration::from_secs(15),
            sender_silence: Duration::from_secs(1),
        }
    }
}

/// Symbols to mint and send to a peer: the driver encodes `count` symbols of `block` from
/// `first_esi` on (one contiguous run) from the verified block it stored, and sends each as a
/// data packet to `to`, paced at `rate_bps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeRequest {
    /// The requesting peer.
    pub to: SocketAddr,
    /// The block, stored and verified here.
    pub block: BlockId,
    /// The first ESI of the run, from this member's own range.
    pub first_esi: u32,
    /// Symbols in the run.
    pub count: u32,
    /// Payload bits per second to send the run at: the serving rate, or the lower rate the
    /// asker named.
    pub rate_bps: u64,
}
