//! Delivery without multicast, in virtual time: seeds go round the members, each member learns
//! every other, progress goes to each member, and repair goes to the member that asked.

use fec::wire::{Delivery, Kind, Need, Packet};
use fec::{Manifest, ObjectLayout};
use sender::{SenderConfig, SenderSession, SymbolTo, Transmit};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SESSION: u64 = 9;
const K: u32 = 32;

fn addr(id: u64) -> SocketAddr {
    format!("10.0.2.{id}:6000").parse().unwrap()
}

fn feed(session: &mut SenderSession, now: Instant, from: u64, packet: Packet<'_>) {
    let mut bytes = Vec::new();
    packet.encode(SESSION, None, &mut bytes);
    session.handle_datagram(now, addr(from), &bytes);
}

/// Everything the session sends from `now` to `until`, woken when it asks.
fn drain(session: &mut SenderSession, mut now: Instant, until: Instant) -> Vec<Transmit> {
    let mut out = Vec::new();
    while now < until {
        session.handle_timeout(now);
        out.extend(std::iter::from_fn(|| session.poll_transmit(now)));
        match session.poll_timeout(now) {
            Some(next) => now = next.max(now + Duration::from_micros(1)),
            None => break,
        }
    }
    out
}

#[test]
fn seeds_go_round_the_members_and_repair_goes_to_who_asked() {
    let object: Vec<u8> = (0..4 * K as usize * 256).map(|i| (i * 13) as u8).collect();
    let layout = ObjectLayout::new(object.len() as u64, 256, K).unwrap();
    let mut config = SenderConfig::new(SESSION, "10.0.2.100:5000".parse().unwrap());
    config.swarm = true;
    config.min_receivers = 3;
    config.repair_overhead_pct = 0.0;
    config.rate_bps = 0;
    let mut session = SenderSession::new(config, Manifest::hash_object(layout, object.as_slice()).unwrap());
    let t0 = Instant::now();
    for id in 1..=3 {
        feed(&mut session, t0, id, Packet::Join { receiver: id });
    }
    let later = t0 + Duration::from_secs(1);
    let sent = drain(&mut session, t0, later);
    // Each member learns both others (at the start, when all have joined).
    let peers_of = |id: u64| -> Vec<u32> {
        let mut indices: Vec<u32> = sent
            .iter()
            .filter_map(|t| match t {
                Transmit::Control { destination, packet } if *destination == addr(id) => match Packet::decode(packet, None).unwrap().1 {
                    Packet::Peers { peers } => Some(peers.into_iter().map(|p| p.index).collect::<Vec<_>>()),
                    _ => None,
                },
                _ => None,
            })
            .flatten()
            .collect();
        indices.sort_unstable();
        indices.dedup();
        indices
    };
    assert_eq!((peers_of(1), peers_of(2), peers_of(3)), (vec![1, 2], vec![0, 2], vec![0, 1]));
    // Every first-pass symbol goes once, as a seed, to the members in turn; none to a group.
    let seeds: Vec<SocketAddr> = sent
        .iter()
        .filter_map(|t| match t {
            Transmit::Symbol { to: SymbolTo::Seed(member), .. } => Some(*member),
            Transmit::Symbol { to, .. } => panic!("first pass sent {to:?}"),
            Transmit::Control { .. } => None,
        })
        .collect();
    assert_eq!(seeds.len(), 4 * K as usize);
    assert!(seeds.chunks(3).all(|round| round.iter().zip([addr(1), addr(2), addr(3)]).all(|(a, b)| *a == b)));
    // Progress reaches each member by unicast.
    let progress_to: HashMap<SocketAddr, usize> = sent.iter().fold(HashMap::new(), |mut seen, t| {
        if let Transmit::Control { destination, packet } = t
            && Packet::decode(packet, None).unwrap().1.kind() == Kind::Progress
        {
            *seen.entry(*destination).or_default() += 1;
        }
        seen
    });
    assert!((1..=3).all(|id| progress_to.get(&addr(id)).is_some_and(|&n| n > 0)), "{progress_to:?}");
    // Member 2 misses 5 symbols of block 1: they go to it alone, fresh.
    feed(&mut session, later, 2, Packet::Status { receiver: 2, done_blocks: 3, heard: 0, backlog_pct: 0, delivery: Delivery::default(), needs: vec![Need { block: 1, need: 5, seen: 0 }] });
    let repair: Vec<(SymbolTo, u32)> = drain(&mut session, later, later + Duration::from_millis(100))
        .into_iter()
        .filter_map(|t| match t {
            Transmit::Symbol { block: 1, esi, to } => Some((to, esi)),
            _ => None,
        })
        .collect();
    assert_eq!(repair, (K..K + 5).map(|esi| (SymbolTo::Member(addr(2)), esi)).collect::<Vec<_>>());
}
