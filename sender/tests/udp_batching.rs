//! The UDP driver over real loopback multicast, with GSO batching and with it switched off
//! (the fallback for kernels or NICs without UDP segmentation offload).

use fec::{Manifest, ObjectLayout};
use netio::MulticastOptions;
use rand::{RngCore, SeedableRng};
use receiver::udp::{LossInjector, ReceiverIo};
use receiver::{ReceiverConfig, ReceiverSession, Target};
use sender::{BlockSource, SenderConfig, SenderSession};
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

fn transfer(gso: bool, port: u16) {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("object");
    let mut data = vec![0u8; 6 << 20];
    rand_chacha::ChaCha8Rng::seed_from_u64(u64::from(port)).fill_bytes(&mut data);
    std::fs::write(&source, &data).unwrap();
    let layout = ObjectLayout::with_defaults(data.len() as u64).unwrap();
    let manifest = Manifest::hash_object(layout, &data[..]).unwrap();
    let group: SocketAddrV4 = format!("239.255.72.1:{port}").parse().unwrap();
    let options = MulticastOptions::default();
    let mut config = SenderConfig::new(u64::from(port), group.into());
    config.rate_bps = 400_000_000;
    let mut session = SenderSession::new(config, manifest.clone());
    let socket = netio::bind_sender(options).unwrap();
    let mut blocks = BlockSource::new(std::fs::File::open(&source).unwrap(), manifest.clone(), 64, 1);
    let out = dir.path().join("copy");
    let data_socket = netio::bind_group(group, options).unwrap();
    let feedback = netio::bind_feedback(options).unwrap();
    let target = Target::open(&out, layout).unwrap();
    let mut receiver = ReceiverSession::new(ReceiverConfig::new(u64::from(port), 1), manifest, []);
    std::thread::scope(|scope| {
        let rx = scope.spawn(|| {
            let io = ReceiverIo { data: &data_socket, feedback: &feedback, target: &target, journal: None, loss: Some(LossInjector::new(0.02, 3)) };
            receiver::udp::run(&mut receiver, io, |_| {})
        });
        let deadline = Some(Instant::now() + Duration::from_secs(60));
        sender::udp::run_with(&mut session, &socket, &mut blocks, deadline, gso, |_, _| {}).unwrap();
        rx.join().unwrap().unwrap();
    });
    assert!(std::fs::read(&out).unwrap() == data, "copy differs (gso = {gso})");
}

#[test]
fn batched_with_gso() {
    transfer(true, 47_201);
}

#[test]
fn one_datagram_per_call_without_gso() {
    transfer(false, 47_202);
}
