//! Sender and receivers driven in one thread with a virtual clock and seeded loss: the sans-IO
//! sessions exactly as the UDP driver and netsim run them, with no sockets and no sleeping.

use bytes::Bytes;
use fec::wire::Packet;
use fec::{BlockEncoder, Manifest, ObjectLayout};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use receiver::{Event as RxEvent, ReceiverConfig, ReceiverSession};
use sender::{Event as TxEvent, SenderConfig, SenderSession, Transmit};
use std::collections::BinaryHeap;
use std::cmp::Reverse;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const LATENCY: Duration = Duration::from_micros(200);
const SESSION: u64 = 9;

struct Node {
    session: ReceiverSession,
    addr: SocketAddr,
    loss: f64,
    output: Vec<u8>,
}

/// Runs one transfer to receivers with the given loss rates; returns the sender and receivers.
fn transfer(object: &[u8], losses: &[f64], seed: u64) -> (SenderSession, Vec<Node>) {
    transfer_with(object, losses, seed, None, |_| {})
}

/// Adaptive rate control, deciding every 20 ms.
fn adaptive(config: &mut SenderConfig) {
    let mut adaptive = sender::rate::RateConfig::new(config.rate_bps);
    adaptive.window = Duration::from_millis(20);
    config.adaptive_rate = Some(adaptive);
}

/// [`transfer`] through a bottleneck of `capacity_bps` (whatever the sender sends above it is
/// lost at every receiver), with the sender's configuration changed by `configure`.
fn transfer_with(
    object: &[u8],
    losses: &[f64],
    seed: u64,
    capacity_bps: Option<f64>,
    configure: fn(&mut SenderConfig),
) -> (SenderSession, Vec<Node>) {
    let layout = ObjectLayout::new(object.len() as u64, 256, 64).unwrap();
    let manifest = Manifest::hash_object(layout, object).unwrap();
    let sender_addr: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let mut config = SenderConfig::new(SESSION, "239.1.1.1:5000".parse().unwrap());
    config.min_receivers = losses.len();
    config.rate_bps = 100_000_000;
    configure(&mut config);
    let mut sender = SenderSession::new(config, manifest.clone());
    let encoders: Vec<BlockEncoder> = BlockEncoder::for_object(&layout, &Bytes::copy_from_slice(&object[..]));
    let mut nodes: Vec<Node> = losses
        .iter()
        .enumerate()
        .map(|(i, &loss)| Node {
            session: ReceiverSession::new(ReceiverConfig::new(SESSION, i as u64 + 1), manifest.clone(), []),
            addr: format!("10.0.1.{}:6000", i + 1).parse().unwrap(),
            loss,
            output: vec![0; object.len()],
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // In-flight datagrams: (arrival, sequence, destination index or usize::MAX for the sender).
    let mut network: BinaryHeap<Reverse<(Instant, u64, usize, SocketAddr, Vec<u8>)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let start = Instant::now();
    let mut now = start;
    for step in 0..5_000_000u64 {
        assert!(now < start + Duration::from_secs(600), "transfer did not finish in virtual time");
        while let Some(transmit) = sender.poll_transmit(now) {
            let (to, bytes) = match transmit {
                Transmit::Symbol { block, esi, .. } => {
                    let payload = encoders[block as usize].symbols(esi, 1).pop().unwrap();
                    let mut bytes = Vec::new();
                    Packet::Data { block, esi, payload: &payload }.encode(SESSION, None, &mut bytes);
                    (None, bytes)
                }
                Transmit::Control { destination, packet } => (nodes.iter().position(|n| n.addr == destination), packet),
            };
            let rate = sender.rate_bps() as f64;
            let overload = capacity_bps.map_or(0.0, |c| ((rate - c) / rate).max(0.0));
            for (i, node) in nodes.iter().enumerate() {
                if to.is_none_or(|t| t == i) && !rng.gen_bool((node.loss + overload).min(1.0)) {
                    seq += 1;
                    network.push(Reverse((now + LATENCY, seq, i, sender_addr, bytes.clone())));
                }
            }
        }
        for (i, node) in nodes.iter_mut().enumerate() {
            while let Some(event) = node.session.poll_event() {
                if let RxEvent::Decode(job) = event {
                    match job.run() {
                        Ok((block, data)) => {
                            let offset = layout.block_offset(block) as usize;
                            node.output[offset..offset + data.len()].copy_from_slice(&data);
                            node.session.block_stored(block);
                        }
                        Err(failure) => node.session.decode_failed(failure),
                    }
                }
            }
            while let Some(t) = node.session.poll_transmit(now) {
                seq += 1;
                network.push(Reverse((now + LATENCY, seq, usize::MAX, nodes_addr(i), t.packet)));
            }
        }
        while let Some(event) = sender.poll_event() {
            if event == TxEvent::Finished {
                return (sender, nodes);
            }
        }
        let next_packet = network.peek().map(|Reverse((at, ..))| *at);
        let next_timer = [sender.poll_timeout(now)]
            .into_iter()
            .chain(nodes.iter().map(|n| n.session.poll_timeout()))
            .flatten()
            .min();
        now = [next_packet, next_timer].into_iter().flatten().min().unwrap_or(now).max(now);
        while network.peek().is_some_and(|Reverse((at, ..))| *at <= now) {
            let Reverse((_, _, to, from, bytes)) = network.pop().unwrap();
            if to == usize::MAX {
                sender.handle_datagram(now, from, &bytes);
            } else {
                nodes[to].session.handle_datagram(now, from, &bytes);
            }
        }
        sender.handle_timeout(now);
        for node in &mut nodes {
            node.session.handle_timeout(now);
        }
        assert!(step < 4_999_999, "livelock: no progress");
    }
    unreachable!()
}

fn nodes_addr(i: usize) -> SocketAddr {
    format!("10.0.1.{}:6000", i + 1).parse().unwrap()
}

fn object(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0; len];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

#[test]
fn lossless_transfer_needs_no_requested_repair() {
    let data = object(256 * 64 * 10 + 1000, 1);
    let (sender, nodes) = transfer(&data, &[0.0, 0.0], 1);
    for node in &nodes {
        assert_eq!(node.output, data);
    }
    assert_eq!(sender.stats().requested_repair_symbols, 0);
}

#[test]
fn repair_follows_the_worst_receiver_not_the_sum() {
    let data = object(256 * 64 * 40, 2);
    let losses = [0.05, 0.05, 0.05, 0.05];
    let (sender, nodes) = transfer(&data, &losses, 2);
    for node in &nodes {
        assert_eq!(node.output, data, "receiver output differs");
        assert!(node.session.is_complete());
    }
    let stats = sender.stats();
    let repair = (stats.requested_repair_symbols + stats.proactive_repair_symbols) as f64;
    let source = stats.source_symbols as f64;
    // Each receiver loses ~5%; the union of losses over four receivers is ~19%.
    assert!(repair / source < 0.12, "repair {:.3} of source: paying for the union", repair / source);
    assert!(repair / source > 0.05, "repair {:.3} of source is below one receiver's loss", repair / source);
}

#[test]
fn same_seed_same_run() {
    let data = object(256 * 64 * 8, 3);
    let a = transfer(&data, &[0.03, 0.1], 7).0.stats().clone();
    let b = transfer(&data, &[0.03, 0.1], 7).0.stats().clone();
    assert_eq!(a, b);
}

#[test]
fn adaptive_rate_backs_off_to_the_bottleneck() {
    let data = object(256 * 64 * 200, 4);
    let capacity = Some(40_000_000.0);
    let (fixed, _) = transfer_with(&data, &[0.01, 0.01], 4, capacity, |_| {});
    let (adaptive, nodes) = transfer_with(&data, &[0.01, 0.01], 4, capacity, adaptive);
    for node in &nodes {
        assert_eq!(node.output, data);
    }
    // At a fixed 100 Mbit/s into a 40 Mbit/s bottleneck 60% of every pass is lost and resent;
    // backing off wastes far less.
    let (fixed, adaptive) = (fixed.stats().wire_bytes as f64, adaptive.stats().wire_bytes as f64);
    assert!(adaptive < 0.7 * fixed, "adaptive sent {adaptive} bytes, fixed {fixed}");
}

#[test]
fn proactive_repair_stops_while_nobody_needs_anything() {
    // 200 blocks of K = 64: one proactive symbol each (1%), 0.27 s at 100 Mbit/s.
    let data = object(256 * 64 * 200, 5);
    let (always, _) = transfer_with(&data, &[0.0, 0.0], 5, None, |config| config.overhead_idle = None);
    let (idle, nodes) = transfer_with(&data, &[0.0, 0.0], 5, None, |config| config.overhead_idle = Some(Duration::from_millis(50)));
    for node in &nodes {
        assert_eq!(node.output, data);
    }
    assert_eq!(always.stats().proactive_repair_symbols, 200);
    let proactive = idle.stats().proactive_repair_symbols;
    assert!((1..100).contains(&proactive), "{proactive} proactive symbols after 50 ms without a need");
    assert_eq!(idle.stats().requested_repair_symbols, 0);
    // And a driver need not prepare repair encoders once the idle time has passed, unless no idle
    // time is set (any instant an hour on is past the last need of these runs).
    let later = Instant::now() + Duration::from_secs(3600);
    assert!(!idle.expects_repair(later));
    assert!(always.expects_repair(later));
    // A loss brings it back: at 5% every block needs repair, and the first pass keeps its 1%.
    let (lossy, _) = transfer_with(&data, &[0.05], 5, None, |config| config.overhead_idle = Some(Duration::from_millis(50)));
    assert!(lossy.stats().proactive_repair_symbols > 150, "{}", lossy.stats().proactive_repair_symbols);
}

#[test]
fn proactive_repair_stops_once_every_receiver_is_known_to_lose_nothing() {
    // 200 blocks of K = 64 in 0.27 s at 100 Mbit/s: the default second without a need never
    // passes, and alone it would send all 200 proactive symbols.
    let data = object(256 * 64 * 200, 5);
    let (clean, nodes) = transfer_with(&data, &[0.0, 0.0], 5, None, adaptive);
    for node in &nodes {
        assert_eq!(node.output, data);
    }
    let proactive = clean.stats().proactive_repair_symbols;
    assert!(proactive < 100, "{proactive} proactive symbols to receivers known to lose nothing");
    assert_eq!(clean.stats().requested_repair_symbols, 0);
    // At 1% a block of 64 loses a symbol in two: the first pass keeps its repair.
    let (lossy, _) = transfer_with(&data, &[0.01, 0.01], 5, None, adaptive);
    assert!(lossy.stats().proactive_repair_symbols > 150, "{}", lossy.stats().proactive_repair_symbols);
}
