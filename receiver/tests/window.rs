//! The session's memory is a window of open blocks: at `max_assemblies`, lower blocks push the
//! highest out and higher ones are dropped, and the object still arrives whole; and how full the
//! window is goes to the sender.

use bytes::Bytes;
use fec::wire::Packet;
use fec::{BlockEncoder, Manifest, ObjectLayout};
use receiver::{Event, ReceiverConfig, ReceiverSession};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SESSION: u64 = 9;
const T: u16 = 64;
const K: u32 = 8;
const BLOCKS: u32 = 4;

fn from() -> SocketAddr {
    "127.0.0.1:9".parse().unwrap()
}

struct Harness {
    session: ReceiverSession,
    encoders: Vec<BlockEncoder>,
    out: Vec<u8>,
    layout: ObjectLayout,
    max_assemblies: usize,
}

impl Harness {
    fn new(data: &[u8], max_assemblies: usize) -> Self {
        Self::with_config(data, max_assemblies, |_| {})
    }

    /// A receiver with a window of `max_assemblies` blocks, its config changed by `tweak`.
    fn with_config(data: &[u8], max_assemblies: usize, tweak: impl FnOnce(&mut ReceiverConfig)) -> Self {
        let layout = ObjectLayout::new(data.len() as u64, T, K).unwrap();
        let manifest = Manifest::hash_object(layout, data).unwrap();
        let mut config = ReceiverConfig::new(SESSION, 1);
        config.max_assemblies = max_assemblies;
        config.peer.enabled = false;
        tweak(&mut config);
        let session = ReceiverSession::new(config, manifest, []);
        let encoders = BlockEncoder::for_object(&layout, &Bytes::copy_from_slice(data));
        Self { session, encoders, out: vec![0; data.len()], layout, max_assemblies }
    }

    /// A harness with a window of four blocks, joined at `now`, that heard progress mark `sent`.
    fn joined(data: &[u8], now: Instant, sent: u64) -> Self {
        let mut h = Self::new(data, 4);
        h.control(now, Packet::Ack { receiver: 1, done: false, index: 0 });
        h.control(now, Packet::Progress { closed: 0, sent, stamp_us: sent });
        h
    }

    fn control(&mut self, now: Instant, packet: Packet<'_>) {
        let mut bytes = Vec::new();
        packet.encode(SESSION, None, &mut bytes);
        self.session.handle_datagram(now, from(), &bytes);
    }

    /// The status report due at `now`, if any: (echoed progress mark, backlog %, needs).
    fn status(&mut self, now: Instant) -> Option<(u64, u8, usize)> {
        let transmit = self.session.poll_transmit(now)?;
        match Packet::decode(&transmit.packet, None).unwrap().1 {
            Packet::Status { heard, backlog_pct, needs, .. } => Some((heard, backlog_pct, needs.len())),
            other => panic!("a status report expected, got {other:?}"),
        }
    }

    /// Sends symbols `esis` of `block`, runs any decode, and checks the window after each.
    fn send(&mut self, block: u32, esis: impl IntoIterator<Item = u32>) {
        for esi in esis {
            let payload = self.encoders[block as usize].symbols(esi, 1).remove(0);
            let mut bytes = Vec::new();
            Packet::Data { block, esi, payload: &payload }.encode(SESSION, None, &mut bytes);
            self.session.handle_datagram(Instant::now(), from(), &bytes);
            assert!(self.session.open_blocks() <= self.max_assemblies, "{} blocks open", self.session.open_blocks());
            while let Some(event) = self.session.poll_event() {
                if let Event::Decode(job) = event {
                    let Ok((stored, bytes)) = job.run() else { panic!("block {block} did not decode") };
                    let offset = self.layout.block_offset(stored) as usize;
                    self.out[offset..offset + bytes.len()].copy_from_slice(&bytes);
                    self.session.block_stored(stored);
                }
            }
        }
    }
}

#[test]
fn open_blocks_stay_within_the_window_and_the_object_arrives_whole() {
    let data: Vec<u8> = (0..(T as usize * K as usize * BLOCKS as usize)).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut h = Harness::new(&data, 2);
    // Blocks 2 and 3 each miss a symbol: they fill the window.
    h.send(2, 0..K - 1);
    h.send(3, 0..K - 1);
    assert_eq!(h.session.stats().window_drops, 0);
    // Block 0 is lower than the highest open block: block 3 gives way.
    h.send(0, [0]);
    assert_eq!(h.session.stats().window_drops, 1);
    // Block 3 is now above the window: its symbols are dropped, as a loss would be.
    h.send(3, [K - 1]);
    assert_eq!(h.session.stats().window_drops, 2);
    assert!(!h.session.is_stored(3));
    // Repair completes what is open, and the rest follows.
    h.send(2, [K + 5, K + 6]);
    h.send(0, 1..K);
    h.send(1, 0..K);
    h.send(3, (0..=K).map(|esi| esi + K));
    assert!(h.session.is_complete());
    assert_eq!(h.out, data);
    assert_eq!(h.session.open_blocks(), 0);
}

#[test]
fn reports_echo_the_progress_mark_and_say_when_the_window_fills() {
    let data: Vec<u8> = (0..(T as usize * K as usize * BLOCKS as usize)).map(|i| (i * 3 + i / 97) as u8).collect();
    let mut now = Instant::now();
    let mut h = Harness::joined(&data, now, 77);
    h.send(0, 0..K - 1);
    assert_eq!(h.status(now), Some((77, 25, 0)), "the first report is a keepalive");
    // Nothing needed and a quarter of the window open: quiet until the keepalive is due.
    now += Duration::from_millis(100);
    assert_eq!(h.status(now), None);
    // Three of four blocks open, still nothing needed (none closed): it reports anyway, so an
    // adaptive sender slows down before the window overflows into drops.
    h.send(1, 0..K - 1);
    h.send(2, 0..K - 1);
    h.control(now, Packet::Progress { closed: 0, sent: 90, stamp_us: 90 });
    now += Duration::from_millis(100);
    assert_eq!(h.status(now), Some((90, 75, 0)));
    // The first pass is over: every block's need goes out with the latest mark.
    h.control(now, Packet::Progress { closed: BLOCKS, sent: 120, stamp_us: 120 });
    now += Duration::from_millis(100);
    assert_eq!(h.status(now), Some((120, 75, BLOCKS as usize)));
}

/// A few receivers of a group report their first spans of delivery though they keep up and
/// need nothing: the sender's startup doubles only a rate a receiver has seen. The others stay
/// quiet until their keepalive. Receiver 9,901 is one of the few in a group of 100 (it is 1
/// modulo 100), not in a group of 10,000.
#[test]
fn a_few_receivers_report_their_first_spans() {
    let data: Vec<u8> = (0..(T as usize * K as usize * BLOCKS as usize)).map(|i| (i * 5 + i / 89) as u8).collect();
    const ID: u64 = 9_901;
    for (group_size, reports) in [(100, true), (10_000, false)] {
        let mut now = Instant::now();
        let mut h = Harness::with_config(&data, 4, |config| {
            config.receiver_id = ID;
            config.group_size = group_size;
        });
        h.control(now, Packet::Ack { receiver: ID, done: false, index: 0 });
        h.control(now, Packet::Progress { closed: 0, sent: 10, stamp_us: 0 });
        assert_eq!(h.status(now), Some((10, 0, 0)), "group of {group_size}: the first report is a keepalive");
        h.send(0, 0..K);
        now += Duration::from_millis(10);
        h.control(now, Packet::Progress { closed: 1, sent: 18, stamp_us: 10_000 });
        let report = h.status(now);
        assert_eq!(report.is_some(), reports, "group of {group_size}: {report:?}");
        if reports {
            assert_eq!(report, Some((18, 0, 0)), "the span up to the new mark, at once");
        }
    }
}

/// Once the first pass is over, a receiver behind a path that loses 10% asks for what it lacks
/// plus what the path will lose of that repair, so one round of repair usually completes the block.
#[test]
fn needs_cover_the_loss_of_their_own_repair() {
    let (k, blocks) = (100u32, 2u32);
    let data = vec![7u8; T as usize * (k * blocks) as usize];
    let layout = ObjectLayout::new(data.len() as u64, T, k).unwrap();
    let mut config = ReceiverConfig::new(SESSION, 1);
    config.symbol_accounting = true;
    config.peer.enabled = false;
    let mut session = ReceiverSession::new(config, Manifest::hash_object(layout, data.as_slice()).unwrap(), []);
    let now = Instant::now();
    let control = |session: &mut ReceiverSession, packet: Packet<'_>| {
        let mut bytes = Vec::new();
        packet.encode(SESSION, None, &mut bytes);
        session.handle_datagram(now, from(), &bytes);
    };
    control(&mut session, Packet::Ack { receiver: 1, done: false, index: 0 });
    control(&mut session, Packet::Progress { closed: 0, sent: 0, stamp_us: 0 });
    // Every tenth symbol of both blocks' first pass is lost.
    for block in 0..blocks {
        for esi in (0..k).filter(|esi| esi % 10 != 0) {
            session.handle_symbol_accounted(now, from(), block, esi);
        }
    }
    control(&mut session, Packet::Progress { closed: blocks, sent: u64::from(k * blocks), stamp_us: 10 });
    let transmit = session.poll_transmit(now).expect("a report is due");
    let Packet::Status { needs, .. } = Packet::decode(&transmit.packet, None).unwrap().1 else { panic!("a status report expected") };
    // 90 of the 101 symbols decoding takes: 11 missing, and 10% of the repair will be lost too.
    let asked: Vec<(u32, u32)> = needs.iter().map(|n| (n.block, n.need)).collect();
    assert_eq!(asked, vec![(0, 12), (1, 12)]);
}

/// Once the sender's first pass is over, a receiver reports within a quarter of a status
/// interval (what it lacks then is the group's tail), and keeps reporting while it is
/// unfinished even with nothing to ask the sender (here a decode is out; in a group, needs wait
/// on peers): the sender's tail rules take a receiver silent after the pass for one that is
/// gone.
#[test]
fn an_unfinished_receiver_reports_soon_after_the_first_pass_and_is_never_quiet() {
    let data: Vec<u8> = (0..(T as usize * K as usize * BLOCKS as usize)).map(|i| (i * 5 + i / 89) as u8).collect();
    let mut now = Instant::now();
    let mut h = Harness::joined(&data, now, 10);
    assert!(h.status(now).is_some(), "the first report");
    for block in 1..BLOCKS {
        h.send(block, 0..K);
    }
    // Block 0 has all its symbols, but its decode job is still out.
    for esi in 0..K {
        let payload = h.encoders[0].symbols(esi, 1).remove(0);
        let mut bytes = Vec::new();
        Packet::Data { block: 0, esi, payload: &payload }.encode(SESSION, None, &mut bytes);
        h.session.handle_datagram(now, from(), &bytes);
    }
    now += Duration::from_millis(1);
    assert_eq!(h.status(now), None, "nothing to ask during the pass: quiet");
    // The pass ends: a report well before the status interval (20 ms) is over.
    h.control(now, Packet::Progress { closed: BLOCKS, sent: 40, stamp_us: 40 });
    now += Duration::from_millis(5);
    assert_eq!(h.status(now), Some((40, 25, 0)));
    // Unfinished and nothing to ask, it still reports, long before its keepalive (0.5 s).
    assert_eq!(h.status(now + Duration::from_millis(1)), None);
    now += Duration::from_millis(30);
    assert_eq!(h.status(now), Some((40, 25, 0)));
}
