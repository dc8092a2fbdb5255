//! Peer repair with the real sans-IO sessions in virtual time: a receiver that joins late or
//! restarts catches up from peers, peers never send the sender's or each other's symbols twice,
//! and a peer that serves corrupted symbols is detected, dropped, and does not stop the
//! transfer from finishing byte-identical.

use bytes::Bytes;
use fec::wire::Packet;
use fec::{BlockEncoder, Manifest, ObjectLayout};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use receiver::peer::is_peer_esi;
use receiver::{Event as RxEvent, ReceiverConfig, ReceiverSession};
use sender::{Event as TxEvent, SenderConfig, SenderSession, Transmit};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const LATENCY: Duration = Duration::from_micros(200);
const SESSION: u64 = 11;

/// One receiver in the run.
struct Node {
    addr: SocketAddr,
    /// Created when the node comes up.
    session: Option<ReceiverSession>,
    /// When it comes up (relative to the start).
    join_at: Duration,
    loss: f64,
    /// How it serves peers.
    serving: Serving,
    output: Vec<u8>,
    /// Peer-minted ESIs it received, per block, to check they never repeat.
    peer_esis: HashSet<(u32, u32)>,
    duplicate_peer_esis: u64,
    banned: Vec<u32>,
    /// When it held the whole object.
    complete_at: Option<Instant>,
}

/// How a node answers peers' requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serving {
    Honest,
    /// Flips bits in every symbol it serves.
    Corrupt,
    /// Never answers (a peer behind a firewall).
    Silent,
}

struct Run {
    sender: SenderSession,
    nodes: Vec<Node>,
    /// Sender data symbols when it finished.
    sender_symbols: u64,
}

fn data_symbols(sender: &SenderSession) -> u64 {
    let s = sender.stats();
    s.source_symbols + s.proactive_repair_symbols + s.requested_repair_symbols
}

/// Runs one transfer; `nodes` are (join time, loss, how it serves). The run goes on after the
/// sender finishes until every node is complete or `limit` of virtual time has passed.
fn transfer(object: &[u8], specs: &[(Duration, f64, Serving)], seed: u64, limit: Duration) -> Run {
    let layout = ObjectLayout::new(object.len() as u64, 256, 64).unwrap();
    let manifest = Manifest::hash_object(layout, object).unwrap();
    let sender_addr: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let mut config = SenderConfig::new(SESSION, "239.1.1.1:5000".parse().unwrap());
    config.min_receivers = specs.iter().filter(|s| s.0.is_zero()).count();
    config.rate_bps = 100_000_000;
    let mut sender = SenderSession::new(config, manifest.clone());
    let encoders = BlockEncoder::for_object(&layout, &Bytes::copy_from_slice(object));
    let mut nodes: Vec<Node> = specs
        .iter()
        .enumerate()
        .map(|(i, &(join_at, loss, serving))| Node {
            addr: format!("10.0.1.{}:6000", i + 1).parse().unwrap(),
            session: None,
            join_at,
            loss,
            serving,
            output: vec![0; object.len()],
            peer_esis: HashSet::new(),
            duplicate_peer_esis: 0,
            banned: Vec::new(),
            complete_at: None,
        })
        .collect();
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let node_at = |addr: SocketAddr| addrs.iter().position(|&a| a == addr);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // In flight: (arrival, sequence, destination node or None for the sender, source, bytes).
    let mut network: BinaryHeap<Reverse<(Instant, u64, Option<usize>, SocketAddr, Vec<u8>)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut send = |network: &mut BinaryHeap<_>, at: Instant, to: Option<usize>, from: SocketAddr, bytes: Vec<u8>| {
        seq += 1;
        network.push(Reverse((at + LATENCY, seq, to, from, bytes)));
    };
    let start = Instant::now();
    let mut now = start;
    let mut sender_symbols = None;
    for _ in 0..10_000_000u64 {
        if now >= start + limit || (sender_symbols.is_some() && nodes.iter().all(|n| n.complete_at.is_some())) {
            break;
        }
        for (i, node) in nodes.iter_mut().enumerate() {
            if node.session.is_none() && now >= start + node.join_at {
                let mut config = ReceiverConfig::new(SESSION, i as u64 + 1);
                config.seed = seed ^ (i as u64 + 1);
                node.session = Some(ReceiverSession::new(config, manifest.clone(), []));
            }
        }
        while let Some(transmit) = sender.poll_transmit(now) {
            let (to, bytes) = match transmit {
                Transmit::Symbol { block, esi, .. } => {
                    let payload = encoders[block as usize].symbols(esi, 1).pop().unwrap();
                    let mut bytes = Vec::new();
                    Packet::Data { block, esi, payload: &payload }.encode(SESSION, None, &mut bytes);
                    (None, bytes)
                }
                Transmit::Control { destination, packet } => (node_at(destination), packet),
            };
            for (i, node) in nodes.iter().enumerate() {
                if node.session.is_some() && to.is_none_or(|t| t == i) {
                    send(&mut network, now, Some(i), sender_addr, bytes.clone());
                }
            }
        }
        for node in nodes.iter_mut() {
            let Some(session) = node.session.as_mut() else { continue };
            while let Some(event) = session.poll_event() {
                match event {
                    RxEvent::Decode(job) => match job.run() {
                        Ok((block, data)) => {
                            let offset = layout.block_offset(block) as usize;
                            node.output[offset..offset + data.len()].copy_from_slice(&data);
                            session.block_stored(block);
                        }
                        Err(failure) => session.decode_failed(failure),
                    },
                    RxEvent::Serve(_) if node.serving == Serving::Silent => {}
                    RxEvent::Serve(request) => {
                        // Mint from what this node stored and verified, as the real driver does.
                        let offset = layout.block_offset(request.block) as usize;
                        let block = Bytes::copy_from_slice(&node.output[offset..offset + layout.block_len(request.block)]);
                        let encoder = BlockEncoder::new(&layout, request.block, block);
                        for (n, symbol) in encoder.symbols(request.first_esi, request.count).into_iter().enumerate() {
                            let mut payload = symbol.to_vec();
                            if node.serving == Serving::Corrupt {
                                payload[0] ^= 0x5a;
                            }
                            let mut bytes = Vec::new();
                            let esi = request.first_esi + n as u32;
                            Packet::Data { block: request.block, esi, payload: &payload }.encode(SESSION, None, &mut bytes);
                            send(&mut network, now, node_at(request.to), node.addr, bytes);
                        }
                    }
                    RxEvent::PeerBanned { index, .. } => node.banned.push(index),
                    RxEvent::Complete => node.complete_at = Some(now),
                    RxEvent::Finished | RxEvent::SenderEnded | RxEvent::SenderLost => {}
                }
            }
            while let Some(t) = session.poll_transmit(now) {
                let to = if t.destination == sender_addr { None } else { node_at(t.destination) };
                send(&mut network, now, to, node.addr, t.packet);
            }
        }
        while let Some(event) = sender.poll_event() {
            if event == TxEvent::Finished {
                sender_symbols.get_or_insert(data_symbols(&sender));
            }
        }
        let next_packet = network.peek().map(|Reverse((at, ..))| *at);
        let next_join = nodes.iter().filter(|n| n.session.is_none()).map(|n| start + n.join_at).min();
        let next_timer = [sender.poll_timeout(now), next_join]
            .into_iter()
            .chain(nodes.iter().map(|n| n.session.as_ref().and_then(ReceiverSession::poll_timeout)))
            .flatten()
            .min();
        now = [next_packet, next_timer].into_iter().flatten().min().unwrap_or(start + limit).max(now);
        while network.peek().is_some_and(|Reverse((at, ..))| *at <= now) {
            let Reverse((_, _, to, from, bytes)) = network.pop().unwrap();
            match to {
                None => sender.handle_datagram(now, from, &bytes),
                Some(i) => {
                    let node = &mut nodes[i];
                    let Some(session) = node.session.as_mut() else { continue };
                    if rng.gen_bool(node.loss) {
                        continue;
                    }
                    if let Ok(Packet::Data { block, esi, .. }) = Packet::decode_for(&bytes, None, SESSION)
                        && is_peer_esi(esi)
                        && !node.peer_esis.insert((block, esi))
                    {
                        node.duplicate_peer_esis += 1;
                    }
                    session.handle_datagram(now, from, &bytes);
                }
            }
        }
        sender.handle_timeout(now);
        for node in &mut nodes {
            if let Some(session) = node.session.as_mut() {
                session.handle_timeout(now);
            }
        }
    }
    Run { sender_symbols: sender_symbols.unwrap_or_else(|| data_symbols(&sender)), sender, nodes }
}

fn object(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0; len];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

fn source_symbols(object: &[u8]) -> u64 {
    object.len().div_ceil(256) as u64
}

#[test]
fn a_late_joiner_catches_up_from_peers_while_the_multicast_goes_on() {
    let object = object(512 * 1024, 1);
    let ms = Duration::from_millis;
    let h = Serving::Honest;
    let specs = [(ms(0), 0.01, h), (ms(0), 0.01, h), (ms(0), 0.01, h), (ms(20), 0.01, h)];
    let run = transfer(&object, &specs, 7, Duration::from_secs(20));
    for (i, node) in run.nodes.iter().enumerate() {
        assert!(node.complete_at.is_some(), "node {i} incomplete");
        assert!(node.output == object, "node {i} differs");
        assert_eq!(node.duplicate_peer_esis, 0, "node {i} got a peer symbol twice");
    }
    let late = run.nodes[3].session.as_ref().unwrap().stats();
    // It came up about halfway through: peers, not the sender, filled in the first half.
    assert!(late.peer_symbols > source_symbols(&object) / 4, "late joiner took {} symbols from peers", late.peer_symbols);
    assert!(
        run.sender_symbols < source_symbols(&object) * 110 / 100,
        "sender sent {} symbols for {} source symbols: it re-sent what peers had",
        run.sender_symbols,
        source_symbols(&object)
    );
    let served: u64 = run.nodes.iter().map(|n| n.session.as_ref().unwrap().stats().served_symbols).sum();
    assert!(served >= late.peer_symbols);
    assert_eq!(run.sender.stats().rejected_packets, 0);
}

#[test]
fn a_peer_serving_corrupt_symbols_is_dropped_and_the_copy_is_still_exact() {
    let object = object(512 * 1024, 2);
    let ms = Duration::from_millis;
    // Two of the four on-time members serve garbage; the late joiner must meet them.
    let (c, h) = (Serving::Corrupt, Serving::Honest);
    let specs = [(ms(0), 0.0, c), (ms(0), 0.0, c), (ms(0), 0.0, h), (ms(0), 0.0, h), (ms(20), 0.0, h)];
    let run = transfer(&object, &specs, 3, Duration::from_secs(20));
    let late = &run.nodes[4];
    assert!(late.complete_at.is_some(), "late joiner incomplete");
    assert!(late.output == object, "late joiner's copy differs");
    let stats = late.session.as_ref().unwrap().stats();
    assert!(stats.corrupt_blocks >= 1, "no corrupt block detected: the malicious peers were never asked");
    let mut banned = late.banned.clone();
    banned.sort_unstable();
    banned.dedup();
    assert!(!banned.is_empty());
    for index in &banned {
        // Members are indexed in join order, which is node order here.
        assert_eq!(specs[*index as usize].2, Serving::Corrupt, "honest peer {index} was banned");
    }
    assert_eq!(stats.banned_peers as usize, banned.len());
}

#[test]
fn peers_that_never_answer_leave_the_blocks_to_the_sender() {
    let object = object(512 * 1024, 3);
    let ms = Duration::from_millis;
    let s = Serving::Silent;
    let specs = [(ms(0), 0.01, s), (ms(0), 0.01, s), (ms(0), 0.01, s), (ms(20), 0.01, s)];
    let run = transfer(&object, &specs, 5, Duration::from_secs(30));
    let late = &run.nodes[3];
    assert!(
        late.complete_at.is_some(),
        "the late joiner hung waiting for silent peers: {:?}, sender {:?}",
        late.session.as_ref().unwrap().stats(),
        run.sender.stats()
    );
    assert!(late.output == object);
    let stats = late.session.as_ref().unwrap().stats();
    assert_eq!(stats.peer_symbols, 0);
    assert!(stats.peer_asks > 0, "it did try its peers first");
}

/// Receiver 7 of a 64 KiB object, alone, with a sender at 10.0.0.1:5000 and `configure`'s changes:
/// for tests that play the sender's packets at it by hand.
fn lone_receiver(configure: impl FnOnce(&mut ReceiverConfig)) -> (ReceiverSession, SocketAddr) {
    let data = object(64 * 1024, 9);
    let layout = ObjectLayout::new(data.len() as u64, 1024, 16).unwrap();
    let manifest = Manifest::hash_object(layout, &data[..]).unwrap();
    let sender: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let mut config = ReceiverConfig::new(SESSION, 7);
    config.sender = Some(sender);
    configure(&mut config);
    (ReceiverSession::new(config, manifest, []), sender)
}

/// `p` as the session's datagram.
fn packet(p: Packet<'_>) -> Vec<u8> {
    let mut bytes = Vec::new();
    p.encode(SESSION, None, &mut bytes);
    bytes
}

/// The kind of the datagram `bytes`.
fn kind_of(bytes: &[u8]) -> fec::wire::Kind {
    Packet::decode(bytes, None).unwrap().1.kind()
}

#[test]
fn a_handed_off_receiver_whose_peer_list_was_lost_joins_again_until_it_has_one() {
    let (mut session, sender) = lone_receiver(|_| ());
    let retry = ReceiverConfig::new(SESSION, 7).retry_interval;
    let t0 = Instant::now();
    let first = session.poll_transmit(t0).expect("a join");
    assert_eq!(kind_of(&first.packet), fec::wire::Kind::Join);
    // The session was over: the sender's answer is Ack, Peers, Handoff, and the Peers is lost.
    session.handle_datagram(t0, sender, &packet(Packet::Ack { receiver: 7, done: false, index: 3 }));
    session.handle_datagram(t0, sender, &packet(Packet::Handoff { receiver: 7 }));
    let again = std::iter::successors(Some(t0), |t| Some(*t + retry / 4)).take(8).find_map(|t| session.poll_transmit(t));
    assert_eq!(again.map(|t| kind_of(&t.packet)), Some(fec::wire::Kind::Join), "no peers known: join again");
    // The repeated answer brings peers: no more joins, and the session introduces itself to them.
    let peer: SocketAddr = "10.0.0.2:6000".parse().unwrap();
    let later = t0 + 2 * retry;
    session.handle_datagram(later, sender, &packet(Packet::Peers { peers: vec![fec::wire::PeerAddr { index: 1, addr: peer }] }));
    let sent: Vec<_> = std::iter::from_fn(|| session.poll_transmit(later + retry)).collect();
    assert!(sent.iter().all(|t| kind_of(&t.packet) != fec::wire::Kind::Join), "joined again with a peer known");
    assert!(sent.iter().any(|t| t.destination == peer && kind_of(&t.packet) == fec::wire::Kind::Have));
}

#[test]
fn a_handed_off_receiver_without_peer_repair_ends_for_its_unicast_fallback() {
    let (mut session, sender) = lone_receiver(|c| c.peer.enabled = false);
    let t0 = Instant::now();
    let _join = session.poll_transmit(t0).expect("a join");
    session.handle_datagram(t0, sender, &packet(Packet::Ack { receiver: 7, done: false, index: 3 }));
    session.handle_datagram(t0, sender, &packet(Packet::Handoff { receiver: 7 }));
    let events: Vec<_> = std::iter::from_fn(|| session.poll_event()).collect();
    assert!(events.iter().any(|e| matches!(e, RxEvent::SenderEnded)), "no peers to finish from");
    assert!(session.is_finished(), "it does not wait for peers it will never ask");
}

#[test]
fn a_sender_silent_mid_session_leaves_the_receiver_to_its_peers() {
    let peer: SocketAddr = "10.0.0.2:6000".parse().unwrap();
    let (mut session, sender) = lone_receiver(|_| ());
    let silence = ReceiverConfig::new(SESSION, 7).peer.sender_silence;
    let t0 = Instant::now();
    let _join = session.poll_transmit(t0).expect("a join");
    session.handle_datagram(t0, sender, &packet(Packet::Ack { receiver: 7, done: false, index: 3 }));
    session.handle_datagram(t0, sender, &packet(Packet::Peers { peers: vec![fec::wire::PeerAddr { index: 1, addr: peer }] }));
    session.handle_datagram(t0, sender, &packet(Packet::Progress { closed: 4, sent: 64, stamp_us: 0 }));
    let deadline = session.poll_timeout().expect("a timer");
    assert!(deadline <= t0 + silence, "woken for the silence");
    let later = t0 + silence + Duration::from_millis(1);
    session.handle_timeout(later);
    assert!(!session.is_finished(), "not failed: its peers finish it");
    let sent: Vec<_> = std::iter::from_fn(|| session.poll_transmit(later)).collect();
    assert!(sent.iter().all(|t| t.destination != sender || kind_of(&t.packet) != fec::wire::Kind::Status), "no more reports to a gone sender");
    assert!(sent.iter().any(|t| t.destination == peer), "it turns to its peer");
}

/// The session's `End` reaching a receiver whose join was not acknowledged yet (it joined as the
/// session ended, or its join was lost) does not end it: it joins again, and the sender's answer
/// to a late join (peers and a handoff) lets it finish from its peers. Only an `End` answering
/// that join (no member left to ask) ends it.
#[test]
fn an_end_before_the_join_was_acknowledged_is_answered_with_a_join() {
    let (mut session, sender) = lone_receiver(|_| {});
    let retry = ReceiverConfig::new(SESSION, 7).retry_interval;
    let t0 = Instant::now();
    assert_eq!(kind_of(&session.poll_transmit(t0).expect("a join").packet), fec::wire::Kind::Join);
    // The join is lost; the session's End goes out three times.
    let end = t0 + retry / 2;
    for _ in 0..3 {
        session.handle_datagram(end, sender, &packet(Packet::End));
    }
    assert!(!session.is_finished(), "not yet: the join was never acknowledged");
    assert_eq!(session.poll_transmit(end).map(|t| kind_of(&t.packet)), Some(fec::wire::Kind::Join), "joins again at once");
    // The sender answers with peers and a handoff: the receiver finishes from them.
    session.handle_datagram(end, sender, &packet(Packet::Ack { receiver: 7, done: false, index: 3 }));
    let peer: SocketAddr = "10.0.0.2:6000".parse().unwrap();
    session.handle_datagram(end, sender, &packet(Packet::Peers { peers: vec![fec::wire::PeerAddr { index: 1, addr: peer }] }));
    session.handle_datagram(end, sender, &packet(Packet::Handoff { receiver: 7 }));
    assert!(!session.is_finished());
    let sent: Vec<_> = std::iter::from_fn(|| session.poll_transmit(end + retry)).collect();
    assert!(sent.iter().any(|t| t.destination == peer), "it turns to its peer: {} datagrams", sent.len());

    // With nobody to ask, the sender answers the second join with End: that one ends it.
    let (mut lone, sender) = lone_receiver(|_| {});
    let _join = lone.poll_transmit(t0);
    lone.handle_datagram(end, sender, &packet(Packet::End));
    assert_eq!(lone.poll_transmit(end).map(|t| kind_of(&t.packet)), Some(fec::wire::Kind::Join));
    lone.handle_datagram(end + retry, sender, &packet(Packet::End));
    let events: Vec<_> = std::iter::from_fn(|| lone.poll_event()).collect();
    assert!(events.iter().any(|e| matches!(e, RxEvent::SenderEnded)) && lone.is_finished());
}

/// A member (index 3) that stored every block and whose Done the sender acknowledged, at the
/// returned time; and the sender's address.
fn finished_member() -> (ReceiverSession, SocketAddr, Instant) {
    let (mut session, sender) = lone_receiver(|_| {});
    let t0 = Instant::now();
    let _join = session.poll_transmit(t0);
    session.handle_datagram(t0, sender, &packet(Packet::Ack { receiver: 7, done: false, index: 3 }));
    for block in 0..4 {
        session.block_stored(block);
    }
    assert_eq!(session.poll_transmit(t0).map(|t| kind_of(&t.packet)), Some(fec::wire::Kind::Done));
    session.handle_datagram(t0, sender, &packet(Packet::Ack { receiver: 7, done: true, index: 3 }));
    assert!(session.is_finished());
    (session, sender, t0)
}

/// A member that finished stays while the sender is still sending, so the stragglers the sender
/// hands off when its straggler deadline (10 s after the last receiver finished) runs out find
/// it there; then `linger` more, and never held longer than `serve_while_sending` by the sender.
#[test]
fn a_finished_member_stays_while_the_sender_is_still_sending() {
    let (mut session, sender, t0) = finished_member();
    let peer = ReceiverConfig::new(SESSION, 7).peer;
    assert_eq!(session.linger_until(), Some(t0 + peer.linger));

    // The sender goes on for a straggler, its progress every 100 ms, for 12 s.
    let progress = packet(Packet::Progress { closed: 4, sent: 64, stamp_us: 0 });
    let step = Duration::from_millis(100);
    let last = t0 + 120 * step;
    for at in std::iter::successors(Some(t0 + step), |t| Some(*t + step)).take_while(|t| *t <= last) {
        assert!(session.linger_until().is_some_and(|until| until > at), "left at {:?} while the sender was sending", at - t0);
        session.handle_datagram(at, sender, &progress);
    }
    assert_eq!(session.linger_until(), Some(last + peer.linger), "linger counts from the sender's last packet");

    // A sender that goes on past serve_while_sending no longer holds it.
    let late = t0 + peer.serve_while_sending + step;
    session.handle_datagram(late, sender, &progress);
    assert_eq!(session.linger_until(), Some(last + peer.linger));
}

/// The `(need, rate_kbps)` of every request `session` sends at `now`.
fn asks_sent(session: &mut ReceiverSession, now: Instant) -> Vec<(u32, u32)> {
    let sent: Vec<_> = std::iter::from_fn(|| session.poll_transmit(now)).collect();
    sent.iter()
        .filter_map(|t| match Packet::decode(&t.packet, None).unwrap().1 {
            Packet::Ask { need, rate_kbps, .. } => Some((need, rate_kbps)),
            _ => None,
        })
        .collect()
}

/// A receiver whose link took in 1,000 symbols a second (8.2 Mbit/s of 1,024-byte symbols) for
/// 300 ms, handed off then, with one peer (index 1) that holds every block. Returns it, the
/// peer, the handoff's time, and the requests it sent then.
fn handed_off_after_intake() -> (ReceiverSession, SocketAddr, Instant, Vec<(u32, u32)>) {
    let peer: SocketAddr = "10.0.0.2:6000".parse().unwrap();
    let (mut session, sender) = lone_receiver(|_| ());
    let t0 = Instant::now();
    let _join = session.poll_transmit(t0);
    session.handle_datagram(t0, sender, &packet(Packet::Ack { receiver: 7, done: false, index: 3 }));
    session.handle_datagram(t0, sender, &packet(Packet::Peers { peers: vec![fec::wire::PeerAddr { index: 1, addr: peer }] }));
    session.handle_datagram(t0, peer, &packet(Packet::Have { node: 1, first: 4, bits: &[] }));
    // One symbol over and over: each crossed the link all the same.
    let payload = vec![0; 1024];
    for n in 0..300 {
        session.handle_datagram(t0 + Duration::from_millis(n), sender, &packet(Packet::Data { block: 3, esi: 0, payload: &payload }));
    }
    let handoff = t0 + Duration::from_millis(300);
    session.handle_datagram(handoff, sender, &packet(Packet::Handoff { receiver: 7 }));
    session.handle_timeout(handoff);
    let asks = asks_sent(&mut session, handoff);
    (session, peer, handoff, asks)
}

/// The requests `session` sends once its requests of `at` went unanswered for a stall, after
/// `got` symbols of block 0's answer came in from `peer` (its first ESIs) just after `at`.
fn asks_after_a_stall(session: &mut ReceiverSession, peer: SocketAddr, at: Instant, got: u32) -> Vec<(u32, u32)> {
    let payload = vec![0; 1024];
    let first = receiver::peer::peer_esis(1, 0, got);
    for n in 0..got {
        session.handle_datagram(at + Duration::from_millis(1), peer, &packet(Packet::Data { block: 0, esi: first + n, payload: &payload }));
    }
    let stalled = at + Duration::from_millis(1) + ReceiverConfig::new(SESSION, 7).peer.ask_stall;
    session.handle_timeout(stalled);
    asks_sent(session, stalled)
}

/// Once handed off, a receiver asks at its peers' own rates; when an answer gets through only
/// in small part (a peer left to serve at its own 1 Gbit/s sent a receiver behind 10 Mbit/s 43
/// symbols for each that got through), it names the rate its link took in, with headroom,
/// shared among the requests of a round; and it asks again when a run at that rate is over, not
/// a stall later.
#[test]
fn a_receiver_whose_answer_got_through_in_small_part_names_its_links_rate() {
    let (mut session, peer, handoff, asks) = handed_off_after_intake();
    assert_eq!(asks.len(), 4, "one request per block");
    assert!(asks.iter().all(|&(_, rate)| rate == 0), "no rate named before an answer fell short: {asks:?}");
    let (need, _) = asks[0];
    let asks = asks_after_a_stall(&mut session, peer, handoff, need / 8);
    assert_eq!(asks.len(), 4, "every request asked again");
    // 1.25 x 8,192 kbit/s, shared by the four.
    for &(_, rate) in &asks {
        assert!((2_500..=2_620).contains(&rate), "named {rate} kbit/s");
    }
    // Nothing comes back. The runs (17-18 symbols at 2,560 kbit/s) are over within ~60 ms:
    // they are asked again then, well before a stall.
    let ms = Duration::from_millis;
    let named_at = handoff + ms(1) + ReceiverConfig::new(SESSION, 7).peer.ask_stall;
    let again = std::iter::successors(Some(named_at + ms(5)), |t| Some(*t + ms(5))).take_while(|t| *t < named_at + ms(200)).find_map(|t| {
        session.handle_timeout(t);
        let asks = asks_sent(&mut session, t);
        (!asks.is_empty()).then_some((t, asks))
    });
    let (at, asks) = again.expect("asked again before a stall");
    assert!(at - named_at < ms(100), "asked again {:?} after the named round", at - named_at);
    assert!(asks.iter().all(|&(_, rate)| rate > 0));
}

/// An answer of which a large part got through (a queue shared on the way, a peer that granted
/// part of the request) names no rate: the peers' own rates fill the link best there.
#[test]
fn a_receiver_whose_answer_got_through_in_large_part_names_no_rate() {
    let (mut session, peer, handoff, asks) = handed_off_after_intake();
    let (need, _) = asks[0];
    let asks = asks_after_a_stall(&mut session, peer, handoff, need / 2);
    assert_eq!(asks.len(), 4, "every request asked again");
    assert!(asks.iter().all(|&(_, rate)| rate == 0), "{asks:?}");
}

/// A peer serves a run at the rate its asker named, never above its own, and stays until the
/// run is sent, however long after the request that is.
#[test]
fn a_peer_serves_at_the_rate_its_asker_named_and_stays_until_the_run_is_sent() {
    let (mut session, _, t0) = finished_member();
    let peer = ReceiverConfig::new(SESSION, 7).peer;
    let asker: SocketAddr = "10.0.0.9:6000".parse().unwrap();
    let mut serve = |block, rate_kbps| {
        session.handle_datagram(t0, asker, &packet(Packet::Ask { node: 5, block, need: 10, rate_kbps }));
        let events: Vec<_> = std::iter::from_fn(|| session.poll_event()).collect();
        let runs: Vec<_> = events.into_iter().filter_map(|e| if let RxEvent::Serve(run) = e { Some(run) } else { None }).collect();
        assert_eq!(runs.len(), 1);
        runs[0].rate_bps
    };
    assert_eq!(serve(0, 0), peer.serve_rate_bps, "no rate named: our own");
    assert_eq!(serve(1, 100), 100_000, "the asker's, below ours");
    assert_eq!(serve(2, u32::MAX), peer.serve_rate_bps, "never above ours");
    // Ten 1,024-byte symbols at 100 kbit/s take 819 ms: it stays that long, then lingers.
    let run_end = t0 + Duration::from_secs_f64(10.0 * 8192.0 / 100_000.0);
    let until = session.linger_until().unwrap();
    assert!(until >= run_end + peer.linger && until < run_end + peer.linger + Duration::from_millis(1), "{:?}", until - t0);
}

/// The blocks whose needs receiver `session` reports to `sender` from `from` over `span`, woken
/// every 5 ms.
fn reported_needs(session: &mut ReceiverSession, sender: SocketAddr, from: Instant, span: Duration) -> HashSet<u32> {
    let mut blocks = HashSet::new();
    let mut now = from;
    while now < from + span {
        session.handle_timeout(now);
        while let Some(transmit) = session.poll_transmit(now) {
            if transmit.destination == sender
                && let Ok((_, Packet::Status { needs, .. })) = Packet::decode(&transmit.packet, None)
            {
                blocks.extend(needs.iter().map(|n| n.block));
            }
        }
        now += Duration::from_millis(5);
    }
    blocks
}

/// A large need waits for a peer to advertise the block (have-maps lag by a gossip round) only
/// while the receiver's window of blocks has not overflowed lately: full, it drops every symbol
/// of a later block while it waits, so the need goes to the sender at once (issue 18: a startup
/// that overshot the path left every window full of blocks a quarter received, and nobody held
/// them).
#[test]
fn a_large_need_waits_for_a_holder_only_while_the_window_has_not_overflowed() {
    let holder_wait = ReceiverConfig::new(SESSION, 7).peer.holder_wait;
    for window in [2, 64] {
        let (mut session, sender) = lone_receiver(|c| {
            c.symbol_accounting = true;
            c.max_assemblies = window;
        });
        let t0 = Instant::now();
        let _join = session.poll_transmit(t0).expect("a join");
        session.handle_datagram(t0, sender, &packet(Packet::Ack { receiver: 7, done: false, index: 3 }));
        let peer: SocketAddr = "10.0.0.2:6000".parse().unwrap();
        session.handle_datagram(t0, sender, &packet(Packet::Peers { peers: vec![fec::wire::PeerAddr { index: 1, addr: peer }] }));
        // A quarter of blocks 0 and 1 each (K = 16) and a symbol of block 2, which a window of
        // two drops; then the pass is over. The peer sent no map.
        for block in 0..2 {
            for esi in 0..4 {
                session.handle_symbol_accounted(t0, sender, block, esi);
            }
        }
        session.handle_symbol_accounted(t0, sender, 2, 0);
        assert_eq!(session.stats().window_drops, u64::from(window == 2));
        session.handle_datagram(t0, sender, &packet(Packet::Progress { closed: 4, sent: 64, stamp_us: 0 }));
        let early = reported_needs(&mut session, sender, t0, holder_wait / 2);
        if window == 2 {
            assert!(early.contains(&0) && early.contains(&1), "window overflowed: asked of the sender at once, {early:?}");
        } else {
            assert!(early.is_empty(), "window with room: waits for a holder, {early:?}");
            let late = reported_needs(&mut session, sender, t0 + holder_wait / 2, holder_wait);
            assert!(late.contains(&0) && late.contains(&1), "and asks the sender once the wait is over, {late:?}");
        }
    }
}
