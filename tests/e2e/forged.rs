//! A forger on the wire: datagrams that carry a live session's id but not its key (none, or a key
//! of its own), sent to the session's group for as long as the transfer runs. Every session the
//! control plane launches is authenticated this way (a random key in the ticket), so this is what
//! an installing node meets: each forged symbol is rejected before it reaches a block, nothing
//! unverified is written, and the copy is the source byte for byte.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use fec::wire::{Packet, SessionKey};
use fountain::cli::recv::{ReceiveOptions, journal_path, receive};
use fountain::cli::send::{SendOptions, prepare};

#[derive(Parser)]
struct Options {
    #[command(flatten)]
    send: SendOptions,
}

/// The forger stops after this many datagrams or this long, whichever comes first.
const MAX_FORGED: u64 = 200_000;
const MAX_FORGING: Duration = Duration::from_secs(60);

#[test]
fn forged_symbols_in_an_authenticated_session_are_rejected_and_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("object");
    let data = super::random_file(&source, 16 << 20, 61);
    let group = super::group(47_111).to_string();
    let options = Options::parse_from(["test", "--rate", "300M", "--timeout", "120", "--group", &group, "--authenticate"]).send;
    let prepared = prepare(&source, &options, 1).unwrap();
    let ticket = prepared.ticket.clone();
    assert!(ticket.key.is_some(), "an authenticated session's ticket carries its key");
    let out = dir.path().join("copy");
    let done = AtomicBool::new(false);

    let (received, forged) = std::thread::scope(|scope| {
        let receiver = scope.spawn(|| {
            let options = ReceiveOptions { iface: options.iface, loss: None, receiver_id: None, label: "rx".into(), show_progress: false, sender_timeout: None, fallback: None };
            let received = receive(&ticket, &out, &journal_path(&out), options);
            done.store(true, Ordering::Release);
            received.unwrap()
        });
        let forger = scope.spawn(|| forge(&ticket, &done));
        prepared.run(false).unwrap();
        (receiver.join().unwrap(), forger.join().unwrap())
    });

    assert!(std::fs::read(&out).unwrap() == data, "the copy differs from the source");
    let stats = &received.stats;
    eprintln!("forged: {forged} datagrams sent, {} rejected, {} symbols kept", stats.rejected_packets, stats.symbols);
    assert!(forged > 0 && stats.rejected_packets > 0, "the forged datagrams reached the receiver: {forged} sent, {} rejected", stats.rejected_packets);
    assert!(stats.rejected_packets <= forged, "only the forged datagrams were rejected: {} of {forged}", stats.rejected_packets);
    assert_eq!(stats.corrupt_blocks, 0, "no forged symbol reached a block's decoder");
    assert_eq!(received.summary.corrupt_blocks, 0);
}

/// Sends datagrams with the session's id and well-formed data headers for every block, half with no
/// key and half with the forger's own, to the group until `done` (bounded); returns how many.
fn forge(ticket: &fec::SessionTicket, done: &AtomicBool) -> u64 {
    let socket = netio::bind_sender(netio::MulticastOptions::default()).unwrap();
    let layout = ticket.manifest.layout();
    let payload = vec![0xa5; layout.symbol_size() as usize];
    let own_key = SessionKey::new([0x5a; 32]);
    let (started, mut sent, mut bytes) = (Instant::now(), 0u64, Vec::new());
    while !done.load(Ordering::Acquire) && sent < MAX_FORGED && started.elapsed() < MAX_FORGING {
        let block = (sent % u64::from(layout.block_count())) as u32;
        let esi = (sent / u64::from(layout.block_count()) % u64::from(layout.block_symbols())) as u32;
        let key = (sent % 2 == 1).then_some(&own_key);
        bytes.clear();
        Packet::Data { block, esi, payload: &payload }.encode(ticket.session_id, key, &mut bytes);
        netio::send_lossy(&socket, &bytes, ticket.group.into()).unwrap();
        sent += 1;
        if sent % 64 == 0 {
            // Pacing, not synchronisation: the forger must not starve the sender on two cores.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    sent
}
