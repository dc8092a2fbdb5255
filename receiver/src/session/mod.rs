//! The sans-IO receiver session.

mod accounting;
mod config;
mod decode;
mod delivery;
mod peering;

pub use accounting::{EsiCount, raptorq_failure_probability};

pub use config::ReceiverConfig;
pub use decode::{DecodeFailure, DecodeJob};

use crate::peer::{IntakeMeter, PeerTable, ServeBudget, ServeRequest, is_peer_esi};
use delivery::DeliveryMeter;
use fec::wire::{MAX_NEEDS_PER_STATUS, Need, Packet};
use peering::PeerAsk;
use fec::{BlockDecoder, BlockId, DecodeError, Manifest};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A datagram for the sender.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The sender's feedback address.
    pub destination: SocketAddr,
    /// The encoded packet.
    pub packet: Vec<u8>,
}

/// What the driver must do or know.
pub enum Event {
    /// A block has enough symbols: decode and verify it, then report back with
    /// [`ReceiverSession::block_stored`] (after writing it) or [`ReceiverSession::decode_failed`].
    Decode(DecodeJob),
    /// Every block is stored and verified; flush the target. The session still tells the sender.
    Complete,
    /// The sender acknowledged our completion, or ended the session after it: we are done.
    Finished,
    /// The sender ended the session before we had everything.
    SenderEnded,
    /// Nothing heard from the sender (or, after a handoff, from peers) for the configured
    /// timeout.
    SenderLost,
    /// A peer asked for symbols of a block we hold: mint and send them.
    Serve(ServeRequest),
    /// A peer's symbols failed verification: it is dropped and never asked again.
    PeerBanned {
        /// Its index in the session.
        index: u32,
        /// Its address.
        addr: SocketAddr,
    },
}

/// Counters for the final summary and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Symbols that were new and kept.
    pub symbols: u64,
    /// Of those, repair symbols (ESI >= K).
    pub repair_symbols: u64,
    /// Symbols already held, or for blocks already stored.
    pub duplicate_symbols: u64,
    /// Datagrams rejected: malformed, forged, out of range, or of another session.
    pub rejected_packets: u64,
    /// Blocks whose decoded bytes did not match the manifest (and were fetched again).
    pub corrupt_blocks: u64,
    /// Decodes that needed one more symbol.
    pub singular_decodes: u64,
    /// Status reports sent.
    pub status_packets: u64,
    /// Of [`Self::symbols`], those that came from peers.
    pub peer_symbols: u64,
    /// Requests for symbols sent to peers.
    pub peer_asks: u64,
    /// Symbols granted to peers' requests.
    pub served_symbols: u64,
    /// Peers dropped for symbols that failed verification.
    pub banned_peers: u64,
    /// Symbols dropped because [`ReceiverConfig::max_assemblies`] blocks were open, and
    /// assemblies evicted for lower blocks.
    pub window_drops: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Receiving,
    Complete,
    Finished,
    Failed,
}

/// What an assembly holds: real symbols, or (symbol accounting) which ESIs arrived.
enum Symbols {
    /// `None` while a [`DecodeJob`] for the block is out.
    Decoder(Option<BlockDecoder>),
    Counted(EsiCount),
}

impl Symbols {
    /// Distinct symbols held; `None` while a decode job is out.
    fn distinct(&self) -> Option<u32> {
        match self {
            Symbols::Decoder(decoder) => decoder.as_ref().map(BlockDecoder::distinct),
            Symbols::Counted(count) => Some(count.distinct()),
        }
    }
}

/// Symbols collected for one block not yet stored.
struct Assembly {
    symbols: Symbols,
    /// One past the highest ESI received.
    seen: u32,
    /// Distinct symbols to hold before decoding when some source symbol is missing.
    target: u32,
    /// The block's source symbols (K), kept so no symbol recomputes it.
    k: u32,
    /// Peers whose symbols are in it: the suspects if it fails verification. At most
    /// [`MAX_SUSPECTS`]; past that (forwarded seeds come from every member) it is `crowded`.
    peers: Vec<u32>,
    /// More peers contributed than are tracked: a failure says nothing about any one of them.
    crowded: bool,
}

/// Above this backlog (percent of the window of blocks) a receiver reports at once: with needs,
/// whatever its share of the group's feedback budget; with nothing to ask for, so the sender's
/// adaptive rate hears that it is falling behind.
const BACKLOG_REPORT_PCT: u8 = 50;

/// A queue on the path longer than this (µs, from the sender's timestamps) may be congestion: the
/// receiver reports at once, whatever its share of the feedback budget, so the sender's rate
/// comes down before the queue overflows: the sender's own threshold (512 packets are 6 ms at 1 Gbit/s; at 10 Gbit/s, 0.6
/// ms, the loss of an overflowing queue tells).
const CONGESTED_QUEUE_US: u32 = 5_000;

/// About this many receivers of a group (those whose id modulo
/// [`ReceiverConfig::group_size`] is below it) report their first [`STARTUP_SPANS`] spans of
/// delivery even while they keep up: the sender's startup doubles its rate only once a
/// receiver has seen the rate it sends at (its `confirmed`), and a receiver that keeps up is
/// otherwise quiet. A few suffice, and a few keep a group of thousands from answering at once.
const STARTUP_REPORTERS: u64 = 16;

/// See [`STARTUP_REPORTERS`]: from a start at half the ceiling, the startup doubles once.
const STARTUP_SPANS: u32 = 3;

/// Contributing peers an assembly tracks (see [`Assembly::crowded`]).
const MAX_SUSPECTS: usize = 4;

/// A need covers the path's loss of its own repair up to this loss; more is overload, which
/// more repair would feed (see [`covering`]).
const MAX_COVERED_LOSS: f64 = 0.15;

/// `need` symbols, plus as many more as a path losing `loss` at random is expected to lose of
/// them (rounded: a need of a few symbols gets none): asked for exactly, the repair for a block
/// is itself lost at that rate and needs another round trip, and another (netsim
/// stragglers_slow, 5% loss: the last nodes that were not slow finished three or four repair
/// rounds after the multicast's first pass, at 1.36× the bound). Only once the first pass is
/// over, where those rounds are the tail: rounded up and in the first pass too, the sender's
/// bytes grew by 2 points at 1% loss. Beyond [`MAX_COVERED_LOSS`] the need is left as it is.
fn covering(need: u32, loss: f64) -> u32 {
    if !(0.0..=MAX_COVERED_LOSS).contains(&loss) {
        return need;
    }
    need + (f64::from(need) * loss / (1.0 - loss)).round() as u32
}

/// The receiver side of one transfer.
pub struct ReceiverSession {
    config: ReceiverConfig,
    manifest: Manifest,
    rng: ChaCha8Rng,
    phase: Phase,
    sender: Option<SocketAddr>,
    joined: bool,
    /// Blocks the sender has finished its first pass over.
    closed: BlockId,
    /// The highest progress mark heard from the sender, echoed in each status report.
    heard: u64,
    stored: Vec<bool>,
    stored_count: u32,
    /// Every block below this is stored.
    low_water: BlockId,
    /// A handful of blocks at a time (the sender interleaves a few): an ordered map looks one up
    /// in a few comparisons, cheaper than hashing every symbol's block number.
    assemblies: BTreeMap<BlockId, Assembly>,
    events: VecDeque<Event>,
    next_report: Option<Instant>,
    /// When a report with no needs (a keepalive) is next due.
    next_keepalive: Option<Instant>,
    /// Spans of delivery reported so far (see [`STARTUP_REPORTERS`]).
    spans_reported: u32,
    /// Data packets taken in since the last status report (the report budget, see
    /// [`ReceiverConfig::group_size`]).
    packets_since_report: u64,
    /// Data packets to take in before the next status report while the first pass runs.
    report_after_packets: u64,
    /// When data last came in (from the sender or, once handed off, from peers).
    last_heard: Option<Instant>,
    stats: ReceiverStats,
    /// Our index among the session's members, from the sender's ack: it picks our ESI range.
    index: Option<u32>,
    /// The sender stopped waiting for us (or ended the session): finish from peers.
    handed_off: bool,
    peers: PeerTable,
    /// Outstanding and past requests to peers, by block.
    asks: BTreeMap<BlockId, PeerAsk>,
    /// Symbols minted per block for peers so far (where the next run starts in our range).
    minted: HashMap<BlockId, u32>,
    budget: ServeBudget,
    /// What our link takes in: our requests name it once we finish from peers.
    intake: IntakeMeter,
    /// The rate our requests share once an answer came back far short (see
    /// `peering::FLOODED_SHARE`), in symbols per second; `None` while answers get through at
    /// the peers' own rates.
    named: Option<f64>,
    /// When the runs we granted peers will have been sent, at their rates: we stay until then.
    serving_until: Option<Instant>,
    next_have: Option<Instant>,
    next_ask: Option<Instant>,
    /// Datagrams for peers, ahead of the sender's.
    to_peers: VecDeque<Transmit>,
    /// Blocks with a large need and no known holder yet, since when.
    awaiting_holder: BTreeMap<BlockId, Instant>,
    /// Once finished: when we finished, last heard a peer's request, or last heard the sender
    /// still sending (see [`Self::linger_until`]).
    linger_from: Option<Instant>,
    /// When the first datagram after we finished arrived: the start of our lingering.
    finished_at: Option<Instant>,
    /// The datagram just handled is a seed from the sender, to forward to every member.
    forward: bool,
    /// What reached us from the sender, for the sender's rate control.
    delivery: DeliveryMeter,
    /// [`ReceiverStats::window_drops`] at the last status report.
    window_drops_reported: u64,
    /// The highest block that lost symbols at the full window of blocks (dropped, or its
    /// assembly evicted): large needs up to it do not wait for a holder (see
    /// `ReceiverSession::left_to_peers`).
    overflowed_to: Option<BlockId>,
    /// When the sender's `End` came before it acknowledged our join (see the `End` handling).
    ended_unjoined: Option<Instant>,
}

impl ReceiverSession {
    /// A session receiving the object `manifest` describes; blocks in `stored` are already on
    /// the target, verified (from a journal).
    pub fn new(config: ReceiverConfig, manifest: Manifest, stored: impl IntoIterator<Item = BlockId>) -> Self {
        let block_count = manifest.layout().block_count();
        let symbol_bits = 8.0 * f64::from(manifest.layout().symbol_size());
        let peer = &config.peer;
        let budget = ServeBudget::new(peer.serve_rate_bps as f64 / symbol_bits, peer.serve_streams, peer.serve_backlog, peer.max_requesters);
        let mut session = Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            manifest,
            phase: Phase::Receiving,
            sender: None,
            joined: false,
            closed: 0,
            heard: 0,
            stored: vec![false; block_count as usize],
            stored_count: 0,
            low_water: 0,
            assemblies: BTreeMap::new(),
            events: VecDeque::new(),
            next_report: None,
            next_keepalive: None,
            spans_reported: 0,
            packets_since_report: 0,
            report_after_packets: 0,
            last_heard: None,
            stats: ReceiverStats::default(),
            index: None,
            handed_off: false,
            peers: PeerTable::default(),
            asks: BTreeMap::new(),
            minted: HashMap::new(),
            budget,
            intake: IntakeMeter::default(),
            named: None,
            serving_until: None,
            next_have: None,
            next_ask: None,
            to_peers: VecDeque::new(),
            awaiting_holder: BTreeMap::new(),
            linger_from: None,
            finished_at: None,
            forward: false,
            delivery: DeliveryMeter::default(),
            window_drops_reported: 0,
            overflowed_to: None,
            ended_unjoined: None,
        };
        session.sender = session.config.sender;
        session.report_after_packets = session.report_budget_packets();
        for block in stored {
            session.mark_stored(block);
        }
        session
    }

    /// The session's configuration.
    pub fn config(&self) -> &ReceiverConfig {
        &self.config
    }

    /// The object being received.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Counters so far.
    pub fn stats(&self) -> &ReceiverStats {
        &self.stats
    }

    /// Blocks stored so far.
    pub fn stored_blocks(&self) -> u32 {
        self.stored_count
    }

    /// Blocks being assembled now (at most [`ReceiverConfig::max_assemblies`]).
    pub fn open_blocks(&self) -> usize {
        self.assemblies.len()
    }

    /// Whether `block` is stored.
    #[inline]
    pub fn is_stored(&self, block: BlockId) -> bool {
        self.stored.get(block as usize).copied().unwrap_or(false)
    }

    /// Whether every block is stored and verified.
    #[inline]
    pub fn is_complete(&self) -> bool {
        matches!(self.phase, Phase::Complete | Phase::Finished)
    }

    /// Whether the session is over, one way or the other.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished | Phase::Failed)
    }

    fn mark_stored(&mut self, block: BlockId) {
        let Some(slot) = self.stored.get_mut(block as usize) else { return };
        if *slot {
            return;
        }
        *slot = true;
        self.stored_count += 1;
        self.assemblies.remove(&block);
        self.awaiting_holder.remove(&block);
        if let Some(ask) = self.asks.remove(&block) {
            if ask.is_pending() {
                // Answered whole: there may be room for more.
                self.named = self.named.map(|rate| rate * 2.0);
            }
            // A request slot freed: ask for the next block at once.
            self.next_ask = self.last_heard;
        }
        while self.stored.get(self.low_water as usize) == Some(&true) {
            self.low_water += 1;
        }
        if self.stored_count == self.manifest.layout().block_count() && self.phase == Phase::Receiving {
            self.phase = Phase::Complete;
            self.next_report = None;
            self.events.push_back(Event::Complete);
            if self.handed_off {
                // The sender stopped waiting for us; no acknowledgement will come.
                self.finish(Phase::Finished, Event::Finished);
            }
        }
    }

    /// Handles one datagram from `from` that arrived at `now`: when it reached the host, not when
    /// it was read, where the I/O knows (a receiver short of CPU reads late, and its delivery
    /// spans and queue would measure its own scheduling, not the path).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let Ok(packet) = Packet::decode_for(datagram, self.config.key.as_ref(), self.config.session_id) else {
            self.stats.rejected_packets += 1;
            return;
        };
        let ask = matches!(packet, Packet::Ask { .. });
        let sending = matches!(packet, Packet::Progress { .. });
        self.on_packet(now, from, packet);
        if self.is_finished() {
            let finished_at = *self.finished_at.get_or_insert(now);
            let held = sending && now < finished_at + self.config.peer.serve_while_sending;
            if self.linger_from.is_none() || ask || held {
                self.linger_from = Some(now);
            }
        }
    }

    /// After finishing, a member stays to serve peers until [`crate::PeerConfig::linger`] after
    /// it finished, last heard a request, last heard the sender still sending (for at most
    /// [`crate::PeerConfig::serve_while_sending`]), or will have sent the runs it granted (an
    /// asker behind a slow link names a slow rate, and asks again only once the run is over);
    /// `None` when it need not stay.
    pub fn linger_until(&self) -> Option<Instant> {
        let from = self.linger_from.filter(|_| self.config.peer.enabled && self.index.is_some())?;
        Some(from.max(self.serving_until.unwrap_or(from)) + self.config.peer.linger)
    }

    fn on_packet(&mut self, now: Instant, from: SocketAddr, packet: Packet<'_>) {
        match packet {
            Packet::Data { block, esi, payload } => {
                self.take_symbol(now, from, block, esi, Some(payload));
            }
            Packet::Seed { block, esi, payload } => self.take_seed(now, from, block, esi, Some(payload)),
            Packet::Progress { closed, sent, stamp_us } => {
                if closed > self.manifest.layout().block_count() {
                    self.stats.rejected_packets += 1;
                    return;
                }
                self.delivery.on_progress(now, sent, stamp_us);
                self.last_heard = Some(now);
                self.sender = Some(from);
                let new_mark = sent > self.heard;
                self.closed = self.closed.max(closed);
                self.heard = self.heard.max(sent);
                if self.pass_over() && new_mark && self.phase == Phase::Receiving && self.next_report.is_some() {
                    // The first pass is over: what we lack now is all we will ever ask the
                    // sender, and the repair for the last blocks is the group's tail. A new
                    // mark says the symbols sent before it arrived or are lost (the sender
                    // announces one as soon as it has nothing left to send), so what we lack
                    // now is worth asking for. Report soon, not at the next status interval
                    // (up to 20 ms, each round of the tail; netsim stragglers_slow: the first
                    // pass ends at 1.16× the bound), spread over a quarter of it so a large
                    // group's reports do not all arrive at once.
                    let spread = self.config.status_interval / 4;
                    let at = now + spread.mul_f64(self.rng.gen_range(0.0..1.0));
                    self.next_report = self.next_report.map(|next| next.min(at));
                } else if self.reports_startup() && self.next_report.is_some() {
                    // The sender's startup waits for this span (see [`STARTUP_REPORTERS`]).
                    self.next_report = Some(now);
                }
            }
            Packet::Ack { receiver, done, index } if receiver == self.config.receiver_id => {
                self.last_heard = Some(now);
                self.sender.get_or_insert(from);
                self.on_index(now, index);
                if !done {
                    if !self.joined {
                        // Reports start now, not a join retry later: the sender's rate control
                        // needs them from the first data on.
                        self.next_report = Some(now);
                    }
                    self.joined = true;
                } else if self.phase == Phase::Complete {
                    self.finish(Phase::Finished, Event::Finished);
                }
            }
            Packet::End => match self.phase {
                Phase::Complete => self.finish(Phase::Finished, Event::Finished),
                Phase::Receiving if self.can_finish_from_peers() => self.hand_off(now),
                // Not acknowledged yet: we joined as the session ended, or our join was lost.
                // The sender answers a join after its end with peers and a handoff (`End` only
                // where no member is left to ask), so we ask once more; the rest of this `End`'s
                // repeats arrive within the retry interval and are not the answer (netsim: a
                // node joining 60 ms in, its join lost, failed at the end 40 ms later).
                Phase::Receiving if !self.joined && self.ended_unjoined.is_none_or(|at| now < at + self.config.retry_interval) => {
                    if self.ended_unjoined.is_none() {
                        self.ended_unjoined = Some(now);
                        self.next_report = Some(now);
                    }
                }
                Phase::Receiving => self.finish(Phase::Failed, Event::SenderEnded),
                Phase::Finished | Phase::Failed => {}
            },
            Packet::Handoff { receiver } if receiver == self.config.receiver_id => match self.phase {
                // Without peer repair nobody would finish us: the session ends as if the sender
                // had, and the driver's unicast fallback (HTTP ranges in `download`) fetches
                // the rest, every block stored so far kept.
                Phase::Receiving if !self.config.peer.enabled => self.finish(Phase::Failed, Event::SenderEnded),
                Phase::Receiving => self.hand_off(now),
                Phase::Complete | Phase::Finished | Phase::Failed => {}
            },
            Packet::Peers { peers } => self.on_peers(now, &peers),
            Packet::Have { node, first, bits } => self.on_have(now, from, node, first, bits),
            Packet::Ask { node, block, need, rate_kbps } => self.on_ask(now, from, node, block, need, rate_kbps),
            Packet::Ack { .. }
            | Packet::Join { .. }
            | Packet::Status { .. }
            | Packet::Done { .. }
            | Packet::Handoff { .. } => {}
        }
    }

    fn finish(&mut self, phase: Phase, event: Event) {
        self.phase = phase;
        self.events.push_back(event);
    }

    /// Symbol accounting: takes in symbol `esi` of `block` from the sender at `from` without its
    /// payload, for simulations (netsim) of objects and groups too large to carry bytes. Only for
    /// a session configured with [`ReceiverConfig::symbol_accounting`]; every decision but the
    /// decode itself is the one [`Self::handle_datagram`] makes. A block becomes decodable at
    /// its target of K+h distinct symbols (or all K source symbols) and then fails with RaptorQ's
    /// probability ~1/256^(h+1), drawn from the session's seeded RNG; a block that decodes is
    /// stored at once (no [`Event::Decode`]).
    pub fn handle_symbol_accounted(&mut self, now: Instant, from: SocketAddr, block: BlockId, esi: u32) {
        if self.accountable(esi) {
            self.take_symbol(now, from, block, esi, None);
        }
    }

    /// [`Self::handle_symbol_accounted`] for a [`Packet::Seed`].
    pub fn handle_seed_accounted(&mut self, now: Instant, from: SocketAddr, block: BlockId, esi: u32) {
        if self.accountable(esi) {
            self.take_seed(now, from, block, esi, None);
        }
    }

    /// Whether an accounted symbol's ESI is one RaptorQ can have (what the wire parser checks
    /// for real packets).
    fn accountable(&mut self, esi: u32) -> bool {
        debug_assert!(self.config.symbol_accounting, "accounted symbols need symbol_accounting");
        let valid = esi <= fec::codec::MAX_ESI;
        if !valid {
            self.stats.rejected_packets += 1;
        }
        valid
    }

    /// Whether the datagram (or accounted seed) just handled must go, unchanged, to every
    /// member in [`Self::members`]: a seed from the sender, without multicast. Clears it.
    pub fn take_forward(&mut self) -> bool {
        std::mem::take(&mut self.forward)
    }

    /// Where forwarded seeds go: every member known and trusted.
    pub fn members(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.peers.trusted().map(|peer| peer.addr)
    }

    /// A seed: a symbol like any other, which we forward when the sender sent it to us (a
    /// forwarded one comes from a peer and goes no further). We forward it even for a block we
    /// hold: the others count on our share.
    fn take_seed(&mut self, now: Instant, from: SocketAddr, block: BlockId, esi: u32, payload: Option<&[u8]>) {
        let valid = self.take_symbol(now, from, block, esi, payload);
        self.forward = valid && self.config.peer.enabled && self.sender == Some(from);
    }

    /// Takes in one symbol from `from` (the sender, or a peer: a banned one's are dropped).
    /// Returns whether it was valid for this object.
    fn take_symbol(&mut self, now: Instant, from: SocketAddr, block: BlockId, esi: u32, payload: Option<&[u8]>) -> bool {
        let Some(source) = self.symbol_source(from) else {
            self.stats.rejected_packets += 1;
            return false;
        };
        let valid = self.on_symbol(now, block, esi, payload, source);
        if valid {
            self.last_heard = Some(now);
            self.intake.on_symbol(now);
            if source.is_some() {
                self.peer_progress(now, block);
            }
        }
        valid
    }

    /// Takes in one symbol (its payload, or `None` under symbol accounting) from the sender or
    /// from peer `source`; returns whether it was valid for this object.
    fn on_symbol(&mut self, now: Instant, block: BlockId, esi: u32, payload: Option<&[u8]>, source: Option<u32>) -> bool {
        let layout = *self.manifest.layout();
        if !layout.contains(block) {
            self.stats.rejected_packets += 1;
            return false;
        }
        self.packets_since_report += 1;
        if self.stored[block as usize] {
            self.stats.duplicate_symbols += 1;
            if source.is_none() {
                self.delivery.on_symbol(now, false);
            }
            return true;
        }
        let room = self.assemblies.contains_key(&block) || self.make_room(block);
        if source.is_none() {
            self.delivery.on_symbol(now, !room);
        }
        if !room {
            self.window_drop(block);
            return true;
        }
        let overhead = self.config.decode_overhead_symbols;
        let accounting = self.config.symbol_accounting;
        let assembly = self.assemblies.entry(block).or_insert_with(|| {
            let k = layout.source_symbols(block);
            Assembly {
                symbols: if accounting { Symbols::Counted(EsiCount::new(k)) } else { Symbols::Decoder(Some(BlockDecoder::new(&layout, block))) },
                seen: 0,
                target: k + overhead,
                k,
                peers: Vec::new(),
                crowded: false,
            }
        });
        let (decodable, distinct) = match (&mut assembly.symbols, payload) {
            (Symbols::Decoder(None), _) => {
                self.stats.duplicate_symbols += 1;
                return true;
            }
            (Symbols::Decoder(Some(decoder)), Some(payload)) => match decoder.add(esi, payload) {
                Err(_) => {
                    self.stats.rejected_packets += 1;
                    return false;
                }
                Ok(false) => (None, 0),
                Ok(true) => (Some(decoder.is_systematic()), decoder.distinct()),
            },
            (Symbols::Counted(count), None) => match count.add(esi) {
                false => (None, 0),
                true => (Some(count.is_systematic()), count.distinct()),
            },
            // A payload for a counting session or none for a real one: not this session's mode.
            _ => {
                self.stats.rejected_packets += 1;
                return false;
            }
        };
        let Some(systematic) = decodable else {
            self.stats.duplicate_symbols += 1;
            return true;
        };
        self.stats.symbols += 1;
        if esi >= assembly.k {
            self.stats.repair_symbols += 1;
        }
        match source {
            Some(peer) => {
                self.stats.peer_symbols += 1;
                if !assembly.crowded && !assembly.peers.contains(&peer) {
                    if assembly.peers.len() < MAX_SUSPECTS {
                        assembly.peers.push(peer);
                    } else {
                        assembly.crowded = true;
                    }
                }
            }
            // `seen` tells the sender which of its own repair bursts had arrived.
            None if !is_peer_esi(esi) => assembly.seen = assembly.seen.max(esi + 1),
            None => {}
        }
        if systematic || distinct >= assembly.target {
            match &mut assembly.symbols {
                Symbols::Decoder(decoder) => {
                    let decoder = decoder.take().expect("checked above");
                    let expected = *self.manifest.block_hash(block).expect("block in range");
                    self.events.push_back(Event::Decode(DecodeJob { decoder, expected }));
                }
                Symbols::Counted(_) => {
                    let extra = distinct.saturating_sub(assembly.k);
                    if !systematic && self.rng.gen_bool(raptorq_failure_probability(extra)) {
                        self.stats.singular_decodes += 1;
                        assembly.target = distinct + 1;
                    } else {
                        self.mark_stored(block);
                    }
                }
            }
        }
        true
    }

    /// Whether a new assembly for `block` fits under [`ReceiverConfig::max_assemblies`]: at the
    /// cap, the highest open block gives way to a lower one (unless its decode is out), so the
    /// lowest unfinished blocks, which everything else waits on, always make progress.
    fn make_room(&mut self, block: BlockId) -> bool {
        if self.assemblies.len() < self.config.max_assemblies.max(1) {
            return true;
        }
        let Some((&highest, assembly)) = self.assemblies.last_key_value() else { return true };
        if highest < block || matches!(assembly.symbols, Symbols::Decoder(None)) {
            return false;
        }
        self.assemblies.remove(&highest);
        self.window_drop(highest);
        true
    }

    /// The window of blocks was full: `block` lost a symbol, or its assembly.
    fn window_drop(&mut self, block: BlockId) {
        self.stats.window_drops += 1;
        self.overflowed_to = self.overflowed_to.max(Some(block));
    }

    /// The driver wrote `block` (verified by its [`DecodeJob`]) to the target.
    pub fn block_stored(&mut self, block: BlockId) {
        self.mark_stored(block);
    }

    /// A [`DecodeJob`] failed: take its symbols back and ask for more.
    pub fn decode_failed(&mut self, failure: DecodeFailure) {
        let block = failure.decoder.block();
        let Some(assembly) = self.assemblies.get_mut(&block) else { return };
        if !matches!(assembly.symbols, Symbols::Decoder(None)) {
            return;
        }
        let k = failure.decoder.source_symbols();
        let target = match failure.error {
            DecodeError::HashMismatch { .. } => {
                // The decoder dropped every symbol; so do we our list of who sent them.
                self.stats.corrupt_blocks += 1;
                let suspects = std::mem::take(&mut assembly.peers);
                if !std::mem::take(&mut assembly.crowded) {
                    self.blame(block, &suspects);
                } else if let Some(ask) = self.asks.get_mut(&block) {
                    ask.retry();
                }
                k + self.config.decode_overhead_symbols
            }
            DecodeError::Singular { .. } => {
                self.stats.singular_decodes += 1;
                failure.decoder.distinct() + 1
            }
            DecodeError::NotEnoughSymbols { .. } => k + self.config.decode_overhead_symbols,
        };
        let assembly = self.assemblies.get_mut(&block).expect("checked above");
        assembly.target = target;
        assembly.symbols = Symbols::Decoder(Some(failure.decoder));
    }

    /// Whether the sender's first pass is over: it closed every block.
    fn pass_over(&self) -> bool {
        self.closed == self.manifest.layout().block_count()
    }

    /// The next datagram for the sender, if one is due.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if let Some(transmit) = self.to_peers.pop_front() {
            return Some(transmit);
        }
        let destination = self.sender?;
        if self.next_report.is_some_and(|at| now < at) || self.is_finished() {
            return None;
        }
        let id = self.config.receiver_id;
        let (packet, wait) = if self.phase == Phase::Complete {
            let root = *self.manifest.root().as_bytes();
            (Packet::Done { receiver: id, root }, self.config.retry_interval)
        } else if !self.joined || self.lacks_peers() {
            // A handed-off receiver whose `Peers` was lost asks again: the sender's answer to a
            // join repeats the list.
            (Packet::Join { receiver: id }, self.config.retry_interval)
        } else if self.handed_off {
            // The sender no longer repairs for us; peers do.
            self.next_report = None;
            return None;
        } else {
            let needs = self.needs(now);
            let backlog_pct = self.backlog_pct();
            // Nothing needed and keeping up: only a keepalive, rarely; but look again soon, so a
            // need that appears when the next blocks close is reported at once. A queue on the
            // path or symbols dropped at a full window are congestion: the sender hears of it
            // at once.
            let congested = self.delivery.queue_us() > CONGESTED_QUEUE_US
                || self.delivery.congested_loss()
                || self.stats.window_drops > self.window_drops_reported;
            let keeping_up = backlog_pct <= BACKLOG_REPORT_PCT && !congested;
            // Once the first pass is over an unfinished receiver is never quiet: with nothing to
            // ask the sender it waits on peers (or a decode), and its reports tell the sender it
            // is alive and how far it is (see the sender's tail rules: a receiver whose needs
            // waited on peers sent only its keepalive every 0.5 s, and was taken for dead).
            let pass_over = self.pass_over();
            let startup = self.reports_startup();
            let quiet = needs.is_empty() && keeping_up && !pass_over && !startup && self.next_keepalive.is_some_and(|at| now < at);
            if quiet || (!needs.is_empty() && !startup && self.report_withheld(keeping_up)) {
                self.next_report = Some(now + self.config.status_interval);
                return None;
            }
            self.stats.status_packets += 1;
            self.window_drops_reported = self.stats.window_drops;
            self.packets_since_report = 0;
            self.report_after_packets = self.report_budget_packets();
            self.next_keepalive = Some(now + self.config.keepalive_interval);
            // After the first pass each round of repair for the last blocks waits for a report:
            // report twice as often. Few receivers are still unfinished then, and a report
            // written before the repair on its way arrived costs nothing (the sender counts a
            // need only once the progress mark it echoes is past the block's latest symbol).
            let interval = if pass_over { self.config.status_interval / 2 } else { self.config.status_interval };
            let wait = self.jittered(interval);
            let delivery = self.delivery.take();
            self.spans_reported += u32::from(delivery.marks > 0);
            (Packet::Status { receiver: id, done_blocks: self.stored_count, heard: self.heard, backlog_pct, delivery, needs }, wait)
        };
        self.next_report = Some(now + wait);
        let mut bytes = Vec::new();
        packet.encode(self.config.session_id, self.config.key.as_ref(), &mut bytes);
        Some(Transmit { destination, packet: bytes })
    }

    /// Needs of the lowest unfinished blocks the sender's first pass has closed. A block with
    /// no assembly (its symbols were lost, or dropped at a full window) is asked for only while
    /// the window has room for it: asked for while the window is full, its repair would be
    /// dropped in turn and asked for again, an overload that feeds itself (issue 18: 85% of the
    /// object dropped at the window and resent). The open blocks finish first and make room.
    fn needs(&mut self, now: Instant) -> Vec<Need> {
        let layout = *self.manifest.layout();
        let overhead = self.config.decode_overhead_symbols;
        let mut room = self.config.max_assemblies.max(1).saturating_sub(self.assemblies.len());
        let loss = if self.pass_over() { self.delivery.path_loss() } else { 0.0 };
        let mut needs = Vec::new();
        for block in self.low_water..self.closed {
            if needs.len() == MAX_NEEDS_PER_STATUS {
                break;
            }
            if self.stored[block as usize] {
                continue;
            }
            let need = match self.assemblies.get(&block) {
                None if room == 0 => continue,
                None => {
                    room -= 1;
                    Need { block, need: covering(layout.source_symbols(block) + overhead, loss), seen: 0 }
                }
                Some(Assembly { symbols, seen, target, .. }) => match symbols.distinct() {
                    Some(distinct) => Need { block, need: covering(target.saturating_sub(distinct).max(1), loss), seen: *seen },
                    None => continue,
                },
            };
            if !self.left_to_peers(now, block, need.need) {
                needs.push(need);
            }
        }
        needs
    }

    /// How full the window of blocks in flight is, percent (see
    /// [`fec::wire::Packet::Status`]'s `backlog_pct`).
    fn backlog_pct(&self) -> u8 {
        let max = self.config.max_assemblies.max(1);
        (self.assemblies.len().min(max) * 100 / max) as u8
    }

    /// Whether we report our span of delivery now for the sender's startup, however well we
    /// keep up (see [`STARTUP_REPORTERS`]).
    fn reports_startup(&self) -> bool {
        let sampled = self.config.receiver_id % (self.config.group_size.max(1) as u64) < STARTUP_REPORTERS;
        sampled && self.spans_reported < STARTUP_SPANS && self.delivery.has_span()
    }

    /// While the sender's first pass runs, a receiver reports its needs only after taking in
    /// its share of the data (see [`ReceiverConfig::group_size`]), so the whole group's feedback
    /// stays a fixed fraction of the data however many receivers there are. Once the first pass
    /// is over little data flows and few needs remain, so only the timer paces reports. Nor does
    /// a receiver wait once half its window of blocks is open: the budget grows with the group
    /// (500,000 packets at 5,000 receivers) and would outlast the window, whose overflow drops
    /// symbols that must then be asked for again (netsim rack_deploy_5000: 1.7× the packets).
    fn report_withheld(&self, keeping_up: bool) -> bool {
        !self.pass_over() && keeping_up && self.packets_since_report < self.report_after_packets
    }

    /// Data packets between two status reports: the group's share, jittered by ±50%.
    fn report_budget_packets(&mut self) -> u64 {
        let mean = self.config.group_size as f64 * self.config.data_packets_per_report as f64;
        (mean * self.rng.gen_range(0.5..1.5)) as u64
    }

    fn jittered(&mut self, mean: Duration) -> Duration {
        mean.mul_f64(self.rng.gen_range(0.5..1.5))
    }

    /// When [`Self::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_finished() {
            return None;
        }
        let lost = self.last_heard.map(|at| at + self.config.sender_timeout);
        let report = self.sender.and(self.next_report);
        [lost, self.silence_deadline(), report, self.next_have, self.next_ask].into_iter().flatten().min()
    }

    /// When a silent sender leaves us to our peers ([`crate::peer::PeerConfig::sender_silence`]),
    /// if we could finish from them.
    fn silence_deadline(&self) -> Option<Instant> {
        let leave = self.phase == Phase::Receiving && !self.handed_off && self.can_finish_from_peers();
        self.last_heard.filter(|_| leave).map(|at| at + self.config.peer.sender_silence)
    }

    /// Advances timers to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_finished() {
            return;
        }
        if self.silence_deadline().is_some_and(|at| now >= at) {
            self.hand_off(now);
        }
        if self.last_heard.is_some_and(|at| now >= at + self.config.sender_timeout) {
            self.finish(Phase::Failed, Event::SenderLost);
            return;
        }
        self.peer_timers(now);
    }

    /// The next event, if any.
    #[inline]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}
