//! Malformed, forged and mismatched input reaching a receiver session: every bad datagram is
//! counted and dropped, and no unverified byte is ever handed out for writing.

use bytes::Bytes;
use fec::wire::{Packet, SessionKey};
use fec::{BlockEncoder, Manifest, ObjectLayout};
use receiver::{Event, ReceiverConfig, ReceiverSession};
use std::net::SocketAddr;
use std::time::Instant;

const SESSION: u64 = 5;
const T: u16 = 64;
const K: u32 = 16;

fn object(seed: u8) -> Vec<u8> {
    (0..(T as usize * K as usize * 2)).map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed)).collect()
}

fn setup(data: &[u8]) -> (ObjectLayout, ReceiverSession, Vec<BlockEncoder>) {
    let layout = ObjectLayout::new(data.len() as u64, T, K).unwrap();
    let manifest = Manifest::hash_object(layout, data).unwrap();
    let session = ReceiverSession::new(ReceiverConfig::new(SESSION, 1), manifest, []);
    let encoders = BlockEncoder::for_object(&layout, &Bytes::copy_from_slice(&data[..]));
    (layout, session, encoders)
}

fn data_packet(block: u32, esi: u32, payload: &[u8], key: Option<&SessionKey>) -> Vec<u8> {
    let mut bytes = Vec::new();
    Packet::Data { block, esi, payload }.encode(SESSION, key, &mut bytes);
    bytes
}

fn from() -> SocketAddr {
    "127.0.0.1:9".parse().unwrap()
}

/// Runs every decode job; returns the blocks produced (stored) and failures handed back.
fn drain(session: &mut ReceiverSession) -> (Vec<(u32, Bytes)>, usize) {
    let (mut stored, mut failed) = (Vec::new(), 0);
    while let Some(event) = session.poll_event() {
        if let Event::Decode(job) = event {
            match job.run() {
                Ok((block, bytes)) => {
                    session.block_stored(block);
                    stored.push((block, bytes));
                }
                Err(failure) => {
                    failed += 1;
                    session.decode_failed(failure);
                }
            }
        }
    }
    (stored, failed)
}

#[test]
fn malformed_and_foreign_packets_are_rejected() {
    let data = object(3);
    let (_, mut session, encoders) = setup(&data);
    let now = Instant::now();
    let good = data_packet(0, 0, &encoders[0].source_symbol(0), None);
    let mut wrong_version = good.clone();
    wrong_version[0] = fec::wire::PROTOCOL_VERSION + 1;
    let mut wrong_session = Vec::new();
    Packet::Data { block: 0, esi: 1, payload: &encoders[0].source_symbol(1) }.encode(SESSION + 1, None, &mut wrong_session);
    let bad = [
        good[..good.len() - 1].to_vec(),                      // truncated symbol
        good[..10].to_vec(),                                  // truncated header
        wrong_version,                                        // unknown version
        wrong_session,                                        // another session
        data_packet(2, 0, &encoders[0].source_symbol(0), None), // block out of range
        data_packet(0, 1 << 24, &encoders[0].source_symbol(0), None), // ESI out of range
        Vec::new(),
    ];
    for datagram in &bad {
        session.handle_datagram(now, from(), datagram);
    }
    assert_eq!(session.stats().rejected_packets, bad.len() as u64);
    assert_eq!(session.stats().symbols, 0);
    assert!(session.poll_event().is_none());
}

#[test]
fn corrupt_symbol_is_caught_by_the_block_hash_and_repaired() {
    let data = object(5);
    let (layout, mut session, encoders) = setup(&data);
    let now = Instant::now();
    for esi in 0..K {
        let mut symbol = encoders[0].source_symbol(esi).to_vec();
        if esi == 3 {
            symbol[10] ^= 0xff;
        }
        session.handle_datagram(now, from(), &data_packet(0, esi, &symbol, None));
    }
    let (stored, failed) = drain(&mut session);
    assert!(stored.is_empty(), "a corrupt block was released");
    assert_eq!(failed, 1);
    assert_eq!(session.stats().corrupt_blocks, 1);
    assert!(!session.is_stored(0));
    // Fresh repair symbols rebuild the block; the bad bytes never come out.
    for (i, symbol) in encoders[0].symbols(K, K + 1).iter().enumerate() {
        session.handle_datagram(now, from(), &data_packet(0, K + i as u32, symbol, None));
    }
    let (stored, _) = drain(&mut session);
    assert_eq!(stored.len(), 1);
    assert_eq!(&stored[0].1[..], &data[..layout.block_len(0)]);
    assert!(session.is_stored(0));
}

#[test]
fn symbols_of_another_object_are_never_released() {
    let data = object(7);
    let other = object(11);
    let (_, mut session, _) = setup(&data);
    let (_, _, wrong_encoders) = setup(&other);
    let now = Instant::now();
    for esi in 0..K {
        session.handle_datagram(now, from(), &data_packet(1, esi, &wrong_encoders[1].source_symbol(esi), None));
    }
    let (stored, failed) = drain(&mut session);
    assert!(stored.is_empty());
    assert_eq!(failed, 1);
    assert_eq!(session.stored_blocks(), 0);
}

#[test]
fn forged_packets_fail_authentication() {
    let data = object(13);
    let layout = ObjectLayout::new(data.len() as u64, T, K).unwrap();
    let manifest = Manifest::hash_object(layout, &data[..]).unwrap();
    let key = SessionKey::new([9; 32]);
    let mut config = ReceiverConfig::new(SESSION, 1);
    config.key = Some(key.clone());
    let mut session = ReceiverSession::new(config, manifest, []);
    let (_, _, encoders) = setup(&data);
    let now = Instant::now();
    let forger = SessionKey::new([8; 32]);
    let symbol = encoders[0].source_symbol(0);
    session.handle_datagram(now, from(), &data_packet(0, 0, &symbol, None));
    session.handle_datagram(now, from(), &data_packet(0, 0, &symbol, Some(&forger)));
    assert_eq!(session.stats().rejected_packets, 2);
    session.handle_datagram(now, from(), &data_packet(0, 0, &symbol, Some(&key)));
    assert_eq!(session.stats().symbols, 1);
}
