//! The sender alone, unpaced, to a receiver that discards: how many packets per second and
//! Gbit/s the send path reaches on loopback, with GSO batching and without.
//!
//! The discarding receiver joins the session, drains the group socket with recvmmsg without
//! decoding, and reports done with the manifest's root hash once the sender's first pass is over,
//! so the figure is the sender's (and the kernel's loopback delivery), not a decoder's.
//! Run: `cargo bench -p sender --bench sender_rate` (prints a table and a JSON line).

use fec::wire::Packet;
use fec::{Manifest, ObjectLayout};
use netio::{BatchReceiver, MulticastOptions};
use rand::{RngCore, SeedableRng};
use sender::{BlockSource, SenderConfig, SenderSession};
use std::net::{SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

const OBJECT_BYTES: usize = 512 << 20;
const RECEIVER: u64 = 1;

/// Joins, drains, and reports done when the first pass closes. Returns datagrams seen.
fn discard(data: &UdpSocket, feedback: &UdpSocket, session: u64, manifest: &Manifest) -> u64 {
    let mut rx = BatchReceiver::new(data).unwrap();
    data.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut seen = 0u64;
    let mut sender = None;
    let mut closed_all = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let _ = rx.recv(data, |from, _, datagram| {
            seen += 1;
            if let Ok((_, Packet::Progress { closed, .. })) = Packet::decode(datagram, None) {
                sender = Some(from);
                closed_all |= closed == manifest.layout().block_count();
            }
            if let Ok((_, Packet::End)) = Packet::decode(datagram, None) {
                closed_all = true;
            }
        });
        if let Some(to) = sender {
            let packet = if closed_all {
                Packet::Done { receiver: RECEIVER, root: *manifest.root().as_bytes() }
            } else {
                Packet::Join { receiver: RECEIVER }
            };
            let mut bytes = Vec::new();
            packet.encode(session, None, &mut bytes);
            let _ = feedback.send_to(&bytes, to);
        }
        let mut buf = [0u8; 64];
        feedback.set_nonblocking(true).unwrap();
        while let Ok((len, _)) = feedback.recv_from(&mut buf) {
            if let Ok((_, Packet::Ack { done: true, .. })) = Packet::decode(&buf[..len], None) {
                return seen;
            }
        }
    }
    seen
}

fn run(path: &std::path::Path, manifest: &Manifest, gso: bool, port: u16) -> (f64, u64) {
    let group: SocketAddrV4 = format!("239.255.74.1:{port}").parse().unwrap();
    let options = MulticastOptions::default();
    let mut config = SenderConfig::new(u64::from(port), group.into());
    config.rate_bps = 0;
    config.repair_overhead_pct = 0.0;
    let mut session = SenderSession::new(config, manifest.clone());
    let socket = netio::bind_sender(options).unwrap();
    let mut source = BlockSource::new(std::fs::File::open(path).unwrap(), manifest.clone(), 64, 1);
    let data = netio::bind_group(group, options).unwrap();
    let feedback = netio::bind_feedback(options).unwrap();
    std::thread::scope(|scope| {
        let sink = scope.spawn(|| discard(&data, &feedback, u64::from(port), manifest));
        let start = Instant::now();
        let mut started = start;
        sender::udp::run_with(&mut session, &socket, &mut source, Some(start + Duration::from_secs(120)), gso, |_, event| {
            if *event == sender::Event::Started {
                started = Instant::now();
            }
        })
        .unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        sink.join().unwrap();
        (elapsed, session.stats().source_symbols + session.stats().requested_repair_symbols)
    })
}

fn main() {
    let dir = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).unwrap();
    let path = dir.path().join("object");
    let mut data = vec![0u8; OBJECT_BYTES];
    rand_chacha::ChaCha8Rng::seed_from_u64(1).fill_bytes(&mut data);
    std::fs::write(&path, &data).unwrap();
    let manifest = Manifest::hash_object(ObjectLayout::with_defaults(data.len() as u64).unwrap(), &data[..]).unwrap();
    drop(data);
    println!("{:<8} {:>10} {:>12} {:>10}", "batching", "seconds", "packets/s", "Gbit/s");
    let mut json = Vec::new();
    for (gso, port) in [(true, 47_401), (false, 47_402)] {
        let (seconds, packets) = run(&path, &manifest, gso, port);
        let pps = packets as f64 / seconds;
        let gbps = pps * 1456.0 * 8.0 / 1e9;
        let name = if gso { "gso" } else { "none" };
        println!("{name:<8} {seconds:>10.2} {pps:>12.0} {gbps:>10.2}");
        json.push(format!("{{\"batching\":\"{name}\",\"seconds\":{seconds:.3},\"packets_per_s\":{pps:.0},\"gbit_per_s\":{gbps:.2}}}"));
    }
    println!("{{\"bench\":\"sender_rate\",\"object_bytes\":{OBJECT_BYTES},\"runs\":[{}]}}", json.join(","));
}
