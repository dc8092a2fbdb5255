//! Peer repair over real loopback sockets: six receivers, one joining halfway through and one
//! whose link takes only a tenth of the sender's rate. Both finish from their peers, every copy
//! is byte-identical, and the sender does not re-send for them what their peers hold.

use clap::Parser;
use fec::SessionTicket;
use fountain::cli::send::{SendOptions, prepare};
use netio::MulticastOptions;
use receiver::udp::{LossInjector, ReceiverIo};
use receiver::{ReceiverConfig, ReceiverSession, ReceiverStats, Target};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::mpsc;

#[derive(Parser)]
struct Options {
    #[command(flatten)]
    send: SendOptions,
}

const RATE_BPS: u64 = 200_000_000;

/// Receives `ticket` into `out` as receiver `id`; `on_half` fires once half the blocks are in.
fn receive(ticket: &SessionTicket, out: &Path, id: u64, loss: LossInjector, on_half: Option<mpsc::Sender<()>>) -> ReceiverStats {
    let layout = *ticket.manifest.layout();
    let target = Target::open(out, layout).unwrap();
    let options = MulticastOptions { interface: Ipv4Addr::LOCALHOST, ttl: 1 };
    let data = netio::bind_group(ticket.group, options).unwrap();
    let feedback = netio::bind_feedback(options).unwrap();
    let mut config = ReceiverConfig::new(ticket.session_id, id);
    config.key = ticket.key.clone();
    let mut session = ReceiverSession::new(config, ticket.manifest.clone(), []);
    let io = ReceiverIo { data: &data, feedback: &feedback, target: &target, journal: None, loss: Some(loss) };
    let mut on_half = on_half;
    receiver::udp::run(&mut session, io, |s| {
        if s.stored_blocks() * 2 >= layout.block_count()
            && let Some(tx) = on_half.take()
        {
            tx.send(()).unwrap();
        }
    })
    .unwrap();
    session.stats().clone()
}

#[test]
fn a_late_joiner_and_a_slow_node_finish_from_their_peers() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("object");
    let data = super::random_file(&source, 16 << 20, 7);
    let group = super::group(47_131).to_string();
    let rate = RATE_BPS.to_string();
    let options = Options::parse_from(["test", "--group", &group, "--rate", &rate, "--timeout", "120"]).send;
    // Five on time (four normal, one slow); the sixth joins halfway.
    let prepared = prepare(&source, &options, 5).unwrap();
    let ticket = prepared.ticket.clone();
    let (sent, stats) = std::thread::scope(|scope| {
        let (half_tx, half_rx) = mpsc::channel();
        let mut receivers = Vec::new();
        for i in 0..5u64 {
            let (out, ticket) = (dir.path().join(format!("copy-{i}")), &ticket);
            let mut loss = LossInjector::new(0.01, 200 + i);
            if i == 4 {
                loss = loss.with_rate_limit(RATE_BPS / 10);
            }
            let on_half = (i == 0).then(|| half_tx.clone());
            receivers.push(scope.spawn(move || receive(ticket, &out, i + 1, loss, on_half)));
        }
        let late = {
            let (out, ticket) = (dir.path().join("copy-5"), &ticket);
            scope.spawn(move || {
                half_rx.recv().unwrap();
                receive(ticket, &out, 6, LossInjector::new(0.01, 205), None)
            })
        };
        receivers.push(late);
        let sent = prepared.run(false).unwrap();
        (sent, receivers.into_iter().map(|r| r.join().unwrap()).collect::<Vec<_>>())
    });
    for i in 0..6 {
        let copy = std::fs::read(dir.path().join(format!("copy-{i}"))).unwrap();
        assert!(copy == data, "copy {i} differs from the source");
    }
    let source_symbols = u64::from(ticket.manifest.layout().block_count()) * u64::from(ticket.manifest.layout().block_symbols());
    let (slow, late) = (&stats[4], &stats[5]);
    // The slow node took in at most a tenth of the multicast: most of its copy came from peers.
    assert!(slow.peer_symbols > source_symbols / 2, "slow node: {} of {source_symbols} symbols from peers", slow.peer_symbols);
    // The late joiner missed the first half of the multicast.
    assert!(late.peer_symbols > source_symbols / 4, "late joiner: {} symbols from peers", late.peer_symbols);
    let served: u64 = stats.iter().map(|s| s.served_symbols).sum();
    assert!(served >= slow.peer_symbols + late.peer_symbols);
    // The sender repaired random loss, not the slow node's and the late joiner's holes.
    assert!(
        sent.repair_symbols < source_symbols / 10,
        "sender sent {} repair symbols for {source_symbols} source symbols",
        sent.repair_symbols
    );
}
