//! The session's memory is a window of open blocks: at `max_assemblies`, lower blocks push the
//! highest out and higher ones are dropped, and the object still arrives whole.

use bytes::Bytes;
use fec::wire::Packet;
use fec::{BlockEncoder, Manifest, ObjectLayout};
use receiver::{Event, ReceiverConfig, ReceiverSession};
use std::net::SocketAddr;
use std::time::Instant;

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
}

impl Harness {
    fn new(data: &[u8], max_assemblies: usize) -> Self {
        let layout = ObjectLayout::new(data.len() as u64, T, K).unwrap();
        let manifest = Manifest::hash_object(layout, data).unwrap();
        let mut config = ReceiverConfig::new(SESSION, 1);
        config.max_assemblies = max_assemblies;
        config.peer.enabled = false;
        let session = ReceiverSession::new(config, manifest, []);
        let encoders = BlockEncoder::for_object(&layout, &Bytes::copy_from_slice(data));
        Self { session, encoders, out: vec![0; data.len()], layout }
    }

    /// Sends symbols `esis` of `block`, runs any decode, and checks the window after each.
    fn send(&mut self, block: u32, esis: impl IntoIterator<Item = u32>) {
        for esi in esis {
            let payload = self.encoders[block as usize].symbols(esi, 1).remove(0);
            let mut bytes = Vec::new();
            Packet::Data { block, esi, payload: &payload }.encode(SESSION, None, &mut bytes);
            self.session.handle_datagram(Instant::now(), from(), &bytes);
            assert!(self.session.open_blocks() <= 2, "{} blocks open", self.session.open_blocks());
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
