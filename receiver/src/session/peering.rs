//! The receiver session's side of peer repair: learning peers and their have-maps, asking them
//! for symbols of blocks it missed much of, serving theirs, and dropping peers whose symbols
//! fail verification. See [`crate::peer`] for the pieces.

use super::{Assembly, Event, Phase, ReceiverSession, Transmit};
use crate::peer::{HaveMap, ServeRequest, peer_esis};
use fec::BlockId;
use fec::wire::{Packet, PeerAddr};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Strikes (blocks that failed verification with a peer's symbols among others') that drop it.
/// A block with one peer's symbols in it convicts that peer at once.
const STRIKES_TO_BAN: u32 = 2;

/// Requests for one block that peers left unanswered before its need goes to the sender.
const PEER_TRIES: usize = 3;

/// How far above what the last answer got through at a request's rate is named: enough that
/// the link stays full while the measure lags, and that room grown since (the multicast ended,
/// a request beside this one finished) shows in the next answer and is named in turn.
const INTAKE_HEADROOM: f64 = 1.25;

/// An answer of which less than this share got through (1 in this many) says our link is far
/// slower than the peer's rate, and a rate is named. A shorter fall (a shared queue on the way,
/// a peer granting part of a request) names none: netsim's racks behind a failed uplink, pulling
/// the object through it from their peers, lost 10-15% of their time to a rate named for those.
const FLOODED_SHARE: u32 = 4;

/// The longest run a request at a named rate asks for, and the fewest symbols.
const RUN_SPAN: Duration = Duration::from_millis(250);
const MIN_RUN: u32 = 16;
/// The least silence after a run's time is up that ends it.
const RUN_SLACK: Duration = Duration::from_millis(1);

/// A request for symbols of one block, and the peers asked for it so far.
#[derive(Debug, Clone)]
pub(super) struct PeerAsk {
    /// When the last request went out, and whether it may still be answered.
    at: Instant,
    pending: bool,
    /// When a peer's symbol for the block last arrived.
    progress: Option<Instant>,
    /// Requests that expired with no symbol at all (refused, or the peer is gone or filtered).
    /// A request answered in part is not a failure: what got lost was lost on our link.
    failed: usize,
    /// Peers asked for this block, most recent last.
    tried: Vec<u32>,
    /// The next request went out when this one was nearly answered.
    overlapped: bool,
    /// When the answer, sent at the rate we named, will be over, and the silence that ends it.
    ends: Option<(Instant, Duration)>,
    /// Symbols the last request asked for, and those of its answer that arrived.
    asked: u32,
    got: u32,
}

impl PeerAsk {
    /// Whether an answer to the last request may still come.
    pub(super) fn is_pending(&self) -> bool {
        self.pending
    }

    /// The block failed verification: ask again, of someone else.
    pub(super) fn retry(&mut self) {
        self.pending = false;
    }
}

impl ReceiverSession {
    /// Who sent a data packet: `Some(None)` for the sender (or an unknown address; the block
    /// hash guards against those), `Some(Some(index))` for a trusted peer, `None` for a banned
    /// peer, whose packets are dropped.
    pub(super) fn symbol_source(&self, from: SocketAddr) -> Option<Option<u32>> {
        if self.sender == Some(from) {
            // Most symbols: no need to look the address up.
            return Some(None);
        }
        match self.peers.by_addr(from) {
            Some(peer) if peer.banned => None,
            Some(peer) => Some(Some(peer.index)),
            None => Some(None),
        }
    }

    /// The sender told us our member index: we can serve and gossip from now on.
    pub(super) fn on_index(&mut self, now: Instant, index: u32) {
        if !self.config.peer.enabled || self.index == Some(index) {
            return;
        }
        self.index = Some(index);
        self.next_have = Some(now);
        self.next_ask = Some(now);
    }

    /// Members from the sender. While we still need blocks, each new one gets our have-map,
    /// so its answer tells us at once what it holds (a node that joins after the multicast
    /// learns every holder in one round trip instead of over many gossip rounds).
    pub(super) fn on_peers(&mut self, now: Instant, peers: &[PeerAddr]) {
        if !self.config.peer.enabled {
            return;
        }
        let own = self.index;
        let announce = own.is_some() && self.phase == Phase::Receiving;
        for peer in peers.iter().filter(|p| Some(p.index) != own) {
            let Some(info) = self.peers.learn(peer.index, peer.addr) else { continue };
            if info.have_sent.is_none() && announce {
                info.have_sent = Some(now);
                self.queue_have(peer.addr);
            }
        }
    }

    pub(super) fn on_have(&mut self, now: Instant, from: SocketAddr, node: u32, first: BlockId, bits: &[u8]) {
        if !self.config.peer.enabled || Some(node) == self.index {
            return;
        }
        if first > self.manifest.layout().block_count() {
            self.stats.rejected_packets += 1;
            return;
        }
        let interval = self.config.peer.have_interval;
        let Some(peer) = self.peers.learn(node, from) else { return };
        peer.have.update(HaveMap::from_packet(first, bits));
        if self.handed_off && self.phase == Phase::Receiving {
            // A new holder: ask now rather than at the next round (a newcomer's first asks
            // wait on exactly this).
            self.next_ask = Some(now);
        }
        // Answer a map with ours (at most once per interval per peer), so a newcomer learns
        // who holds what within one round trip.
        let due = peer.have_sent.is_none_or(|at| now.saturating_duration_since(at) >= interval);
        if due && self.index.is_some() {
            peer.have_sent = Some(now);
            self.queue_have(from);
        }
    }

    /// A peer asks for `need` symbols of `block`, at `rate_kbps` if it named a rate (see
    /// [`crate::peer::intake`]); we never send faster than our own serving rate.
    pub(super) fn on_ask(&mut self, now: Instant, from: SocketAddr, node: u32, block: BlockId, need: u32, rate_kbps: u32) {
        let Some(index) = self.index else { return };
        if !self.config.peer.enabled || node == index || self.peers.learn(node, from).is_none() {
            return;
        }
        let layout = self.manifest.layout();
        if !layout.contains(block) || need == 0 {
            self.stats.rejected_packets += 1;
            return;
        }
        if !self.is_stored(block) {
            return;
        }
        let want = need.min(layout.source_symbols(block) + self.config.decode_overhead_symbols + 64);
        // The budget counts the run at our own rate whatever its pace: a run at a lower rate
        // the asker named takes no more of our link, only longer.
        let count = self.budget.grant(now, from, want);
        if count == 0 {
            return;
        }
        let minted = self.minted.entry(block).or_insert(0);
        let first_esi = peer_esis(index, *minted, count);
        *minted += count;
        self.stats.served_symbols += u64::from(count);
        let own = self.config.peer.serve_rate_bps;
        let rate_bps = if rate_kbps == 0 { own } else { own.min(u64::from(rate_kbps) * 1000) };
        let run = Duration::from_secs_f64(f64::from(count) * 8.0 * f64::from(layout.symbol_size()) / rate_bps.max(1) as f64);
        self.serving_until = Some(self.serving_until.map_or(now + run, |at| at.max(now + run)));
        self.events.push_back(Event::Serve(ServeRequest { to: from, block, first_esi, count, rate_bps }));
    }

    /// The sender stopped waiting for us: stop reporting to it and complete from peers.
    pub(super) fn hand_off(&mut self, now: Instant) {
        self.handed_off = true;
        self.next_report = None;
        self.last_heard = Some(now);
        self.next_ask = Some(now);
    }

    /// Whether we must finish from peers and know none.
    pub(super) fn lacks_peers(&self) -> bool {
        self.config.peer.enabled && self.handed_off && self.peers.is_empty()
    }

    /// Whether a receiver whose sender went away can still finish: peers are on, known, and
    /// we have an index to be answered by.
    pub(super) fn can_finish_from_peers(&self) -> bool {
        self.config.peer.enabled && self.index.is_some() && !self.peers.is_empty()
    }

    /// A block failed verification with `suspects`' symbols in it. One suspect is convicted at
    /// once; several each get a strike. The block is then asked of someone else.
    pub(super) fn blame(&mut self, block: BlockId, suspects: &[u32]) {
        if let Some(ask) = self.asks.get_mut(&block) {
            ask.retry();
        }
        for &index in suspects {
            let Some(peer) = self.peers.get_mut(index) else { continue };
            peer.strikes += 1;
            if !peer.banned && (suspects.len() == 1 || peer.strikes >= STRIKES_TO_BAN) {
                peer.banned = true;
                self.stats.banned_peers += 1;
                self.events.push_back(Event::PeerBanned { index, addr: peer.addr });
            }
        }
    }

    fn queue_have(&mut self, to: SocketAddr) {
        let Some(node) = self.index else { return };
        let map = HaveMap::of(&self.stored, self.low_water);
        let (first, bits) = map.fields();
        self.queue_peer_packet(to, &Packet::Have { node, first, bits });
    }

    fn queue_peer_packet(&mut self, to: SocketAddr, packet: &Packet<'_>) {
        let mut bytes = Vec::new();
        packet.encode(self.config.session_id, self.config.key.as_ref(), &mut bytes);
        self.to_peers.push_back(Transmit { destination: to, packet: bytes });
    }

    /// Runs the have-map and request timers.
    pub(super) fn peer_timers(&mut self, now: Instant) {
        if self.next_have.is_some_and(|at| now >= at) {
            self.next_have = (self.phase == Phase::Receiving).then(|| now + self.jittered(self.config.peer.have_interval));
            let fanout = self.config.peer.have_fanout;
            for (index, addr) in self.peers.random_peers(fanout, &mut self.rng) {
                if let Some(peer) = self.peers.get_mut(index) {
                    peer.have_sent = Some(now);
                }
                self.queue_have(addr);
            }
        }
        if self.next_ask.is_some_and(|at| now >= at) {
            self.ask_peers(now);
            let run_end = self.asks.values().filter(|a| a.pending).filter_map(|a| a.ends.map(|(end, gap)| end.max(a.progress.unwrap_or(a.at) + gap))).min();
            let next = run_end.map_or(now + self.config.peer.ask_stall / 2, |end| end.min(now + self.config.peer.ask_stall / 2));
            self.next_ask = (self.phase == Phase::Receiving).then_some(next);
        }
    }

    /// Whether `need` symbols is much of `block` (see [`crate::PeerConfig::large_need_pct`]).
    fn is_large_need(&self, block: BlockId, need: u32) -> bool {
        let k = self.manifest.layout().source_symbols(block);
        u64::from(need) * 100 > u64::from(self.config.peer.large_need_pct) * u64::from(k)
    }

    /// Whether peers, not the sender, will be asked for `block`, which needs `need` symbols:
    /// the need is large and some trusted peer holds the block, or may soon (have-maps lag the
    /// blocks by a gossip round, so a large need waits up to [`crate::PeerConfig::holder_wait`]
    /// for a holder before it goes to the sender; if the whole group missed the block, nobody
    /// will ever hold it without the sender). Status reports leave such blocks out, so the
    /// sender does not multicast to everyone what one node missed.
    ///
    /// Nor does a block that lost symbols at our full window of blocks wait, or one below it: while
    /// the window is full every symbol of a block not yet open is dropped, so waiting costs the
    /// rest of the multicast, not only this block's repair; and the blocks it hit are behind
    /// because the path was overloaded, as the whole group's are, not because this node missed what
    /// its peers hold. A startup that overshot the path fills every receiver's window with blocks a
    /// quarter received that nobody holds (issue 18, netsim oversubscribed_uplink: 18.9× the bound,
    /// 857 M symbols dropped at the windows; waiting again once the window had room, 1.31× at the
    /// last node, against 1.13×). The window, not the peers' have-maps, decides: maps lag by a
    /// gossip round, and read as "nobody holds it", a stale one sent to the sender as multicast
    /// repair the holes of a node its peers could fill (a late joiner's newest blocks; e2e peers:
    /// 21–28% of the object repaired on the branch that tried it).
    pub(super) fn left_to_peers(&mut self, now: Instant, block: BlockId, need: u32) -> bool {
        match self.asks.get(&block) {
            Some(ask) if ask.pending => return true,
            // Peers that advertise the block but never answer (gone, filtered): the sender it is.
            Some(ask) if ask.failed >= PEER_TRIES => return false,
            _ => {}
        }
        if self.index.is_none() || self.peers.is_empty() || !self.is_large_need(block, need) {
            return false;
        }
        if self.peers.any_holder(block) {
            return true;
        }
        if self.overflowed_to.is_some_and(|top| block <= top) {
            return false;
        }
        let since = *self.awaiting_holder.entry(block).or_insert(now);
        now.saturating_duration_since(since) < self.config.peer.holder_wait
    }

    /// A peer's symbol for `block` arrived: its request is being answered.
    pub(super) fn peer_progress(&mut self, now: Instant, block: BlockId) {
        let Some(ask) = self.asks.get(&block) else { return };
        let overlap = ask.pending && !ask.overlapped && self.nearly_done(block);
        let ask = self.asks.get_mut(&block).expect("looked up above");
        ask.progress = Some(now);
        ask.got += 1;
        if overlap {
            // Time for the next request (see `ask_peers`).
            ask.overlapped = true;
            self.next_ask = Some(now);
        }
    }

    /// Whether `block` needs at most an eighth of K more: its request no longer counts as in
    /// flight, so the next one goes out while its last symbols arrive and a round trip never
    /// leaves the link idle between blocks.
    fn nearly_done(&self, block: BlockId) -> bool {
        let k = self.manifest.layout().source_symbols(block);
        self.block_need(block).is_some_and(|need| u64::from(need) * 4 <= u64::from(k))
    }

    /// Symbols `block` still needs, or `None` while its decode is out.
    fn block_need(&self, block: BlockId) -> Option<u32> {
        let layout = self.manifest.layout();
        match self.assemblies.get(&block) {
            None => Some(layout.source_symbols(block) + self.config.decode_overhead_symbols),
            Some(Assembly { symbols, target, .. }) => symbols.distinct().map(|d| target.saturating_sub(d).max(1)),
        }
    }

    /// Asks peers for the lowest blocks worth asking for, keeping
    /// [`crate::PeerConfig::asks_in_flight`] requests outstanding. Before a handoff only blocks
    /// the sender's first pass has closed and of which we missed much are worth it; after one,
    /// every block is.
    fn ask_peers(&mut self, now: Instant) {
        let Some(index) = self.index else { return };
        if self.phase != Phase::Receiving || self.peers.is_empty() {
            return;
        }
        let config = self.config.peer.clone();
        let mut short = false;
        for ask in self.asks.values_mut() {
            // Unanswered for the timeout, or answered and then silent for a stall: the peer
            // refused, is gone, or its answer fell short (losses); ask again at once.
            let silent = now.saturating_duration_since(ask.progress.unwrap_or(ask.at));
            // A run at a named rate is over once its time is up and nothing came for a moment:
            // a run slowed on the way (a shared queue, a peer slower than the rate named) is
            // still coming.
            let over = ask.ends.is_some_and(|(end, gap)| now >= end && silent >= gap);
            if ask.pending && (over || silent >= config.ask_timeout || (ask.progress.is_some() && silent >= config.ask_stall)) {
                ask.pending = false;
                match ask.progress {
                    None => ask.failed += 1,
                    Some(_) => short |= ask.got.saturating_mul(FLOODED_SHARE) < ask.asked,
                }
            }
        }
        if short && self.handed_off {
            // An answer came back far short: our link lost most of it. Name what it takes in, with headroom.
            self.named = self.intake.symbols_per_s(now).map(|rate| rate * INTAKE_HEADROOM).or(self.named);
        }
        let mut in_flight = self.asks.iter().filter(|&(&block, a)| a.pending && !self.nearly_done(block)).count();
        let layout = *self.manifest.layout();
        let limit = if self.handed_off { layout.block_count() } else { self.closed };
        let mut round = Vec::new();
        let mut block = self.low_water;
        while in_flight < config.asks_in_flight && block < limit {
            let candidate = block;
            block += 1;
            if self.stored[candidate as usize] || self.asks.get(&candidate).is_some_and(PeerAsk::is_pending) {
                continue;
            }
            let Some(need) = self.block_need(candidate) else { continue };
            if !self.handed_off && !self.is_large_need(candidate, need) {
                continue;
            }
            let (tried, failed) = self.asks.get(&candidate).map_or((Vec::new(), 0), |a| (a.tried.clone(), a.failed));
            if failed >= PEER_TRIES && !self.handed_off {
                // Its need goes to the sender now (see `left_to_peers`).
                continue;
            }
            let holder = self
                .peers
                .random_holder(candidate, &tried, &mut self.rng)
                .or_else(|| self.peers.random_holder(candidate, &[], &mut self.rng))
                .map(|p| (p.index, p.addr));
            let Some((peer, addr)) = holder else { continue };
            round.push((candidate, need + need * config.ask_margin_pct / 100 + 1, peer, addr));
            in_flight += 1;
        }
        // The answers still coming in full share our link with this round's.
        let rate_kbps = self.named_rate_kbps(in_flight);
        // A run comes at the lower of the rate named and its peer's own, which we take to be
        // ours (members run one configuration).
        let paced_bps = (f64::from(rate_kbps) * 1000.0).min(config.serve_rate_bps as f64);
        let symbols_per_s = paced_bps / (8.0 * f64::from(layout.symbol_size()));
        for (candidate, asked, peer, addr) in round {
            // A run at a named rate lasts at most `RUN_SPAN`: a stall asked again while a
            // long run still trickled in would add a run beside it, and runs pile up.
            let (asked, ends) = match rate_kbps {
                0 => (asked, None),
                _ => {
                    let asked = asked.min((symbols_per_s * RUN_SPAN.as_secs_f64()).max(f64::from(MIN_RUN)) as u32);
                    let gap = Duration::from_secs_f64(5.0 / symbols_per_s).max(RUN_SLACK);
                    (asked, Some((now + Duration::from_secs_f64(f64::from(asked) / symbols_per_s), gap)))
                }
            };
            self.queue_peer_packet(addr, &Packet::Ask { node: index, block: candidate, need: asked, rate_kbps });
            self.stats.peer_asks += 1;
            let ask = self.asks.entry(candidate).or_insert(PeerAsk { at: now, pending: true, progress: None, failed: 0, tried: Vec::new(), overlapped: false, ends, asked, got: 0 });
            ask.at = now;
            ask.pending = true;
            ask.progress = None;
            ask.overlapped = false;
            ask.ends = ends;
            (ask.asked, ask.got) = (asked, 0);
            ask.tried.retain(|&p| p != peer);
            ask.tried.push(peer);
        }
    }

    /// The rate to name in each of `answers` requests coming at once: none (0, the peer's own
    /// rate) until we finish from peers, then our link's intake (see [`crate::peer::intake`])
    /// with [`INTAKE_HEADROOM`], shared among them. Before the handoff the multicast fills the
    /// link beside the answers, and there every symbol a peer gets into the drop-tail queue is
    /// one the multicast did not: naming a rate there lost slow nodes their share and cost the
    /// whole group (netsim slow_nodes, docs/decisions.md).
    fn named_rate_kbps(&self, answers: usize) -> u32 {
        if !self.handed_off {
            return 0;
        }
        let Some(symbols_per_s) = self.named else { return 0 };
        let bits_per_s = symbols_per_s * 8.0 * f64::from(self.manifest.layout().symbol_size());
        let kbps = bits_per_s / 1000.0 / answers.max(1) as f64;
        kbps.clamp(1.0, f64::from(u32::MAX)) as u32
    }
}
