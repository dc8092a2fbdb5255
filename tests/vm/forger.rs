//! A forger on the lab's bridge: while the install test's nodes receive their image by multicast, a
//! process on the host's side of the bridge (inside the lab's namespace) sends datagrams into their
//! session. It knows what anyone on the segment sees on the wire (the session's group and port, its
//! id) but not the session's key, which only the nodes' tickets carry. So it sends data symbols with
//! the session's id untagged, tagged with a key of its own, and cut short (inside the header, and
//! inside the tag). Every one must be rejected before it reaches a block; the test reads how many
//! each agent rejected from its console.
//!
//! The forger is this test binary run again inside the namespace (the test process itself stays
//! outside it), as the ignored test [`forging_child`], told what to forge by an environment variable.
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use fec::wire::{Packet, SessionKey};
use vmtest::Lab;

/// Tells the child the session id, the group and the interface: `ID GROUP:PORT IFACE`.
const FORGE_ENV: &str = "FOUNTAIN_VM_FORGE";
/// The forger stops after this many datagrams or this long, whichever comes first: well inside the
/// ~25 s the image's session takes in the lab (jumbo frames, 96 Mbit/s), since a datagram that
/// arrives after the session ended is counted by no receiver, and inside the lab's 60 s limit on a
/// command.
const MAX_FORGED: u64 = 2_000;
const MAX_FORGING: Duration = Duration::from_secs(8);
/// Datagrams per burst, and the pause after each: ~250 datagrams a second (~2 Mbit/s), enough to
/// be counted by every receiver without crowding out the session on two cores.
const BURST: u64 = 16;
const PAUSE: Duration = Duration::from_millis(64);
/// The forged symbols' payload (the forger does not know the session's symbol size; it needs not).
const PAYLOAD: usize = 1024;

/// Forges into session `session` for a bounded time from the lab's host side; returns how many
/// datagrams went out.
pub fn forge_into(lab: &Lab, session: u64) -> u64 {
    let exe = std::env::current_exe().expect("the test binary's path");
    let spec = format!("{session} {} {}", vmtest::SESSION_GROUP, lab.host_addr());
    let out = lab
        .exec_with_env(&exe, &["--exact", "forger::forging_child", "--ignored", "--nocapture", "--test-threads", "1"], &[(FORGE_ENV, &spec)])
        .expect("running the forger in the lab");
    // The harness prints the test's name on the same line, before what the test prints.
    out.lines().find_map(|l| l.split("forged: ").nth(1)?.split_whitespace().next()?.parse().ok()).unwrap_or_else(|| panic!("no count from the forger:\n{out}"))
}

/// The forger itself: an ignored trial that only the install test runs, inside its lab.
pub fn forging_child() {
    let spec = std::env::var(FORGE_ENV).expect("run by the install test");
    let mut words = spec.split_whitespace();
    let session: u64 = words.next().and_then(|w| w.parse().ok()).expect("a session id");
    let group: SocketAddrV4 = words.next().and_then(|w| w.parse().ok()).expect("a group");
    let iface: Ipv4Addr = words.next().and_then(|w| w.parse().ok()).expect("an interface address");
    let socket = netio::bind_sender(netio::MulticastOptions { interface: iface, ttl: 1 }).unwrap();
    let own_key = SessionKey::new([0x5a; 32]);
    let payload = vec![0xa5; PAYLOAD];
    let (started, mut sent, mut bytes) = (Instant::now(), 0u64, Vec::new());
    let mut n = 0u64;
    while n < MAX_FORGED && started.elapsed() < MAX_FORGING {
        bytes.clear();
        // Blocks and symbols the image has (low numbers), so only the missing key can give them away.
        let (block, esi) = ((n / 4 % 64) as u32, (n / 256 % 128) as u32);
        let kind = n % 4;
        let key = (kind != 0).then_some(&own_key);
        Packet::Data { block, esi, payload: &payload }.encode(session, key, &mut bytes);
        match kind {
            // Cut inside the header (before the session id ends).
            2 => bytes.truncate(10),
            // Cut inside the tag.
            3 => bytes.truncate(bytes.len() - 5),
            _ => {}
        }
        if socket.send_to(&bytes, group).is_ok() {
            sent += 1;
        }
        n += 1;
        if n.is_multiple_of(BURST) {
            // Pacing, not synchronisation: the forger must not crowd out the session it forges into.
            std::thread::sleep(PAUSE);
        }
    }
    println!("forged: {sent} datagrams in {:.1} s", started.elapsed().as_secs_f64());
}
