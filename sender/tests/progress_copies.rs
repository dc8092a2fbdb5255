//! Progress packets and their copies, in virtual time: with multicast, each progress packet is
//! repeated right before each of the next data symbols (so a full drop-tail queue on the path,
//! which admits one packet per drain slot, cannot drop every one of them), and once the first
//! pass is over, one goes out as soon as the sender has nothing left to send.

use fec::wire::Packet;
use fec::{Manifest, ObjectLayout};
use sender::{SenderConfig, SenderSession, Transmit};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SESSION: u64 = 7;
const K: u32 = 64;

fn group() -> SocketAddr {
    "239.1.2.3:5000".parse().unwrap()
}

fn session(configure: impl FnOnce(&mut SenderConfig)) -> SenderSession {
    let object: Vec<u8> = (0..96 * K as usize * 1024).map(|i| (i * 7) as u8).collect();
    let layout = ObjectLayout::new(object.len() as u64, 1024, K).unwrap();
    let mut config = SenderConfig::new(SESSION, group());
    config.rate_bps = 1_000_000_000;
    configure(&mut config);
    let mut session = SenderSession::new(config, Manifest::hash_object(layout, object.as_slice()).unwrap());
    let mut join = Vec::new();
    Packet::Join { receiver: 1 }.encode(SESSION, None, &mut join);
    session.handle_datagram(Instant::now(), "10.0.0.1:6000".parse().unwrap(), &join);
    session
}

/// What the session sends over `span`, woken when it asks: data symbols as `None`, control
/// packets as their bytes.
fn drain(session: &mut SenderSession, span: Duration) -> Vec<Option<Vec<u8>>> {
    drain_from(session, Instant::now(), span).into_iter().map(|(_, transmit)| transmit).collect()
}

/// [`drain`] from `start`, each datagram with when it went out.
fn drain_from(session: &mut SenderSession, start: Instant, span: Duration) -> Vec<(Instant, Option<Vec<u8>>)> {
    let mut now = start;
    let mut out = Vec::new();
    while now < start + span {
        session.handle_timeout(now);
        while let Some(transmit) = session.poll_transmit(now) {
            out.push((
                now,
                match transmit {
                    Transmit::Symbol { .. } => None,
                    Transmit::Control { packet, .. } => Some(packet),
                },
            ));
        }
        now = session.poll_timeout(now).map_or(now + Duration::from_micros(1), |next| next.max(now + Duration::from_nanos(1)));
    }
    out
}

/// The blocks closed and the mark of a progress packet.
fn progress(bytes: &[u8]) -> Option<(u32, u64)> {
    match Packet::decode(bytes, None) {
        Ok((_, Packet::Progress { closed, sent, .. })) => Some((closed, sent)),
        _ => None,
    }
}

/// When the first progress packet in `sent` that says `closed` blocks and a mark of at least
/// `mark` went out, with that mark; and when the last data symbol before it did.
fn news(sent: &[(Instant, Option<Vec<u8>>)], closed: u32, mark: u64) -> (Instant, u64, Instant) {
    let at = sent
        .iter()
        .position(|(_, t)| t.as_deref().and_then(progress).is_some_and(|(c, m)| c == closed && m >= mark))
        .expect("announced");
    let last_symbol = sent[..at].iter().rev().find(|(_, t)| t.is_none()).map(|(when, _)| *when).expect("symbols before");
    let (_, mark) = progress(sent[at].1.as_deref().expect("control")).expect("progress");
    (sent[at].0, mark, last_symbol)
}

#[test]
fn the_end_of_the_first_pass_and_of_each_repair_burst_is_announced_at_once() {
    let mut session = session(|config| config.rate_bps = 10_000_000_000);
    let start = Instant::now();
    // ~6.5 MB at 10 Gbit/s: the pass ends ~5 ms in, halfway to the next progress interval.
    let sent = drain_from(&mut session, start, Duration::from_millis(8));
    let (at, mark, last_symbol) = news(&sent, 96, 0);
    assert!(at - last_symbol < Duration::from_micros(50), "the pass's end announced {:?} after its last symbol", at - last_symbol);
    assert!(at < start + Duration::from_millis(10), "before the next interval");
    // The receiver asks for 3 symbols of block 5 once it heard that mark: the burst's end is
    // announced at once too, with the mark past it.
    let mut status = Vec::new();
    let need = fec::wire::Need { block: 5, need: 3, seen: 0 };
    Packet::Status { receiver: 1, done_blocks: 95, heard: mark, backlog_pct: 0, delivery: Default::default(), needs: vec![need] }.encode(SESSION, None, &mut status);
    let asked = start + Duration::from_millis(8);
    session.handle_datagram(asked, "10.0.0.1:6000".parse().unwrap(), &status);
    let sent = drain_from(&mut session, asked, Duration::from_millis(1));
    assert_eq!(sent.iter().filter(|(_, t)| t.is_none()).count(), 3, "the repair asked for");
    let (at, after, last_symbol) = news(&sent, 96, mark + 1);
    assert_eq!(after, mark + 3);
    assert!(at - last_symbol < Duration::from_micros(50), "the burst's end announced {:?} after its last symbol", at - last_symbol);
}

#[test]
fn each_progress_packet_is_repeated_before_the_next_data_symbols() {
    let copies = 5;
    let mut session = session(|config| config.progress_copies = copies);
    let sent = drain(&mut session, Duration::from_millis(45));
    // The progress packets sent while data flows (not the copies), each followed by its copies.
    let mut last: Option<&Vec<u8>> = None;
    let mut starts = Vec::new();
    for (i, transmit) in sent.iter().enumerate() {
        if let Some(bytes) = transmit.as_ref().filter(|bytes| progress(bytes).is_some() && Some(*bytes) != last) {
            if i > 0 && sent[i - 1].is_none() {
                starts.push(i);
            }
            last = Some(bytes);
        }
    }
    assert!(starts.len() >= 3, "{} progress packets amid data", starts.len());
    for &at in &starts {
        let original = sent[at].clone().unwrap();
        // Original, then (copy, symbol) pairs: the copies are the same bytes, one per symbol.
        let after = &sent[at + 1..at + 1 + 2 * copies as usize];
        for pair in after.chunks(2) {
            assert_eq!(pair[0].as_deref(), Some(&original[..]), "a copy before each symbol");
            assert_eq!(pair[1], None, "then the symbol");
        }
        assert_eq!(sent[at + 1 + 2 * copies as usize], None, "{copies} copies, no more");
    }
}

#[test]
fn without_multicast_progress_is_not_repeated() {
    let mut session = session(|config| {
        config.swarm = true;
        config.progress_copies = 5;
    });
    let sent = drain(&mut session, Duration::from_millis(45));
    let progress: Vec<&Vec<u8>> = sent.iter().flatten().filter(|bytes| progress(bytes).is_some()).collect();
    assert!(!progress.is_empty());
    assert!(progress.windows(2).all(|pair| pair[0] != pair[1]), "every progress packet is a new one");
}
