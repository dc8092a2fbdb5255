//! The straggler deadline and the handoff to peers, in virtual time: the sender session driven
//! with hand-written feedback, so each receiver's progress is exactly what the test says.

use fec::wire::{Delivery, Need, Packet};
use fec::{Manifest, ObjectLayout};
use sender::rate::RateConfig;
use sender::{Event, SenderConfig, SenderSession, Transmit};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SESSION: u64 = 7;
const BLOCK_SYMBOLS: u32 = 64;
const SYMBOL_SIZE: u16 = 256;
const DEADLINE: Duration = Duration::from_secs(10);

fn addr(id: u64) -> SocketAddr {
    format!("10.0.1.{id}:6000").parse().unwrap()
}

/// A session for a 4-block object that waits for `receivers`, with `configure` applied.
fn session(receivers: usize, configure: impl FnOnce(&mut SenderConfig)) -> SenderSession {
    let object: Vec<u8> = (0..4 * BLOCK_SYMBOLS as usize * usize::from(SYMBOL_SIZE)).map(|i| (i * 7) as u8).collect();
    let layout = ObjectLayout::new(object.len() as u64, SYMBOL_SIZE, BLOCK_SYMBOLS).unwrap();
    let mut config = SenderConfig::new(SESSION, "239.1.1.1:5000".parse().unwrap());
    config.min_receivers = receivers;
    config.straggler_deadline = DEADLINE;
    // Silence is not what these tests are about.
    config.receiver_timeout = Duration::from_secs(3600);
    configure(&mut config);
    SenderSession::new(config, Manifest::hash_object(layout, object.as_slice()).unwrap())
}

fn feed(session: &mut SenderSession, now: Instant, from: u64, packet: Packet<'_>) {
    let mut bytes = Vec::new();
    packet.encode(SESSION, None, &mut bytes);
    session.handle_datagram(now, addr(from), &bytes);
}

fn done(session: &mut SenderSession, now: Instant, id: u64) {
    let root = *session.manifest().root().as_bytes();
    feed(session, now, id, Packet::Done { receiver: id, root });
}

/// A report from `id` that it stored `done_blocks` and misses `need` symbols of block 3, having
/// seen its whole first pass (so the need is first-pass loss) and everything sent so far.
/// Receiver `id` needs `need` symbols of block 3: it lost as many of the last span's
/// `BLOCK_SYMBOLS` (sent in 100 µs), with a queue of 1 ms standing on its path.
fn status(session: &mut SenderSession, now: Instant, id: u64, done_blocks: u32, need: u32) {
    let needs = vec![Need { block: 3, need, seen: BLOCK_SYMBOLS + 1 }];
    let delivery = Delivery { symbols: BLOCK_SYMBOLS - need, window_drops: 0, marks: BLOCK_SYMBOLS, span_us: 100, queue_us: 1_000 };
    feed(session, now, id, Packet::Status { receiver: id, done_blocks, heard: u64::MAX, backlog_pct: 0, delivery, needs });
}

/// Runs the session's timers and output from `now` to `until` (or until it finishes), as the
/// UDP driver does: it wakes when the session asks, and not before.
fn drive(session: &mut SenderSession, mut now: Instant, until: Instant) -> (Instant, Vec<Transmit>, Vec<Event>) {
    let (mut transmits, mut events) = (Vec::new(), Vec::new());
    for _ in 0..1_000_000 {
        session.handle_timeout(now);
        while let Some(transmit) = session.poll_transmit(now) {
            transmits.push(transmit);
        }
        events.extend(std::iter::from_fn(|| session.poll_event()));
        match session.poll_timeout(now) {
            Some(next) if next <= until && !session.is_finished() => now = next.max(now),
            _ => return (now, transmits, events),
        }
    }
    panic!("the session livelocked");
}

/// The control packets among `transmits` that went to `to`.
fn packets_to(transmits: &[Transmit], to: SocketAddr) -> Vec<Packet<'_>> {
    transmits
        .iter()
        .filter_map(|t| match t {
            Transmit::Control { destination, packet } if *destination == to => Some(Packet::decode_for(packet, None, SESSION).unwrap()),
            _ => None,
        })
        .collect()
}

/// Three receivers join and the first pass goes out; returns when it is over.
fn start_three(session: &mut SenderSession, start: Instant) -> Instant {
    for id in 1..=3 {
        feed(session, start, id, Packet::Join { receiver: id });
    }
    let (now, transmits, events) = drive(session, start, start + Duration::from_secs(1));
    assert!(events.contains(&Event::Started));
    assert_eq!(transmits.iter().filter(|t| matches!(t, Transmit::Symbol { .. })).count(), 4 * (BLOCK_SYMBOLS as usize + 1));
    now
}

#[test]
fn a_straggler_is_handed_off_after_the_deadline_and_the_session_ends() {
    let mut session = session(3, |_| {});
    let start = Instant::now();
    let now = start_three(&mut session, start);
    done(&mut session, now + Duration::from_secs(1), 1);
    // Needs below a quarter of the block: repaired by multicast, not handed off for them.
    status(&mut session, now + Duration::from_secs(2), 3, 1, 15);
    // The deadline counts from the last receiver to finish, not the first.
    let last_done = now + Duration::from_secs(3);
    done(&mut session, last_done, 2);
    status(&mut session, last_done + Duration::from_secs(4), 3, 2, 12);

    let (at, transmits, events) = drive(&mut session, last_done, last_done + DEADLINE - Duration::from_millis(1));
    assert!(!events.iter().any(|e| matches!(e, Event::ReceiverHandedOff(_))), "handed off early: {events:?}");
    assert!(packets_to(&transmits, addr(3)).is_empty());

    let (at, transmits, events) = drive(&mut session, at, last_done + DEADLINE + Duration::from_secs(1));
    let handed_off_at = at;
    assert_eq!(events.iter().filter(|e| matches!(e, Event::ReceiverHandedOff(_))).count(), 1);
    assert!(events.contains(&Event::ReceiverHandedOff(3)));
    assert_eq!(events.last(), Some(&Event::Finished), "the session ends once the straggler is handed off");
    assert!(session.is_finished());
    assert!(handed_off_at <= last_done + DEADLINE + Duration::from_millis(10), "woke at {:?}", handed_off_at - last_done);
    let to_straggler = packets_to(&transmits, addr(3));
    assert!(!to_straggler.is_empty() && to_straggler.iter().all(|p| *p == Packet::Handoff { receiver: 3 }), "{to_straggler:?}");
    assert!(packets_to(&transmits, addr(1)).is_empty() && packets_to(&transmits, addr(2)).is_empty());
    assert!(packets_to(&transmits, "239.1.1.1:5000".parse().unwrap()).contains(&Packet::End));
    let straggler = session.receivers().find(|(id, _)| **id == 3).unwrap().1;
    assert!(straggler.handed_off && !straggler.done);
    assert_eq!(straggler.done_blocks, 2, "the report says how far it got");
}

#[test]
fn a_receiver_that_finishes_in_time_is_not_handed_off() {
    let mut session = session(3, |_| {});
    let start = Instant::now();
    let now = start_three(&mut session, start);
    done(&mut session, now, 1);
    done(&mut session, now, 2);
    done(&mut session, now + DEADLINE - Duration::from_millis(5), 3);
    let (_, _, events) = drive(&mut session, now, now + 2 * DEADLINE);
    assert!(!events.iter().any(|e| matches!(e, Event::ReceiverHandedOff(_))), "{events:?}");
    assert!(session.is_finished());
}

/// After the handoff, the straggler's reports neither ask for repair nor move the adaptive rate,
/// where the same reports from a receiver the session still waits for do both.
#[test]
fn a_handed_off_receiver_steers_neither_repair_nor_rate() {
    let adaptive = |config: &mut SenderConfig| {
        config.rate_bps = 100_000_000;
        let mut rate = RateConfig::new(config.rate_bps);
        rate.window = Duration::from_millis(20);
        rate.startup_fraction = 1.0;
        config.adaptive_rate = Some(rate);
    };
    // 15 of 64 symbols lost: far above the loss threshold, and a repair of 15 (below a quarter
    // of the block, so not a straggler's need).
    let heavy_loss = |session: &mut SenderSession, from: Instant| {
        let mut transmits = Vec::new();
        let mut now = from;
        for step in 0..10 {
            now = from + Duration::from_millis(10 * step);
            status(session, now, 3, 3, 15);
            transmits.extend(drive(session, now, now + Duration::from_millis(10)).1);
        }
        (now, transmits)
    };
    let repairs = |transmits: &[Transmit]| transmits.iter().filter(|t| matches!(t, Transmit::Symbol { block: 3, .. })).count();

    let mut waited_for = session(3, adaptive);
    let start = Instant::now();
    let now = start_three(&mut waited_for, start);
    done(&mut waited_for, now, 1);
    done(&mut waited_for, now, 2);
    let ceiling = waited_for.rate_bps();
    let (_, transmits) = heavy_loss(&mut waited_for, now + Duration::from_millis(1));
    assert!(repairs(&transmits) >= 15, "the waited-for receiver is repaired");
    assert!(waited_for.rate_bps() < ceiling, "and its loss backs the rate off");

    let mut handed_off = session(3, adaptive);
    let now = start_three(&mut handed_off, start);
    done(&mut handed_off, now, 1);
    done(&mut handed_off, now, 2);
    let (now, _, events) = drive(&mut handed_off, now, now + DEADLINE + Duration::from_secs(1));
    assert!(events.contains(&Event::ReceiverHandedOff(3)));
    let (_, transmits) = heavy_loss(&mut handed_off, now);
    assert_eq!(repairs(&transmits), 0);
    assert_eq!(handed_off.rate_bps(), ceiling);
}

/// Once the first pass is over and another receiver holds the object, a receiver that needs
/// more than a quarter of a block is handed off to its peers at once: multicast repair for it
/// would cost every receiver's link.
#[test]
fn a_receiver_far_behind_is_handed_off_once_another_is_done() {
    // The rule applies to groups of 14 or more (see `straggler_tail_share`).
    let mut session = session(14, |_| {});
    let start = Instant::now();
    for id in 1..=14 {
        feed(&mut session, start, id, Packet::Join { receiver: id });
    }
    let (now, _, events) = drive(&mut session, start, start + Duration::from_secs(1));
    assert!(events.contains(&Event::Started));
    // Nobody holds the object yet: the large need is repaired.
    status(&mut session, now, 3, 1, 40);
    let (now, transmits, events) = drive(&mut session, now, now + Duration::from_millis(100));
    assert!(transmits.iter().filter(|t| matches!(t, Transmit::Symbol { block: 3, .. })).count() >= 40);
    assert!(!events.iter().any(|e| matches!(e, Event::ReceiverHandedOff(_))));
    done(&mut session, now, 1);
    status(&mut session, now, 3, 1, 40);
    let (now, transmits, events) = drive(&mut session, now, now + Duration::from_millis(100));
    assert!(events.contains(&Event::ReceiverHandedOff(3)), "{events:?}");
    assert!(!transmits.iter().any(|t| matches!(t, Transmit::Symbol { .. })), "no repair for it");
    assert!(packets_to(&transmits, addr(3)).contains(&Packet::Handoff { receiver: 3 }));
    // The session waits for the other twelve alone now.
    for id in [2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14] {
        done(&mut session, now, id);
    }
    let (_, _, events) = drive(&mut session, now, now + Duration::from_secs(1));
    assert_eq!(events.last(), Some(&Event::Finished));
}

/// Under adaptive rate control, one receiver of five far slower than the rest is left out of
/// the rate and handed off to its peers at once, during the first pass.
#[test]
fn a_rate_outlier_is_handed_off_and_does_not_set_the_pace() {
    let mut session = session(5, |config| {
        config.rate_bps = 100_000_000;
        config.adaptive_rate = Some(RateConfig { startup_fraction: 1.0, ..RateConfig::new(config.rate_bps) });
    });
    let start = Instant::now();
    for id in 1..=5 {
        feed(&mut session, start, id, Packet::Join { receiver: id });
    }
    let (now, _, events) = drive(&mut session, start, start + Duration::from_millis(1));
    assert!(events.contains(&Event::Started));
    // Receiver 5 takes a tenth of what is sent, with a queue standing on its path; the others
    // keep up and stay silent.
    let delivery = Delivery { symbols: 100, window_drops: 0, marks: 1000, span_us: 20_000, queue_us: 20_000 };
    feed(&mut session, now, 5, Packet::Status { receiver: 5, done_blocks: 0, heard: 0, backlog_pct: 0, delivery, needs: Vec::new() });
    let (_, transmits, events) = drive(&mut session, now, now + Duration::from_millis(50));
    assert!(events.contains(&Event::ReceiverHandedOff(5)), "{events:?}");
    assert!(packets_to(&transmits, addr(5)).contains(&Packet::Handoff { receiver: 5 }));
    assert_eq!(session.rate_bps(), 100_000_000, "the pace stays the group's");
}

#[test]
fn a_join_after_the_end_is_answered_with_peers_and_a_handoff() {
    let mut session = session(3, |_| {});
    let start = Instant::now();
    let now = start_three(&mut session, start);
    for id in 1..=3 {
        done(&mut session, now, id);
    }
    let (now, _, events) = drive(&mut session, now, now + Duration::from_secs(1));
    assert!(events.contains(&Event::Finished) && session.is_finished());

    feed(&mut session, now, 9, Packet::Join { receiver: 9 });
    let transmits: Vec<Transmit> = std::iter::from_fn(|| session.poll_transmit(now)).collect();
    let answer = packets_to(&transmits, addr(9));
    assert_eq!(answer.len(), 3, "{answer:?}");
    assert_eq!(answer[0], Packet::Ack { receiver: 9, done: false, index: 3 });
    let Packet::Peers { peers } = &answer[1] else { panic!("peers expected, got {:?}", answer[1]) };
    let mut known: Vec<SocketAddr> = peers.iter().map(|p| p.addr).collect();
    known.sort();
    assert_eq!(known, vec![addr(1), addr(2), addr(3)], "every member that can serve it");
    assert_eq!(answer[2], Packet::Handoff { receiver: 9 });
    assert!(!answer.contains(&Packet::End));
    let events: Vec<Event> = std::iter::from_fn(|| session.poll_event()).collect();
    assert_eq!(events, vec![Event::ReceiverJoined(9), Event::ReceiverHandedOff(9)]);

    // Its handoff was lost: it reports as a joined receiver would, and hears the handoff again.
    feed(&mut session, now, 9, Packet::Status { receiver: 9, done_blocks: 0, heard: 0, backlog_pct: 0, delivery: Delivery::default(), needs: Vec::new() });
    let transmits: Vec<Transmit> = std::iter::from_fn(|| session.poll_transmit(now)).collect();
    assert_eq!(packets_to(&transmits, addr(9)), vec![Packet::Handoff { receiver: 9 }]);

    // A receiver that finished and asks again (its done-ack was lost) hears that it is done.
    feed(&mut session, now, 2, Packet::Join { receiver: 2 });
    let transmits: Vec<Transmit> = std::iter::from_fn(|| session.poll_transmit(now)).collect();
    assert_eq!(packets_to(&transmits, addr(2)), vec![Packet::Ack { receiver: 2, done: true, index: 1 }]);
}

/// A report of `done_blocks` stored and nothing to ask for from `id`, as a quiet receiver sends
/// now and then.
fn quiet_status(session: &mut SenderSession, now: Instant, id: u64, done_blocks: u32) {
    let delivery = Delivery { symbols: 0, window_drops: 0, marks: 0, span_us: 0, queue_us: 0 };
    feed(session, now, id, Packet::Status { receiver: id, done_blocks, heard: u64::MAX, backlog_pct: 0, delivery, needs: Vec::new() });
}

/// When only the tail is left, a receiver is far behind by what it stored against the blocks
/// closed when it last reported, not against the whole object: a large group's receivers report
/// seldom, and one last heard early in the pass with few blocks was keeping up (netsim
/// stragglers_slow: such nodes, handed off, finished last from their peers at 1.59× the bound).
/// One that stays silent once the first pass is over is handed off all the same.
#[test]
fn the_tail_hands_off_receivers_behind_at_their_last_report_not_quiet_ones() {
    let mut session = session(14, |_| {});
    let start = Instant::now();
    for id in 1..=14 {
        feed(&mut session, start, id, Packet::Join { receiver: id });
    }
    // Receiver 13 reports once, before any block is closed, and then stays quiet.
    quiet_status(&mut session, start, 13, 0);
    // The first pass takes well under a millisecond at 1 Gbit/s.
    let (now, transmits, events) = drive(&mut session, start, start + Duration::from_millis(5));
    assert!(events.contains(&Event::Started));
    assert_eq!(transmits.iter().filter(|t| matches!(t, Transmit::Symbol { .. })).count(), 4 * (BLOCK_SYMBOLS as usize + 1));
    // Receiver 14 reports after the whole first pass with one block of four stored.
    quiet_status(&mut session, now, 14, 1);
    for id in 1..=12 {
        done(&mut session, now, id);
    }
    let (now, transmits, events) = drive(&mut session, now, now + Duration::from_millis(100));
    assert!(events.contains(&Event::ReceiverHandedOff(14)), "{events:?}");
    assert!(packets_to(&transmits, addr(14)).contains(&Packet::Handoff { receiver: 14 }));
    assert!(!events.contains(&Event::ReceiverHandedOff(13)), "a quiet receiver is still waited for: {events:?}");
    assert!(!session.is_finished());
    // But not for long once the first pass is over: reachable and unfinished, it would report
    // its needs. Silent for 200 ms more, it is handed off too, and the session ends.
    let (_, transmits, events) = drive(&mut session, now, now + Duration::from_millis(300));
    assert!(events.contains(&Event::ReceiverHandedOff(13)), "{events:?}");
    assert!(packets_to(&transmits, addr(13)).contains(&Packet::Handoff { receiver: 13 }));
    assert_eq!(events.last(), Some(&Event::Finished));
}

/// A report written during the first pass says nothing of how far behind a tail's receiver is,
/// even against the blocks closed by then: the last of those wait a round trip for their repair,
/// so a quiet receiver last heard early in the pass reads far behind (netsim stragglers_faults
/// seed 1: node 242, last heard 30 ms in with 0 of 16 closed blocks, handed off with one block
/// left, finished from its peers at 1.59× the bound). A report after the pass does, and a
/// receiver far behind by it is handed off as it comes.
#[test]
fn only_a_report_after_the_first_pass_tells_a_tail_receiver_far_behind() {
    let mut session = session(14, |config| {
        // One block per group, slowly: the pass takes ~60 ms and block 0 closes early in it.
        config.interleave_blocks = 1;
        config.rate_bps = 10_000_000;
        config.pacing_min_burst_bytes = 300;
        config.pacing_burst = Duration::from_millis(1);
    });
    let start = Instant::now();
    for id in 1..=14 {
        feed(&mut session, start, id, Packet::Join { receiver: id });
    }
    let (now, transmits, _) = drive(&mut session, start, start + Duration::from_millis(20));
    assert!(transmits.iter().any(|t| matches!(t, Transmit::Symbol { block: 1, .. })), "block 0 is closed");
    // Receiver 13 reports once, with no block stored yet, and stays quiet.
    quiet_status(&mut session, now, 13, 0);
    let (now, _, _) = drive(&mut session, now, now + Duration::from_millis(100));
    for id in 1..=12 {
        done(&mut session, now, id);
    }
    // The tail is 13 and 14; 14 reports after the pass with one block of four.
    quiet_status(&mut session, now, 14, 1);
    let (now, transmits, events) = drive(&mut session, now, now + Duration::from_millis(100));
    assert!(events.contains(&Event::ReceiverHandedOff(14)), "{events:?}");
    assert!(packets_to(&transmits, addr(14)).contains(&Packet::Handoff { receiver: 14 }));
    assert!(!events.contains(&Event::ReceiverHandedOff(13)), "last heard during the pass, it is waited for: {events:?}");
    // Silent 200 ms after the pass, it is handed off too.
    let (_, _, events) = drive(&mut session, now, now + Duration::from_millis(300));
    assert!(events.contains(&Event::ReceiverHandedOff(13)), "{events:?}");
    assert_eq!(events.last(), Some(&Event::Finished));
}

/// Receiver `id` lost 40 of block 0's 65 symbols of the first pass (it saw them all), with
/// nothing to say about the rate.
fn far_behind_status(session: &mut SenderSession, now: Instant, id: u64) {
    let needs = vec![Need { block: 0, need: 40, seen: BLOCK_SYMBOLS + 1 }];
    feed(session, now, id, Packet::Status { receiver: id, done_blocks: 0, heard: u64::MAX, backlog_pct: 0, delivery: Delivery::default(), needs });
}

/// Repair symbols of block 0 among `transmits`.
fn block_0_repair(transmits: &[Transmit]) -> usize {
    transmits.iter().filter(|t| matches!(t, Transmit::Symbol { block: 0, esi, .. } if *esi > BLOCK_SYMBOLS)).count()
}

/// While the first pass runs, needs far behind (above a quarter of K) wait for its end while
/// those reporting them are a tail of the group; once more report them, the group itself fell
/// behind (a startup that overshot the path) and they are repaired at once. A group too small
/// for a tail always holds them.
#[test]
fn needs_far_behind_wait_for_the_end_of_the_pass_only_from_a_tail_of_the_group() {
    for receivers in [20u64, 4] {
        let mut session = session(receivers as usize, |config| {
            // One block per group, sent slowly enough that the pass is still on while block 0
            // is closed: 300 wire bytes a symbol at 10 Mbit/s is 240 µs.
            config.interleave_blocks = 1;
            config.rate_bps = 10_000_000;
            config.pacing_min_burst_bytes = 300;
            config.pacing_burst = Duration::from_millis(1);
        });
        let start = Instant::now();
        for id in 1..=receivers {
            feed(&mut session, start, id, Packet::Join { receiver: id });
        }
        let (now, _, _) = drive(&mut session, start, start + Duration::from_millis(20));
        for id in 1..=3 {
            far_behind_status(&mut session, now, id);
        }
        let (now, transmits, _) = drive(&mut session, now, now + Duration::from_millis(5));
        assert!(transmits.iter().any(|t| matches!(t, Transmit::Symbol { .. })), "the pass goes on");
        assert_eq!(block_0_repair(&transmits), 0, "{receivers} receivers: three far behind (a tail of twenty) are held back");
        far_behind_status(&mut session, now, 4);
        let (_, transmits, _) = drive(&mut session, now, now + Duration::from_millis(5));
        let repair = block_0_repair(&transmits);
        if receivers > 4 {
            assert!(repair >= 15, "four of twenty far behind: the group fell behind; {repair} repaired");
        } else {
            assert_eq!(repair, 0, "a group of four holds them until the pass is over");
        }
    }
}
