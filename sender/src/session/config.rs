//! Sender configuration: every number that matters, with its unit in its name.

use fec::wire::SessionKey;
use std::net::SocketAddr;
use std::time::Duration;

/// How a [`super::SenderSession`] behaves.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Identifies the session on the wire; packets of other sessions are ignored.
    pub session_id: u64,
    /// When set, every packet is tagged and only tagged feedback is accepted.
    pub key: Option<SessionKey>,
    /// The multicast group (or, without multicast, the one receiver) data goes to.
    pub group: SocketAddr,
    /// Pacing rate in bits per second on the wire (IP + UDP headers counted); 0 = unlimited.
    pub rate_bps: u64,
    /// How much of the rate the pacer may send back to back, so a driver that wakes late (sleep
    /// overshoot on a loaded machine) catches up instead of losing the time.
    pub pacing_burst: Duration,
    /// The pacer's smallest burst, bytes, whatever the rate; also the most it sends at once
    /// after having had nothing to send.
    pub pacing_min_burst_bytes: u64,
    /// Repair symbols sent with the first pass, in percent of each block's source symbols, to
    /// save a feedback round trip for light loss.
    pub repair_overhead_pct: f64,
    /// With no receiver reporting a need for this long while sending, the first pass carries
    /// no proactive repair until one does: with multicast, repair asked for costs the link no
    /// more than the proactive repair would (the worst receiver's loss, once), and at 0% loss
    /// the proactive repair is 1% of the transfer wasted. In time, not blocks: the feedback loop
    /// (progress every 10 ms, reports every 20) spans 30 blocks at 10 Gbit/s, and a count of 32
    /// blocks turned it off at 1% loss in netsim. `None` (and without multicast, see
    /// [`Self::swarm`]): always `repair_overhead_pct`.
    pub overhead_idle: Option<Duration>,
    /// Blocks whose symbols the first pass interleaves, so a burst loss spreads thin across them.
    pub interleave_blocks: u32,
    /// Blocks owed repair that repair round-robins across at once. Below the driver's cache of
    /// encoders (`interleave_blocks` + 64), so each block's repair encoder is built once; wider
    /// spreads a burst loss thinner (netsim rack_deploy, last node: 8 blocks 1.063× the bound,
    /// 32 blocks 1.059×, the same trace as unbounded, which livelocked a real sender).
    pub repair_window_blocks: u32,
    /// Receivers to wait for before sending.
    pub min_receivers: usize,
    /// After the first receiver joined, start after this long even if fewer than `min_receivers`.
    pub join_window: Option<Duration>,
    /// How often the sender announces itself and its progress to the group.
    pub progress_interval: Duration,
    /// With multicast, copies of each progress packet sent right before the data symbols that
    /// follow it, one each, within a fiftieth of [`Self::progress_interval`]: a full drop-tail
    /// queue on the path then cannot drop them all (see `session::progress`). Covers a sender
    /// up to this many times faster than the bottleneck.
    pub progress_copies: u32,
    /// Without multicast, after a repair burst to one member, its report that has not seen the
    /// burst's last symbol is trusted only after this long (the burst may still be in flight).
    /// Multicast repair needs no timer: reports echo the progress mark they were written after.
    pub repair_holdoff: Duration,
    /// A receiver not heard from for this long is dropped from the session.
    pub receiver_timeout: Duration,
    /// Times the final `End` is multicast (it is not acknowledged).
    pub end_repeats: u32,
    /// While the first pass runs, needs above this percentage of a block's K are held back
    /// until it is over: they come from a receiver far behind the group. Only while those
    /// reporting them are at most [`Self::straggler_tail_share`] of the group: more, and the
    /// group itself fell behind (see `SenderSession::holds_far_behind`).
    pub straggler_need_pct: f64,
    /// Once a receiver is done, how long the session waits for the others without another
    /// finishing; then it hands each unfinished one off to its peers and ends, so one receiver
    /// that keeps falling behind cannot hold the multicast forever.
    pub straggler_deadline: Duration,
    /// Once no more than this share of the receivers is still waited for, the session hands
    /// them off to their peers and ends: the rest hold the object, and waiting for a slow tail
    /// (a tenth of the nodes at a quarter of the link, netsim) multicasts its repair to
    /// everyone at its pace. Below 1/share receivers it never applies.
    pub straggler_tail_share: f64,
    /// No multicast (a network that does not route it): each first-pass symbol goes to one
    /// member in turn as a [`fec::wire::Packet::Seed`], which forwards it to every other member;
    /// repair goes to the member that asked, progress and the end to each member. See
    /// [`super::swarm`].
    pub swarm: bool,
    /// Adaptive rate control: back off when receivers lose more than a threshold, probe back up
    /// when they don't, `rate_bps` being the ceiling. `None`: hold `rate_bps`.
    pub adaptive_rate: Option<crate::rate::RateConfig>,
}

impl SenderConfig {
    /// Defaults for a session `session_id` to `group`.
    pub fn new(session_id: u64, group: SocketAddr) -> Self {
        Self {
            session_id,
            key: None,
            group,
            rate_bps: 1_000_000_000,
            pacing_burst: Duration::from_millis(5),
            pacing_min_burst_bytes: 64 * 1500,
            repair_overhead_pct: 1.0,
            overhead_idle: Some(Duration::from_secs(1)),
            interleave_blocks: 8,
            repair_window_blocks: 32,
            min_receivers: 1,
            join_window: None,
            progress_interval: Duration::from_millis(10),
            progress_copies: 8,
            repair_holdoff: Duration::from_millis(30),
            receiver_timeout: Duration::from_secs(10),
            end_repeats: 3,
            straggler_need_pct: 25.0,
            straggler_deadline: Duration::from_secs(10),
            straggler_tail_share: 0.15,
            swarm: false,
            adaptive_rate: None,
        }
    }
}
