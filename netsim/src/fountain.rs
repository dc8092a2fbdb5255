//! fountain itself in the simulator: the real `SenderSession` and `ReceiverSession`s over the
//! modelled network.
//!
//! Every multicast datagram the sender emits is appended once to a shared log; each node walks
//! the log with its own cursor, computing the packet's path through its rack uplink and its own
//! link (queues, failures, crash state, loss from its own RNG stream). A node therefore costs no
//! heap operation per packet, which is what makes thousands of nodes affordable. Unicast traffic
//! (the sender's control packets, peer requests, have-maps and the symbols peers serve) goes
//! through each node's inbox, ordered by arrival: it leaves through the sending node's own link
//! (paced at the serving rate), crosses the rack uplinks when the racks differ, and competes with
//! the multicast for the receiving node's link. Nodes exchange it at tick boundaries, so within a
//! tick they advance independently. Receivers react to data at tick boundaries (`tick_us`);
//! their timers and the sender's run at exact times.

use crate::net::{Faults, IP_UDP_OVERHEAD, LinkQueue, LossState, Nanos};
use crate::plan::{Fidelity, Plan};
use crate::report::{Outcome, Trace};
use crate::rounds::{QuitOnDrop, Rounds};
use bytes::Bytes;
use fec::wire::Packet;
use fec::{BlockEncoder, BlockId, Manifest, ObjectLayout};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use receiver::{Event as RxEvent, ReceiverConfig, ReceiverSession, ReceiverStats, ServeBudget, ServeRequest};
use sender::{Event as TxEvent, SenderConfig, SenderSession, SymbolTo, Transmit};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::RwLock;
use std::time::{Duration, Instant};

const SESSION: u64 = 0xf0f0;
/// Data packet header bytes on top of the symbol (fec wire header + block + esi).
const DATA_HEADER: u64 = fec::wire::DATA_HEADER_LEN as u64;
/// A silent receiver is dropped after this long (shorter than the real default so crash plans
/// finish in reasonable virtual time).
const RECEIVER_TIMEOUT: Duration = Duration::from_secs(3);
/// The sender starts once every on-time node joined, or this long after the first did.
const JOIN_WINDOW: Duration = Duration::from_millis(100);

/// How the sender reaches the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Multicast, replicated by the switches.
    Multicast,
    /// No multicast: each symbol goes to one node, which forwards it to all the others
    /// ([`SenderConfig::swarm`]).
    Swarm,
}

/// One multicast datagram in the log.
struct Sent {
    at: Nanos,
    ip_bytes: u64,
    what: Multicast,
}

enum Multicast {
    /// A symbol; with full bytes, its encoded Data packet.
    Symbol { block: BlockId, esi: u32, packet: Option<Vec<u8>> },
    /// A control packet to the group (Progress, End).
    Control(Vec<u8>),
}

/// A unicast datagram on its way into a node.
#[derive(Clone)]
enum Inbound {
    /// A whole datagram (the sender's control packets, peers' requests and maps; with full
    /// bytes, peers' symbols).
    Packet { from: From, bytes: Vec<u8> },
    /// A symbol under symbol accounting (no payload): a peer's, or without multicast the
    /// sender's; a seed when `seed` (see [`fec::wire::Packet::Seed`]).
    Symbol { from: From, block: BlockId, esi: u32, seed: bool },
}

/// Who sent an [`Inbound`]: a node's index, or [`SENDER`]. An index rather than an address keeps
/// arrivals small, which matters: every node's inbox heap moves each of them a few times.
type From = u32;
/// [`From`] for the sender.
const SENDER: From = From::MAX;

/// An [`Inbound`] with its arrival at the node's top-of-rack port; ordered by time, then by
/// the order it was sent in (so equal times stay deterministic).
struct Arrival {
    at: Nanos,
    seq: u64,
    what: Inbound,
}

impl PartialEq for Arrival {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Arrival {}
impl PartialOrd for Arrival {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Arrival {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The object and its encoders (full-bytes fidelity only).
struct Object {
    data: Vec<u8>,
    encoders: Vec<BlockEncoder>,
}

struct Node {
    index: usize,
    rack: usize,
    addr: SocketAddr,
    rng: ChaCha8Rng,
    session: Option<ReceiverSession>,
    /// Blocks stored before a crash (the journal), and restarts so far.
    journal: Vec<BlockId>,
    incarnation: u64,
    cursor: usize,
    /// The log entry at `cursor`, already routed: its arrival time (entries routed to a drop
    /// are skipped as soon as they are routed).
    routed: Option<Nanos>,
    last_arrival: Nanos,
    uplink: LinkQueue,
    link: LinkQueue,
    /// The node's own link towards its top of rack: what it serves and sends peers leaves here.
    up: LinkQueue,
    loss: LossState,
    /// Unicast on its way in, by arrival (see [`Node::take_arrivals`]).
    inbox: VecDeque<Arrival>,
    /// Arrivals handed over since the last round, not yet merged into `inbox`.
    arriving: Vec<Arrival>,
    /// Loss on the node's way out to peers: its own stream, so what it sends does not depend on
    /// what it receives.
    out_loss: LossState,
    out_rng: ChaCha8Rng,
    /// Datagrams for peers sent this tick: when, where to, the bytes.
    to_peers: Vec<(Nanos, SocketAddr, Vec<u8>)>,
    /// Symbols peers asked for this tick.
    serves: Vec<(Nanos, ServeRequest)>,
    /// Seeds to forward to every member (without multicast), taken in this tick: when, and what
    /// each member receives.
    forwards: Vec<(Nanos, Inbound)>,
    /// When the seeds forwarded so far will have left, at the link's rate.
    forwarded_until: Nanos,
    /// Per serving stream, when the symbols it was given will have left, at the serving rate.
    streams: Vec<Nanos>,
    now: Nanos,
    done_at: Option<Nanos>,
    output: Option<Vec<u8>>,
    faults: crate::net::NodeFaults,
}

impl Node {
    /// Merges what arrived since the last round into the inbox. A tick's arrivals come sorted
    /// once and merged in one pass: cheaper than a heap, whose every push and pop moves an
    /// arrival up or down its depth (the inbox holds hundreds while members forward seeds).
    fn take_arrivals(&mut self) {
        if self.arriving.is_empty() {
            return;
        }
        self.arriving.sort_unstable();
        if self.inbox.back().is_none_or(|last| *last <= self.arriving[0]) {
            self.inbox.extend(self.arriving.drain(..));
            return;
        }
        let mut merged = VecDeque::with_capacity(self.inbox.len() + self.arriving.len());
        let mut new = self.arriving.drain(..).peekable();
        for old in self.inbox.drain(..) {
            while let Some(next) = new.next_if(|n| *n < old) {
                merged.push_back(next);
            }
            merged.push_back(old);
        }
        merged.extend(new);
        self.inbox = merged;
    }

    #[inline]
    fn is_up(&self, at: Nanos) -> bool {
        at >= self.faults.join_at && !self.faults.crashes.iter().any(|&(from, until)| at >= from && until.is_none_or(|u| at < u))
    }
}

/// A status report on its way to the sender: when it left, from which node, its bytes.
type Feedback = (Nanos, usize, Vec<u8>);

/// Chunks of nodes per thread: enough that threads finish a tick together on a busy machine,
/// few enough that taking one costs nothing next to advancing its nodes.
const CHUNKS_PER_THREAD: usize = 8;

/// Nodes that advance together, the feedback and peer traffic they sent this tick (in node
/// order), and the peer traffic on its way to them.
struct Chunk {
    nodes: Vec<Node>,
    feedback: Vec<Feedback>,
    /// To other nodes: (destination, arrival at its top of rack, datagram).
    outbox: Vec<(usize, Nanos, Inbound)>,
    /// From other nodes, sent last tick: (node within the chunk, arrival), in sending order.
    incoming: Vec<(usize, Arrival)>,
}

/// Everything shared while nodes advance.
struct World<'a> {
    plan: &'a Plan,
    faults: &'a Faults,
    base: Instant,
    hop_ns: Nanos,
    jitter_ns: Nanos,
    sender_addr: SocketAddr,
    /// Every node's address, by index.
    addrs: &'a [SocketAddr],
    layout: ObjectLayout,
    manifest: &'a Manifest,
    object: Option<&'a Object>,
    receiver_seed: u64,
}

impl World<'_> {
    fn addr_of(&self, from: From) -> SocketAddr {
        if from == SENDER { self.sender_addr } else { self.addrs[from as usize] }
    }

    fn instant(&self, at: Nanos) -> Instant {
        self.base + Duration::from_nanos(at)
    }

    fn receiver_config(&self, node: &Node) -> ReceiverConfig {
        let id = (node.incarnation << 32) | (node.index as u64 + 1);
        let mut config = ReceiverConfig::new(SESSION, id);
        config.seed = self.receiver_seed ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        config.group_size = self.plan.nodes;
        config.data_packets_per_report = self.plan.sender.data_packets_per_report;
        config.symbol_accounting = self.plan.fidelity == Fidelity::Accounting;
        config.sender = Some(self.sender_addr);
        config.peer.enabled = self.plan.peers.enabled;
        config.peer.asks_in_flight = self.plan.peers.asks_in_flight;
        config.peer.ask_timeout = Duration::from_millis(self.plan.peers.ask_timeout_ms);
        config.peer.ask_stall = Duration::from_millis(self.plan.peers.ask_stall_ms);
        config.peer.serve_backlog = Duration::from_millis(self.plan.peers.serve_backlog_ms);
        config.peer.serve_rate_bps = self.serve_rate_bps(node);
        config.peer.serve_streams = self.plan.peers.serve_streams;
        config
    }

    /// What `node` serves at most, in payload bits per second.
    fn serve_rate_bps(&self, node: &Node) -> u64 {
        (self.plan.links.node_bps as f64 * node.faults.speed * self.plan.peers.serve_fraction) as u64
    }

    /// Routes log entry `sent` to `node`: its arrival time, or `None` if it is lost.
    #[inline]
    fn route(&self, node: &mut Node, sent: &Sent) -> Option<Nanos> {
        let at_core = sent.at + self.hop_ns;
        if self.faults.uplink_is_down(node.rack, at_core) {
            return None;
        }
        let at_tor = node.uplink.admit(at_core, sent.ip_bytes)? + self.hop_ns;
        let mut at = node.link.admit(at_tor, sent.ip_bytes)? + self.hop_ns;
        if !node.is_up(at) || node.loss.lose(&mut node.rng) {
            return None;
        }
        if self.jitter_ns > 0 {
            at += node.rng.gen_range(0..self.jitter_ns);
        }
        at = at.max(node.last_arrival);
        node.last_arrival = at;
        Some(at)
    }

    /// Runs `node` up to `until`: takes in what arrived, fires its timers, sends its feedback.
    fn advance(&self, node: &mut Node, log: &[Sent], until: Nanos, feedback: &mut Vec<Feedback>) {
        loop {
            self.apply_crashes(node, node.now);
            let timer = node.session.as_ref().and_then(|s| s.poll_timeout()).map(|t| (t - self.base).as_nanos() as Nanos);
            let stop = timer.map_or(until, |t| t.clamp(node.now, until));
            self.take_in(node, log, stop);
            node.now = stop;
            self.apply_crashes(node, stop);
            let now = self.instant(stop);
            if let Some(session) = node.session.as_mut() {
                session.handle_timeout(now);
                self.drain_events(node, stop);
                if let Some(session) = node.session.as_mut() {
                    while let Some(transmit) = session.poll_transmit(now) {
                        if transmit.destination == self.sender_addr {
                            feedback.push((stop, node.index, transmit.packet));
                        } else {
                            node.to_peers.push((stop, transmit.destination, transmit.packet));
                        }
                    }
                }
            }
            if stop >= until {
                return;
            }
        }
    }

    /// Creates the session when the node comes up and drops it when it crashes. Runs once per
    /// packet, so the common case (a node that never crashes is up for good once it has a
    /// session) stays inline and cheap.
    #[inline]
    fn apply_crashes(&self, node: &mut Node, at: Nanos) {
        if node.session.is_none() || !node.faults.crashes.is_empty() {
            self.apply_crashes_slow(node, at);
        }
    }

    /// [`World::apply_crashes`] for nodes that join late or crash.
    #[inline(never)]
    fn apply_crashes_slow(&self, node: &mut Node, at: Nanos) {
        let up = node.is_up(at);
        match (&node.session, up) {
            (None, true) if node.done_at.is_none() => {
                let config = self.receiver_config(node);
                node.session = Some(ReceiverSession::new(config, self.manifest.clone(), node.journal.iter().copied()));
            }
            (Some(session), false) => {
                node.journal = self.layout.blocks().filter(|&b| session.is_stored(b)).collect();
                node.session = None;
                node.incarnation += 1;
            }
            _ => {}
        }
    }

    /// Feeds every datagram that reaches `node` by `stop`, in arrival order.
    fn take_in(&self, node: &mut Node, log: &[Sent], stop: Nanos) {
        loop {
            while node.routed.is_none() && node.cursor < log.len() {
                node.routed = self.route(node, &log[node.cursor]);
                if node.routed.is_none() {
                    node.cursor += 1;
                }
            }
            let data_at = node.routed;
            let unicast_at = node.inbox.front().map(|a| a.at.max(node.now));
            let (at, from_log) = match (data_at, unicast_at) {
                (Some(d), Some(u)) if u < d => (u, false),
                (Some(d), _) => (d, true),
                (None, Some(u)) => (u, false),
                (None, None) => return,
            };
            if at > stop {
                return;
            }
            self.apply_crashes(node, at);
            let now = self.instant(at);
            if from_log {
                let sent = &log[node.cursor];
                node.cursor += 1;
                node.routed = None;
                if let Some(session) = node.session.as_mut() {
                    match &sent.what {
                        Multicast::Symbol { block, esi, packet: None } => {
                            session.handle_symbol_accounted(now, self.sender_addr, *block, *esi)
                        }
                        Multicast::Symbol { packet: Some(bytes), .. } | Multicast::Control(bytes) => {
                            session.handle_datagram(now, self.sender_addr, bytes)
                        }
                    }
                }
            } else {
                let arrival = node.inbox.pop_front().expect("peeked");
                // It shares the node's link with the multicast: a full queue drops it.
                let bytes = match &arrival.what {
                    Inbound::Packet { bytes, .. } => IP_UDP_OVERHEAD + bytes.len() as u64,
                    Inbound::Symbol { .. } => IP_UDP_OVERHEAD + DATA_HEADER + u64::from(self.plan.symbol_size),
                };
                if node.link.admit(at, bytes).is_none() || !node.is_up(at) {
                    continue;
                }
                if let Some(session) = node.session.as_mut() {
                    // What a seed's forwarder passes on: the same datagram, from itself.
                    let me = node.index as From;
                    let forward = match arrival.what {
                        Inbound::Packet { from, bytes } => {
                            session.handle_datagram(now, self.addr_of(from), &bytes);
                            session.take_forward().then_some(Inbound::Packet { from: me, bytes })
                        }
                        Inbound::Symbol { from, block, esi, seed: false } => {
                            session.handle_symbol_accounted(now, self.addr_of(from), block, esi);
                            None
                        }
                        Inbound::Symbol { from, block, esi, seed: true } => {
                            session.handle_seed_accounted(now, self.addr_of(from), block, esi);
                            session.take_forward().then_some(Inbound::Symbol { from: me, block, esi, seed: true })
                        }
                    };
                    if let Some(what) = forward {
                        node.forwards.push((at, what));
                    }
                }
            }
            // Only full bytes has work in events (decode jobs, run right away); with symbol
            // accounting they wait for the timer step, which saves a call per packet.
            if self.object.is_some() {
                self.drain_events(node, at);
            }
            if node.done_at.is_none() && node.session.as_ref().is_some_and(ReceiverSession::is_complete) {
                node.done_at = Some(at);
            }
        }
    }

    /// Runs decode jobs inline (full bytes) and writes verified blocks to the node's output;
    /// keeps peers' requests for the end of the tick.
    fn drain_events(&self, node: &mut Node, at: Nanos) {
        let Some(session) = node.session.as_mut() else { return };
        while let Some(event) = session.poll_event() {
            match event {
                RxEvent::Decode(job) => match job.run() {
                    Ok((block, data)) => {
                        if let Some(output) = node.output.as_mut() {
                            let offset = self.layout.block_offset(block) as usize;
                            output[offset..offset + data.len()].copy_from_slice(&data);
                        }
                        session.block_stored(block);
                    }
                    Err(failure) => session.decode_failed(failure),
                },
                RxEvent::Serve(request) => node.serves.push((at, request)),
                _ => {}
            }
        }
    }

    /// Puts what `node` sent peers this tick on the network: through its own link (symbols it
    /// serves paced at its serving rate), then across the racks' uplinks when the racks
    /// differ. Pushes `(destination, arrival at its top of rack, datagram)` to `out`.
    fn send_to_peers(&self, node: &mut Node, by_addr: &HashMap<SocketAddr, usize>, out: &mut Vec<(usize, Nanos, Inbound)>) {
        let path = |to: usize, depart: Nanos| {
            let to_rack = to % self.plan.racks;
            if to_rack == node.rack {
                return Some(depart + self.hop_ns);
            }
            let at_core = depart + self.hop_ns;
            let down = self.faults.uplink_is_down(node.rack, at_core) || self.faults.uplink_is_down(to_rack, at_core + self.hop_ns);
            (!down).then_some(at_core + 2 * self.hop_ns)
        };
        for (at, destination, bytes) in std::mem::take(&mut node.to_peers) {
            let Some(&to) = by_addr.get(&destination) else { continue };
            let Some(depart) = node.up.admit(at, IP_UDP_OVERHEAD + bytes.len() as u64) else { continue };
            if let Some(arrival) = path(to, depart)
                && !node.out_loss.lose(&mut node.out_rng)
            {
                out.push((to, arrival, Inbound::Packet { from: node.index as From, bytes }));
            }
        }
        let symbol_ip_bytes = IP_UDP_OVERHEAD + DATA_HEADER + u64::from(self.plan.symbol_size);
        // Forwarding seeds is a member's main job without multicast: at its link's rate.
        let link_bps = (self.plan.links.node_bps as f64 * node.faults.speed) as u64;
        let forward_interval = crate::net::serialization_ns(symbol_ip_bytes, link_bps.max(1));
        let forwards = std::mem::take(&mut node.forwards);
        if !forwards.is_empty() {
            let members: Vec<usize> = node.session.iter().flat_map(|s| s.members()).filter_map(|addr| by_addr.get(&addr).copied()).collect();
            for (at, what) in forwards {
                node.forwarded_until = node.forwarded_until.max(at);
                for &to in &members {
                    node.forwarded_until += forward_interval;
                    let Some(depart) = node.up.admit(node.forwarded_until, symbol_ip_bytes) else { continue };
                    let Some(arrival) = path(to, depart) else { continue };
                    if !node.out_loss.lose(&mut node.out_rng) {
                        out.push((to, arrival, what.clone()));
                    }
                }
            }
        }
        let interval = crate::net::serialization_ns(symbol_ip_bytes, self.serve_rate_bps(node).max(1));
        for (at, request) in std::mem::take(&mut node.serves) {
            // Paced at the rate its asker named, if lower than ours; its stream is held for the
            // time it takes at ours, as the session's budget counts it.
            let pace = crate::net::serialization_ns(symbol_ip_bytes, request.rate_bps.max(1));
            let Some(&to) = by_addr.get(&request.to) else { continue };
            let payloads = node.output.as_ref().map(|output| {
                let offset = self.layout.block_offset(request.block) as usize;
                let block = Bytes::copy_from_slice(&output[offset..offset + self.layout.block_len(request.block)]);
                BlockEncoder::new(&self.layout, request.block, block).symbols(request.first_esi, request.count)
            });
            // The stream the session's budget gave it. Streams together stay within the link
            // (`serve_streams` × `serve_fraction` ≤ 1), so they do not queue on it.
            let stream = ServeBudget::stream_for(&node.streams, at);
            let start = node.streams[stream].max(at);
            node.streams[stream] = start + u64::from(request.count) * interval;
            for n in 0..request.count {
                let depart = start + u64::from(n + 1) * pace;
                let Some(arrival) = path(to, depart) else { continue };
                let (block, esi) = (request.block, request.first_esi + n);
                let what = match &payloads {
                    Some(payloads) => {
                        let mut bytes = Vec::new();
                        Packet::Data { block, esi, payload: &payloads[n as usize] }.encode(SESSION, None, &mut bytes);
                        Inbound::Packet { from: node.index as From, bytes }
                    }
                    None => Inbound::Symbol { from: node.index as From, block, esi, seed: false },
                };
                if !node.out_loss.lose(&mut node.out_rng) {
                    out.push((to, arrival, what));
                }
            }
        }
    }
}

/// Runs fountain on `plan`; `trace` records the event trace.
/// Nodes advance on `threads` threads.
pub fn run(plan: &Plan, rng: &mut ChaCha8Rng, faults: &Faults, trace: &mut Trace, threads: usize, delivery: Delivery) -> Outcome {
    let layout = ObjectLayout::new(plan.object_bytes(), plan.symbol_size, plan.block_symbols).expect("validated");
    let object = (plan.fidelity == Fidelity::Bytes).then(|| {
        let mut data = vec![0u8; plan.object_bytes() as usize];
        rng.fill_bytes(&mut data);
        let encoders = BlockEncoder::for_object(&layout, &Bytes::copy_from_slice(&data[..]));
        Object { data, encoders }
    });
    let manifest = match &object {
        Some(object) => Manifest::hash_object(layout, object.data.as_slice()).expect("in-memory object"),
        // Symbol accounting never hashes a block: any hashes do.
        None => Manifest::from_block_hashes(layout, layout.blocks().map(|b| blake3::hash(&b.to_le_bytes())).collect())
            .expect("one hash per block"),
    };
    let links = &plan.links;
    let path_bps = links.sender_bps.min(links.uplink_bps).min(links.node_bps);
    let data_ip_bytes = IP_UDP_OVERHEAD + DATA_HEADER + u64::from(plan.symbol_size);
    // The pacer counts IP bytes; Ethernet framing rides on top of them on the wire.
    let rate_bps = (path_bps as f64 * plan.sender.rate_fraction * data_ip_bytes as f64
        / (data_ip_bytes + crate::net::ETHERNET_OVERHEAD) as f64) as u64;
    let sender_addr: SocketAddr = "10.255.0.1:5000".parse().expect("literal");
    let mut config = SenderConfig::new(SESSION, "239.1.1.1:5000".parse().expect("literal"));
    config.rate_bps = rate_bps;
    if let Some(ceiling) = plan.sender.rate_bps {
        // Told a ceiling, not the path: the sender finds the bottleneck itself. Its own link is
        // the most it can put out.
        let own_link = (links.sender_bps as f64 * data_ip_bytes as f64 / (data_ip_bytes + crate::net::ETHERNET_OVERHEAD) as f64) as u64;
        config.rate_bps = ceiling.min(own_link);
        config.adaptive_rate = Some(sender::rate::RateConfig::new(config.rate_bps));
    }
    config.repair_overhead_pct = plan.sender.repair_overhead_pct;
    config.interleave_blocks = plan.sender.interleave_blocks;
    config.min_receivers = faults.nodes.iter().filter(|f| f.join_at == 0).count().max(1);
    config.join_window = Some(JOIN_WINDOW);
    config.receiver_timeout = RECEIVER_TIMEOUT;
    config.swarm = delivery == Delivery::Swarm;
    let mut sender = SenderSession::new(config, manifest.clone());

    let addrs: Vec<SocketAddr> = (0..plan.nodes)
        .map(|index| SocketAddr::from(([10, (index % plan.racks) as u8, (index >> 8) as u8, index as u8], 6000 + (index >> 16) as u16)))
        .collect();
    let world = World {
        plan,
        faults,
        base: Instant::now(),
        hop_ns: links.hop_latency_us * 1000,
        jitter_ns: links.jitter_us * 1000,
        sender_addr,
        addrs: &addrs,
        layout,
        manifest: &manifest,
        object: object.as_ref(),
        receiver_seed: rng.next_u64(),
    };
    let nodes: Vec<Node> = (0..plan.nodes)
        .map(|index| {
            let rack = index % plan.racks;
            let node_faults = faults.nodes[index].clone();
            let node_bps = (links.node_bps as f64 * node_faults.speed) as u64;
            Node {
                index,
                rack,
                addr: addrs[index],
                rng: ChaCha8Rng::seed_from_u64(rng.next_u64()),
                session: None,
                journal: Vec::new(),
                incarnation: 0,
                cursor: 0,
                routed: None,
                last_arrival: 0,
                uplink: LinkQueue::new(links.uplink_bps, links.queue_packets),
                link: faults.node_link(node_bps, links.queue_packets),
                up: faults.node_link(node_bps, links.queue_packets),
                loss: LossState::new(plan.loss.clone()),
                inbox: VecDeque::new(),
                arriving: Vec::new(),
                out_loss: LossState::new(plan.loss.clone()),
                out_rng: ChaCha8Rng::seed_from_u64(rng.next_u64()),
                to_peers: Vec::new(),
                serves: Vec::new(),
                forwards: Vec::new(),
                forwarded_until: 0,
                streams: vec![0; plan.peers.serve_streams.max(1)],
                now: 0,
                done_at: None,
                output: object.as_ref().map(|o| vec![0; o.data.len()]),
                faults: node_faults,
            }
        })
        .collect();
    let by_addr: HashMap<SocketAddr, usize> = nodes.iter().map(|n| (n.addr, n.index)).collect();
    let mut feedback_rng = ChaCha8Rng::seed_from_u64(rng.next_u64());
    let mut feedback_loss = LossState::new(plan.loss.clone());

    // Nodes only meet through the sender, so within a tick chunks of them advance on separate
    // threads; their feedback is merged in chunk order, exactly the order one thread would
    // produce, so the trace does not depend on the thread count.
    let threads = threads.max(1);
    let chunk_size = plan.nodes.div_ceil(if threads == 1 { 1 } else { threads * CHUNKS_PER_THREAD });
    let mut nodes = nodes.into_iter();
    let chunks: Vec<Chunk> = std::iter::from_fn(|| {
        let chunk: Vec<Node> = nodes.by_ref().take(chunk_size).collect();
        (!chunk.is_empty()).then_some(Chunk { nodes: chunk, feedback: Vec::new(), outbox: Vec::new(), incoming: Vec::new() })
    })
    .collect();
    let rounds = Rounds::new(chunks, 0);
    let log: RwLock<Vec<Sent>> = RwLock::new(Vec::new());
    let advance = |chunk: &mut Chunk, until: Nanos| {
        let log = log.read().expect("the sender panicked");
        // What the sender and peers sent since the last round enters the inboxes here, on the
        // chunk's own thread.
        for (local, arrival) in chunk.incoming.drain(..) {
            chunk.nodes[local].arriving.push(arrival);
        }
        for node in &mut chunk.nodes {
            node.take_arrivals();
            world.advance(node, &log, until, &mut chunk.feedback);
            world.send_to_peers(node, &by_addr, &mut chunk.outbox);
        }
    };
    let mut to_sender: BinaryHeap<Reverse<(Nanos, u64, usize, Vec<u8>)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let tick = plan.tick_us * 1000;
    let deadline = plan.deadline_s * 1_000_000_000;
    let mut sender_now: Nanos = 0;
    let mut finished_at = None;
    // Completion times count from here: registration (joins, their retries) is not transfer.
    let mut started_at: Nanos = 0;
    let mut events = 0u64;
    let mut tick_end = 0;
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|| rounds.serve(&advance));
        }
        let _quit = QuitOnDrop(&rounds);
        // Until the sender is done and every node is done or down for good: late joiners and
        // stragglers may still be finishing from their peers.
        let mut settled = false;
        while !(finished_at.is_some() && settled) && tick_end < deadline {
            tick_end += tick;
            // The sender, up to the end of the tick.
            let mut stalls = 0;
            // The session's timers say nothing until it has been polled once (before the first
            // Progress), so each tick polls it at least once.
            let mut poll_now = Some(sender_now);
            loop {
                let next_in = to_sender.peek().map(|Reverse((at, ..))| *at);
                let timeout = sender.poll_timeout(world.instant(sender_now)).map(|t| (t - world.base).as_nanos() as Nanos);
                let Some(next) = [next_in, timeout, poll_now.take()].into_iter().flatten().min() else { break };
                if next > tick_end {
                    break;
                }
                if next <= sender_now {
                    stalls += 1;
                    assert!(stalls < 1_000_000, "sender livelock at {sender_now} ns");
                }
                sender_now = sender_now.max(next);
                let now = world.instant(sender_now);
                while to_sender.peek().is_some_and(|Reverse((at, ..))| *at <= sender_now) {
                    let Reverse((_, _, from, bytes)) = to_sender.pop().expect("peeked");
                    events += 1;
                    trace.record(sender_now, from as u64, 1, bytes.len() as u64);

                    sender.handle_datagram(now, addrs[from], &bytes);
                }
                sender.handle_timeout(now);
                while let Some(transmit) = sender.poll_transmit(now) {
                    events += 1;
                    match transmit {
                        Transmit::Symbol { block, esi, to } => {
                            trace.record(sender_now, u64::from(block), 2, u64::from(esi));
                            let seed = matches!(to, SymbolTo::Seed(_));
                            let packet = world.object.map(|o| {
                                let payload = o.encoders[block as usize].symbols(esi, 1).pop().expect("one symbol");
                                let packet = if seed { Packet::Seed { block, esi, payload: &payload } } else { Packet::Data { block, esi, payload: &payload } };
                                let mut bytes = Vec::new();
                                packet.encode(SESSION, None, &mut bytes);
                                bytes
                            });
                            match to {
                                SymbolTo::Group => log.write().expect("a node thread panicked").push(Sent { at: sender_now, ip_bytes: data_ip_bytes, what: Multicast::Symbol { block, esi, packet } }),
                                SymbolTo::Seed(member) | SymbolTo::Member(member) => {
                                    let Some(&to) = by_addr.get(&member) else { continue };
                                    let what = match packet {
                                        Some(bytes) => Inbound::Packet { from: SENDER, bytes },
                                        None => Inbound::Symbol { from: SENDER, block, esi, seed },
                                    };
                                    from_sender(faults, &mut rounds.chunk(to / chunk_size), to % chunk_size, sender_now + 3 * world.hop_ns, &mut seq, what);
                                }
                            }
                        }
                        Transmit::Control { destination, packet } => {
                            trace.record(sender_now, 0, 3, packet.len() as u64);
                            let ip_bytes = IP_UDP_OVERHEAD + packet.len() as u64;
                            match by_addr.get(&destination) {
                                Some(&to) => {
                                    let what = Inbound::Packet { from: SENDER, bytes: packet };
                                    from_sender(faults, &mut rounds.chunk(to / chunk_size), to % chunk_size, sender_now + 3 * world.hop_ns, &mut seq, what);
                                }
                                None => log.write().expect("a node thread panicked").push(Sent { at: sender_now, ip_bytes, what: Multicast::Control(packet) }),
                            }
                        }
                    }
                }
                while let Some(event) = sender.poll_event() {
                    if std::env::var_os("NETSIM_DEBUG").is_some() && !matches!(event, TxEvent::ReceiverJoined(_)) {
                        eprintln!("{:.4} {event:?} {:?} receivers {}", sender_now as f64 / 1e9, sender.stats(), sender.receivers().count());
                    }
                    if event == TxEvent::Started {
                        started_at = sender_now;
                    }
                    if event == TxEvent::Finished {
                        finished_at.get_or_insert(sender_now);
                    }
                }
            }
            if std::env::var_os("NETSIM_DEBUG").is_some() && tick_end % 50_000_000 == 0 {
                eprintln!("{:.2}s rate {:.3} Gbit/s {:?}", tick_end as f64 / 1e9, sender.rate_bps() as f64 / 1e9, sender.stats());
            }
            // Every node, up to the end of the tick.
            rounds.round(tick_end, &advance);
            // Peer traffic left its nodes in node order: sort it by destination chunk, in that
            // order, for the next round to take in.
            let mut incoming: Vec<Vec<(usize, Arrival)>> = (0..rounds.len()).map(|_| Vec::new()).collect();
            settled = true;
            for i in 0..rounds.len() {
                let mut chunk = rounds.chunk(i);
                for (to, at, what) in chunk.outbox.drain(..) {
                    events += 1;
                    seq += 1;
                    incoming[to / chunk_size].push((to % chunk_size, Arrival { at, seq, what }));
                }
                for node in &chunk.nodes {
                    settled &= node.done_at.is_some() || node.faults.crashes.iter().any(|&(from, until)| until.is_none() && from <= tick_end);
                }
            }
            for (i, arrivals) in incoming.into_iter().enumerate() {
                rounds.chunk(i).incoming.extend(arrivals);
            }
            let feedback = (0..rounds.len()).flat_map(|i| std::mem::take(&mut rounds.chunk(i).feedback));
            for (at, from, bytes) in feedback {
                events += 1;
                let rack = from % plan.racks;
                let arrival = at + 3 * world.hop_ns;
                if faults.uplink_is_down(rack, at) || feedback_loss.lose(&mut feedback_rng) {
                    continue;
                }
                seq += 1;
                to_sender.push(Reverse((arrival.max(sender_now), seq, from, bytes)));
            }
        }
    });
    let nodes: Vec<Node> = rounds.into_chunks().flat_map(|chunk| chunk.nodes).collect();
    // Every log entry a node walked past was one packet delivery (or drop) to simulate.
    events += nodes.iter().map(|n| n.cursor as u64).sum::<u64>();
    for node in &nodes {
        if let Some(done) = node.done_at {
            trace.record(done, node.index as u64, 4, 0);
        }
    }
    if std::env::var_os("NETSIM_DEBUG").is_some() {
        for node in nodes.iter().filter(|n| n.faults.join_at > 0) {
            let s = node.session.as_ref().map(|s| s.stats().clone()).unwrap_or_default();
            eprintln!("late node {} done {:?} asks {} peer symbols {} dup {} symbols {}", node.index, node.done_at, s.peer_asks, s.peer_symbols, s.duplicate_symbols, s.symbols);
        }
        // The last nodes: what held them up.
        let mut last: Vec<&Node> = nodes.iter().collect();
        last.sort_by_key(|n| std::cmp::Reverse(n.done_at.unwrap_or(Nanos::MAX)));
        for node in last.into_iter().take(12) {
            let s = node.session.as_ref().map(|s| s.stats().clone()).unwrap_or_default();
            let info = sender.receivers().find(|(id, _)| **id & 0xffff_ffff == node.index as u64 + 1).map(|(_, i)| (i.handed_off, i.done_blocks));
            eprintln!(
                "last node {} faulted {} rack {} done {:.4} s (handed off, blocks) {info:?} symbols {} peer {} asks {} window drops {} dup {} status {}",
                node.index,
                faults.is_faulted(node.index),
                node.rack,
                node.done_at.map_or(f64::NAN, |d| d.saturating_sub(started_at) as f64 / 1e9),
                s.symbols,
                s.peer_symbols,
                s.peer_asks,
                s.window_drops,
                s.duplicate_symbols,
                s.status_packets
            );
        }
    }
    let stats = sender.stats();
    let data_packets = stats.source_symbols + stats.proactive_repair_symbols + stats.requested_repair_symbols;
    // Conservation: a session can only have stored blocks it holds K distinct symbols of.
    let conservation_violations = nodes
        .iter()
        .filter_map(|n| n.session.as_ref().map(|s| (n, s)))
        .filter(|(n, s)| {
            let earned: u64 = layout.blocks().filter(|&b| s.is_stored(b) && !n.journal.contains(&b)).map(|b| u64::from(layout.source_symbols(b))).sum();
            s.stats().symbols < earned
        })
        .count();
    // Over the sessions alive at the end (a crash starts a new one).
    let session_total = |stat: fn(&ReceiverStats) -> u64| nodes.iter().filter_map(|n| n.session.as_ref()).map(|s| stat(s.stats())).sum();
    let verified = object.as_ref().map(|o| nodes.iter().filter(|n| n.output.as_deref() == Some(o.data.as_slice())).count());
    Outcome {
        protocol: match delivery {
            Delivery::Multicast => "fountain",
            Delivery::Swarm => "fountain_swarm",
        }
        .into(),
        // A late joiner's time counts from its join: the bound is what it could have done since.
        completion_ns: nodes.iter().map(|n| n.done_at.map(|d| d.saturating_sub(started_at.max(n.faults.join_at)))).collect(),
        faulted: (0..plan.nodes).map(|i| faults.is_faulted(i)).collect(),
        sender_payload_bytes: data_packets * u64::from(plan.symbol_size),
        data_packets,
        feedback_packets: stats.feedback_packets,
        finished_ns: finished_at.map(|f| f - started_at),
        events,
        verified_nodes: verified,
        repair_symbols: stats.proactive_repair_symbols + stats.requested_repair_symbols,
        conservation_violations,
        peer_symbols: session_total(|s| s.peer_symbols),
        window_drops: session_total(|s| s.window_drops),
    }
}

/// A unicast datagram from the sender for node `local` of `chunk`, arriving at its top of rack
/// at `at`: lost on the way, or handed over for the node's next round.
fn from_sender(faults: &Faults, chunk: &mut Chunk, local: usize, at: Nanos, seq: &mut u64, what: Inbound) {
    let node = &mut chunk.nodes[local];
    if faults.uplink_is_down(node.rack, at) || node.loss.lose(&mut node.rng) {
        return;
    }
    *seq += 1;
    chunk.incoming.push((local, Arrival { at, seq: *seq, what }));
}
