//! One sender, three receivers, real loopback multicast with 5% seeded loss at each receiver.

use fountain::cli::recv::{ReceiveOptions, journal_path, receive};
use fountain::cli::send::{SendOptions, prepare};
use clap::Parser;
use receiver::udp::LossInjector;

#[derive(Parser)]
struct Options {
    #[command(flatten)]
    send: SendOptions,
}

#[test]
fn three_receivers_with_five_percent_loss_get_identical_copies() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("object");
    let data = super::random_file(&source, 64 << 20, 42);
    let group = super::group(47_101).to_string();
    let options = Options::parse_from(["test", "--group", &group, "--rate", "300M", "--timeout", "300"]).send;
    let prepared = prepare(&source, &options, 3).unwrap();
    let ticket = prepared.ticket.clone();
    let (sent, received) = std::thread::scope(|scope| {
        let receivers: Vec<_> = (0..3u64)
            .map(|i| {
                let out = dir.path().join(format!("copy-{i}"));
                let ticket = &ticket;
                scope.spawn(move || {
                    let loss = Some(LossInjector::new(0.05, 100 + i));
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
    let layout = ticket.manifest.layout();
    let k = f64::from(layout.block_symbols());
    let per_block = sent.repair_symbols as f64 / f64::from(layout.block_count());
    // Each receiver loses ~5% of K (~51 symbols per block); the union over three is ~14%.
    // Repair tracks the worst receiver (plus 1% proactive), far below the union.
    assert!(per_block >= 0.05 * k, "only {per_block:.1} repair symbols per block");
    assert!(per_block <= 0.09 * k, "{per_block:.1} repair symbols per block: paying for the union");
}
