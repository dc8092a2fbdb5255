//! The sans-IO sender session.

mod config;
mod progress;
mod receivers;
mod schedule;
mod swarm;

pub use config::SenderConfig;
pub use receivers::ReceiverInfo;

use crate::pacing::Pacer;
use crate::rate::AdaptiveRate;
use fec::wire::{DATA_HEADER_LEN, IPV4_UDP_HEADER_LEN, MAX_PEERS_PER_PACKET, Packet, TAG_LEN};
use fec::{BlockId, Manifest};
use progress::ProgressTrain;
use receivers::Receivers;
use schedule::Schedule;
use swarm::Swarm;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A receiver of the tail (see [`SenderConfig::straggler_tail_share`]) that had stored fewer
/// than this share of the blocks when it last reported, after the first pass, is far behind,
/// and handed off. Not the object's blocks before the pass was over: a receiver of a large
/// group reports seldom (a share of the feedback budget, and nothing while it keeps up), so
/// the count the sender holds can be old (netsim stragglers_slow: nodes that were not slow,
/// last heard at 47 and 78 of 373 blocks early in the pass, were handed off and finished last
/// from their peers, at 1.59× the bound). Nor the blocks closed at a report during the pass:
/// those closed last wait a round trip for their repair, so a report early in the pass reads
/// far behind (stragglers_faults seed 1: node 242, last heard 30 ms in with 0 of 16 closed
/// blocks, was handed off with one block left, which it took 186 ms to get from peers, 1.59×).
/// Every unfinished receiver reports within a status interval of the pass's end; a silent one
/// goes by [`TAIL_SILENCE`].
const TAIL_STORED_FRACTION: f64 = 0.5;

/// A receiver of the tail not heard from for this long, once the first pass has been over as
/// long, is handed off: unfinished and reachable, it would have reported its needs every status
/// interval (20 ms) since. Its last report can be old and show it keeping up (netsim
/// stragglers_faults: rack 3's uplink went down 50 ms into the transfer; waited for, its 25
/// nodes came back after the others were done, and their repair and reports of the outage's
/// loss took the session to 3.2 s and 1.31× the object).
const TAIL_SILENCE: Duration = Duration::from_millis(200);

/// The straggler rules (a need far behind, the tail) apply to groups whose tail share holds at
/// least this many receivers (14 at 15%): in smaller ones a late or restarted member failed to
/// finish from its few peers (netsim tests, 12 nodes), and the deadline serves them.
const MIN_TAIL: usize = 2;

/// A usual loss below one symbol in this many blocks is negligible (see
/// `SenderSession::loss_negligible`): nine blocks in ten lose nothing that proactive repair
/// would cover.
const NEGLIGIBLE_LOSS_BLOCKS: f64 = 10.0;

/// Something to put on the network.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Symbol `esi` of `block`. The driver builds the payload with its encoder (or, in a
    /// simulation, need not build it at all).
    Symbol {
        /// The block.
        block: BlockId,
        /// The encoding symbol id.
        esi: u32,
        /// Where it goes, and as which packet.
        to: SymbolTo,
    },
    /// A complete control datagram.
    Control {
        /// Where it goes.
        destination: SocketAddr,
        /// The encoded packet.
        packet: Vec<u8>,
    },
}

/// Where a symbol goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolTo {
    /// The multicast group, as [`fec::wire::Packet::Data`].
    Group,
    /// One member, as [`fec::wire::Packet::Seed`], to forward to every other member
    /// ([`SenderConfig::swarm`]).
    Seed(SocketAddr),
    /// One member alone, as [`fec::wire::Packet::Data`]: repair it asked for, without multicast.
    Member(SocketAddr),
}

/// What happened, for the driver and the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A receiver registered.
    ReceiverJoined(u64),
    /// Enough receivers joined; data starts flowing.
    Started,
    /// A receiver holds the whole object, verified.
    ReceiverDone(u64),
    /// A receiver fell silent and was dropped.
    ReceiverLost(u64),
    /// A receiver claimed completion with a different root hash: it holds another object.
    ReceiverWrongRoot(u64),
    /// The session stopped waiting for a receiver and told it to complete from its peers: it was
    /// still unfinished [`SenderConfig::straggler_deadline`] after the last other receiver
    /// finished, or it joined after the session ended. Its blocks stored so far are in
    /// [`SenderSession::receivers`].
    ReceiverHandedOff(u64),
    /// Every registered receiver is done; the session is over.
    Finished,
}

/// Counters for the final summary and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// Source symbols sent in the first pass.
    pub source_symbols: u64,
    /// Repair symbols sent proactively in the first pass.
    pub proactive_repair_symbols: u64,
    /// Repair symbols sent in answer to feedback.
    pub requested_repair_symbols: u64,
    /// Feedback packets received (join, status, done).
    pub feedback_packets: u64,
    /// Datagrams rejected: malformed, forged, or of another session.
    pub rejected_packets: u64,
    /// Bytes put on the wire (IP + UDP included).
    pub wire_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    WaitingForReceivers { since_first_join: Option<Instant> },
    Sending,
    Ending { repeats_left: u32 },
    Finished,
}

/// The sender side of one transfer: decides what to send and when, from feedback and time.
pub struct SenderSession {
    config: SenderConfig,
    manifest: Manifest,
    schedule: Schedule,
    pacer: Pacer,
    rate: Option<AdaptiveRate>,
    receivers: Receivers,
    swarm: Swarm,
    phase: Phase,
    control: VecDeque<Transmit>,
    events: VecDeque<Event>,
    next_progress: Option<Instant>,
    /// Copies of the latest progress packet still to go out before data symbols.
    progress_train: ProgressTrain,
    /// When a receiver last finished: the stragglers' deadline counts from it.
    last_done_at: Option<Instant>,
    /// When sending started or a receiver last reported a need: proactive repair stops
    /// [`SenderConfig::overhead_idle`] after it.
    last_need: Option<Instant>,
    data_wire_bytes: usize,
    stats: SenderStats,
    /// The origin of the progress packets' timestamps: the first one's sending.
    epoch: Option<Instant>,
    /// When the first pass was first seen over (see [`TAIL_SILENCE`]).
    pass_over_at: Option<Instant>,
    /// The mark the latest progress packet carried (see [`Self::burst_over`]).
    announced: u64,
}

impl SenderSession {
    /// A session sending the object `manifest` describes.
    pub fn new(config: SenderConfig, manifest: Manifest) -> Self {
        let layout = *manifest.layout();
        let tag = if config.key.is_some() { TAG_LEN } else { 0 };
        let rate = config.adaptive_rate.clone().map(AdaptiveRate::new);
        let rate_bps = rate.as_ref().map_or(config.rate_bps, AdaptiveRate::rate_bps);
        // Without multicast each member has its own path and its own progress packets.
        let progress_train = ProgressTrain::new(if config.swarm { 0 } else { config.progress_copies }, config.progress_interval);
        Self {
            schedule: Schedule::new(layout, config.repair_overhead_pct, config.interleave_blocks, config.repair_window_blocks),
            pacer: Pacer::new(rate_bps, config.pacing_burst, config.pacing_min_burst_bytes),
            rate,
            data_wire_bytes: IPV4_UDP_HEADER_LEN + DATA_HEADER_LEN + usize::from(layout.symbol_size()) + tag,
            config,
            manifest,
            receivers: Receivers::default(),
            swarm: Swarm::default(),
            phase: Phase::WaitingForReceivers { since_first_join: None },
            control: VecDeque::new(),
            events: VecDeque::new(),
            next_progress: None,
            progress_train,
            last_done_at: None,
            last_need: None,
            stats: SenderStats::default(),
            epoch: None,
            pass_over_at: None,
            announced: 0,
        }
    }

    /// The session's configuration.
    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// The object being sent.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Counters so far.
    pub fn stats(&self) -> &SenderStats {
        &self.stats
    }

    /// Repair symbols sent for `block` in answer to feedback.
    pub fn repaired(&self, block: BlockId) -> u32 {
        self.schedule.repaired(block)
    }

    /// The registered receivers.
    pub fn receivers(&self) -> impl Iterator<Item = (&u64, &ReceiverInfo)> {
        self.receivers.iter()
    }

    /// Whether the session is over.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// The pacing rate now, in bits per second (it moves under adaptive rate control).
    pub fn rate_bps(&self) -> u64 {
        self.pacer.rate_bps()
    }

    /// Changes the pacing rate (adaptive rate control, operator action).
    pub fn set_rate_bps(&mut self, rate_bps: u64) {
        self.pacer.set_rate_bps(rate_bps);
    }

    /// Handles one datagram from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let Ok(packet) = Packet::decode_for(datagram, self.config.key.as_ref(), self.config.session_id) else {
            self.stats.rejected_packets += 1;
            return;
        };
        match packet {
            Packet::Join { receiver } => {
                self.stats.feedback_packets += 1;
                if self.phase == Phase::Finished || matches!(self.phase, Phase::Ending { .. }) {
                    self.answer_late_join(now, receiver, from);
                    return;
                }
                if self.receivers.join(now, receiver, from) {
                    self.events.push_back(Event::ReceiverJoined(receiver));
                    if let Phase::WaitingForReceivers { since_first_join: since @ None } = &mut self.phase {
                        *since = Some(now);
                    }
                }
                let index = self.receivers.heard(now, receiver).expect("joined above").index;
                self.queue_control(from, &Packet::Ack { receiver, done: false, index });
                if self.config.swarm && self.phase == Phase::Sending {
                    self.announce_members(index, from);
                } else {
                    let peers = self.receivers.sample_peers(index, MAX_PEERS_PER_PACKET);
                    if !peers.is_empty() {
                        self.queue_control(from, &Packet::Peers { peers });
                    }
                }
                self.maybe_start(now);
            }
            Packet::Status { receiver, done_blocks, heard, backlog_pct: _, delivery, needs } => {
                self.stats.feedback_packets += 1;
                let pct = self.config.straggler_need_pct;
                let far_behind = !self.schedule.first_pass_over() && needs.iter().any(|n| self.schedule.is_straggler_need(n.block, n.need, pct));
                let Some(info) = self.receivers.heard(now, receiver) else {
                    // Not registered (we restarted, or it never joined): it must join first.
                    return;
                };
                info.done_blocks = done_blocks;
                info.reported_after_pass = self.schedule.first_pass_over();
                let lags = Self::lags(info, self.manifest.layout().block_count());
                let (handed_off, addr) = (info.handed_off, info.addr);
                self.receivers.set_far_behind(receiver, far_behind);
                if handed_off {
                    // It completes from peers: its needs no longer steer repair or the rate. It
                    // still reports, so our handoff was lost: say it again.
                    self.queue_control(from, &Packet::Handoff { receiver });
                    return;
                }
                if self.config.swarm {
                    for need in needs {
                        self.swarm.on_need(now, receiver, addr, need, self.config.repair_holdoff, &self.schedule);
                    }
                    return;
                }
                if let Some(rate) = &mut self.rate {
                    let symbol_bits = 8.0 * self.data_wire_bytes as f64;
                    rate.on_report(now, receiver, heard, &delivery, symbol_bits);
                }
                // A tail's receiver far behind, by this report: its peers finish it (see
                // `hand_off_tail`, which runs when a receiver finishes).
                if (lags && self.is_tail()) || self.is_straggler(&needs) {
                    self.hand_off(receiver);
                    self.check_finished();
                    return;
                }
                if !needs.is_empty() {
                    self.last_need = Some(now);
                    self.schedule.set_proactive(true);
                }
                if self.loss_negligible() {
                    self.schedule.set_proactive(false);
                }
                // Only a report with a need far behind has anything to hold back.
                let hold = far_behind && self.holds_far_behind();
                for need in needs {
                    if hold && self.schedule.is_straggler_need(need.block, need.need, pct) {
                        continue;
                    }
                    self.schedule.on_need(need.block, need.need, need.seen, heard);
                }
            }
            Packet::Done { receiver, root } => {
                self.stats.feedback_packets += 1;
                if root != *self.manifest.root().as_bytes() {
                    self.events.push_back(Event::ReceiverWrongRoot(receiver));
                    return;
                }
                self.receivers.join(now, receiver, from);
                let block_count = self.manifest.layout().block_count();
                let info = self.receivers.heard(now, receiver).expect("joined above");
                info.done_blocks = block_count;
                let index = info.index;
                if !info.done {
                    info.done = true;
                    if let Some(rate) = &mut self.rate {
                        rate.forget(receiver);
                    }
                    self.last_done_at = Some(now);
                    self.events.push_back(Event::ReceiverDone(receiver));
                }
                self.queue_control(from, &Packet::Ack { receiver, done: true, index });
                if self.phase == Phase::Sending && self.is_tail() {
                    self.hand_off_tail(now);
                }
                self.check_finished();
            }
            Packet::Data { .. }
            | Packet::Seed { .. }
            | Packet::Progress { .. }
            | Packet::Ack { .. }
            | Packet::End
            | Packet::Handoff { .. }
            | Packet::Peers { .. }
            | Packet::Have { .. }
            | Packet::Ask { .. } => {
                // Our own multicast looped back, or another sender: not for us.
            }
        }
    }

    /// A join once the session is over: the receiver completes from the members that were here,
    /// so it gets its index and some of their addresses, and a handoff rather than an `End`
    /// (which would make it give up). With no member to ask, `End` it is.
    fn answer_late_join(&mut self, now: Instant, receiver: u64, from: SocketAddr) {
        let new = self.receivers.join(now, receiver, from);
        let info = self.receivers.heard(now, receiver).expect("joined above");
        let (index, done) = (info.index, info.done);
        if done {
            self.queue_control(from, &Packet::Ack { receiver, done: true, index });
            return;
        }
        let peers = self.receivers.sample_peers(index, MAX_PEERS_PER_PACKET);
        if peers.is_empty() {
            self.queue_control(from, &Packet::End);
            return;
        }
        self.receivers.get_mut(receiver).expect("joined above").handed_off = true;
        if new {
            self.events.push_back(Event::ReceiverJoined(receiver));
            self.events.push_back(Event::ReceiverHandedOff(receiver));
        }
        self.queue_control(from, &Packet::Ack { receiver, done: false, index });
        self.queue_control(from, &Packet::Peers { peers });
        self.queue_control(from, &Packet::Handoff { receiver });
    }

    /// When the receivers still unfinished are handed off: [`SenderConfig::straggler_deadline`]
    /// after the last receiver finished. Counting from the last rather than the first lets a
    /// group whose receivers finish over a spread of time run on, while a session where no one
    /// has finished for that long is waiting on stragglers only.
    fn straggler_deadline(&self) -> Option<Instant> {
        if self.phase != Phase::Sending {
            return None;
        }
        self.last_done_at.map(|at| at + self.config.straggler_deadline)
    }

    /// Hands every unfinished receiver off to its peers, then ends the session.
    fn hand_off_stragglers(&mut self) {
        for id in self.receivers.unfinished() {
            self.hand_off(id);
        }
        self.check_finished();
    }

    /// Hands off the receivers of the tail that are far behind (below
    /// [`TAIL_STORED_FRACTION`] of the blocks by a report after the first pass): those nearly
    /// done finish sooner from the multicast's repair (netsim unknown_bottleneck: handing off
    /// the whole tail of 15% moved the last node from 1.09 to 1.15 × the bound).
    /// Those silent for [`TAIL_SILENCE`] once the first pass has been over that long are handed
    /// off too.
    fn hand_off_tail(&mut self, now: Instant) {
        let blocks = self.manifest.layout().block_count();
        let silent_since = self.pass_over_at.and_then(|at| now.checked_sub(TAIL_SILENCE).filter(|&since| since >= at));
        let silent = |info: &ReceiverInfo| silent_since.is_some_and(|since| info.last_heard <= since);
        for id in self.receivers.unfinished() {
            if self.receivers.get_mut(id).is_some_and(|info| Self::lags(info, blocks) || silent(info)) {
                self.hand_off(id);
            }
        }
    }

    /// Whether `info`, of a tail, is far behind: below [`TAIL_STORED_FRACTION`] of the object's
    /// `blocks` by a report written after the first pass.
    fn lags(info: &ReceiverInfo, blocks: u32) -> bool {
        info.reported_after_pass && f64::from(info.done_blocks) < TAIL_STORED_FRACTION * f64::from(blocks)
    }

    /// Whether the receivers still waited for are a tail of at most
    /// [`SenderConfig::straggler_tail_share`] of the group.
    fn is_tail(&self) -> bool {
        let tail = self.tail_size();
        tail >= MIN_TAIL && self.receivers.waited_for() <= tail
    }

    /// How many receivers make a tail of the group: [`SenderConfig::straggler_tail_share`] of it.
    fn tail_size(&self) -> usize {
        (self.config.straggler_tail_share * self.receivers.len() as f64).floor() as usize
    }

    /// Stops waiting for receiver `id` and tells it to complete from its peers. The handoff is
    /// not acknowledged: like `End`, it goes out `end_repeats` times (and again whenever the
    /// receiver still reports).
    fn hand_off(&mut self, id: u64) {
        let Some(info) = self.receivers.get_mut(id) else { return };
        if !info.is_waited_for() {
            return;
        }
        info.handed_off = true;
        let addr = info.addr;
        if let Some(rate) = &mut self.rate {
            rate.forget(id);
        }
        for _ in 0..self.config.end_repeats.max(1) {
            self.queue_control(addr, &Packet::Handoff { receiver: id });
        }
        self.events.push_back(Event::ReceiverHandedOff(id));
    }

    /// Whether needs far behind (above [`SenderConfig::straggler_need_pct`] of K) wait for the
    /// end of the first pass: while it runs, such a need comes from a receiver that is slow,
    /// late or restarted, and repairing it would set the whole group's pace by the straggler's
    /// (netsim: 2% of nodes at 1/10 speed). But only while those reporting them are a tail (at
    /// most [`SenderConfig::straggler_tail_share`] of the group): when more are that far
    /// behind, the group itself fell behind (a startup that overshot the path fills every
    /// receiver's window with blocks a quarter received), and holding their repair back drops
    /// the rest of the pass at every full window (issue 18, netsim oversubscribed_uplink: 18.9×
    /// the bound, 857 M symbols dropped at the windows). Groups too small for a tail of
    /// [`MIN_TAIL`] keep holding them, as the other straggler rules do.
    fn holds_far_behind(&self) -> bool {
        if self.schedule.first_pass_over() {
            return false;
        }
        let tail = self.tail_size();
        tail < MIN_TAIL || self.receivers.far_behind(tail + 1) <= tail
    }

    /// Whether a receiver reporting `needs` is a straggler to hand off to its peers rather than
    /// repair by multicast: once the first pass is over and another receiver holds the whole
    /// object, a need above [`SenderConfig::straggler_need_pct`] of a block's K comes from a
    /// receiver far behind (slow, late, restarted, or behind a link that was down), and
    /// multicast repair for it would cost every other receiver's link that much again (issue
    /// 18: sender bytes 1.2-3.2 × the object in the straggler plans).
    fn is_straggler(&self, needs: &[fec::wire::Need]) -> bool {
        self.tail_size() >= MIN_TAIL
            && self.schedule.first_pass_over()
            && self.receivers.any_done()
            && needs.iter().any(|n| self.schedule.is_straggler_need(n.block, n.need, self.config.straggler_need_pct))
    }

    fn queue_control(&mut self, destination: SocketAddr, packet: &Packet<'_>) {
        let mut bytes = Vec::new();
        packet.encode(self.config.session_id, self.config.key.as_ref(), &mut bytes);
        self.control.push_back(Transmit::Control { destination, packet: bytes });
    }

    /// Once sending, the session ends when every registered receiver is done: `min_receivers`
    /// gates the start only, or one receiver lost for good (netsim: a crash without restart)
    /// would keep the session open forever.
    fn check_finished(&mut self) {
        if self.phase == Phase::Sending && !self.receivers.is_empty() && self.receivers.all_done() {
            self.phase = Phase::Ending { repeats_left: self.config.end_repeats };
        }
    }

    /// The next datagram to send, if one is due at `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if let Some(transmit) = self.control.pop_front() {
            return Some(transmit);
        }
        match self.phase {
            Phase::Finished => None,
            Phase::Ending { repeats_left } => {
                if repeats_left == 0 {
                    self.phase = Phase::Finished;
                    self.events.push_back(Event::Finished);
                    return None;
                }
                self.phase = Phase::Ending { repeats_left: repeats_left - 1 };
                self.group_packet(&Packet::End)
            }
            Phase::WaitingForReceivers { .. } => self.poll_progress(now),
            Phase::Sending => {
                if let Some(progress) = self.poll_progress(now) {
                    return Some(progress);
                }
                if self.is_idle() {
                    self.pacer.idle(now);
                    return None;
                }
                if self.pacer.delay(now, self.data_wire_bytes).is_some() {
                    return None;
                }
                if self.needs_quiet(now) {
                    self.schedule.set_proactive(false);
                }
                let (block, esi, requested, to) = match self.swarm.next_repair() {
                    Some((addr, block)) => (block, self.schedule.fresh_repair_esi(block), true, SymbolTo::Member(addr)),
                    None => {
                        // The member first: with none left to seed, the symbol stays unsent.
                        let to = if self.config.swarm { SymbolTo::Seed(self.swarm.next_seed(&self.receivers)?) } else { SymbolTo::Group };
                        let (block, esi, requested) = self.schedule.next()?;
                        (block, esi, requested, to)
                    }
                };
                self.pacer.consume(self.data_wire_bytes);
                self.stats.wire_bytes += self.data_wire_bytes as u64;
                if requested {
                    self.stats.requested_repair_symbols += 1;
                } else if esi < self.manifest.layout().source_symbols(block) {
                    self.stats.source_symbols += 1;
                } else {
                    self.stats.proactive_repair_symbols += 1;
                }
                let symbol = Transmit::Symbol { block, esi, to };
                match self.progress_train.next_copy(now) {
                    Some(copy) => {
                        self.stats.wire_bytes += (copy.len() + IPV4_UDP_HEADER_LEN) as u64;
                        self.control.push_front(symbol);
                        Some(Transmit::Control { destination: self.config.group, packet: copy })
                    }
                    None => Some(symbol),
                }
            }
        }
    }

    /// The periodic announcement of the session and its progress, if due.
    fn poll_progress(&mut self, now: Instant) -> Option<Transmit> {
        if !self.burst_over() && self.next_progress.is_some_and(|at| now < at) {
            return None;
        }
        self.next_progress = Some(now + self.config.progress_interval);
        let epoch = *self.epoch.get_or_insert(now);
        let stamp_us = now.saturating_duration_since(epoch).as_micros() as u64;
        if let Some(rate) = &mut self.rate {
            rate.on_progress(now, self.schedule.sent());
        }
        self.announced = self.schedule.sent();
        let progress = self.group_packet(&Packet::Progress { closed: self.schedule.closed(), sent: self.announced, stamp_us });
        if let (Phase::Sending, Some(Transmit::Control { packet, .. })) = (self.phase, &progress) {
            self.progress_train.start(now, packet);
        }
        progress
    }

    /// Whether the sender, with multicast, has run out of symbols to send after its first pass
    /// (the pass's end, or the end of a burst of repair) and no progress packet has said so yet:
    /// one goes out at once, not at the next interval. After the first pass the link idles
    /// until the receivers' reports come back, and a receiver asks for what it still lacks
    /// once a progress packet tells it that the symbols sent for it have arrived or are lost
    /// (`receiver::session`; the sender counts a need only from a report that echoes such a
    /// mark): waiting for the interval added up to 10 ms to each round of the tail, which is
    /// the group's finish (netsim stragglers_slow: the first pass ends at 1.15× the bound, the
    /// last nodes that are not slow finished at 1.19×).
    fn burst_over(&self) -> bool {
        self.phase == Phase::Sending && !self.config.swarm && self.is_idle() && self.announced < self.schedule.sent()
    }

    /// `packet` for the whole group: multicast, or one copy to each member without multicast.
    fn group_packet(&mut self, packet: &Packet<'_>) -> Option<Transmit> {
        let mut bytes = Vec::new();
        packet.encode(self.config.session_id, self.config.key.as_ref(), &mut bytes);
        if !self.config.swarm {
            self.stats.wire_bytes += (bytes.len() + IPV4_UDP_HEADER_LEN) as u64;
            return Some(Transmit::Control { destination: self.config.group, packet: bytes });
        }
        for (_, destination) in self.receivers.registered(|_| true) {
            self.stats.wire_bytes += (bytes.len() + IPV4_UDP_HEADER_LEN) as u64;
            self.control.push_back(Transmit::Control { destination, packet: bytes.clone() });
        }
        self.control.pop_front()
    }

    /// Whether repair is likely soon: unless no receiver has needed anything for
    /// [`SenderConfig::overhead_idle`], a driver prepares blocks' repair encoders ahead of them.
    pub fn expects_repair(&self, now: Instant) -> bool {
        !self.needs_quiet(now)
    }

    /// No receiver has needed anything for [`SenderConfig::overhead_idle`]: the first pass drops
    /// its proactive repair. Never without multicast: each member's repair is then its own
    /// unicast, so the first pass's overhead, shared by all, is far cheaper than the repair it
    /// saves.
    fn needs_quiet(&self, now: Instant) -> bool {
        let idle = self.config.overhead_idle.filter(|_| !self.config.swarm);
        matches!((idle, self.last_need), (Some(idle), Some(at)) if now >= at + idle)
    }

    /// Every receiver whose deliveries the rate control has heard loses less than one symbol in
    /// [`NEGLIGIBLE_LOSS_BLOCKS`] blocks, each over enough symbols to know it: the first pass
    /// drops its proactive repair, as when [`Self::needs_quiet`], but without waiting a whole
    /// [`SenderConfig::overhead_idle`] for it (at 0% loss, 256 MiB at 300 Mbit/s, that second
    /// cost 352 repair symbols that every receiver took as duplicates). Asked at each report,
    /// after its needs: a need does not turn it back on while the loss stays that low, since
    /// proactive repair saves a round trip only where most blocks lose a symbol.
    fn loss_negligible(&self) -> bool {
        let applies = self.config.overhead_idle.is_some() && !self.config.swarm;
        let negligible = 1.0 / (f64::from(self.manifest.layout().block_symbols()) * NEGLIGIBLE_LOSS_BLOCKS);
        applies && self.rate.as_ref().is_some_and(|rate| rate.all_lose_below(negligible))
    }

    /// Whether nothing is left to send: the first pass is over and no repair is owed.
    fn is_idle(&self) -> bool {
        self.schedule.is_idle() && self.swarm.is_idle()
    }

    /// Without multicast, member `index` at `addr` forwards its seeds to every other member:
    /// it gets all their addresses.
    fn announce_members(&mut self, index: u32, addr: SocketAddr) {
        let peers = self.receivers.peers_of(index);
        for chunk in peers.chunks(MAX_PEERS_PER_PACKET) {
            self.queue_control(addr, &Packet::Peers { peers: chunk.to_vec() });
        }
    }

    /// When [`Self::handle_timeout`] must next be called (and `poll_transmit` retried).
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        let progress = self.next_progress;
        let timers = [
            progress,
            self.join_deadline(),
            self.receivers.heard_floor().map(|at| at + self.config.receiver_timeout),
            self.straggler_deadline(),
        ];
        let mut next = timers.into_iter().flatten().min();
        if self.phase == Phase::Sending && !self.is_idle() {
            let pace = self.pacer.delay(now, self.data_wire_bytes).unwrap_or(now);
            next = Some(next.map_or(pace, |n| n.min(pace)));
        }
        if matches!(self.phase, Phase::Ending { .. }) || !self.control.is_empty() || self.burst_over() {
            next = Some(now);
        }
        if self.phase == Phase::Finished { None } else { next }
    }

    fn join_deadline(&self) -> Option<Instant> {
        match (self.phase, self.config.join_window) {
            (Phase::WaitingForReceivers { since_first_join: Some(at) }, Some(window)) => Some(at + window),
            _ => None,
        }
    }

    /// Starts sending once enough receivers joined, or the join window is over.
    fn maybe_start(&mut self, now: Instant) {
        if let Phase::WaitingForReceivers { since_first_join: Some(first) } = self.phase {
            let window_over = self.config.join_window.is_some_and(|w| now >= first + w);
            if self.receivers.len() >= self.config.min_receivers || window_over {
                self.phase = Phase::Sending;
                self.events.push_back(Event::Started);
                self.last_need = Some(now);
                if self.config.swarm {
                    for (index, addr) in self.receivers.registered(|_| true) {
                        self.announce_members(index, addr);
                    }
                }
            }
        }
    }

    /// Advances timers to `now`: starts the session, drops silent receivers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.maybe_start(now);
        if let Some(rate) = &mut self.rate {
            if let Some(rate_bps) = rate.roll(now, self.schedule.sent(), || self.receivers.waited_for()) {
                self.pacer.set_rate_bps(rate_bps);
            }
            // Receivers too slow for the group finish from their peers: waited for, they would
            // hold the session open at their pace.
            for id in rate.take_outliers() {
                self.hand_off(id);
            }
        }
        if let Some(deadline) = now.checked_sub(self.config.receiver_timeout) {
            for id in self.receivers.expire(deadline) {
                if let Some(rate) = &mut self.rate {
                    rate.forget(id);
                }
                self.events.push_back(Event::ReceiverLost(id));
            }
        }
        if self.phase == Phase::Sending && !self.receivers.is_empty() {
            self.check_finished();
        }
        if self.straggler_deadline().is_some_and(|at| now >= at) {
            self.hand_off_stragglers();
        }
        if self.phase == Phase::Sending && self.schedule.first_pass_over() {
            let over = *self.pass_over_at.get_or_insert_with(|| {
                tracing::debug!(sent = self.schedule.sent(), "first pass over");
                now
            });
            // The tail may fall silent after the last receiver finished: look again.
            if now >= over + TAIL_SILENCE && self.is_tail() {
                self.hand_off_tail(now);
                self.check_finished();
            }
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}
