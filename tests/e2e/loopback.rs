//! One sender, three receivers on loopback with seeded loss at each: over multicast, and without
//! it (each symbol sent to one receiver, which forwards it to the others).

use fec::SessionTicket;
use fountain::cli::progress::Summary;
use fountain::cli::recv::{ReceiveOptions, journal_path, receive};
use fountain::cli::send::{SendOptions, prepare};
use clap::Parser;
use receiver::udp::LossInjector;

#[derive(Parser)]
struct Options {
    #[command(flatten)]
    send: SendOptions,
}

/// Sends a 64 MiB object to three receivers that each lose `loss` of what arrives, and checks
/// every copy; returns the ticket and the sender's summary.
fn send_to_three(args: &[&str], loss: f64) -> (SessionTicket, Summary) {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("object");
    let data = super::random_file(&source, 64 << 20, 42);
    let mut argv = vec!["test", "--rate", "300M", "--timeout", "300"];
    argv.extend_from_slice(args);
    let options = Options::parse_from(argv).send;
    let prepared = prepare(&source, &options, 3).unwrap();
    let ticket = prepared.ticket.clone();
    let (sent, received) = std::thread::scope(|scope| {
        let receivers: Vec<_> = (0..3u64)
            .map(|i| {
                let out = dir.path().join(format!("copy-{i}"));
                let ticket = &ticket;
                scope.spawn(move || {
                    let loss = Some(LossInjector::new(loss, 100 + i));
                    let label = "rx".into();
                    let options = ReceiveOptions { iface: options.iface, loss, receiver_id: None, label, show_progress: false, sender_timeout: None, fallback: None };
                    let summary = receive(ticket, &out, &journal_path(&out), options).unwrap().summary;
                    (out, summary)
                })
            })
            .collect();
        let sent = prepared.run(false).unwrap();
        (sent, receivers.into_iter().map(|r| r.join().unwrap()).collect::<Vec<_>>())
    });
    for (out, summary) in &received {
        assert!(std::fs::read(out).unwrap() == data, "{} differs from the source", out.display());
        assert!(!journal_path(out).exists(), "journal left behind after success");
        assert_eq!(summary.corrupt_blocks, 0);
    }
    (ticket, sent)
}

#[test]
fn three_receivers_with_five_percent_loss_get_identical_copies() {
    let group = super::group(47_101).to_string();
    let (ticket, sent) = send_to_three(&["--group", &group], 0.05);
    let layout = ticket.manifest.layout();
    let k = f64::from(layout.block_symbols());
    let per_block = sent.repair_symbols as f64 / f64::from(layout.block_count());
    // Each receiver loses ~5% of K (~51 symbols per block); the union over three is ~14%.
    // Repair tracks the worst receiver (plus 1% proactive), far below the union.
    assert!(per_block >= 0.05 * k, "only {per_block:.1} repair symbols per block");
    assert!(per_block <= 0.09 * k, "{per_block:.1} repair symbols per block: paying for the union");
}

#[test]
fn without_multicast_three_receivers_forward_seeds_to_each_other() {
    // A unicast address for the group: the sender listens there, and no multicast is used.
    let (ticket, sent) = send_to_three(&["--group", "127.0.0.1:47102", "--overhead", "4"], 0.02);
    assert!(!ticket.group.ip().is_multicast());
    // Every copy is whole, yet the sender sent each block about once (4% first-pass overhead,
    // little repair asked for): each symbol went to one receiver, and the two others got it
    // forwarded.
    let layout = ticket.manifest.layout();
    let k = f64::from(layout.block_symbols());
    let repair = sent.repair_symbols as f64 / f64::from(layout.block_count());
    assert!(repair <= 0.10 * k, "{repair:.1} repair symbols per block: the sender served each receiver itself");
}
