//! The receiver session's side of peer repair: learning peers and their have-maps, asking them
//! for symbols of blocks it missed much of, serving theirs, and dropping peers whose symbols
//! fail verification. See [`crate::peer`] for the pieces.

use super::{Assembly, Event, Phase, ReceiverSession, Transmit};
use crate::peer::{HaveMap, ServeRequest, peer_esis};
use fec::BlockId;
use fec::wire::{Packet, PeerAddr};
use std::net::SocketAddr;
use std::time::Instant;

/// Strikes (blocks that failed verification with a peer's symbols among others') that drop it.
/// A block with one peer's symbols in it convicts that peer at once.
const STRIKES_TO_BAN: u32 = 2;

/// Requests for one block that peers left unanswered before its need goes to the sender.
const PEER_TRIES: usize = 3;

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

    pub(super) fn on_ask(&mut self, now: Instant, from: SocketAddr, node: u32, block: BlockId, need: u32) {
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
        let count = self.budget.grant(now, from, want);
        if count == 0 {
            return;
        }
        let minted = self.minted.entry(block).or_insert(0);
        let first_esi = peer_esis(index, *minted, count);
        *minted += count;
        self.stats.served_symbols += u64::from(count);
        self.events.push_back(Event::Serve(ServeRequest { to: from, block, first_esi, count }));
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
            self.next_ask = (self.phase == Phase::Receiving).then(|| now + self.config.peer.ask_stall / 2);
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
        for ask in self.asks.values_mut() {
            // Unanswered for the timeout, or answered and then silent for a stall: the peer
            // refused, is gone, or its answer fell short (losses); ask again at once.
            let silent = now.saturating_duration_since(ask.progress.unwrap_or(ask.at));
            if ask.pending && (silent >= config.ask_timeout || (ask.progress.is_some() && silent >= config.ask_stall)) {
                ask.pending = false;
                if ask.progress.is_none() {
                    ask.failed += 1;
                }
            }
        }
        let mut in_flight = self.asks.iter().filter(|&(&block, a)| a.pending && !self.nearly_done(block)).count();
        let layout = *self.manifest.layout();
        let limit = if self.handed_off { layout.block_count() } else { self.closed };
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
            let asked = need + need * config.ask_margin_pct / 100 + 1;
            self.queue_peer_packet(addr, &Packet::Ask { node: index, block: candidate, need: asked });
            self.stats.peer_asks += 1;
            let ask = self.asks.entry(candidate).or_insert(PeerAsk { at: now, pending: true, progress: None, failed: 0, tried: Vec::new(), overlapped: false });
            ask.at = now;
            ask.pending = true;
            ask.progress = None;
            ask.overlapped = false;
            ask.tried.retain(|&p| p != peer);
            ask.tried.push(peer);
            in_flight += 1;
        }
    }
}
