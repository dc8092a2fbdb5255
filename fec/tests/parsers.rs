//! The wire parsers never panic, whatever the bytes, and accept exactly what the encoders write.
//!
//! "Exactly": whenever a parser accepts some bytes, encoding what it parsed gives those bytes
//! back, so there is one encoding per message and nothing unchecked rides along.

use fec::layout::{MAX_BLOCK_SYMBOLS, MAX_SYMBOL_SIZE, MIN_SYMBOL_SIZE, SYMBOL_ALIGNMENT};
use fec::manifest::ManifestError;
use fec::wire::{
    Delivery, HEADER_LEN, MAX_HAVE_BYTES, MAX_NEEDS_PER_STATUS, MAX_PEERS_PER_PACKET, Need, PROTOCOL_VERSION, Packet, PeerAddr, SessionKey,
    TAG_LEN, WireError,
};
use fec::{Manifest, ObjectLayout, SessionTicket};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

/// Bytes of the manifest's trailing checksum.
const CHECKSUM_LEN: usize = 32;
/// Byte offset of the header's flags field.
const FLAGS_OFFSET: usize = 2;

/// An owned packet, so strategies can produce it; `packet()` borrows it as the real thing.
#[derive(Debug, Clone)]
enum Spec {
    Data { block: u32, esi: u32, payload: Vec<u8> },
    Progress { closed: u32, sent: u64, stamp_us: u64 },
    Join { receiver: u64 },
    Status { receiver: u64, done_blocks: u32, heard: u64, backlog_pct: u8, delivery: Delivery, needs: Vec<Need> },
    Done { receiver: u64, root: [u8; 32] },
    Ack { receiver: u64, done: bool, index: u32 },
    End,
    Handoff { receiver: u64 },
    Peers { peers: Vec<PeerAddr> },
    Have { node: u32, first: u32, bits: Vec<u8> },
    Ask { node: u32, block: u32, need: u32, rate_kbps: u32 },
    Seed { block: u32, esi: u32, payload: Vec<u8> },
}

impl Spec {
    fn packet(&self) -> Packet<'_> {
        match self {
            Self::Data { block, esi, payload } => Packet::Data { block: *block, esi: *esi, payload },
            Self::Progress { closed, sent, stamp_us } => Packet::Progress { closed: *closed, sent: *sent, stamp_us: *stamp_us },
            Self::Join { receiver } => Packet::Join { receiver: *receiver },
            Self::Status { receiver, done_blocks, heard, backlog_pct, delivery, needs } => Packet::Status {
                receiver: *receiver,
                done_blocks: *done_blocks,
                heard: *heard,
                backlog_pct: *backlog_pct,
                delivery: *delivery,
                needs: needs.clone(),
            },
            Self::Done { receiver, root } => Packet::Done { receiver: *receiver, root: *root },
            Self::Ack { receiver, done, index } => Packet::Ack { receiver: *receiver, done: *done, index: *index },
            Self::End => Packet::End,
            Self::Handoff { receiver } => Packet::Handoff { receiver: *receiver },
            Self::Peers { peers } => Packet::Peers { peers: peers.clone() },
            Self::Have { node, first, bits } => Packet::Have { node: *node, first: *first, bits },
            Self::Ask { node, block, need, rate_kbps } => Packet::Ask { node: *node, block: *block, need: *need, rate_kbps: *rate_kbps },
            Self::Seed { block, esi, payload } => Packet::Seed { block: *block, esi: *esi, payload },
        }
    }
}

fn need() -> impl Strategy<Value = Need> {
    (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(block, need, seen)| Need { block, need, seen })
}

fn peer() -> impl Strategy<Value = PeerAddr> {
    let ip = prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u8; 16]>().prop_map(IpAddr::from)];
    (any::<u32>(), ip, any::<u16>()).prop_map(|(index, ip, port)| PeerAddr { index, addr: SocketAddr::new(ip, port) })
}

fn spec() -> impl Strategy<Value = Spec> {
    let symbol = || (any::<u32>(), any::<u32>(), vec(any::<u8>(), 0..=usize::from(MAX_SYMBOL_SIZE)));
    prop_oneof![
        symbol().prop_map(|(block, esi, payload)| Spec::Data { block, esi, payload }),
        symbol().prop_map(|(block, esi, payload)| Spec::Seed { block, esi, payload }),
        (any::<u32>(), any::<u64>(), any::<u64>()).prop_map(|(closed, sent, stamp_us)| Spec::Progress { closed, sent, stamp_us }),
        any::<u64>().prop_map(|receiver| Spec::Join { receiver }),
        (any::<u64>(), any::<u32>(), any::<u64>(), 0..=100u8, any::<[u32; 5]>(), vec(need(), 0..=MAX_NEEDS_PER_STATUS)).prop_map(
            |(receiver, done_blocks, heard, backlog_pct, [symbols, window_drops, marks, span_us, queue_us], needs)| {
                let delivery = Delivery { symbols, window_drops, marks, span_us, queue_us };
                Spec::Status { receiver, done_blocks, heard, backlog_pct, delivery, needs }
            }
        ),
        (any::<u64>(), any::<[u8; 32]>()).prop_map(|(receiver, root)| Spec::Done { receiver, root }),
        (any::<u64>(), any::<bool>(), any::<u32>()).prop_map(|(receiver, done, index)| Spec::Ack { receiver, done, index }),
        Just(Spec::End),
        any::<u64>().prop_map(|receiver| Spec::Handoff { receiver }),
        vec(peer(), 0..=MAX_PEERS_PER_PACKET).prop_map(|peers| Spec::Peers { peers }),
        (any::<u32>(), any::<u32>(), vec(any::<u8>(), 0..=MAX_HAVE_BYTES))
            .prop_map(|(node, first, bits)| Spec::Have { node, first, bits }),
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(node, block, need, rate_kbps)| Spec::Ask { node, block, need, rate_kbps }),
    ]
}

fn key() -> impl Strategy<Value = Option<SessionKey>> {
    proptest::option::of(any::<[u8; 32]>().prop_map(SessionKey::new))
}

/// One damage done to an encoding.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(Index),
    FlipBit(Index, u8),
    Append(Vec<u8>),
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    vec(
        prop_oneof![
            any::<Index>().prop_map(Mutation::Truncate),
            (any::<Index>(), 0..8u8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
            vec(any::<u8>(), 1..64).prop_map(Mutation::Append),
        ],
        1..4,
    )
}

/// Applies `mutations`; returns whether the bytes changed.
fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) -> bool {
    let original = bytes.clone();
    for mutation in mutations {
        match mutation {
            Mutation::Truncate(at) if !bytes.is_empty() => bytes.truncate(at.index(bytes.len())),
            Mutation::FlipBit(at, bit) if !bytes.is_empty() => {
                let i = at.index(bytes.len());
                bytes[i] ^= 1 << bit;
            }
            Mutation::Append(extra) => bytes.extend_from_slice(extra),
            _ => {}
        }
    }
    *bytes != original
}

/// Decodes `bytes` every way a peer might (without a key, with the right key, with another key)
/// and checks that whatever is accepted re-encodes to exactly the bytes given.
fn decode_is_canonical(bytes: &[u8], key: &SessionKey) -> Result<(), TestCaseError> {
    if let Ok((session, packet)) = Packet::decode(bytes, None) {
        let tagged = bytes[FLAGS_OFFSET] != 0;
        let mut expected = bytes.to_vec();
        if tagged {
            // Without a key the tag is stripped unchecked: what remains must be canonical.
            expected.truncate(bytes.len() - TAG_LEN);
            expected[FLAGS_OFFSET] = 0;
        }
        let mut reencoded = Vec::new();
        packet.encode(session, None, &mut reencoded);
        prop_assert_eq!(reencoded, expected);
    }
    if let Ok((session, packet)) = Packet::decode(bytes, Some(key)) {
        let mut reencoded = Vec::new();
        packet.encode(session, Some(key), &mut reencoded);
        prop_assert_eq!(reencoded, bytes);
    }
    Ok(())
}

/// A layout with a bounded block count, so a manifest of it stays small.
fn layout() -> impl Strategy<Value = ObjectLayout> {
    let symbol_size = (MIN_SYMBOL_SIZE / SYMBOL_ALIGNMENT..=MAX_SYMBOL_SIZE / SYMBOL_ALIGNMENT).prop_map(|n| n * SYMBOL_ALIGNMENT);
    (symbol_size, 1..=MAX_BLOCK_SYMBOLS, 0..64u64, any::<Index>()).prop_map(|(t, k, full_blocks, tail)| {
        let block_bytes = u64::from(t) * u64::from(k);
        let object_size = full_blocks * block_bytes + tail.index(block_bytes as usize) as u64;
        ObjectLayout::new(object_size, t, k).unwrap()
    })
}

fn manifest() -> impl Strategy<Value = Manifest> {
    layout().prop_flat_map(|layout| {
        vec(any::<[u8; 32]>(), layout.block_count() as usize).prop_map(move |hashes| {
            Manifest::from_block_hashes(layout, hashes.into_iter().map(blake3::Hash::from_bytes).collect()).unwrap()
        })
    })
}

/// Appends the checksum of `bytes`, so the fields behind the checksum get exercised too.
fn seal(bytes: &mut Vec<u8>) {
    let checksum = blake3::hash(bytes);
    bytes.extend_from_slice(checksum.as_bytes());
}

/// Replaces a (possibly damaged) manifest's checksum with the right one for its body.
fn reseal(bytes: &mut Vec<u8>) {
    bytes.truncate(bytes.len().saturating_sub(CHECKSUM_LEN));
    seal(bytes);
}

fn manifest_decode_is_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(manifest) = Manifest::decode(bytes) {
        prop_assert_eq!(manifest.encode(), bytes);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn packets_round_trip(spec in spec(), session in any::<u64>(), key in key()) {
        let packet = spec.packet();
        let mut bytes = Vec::new();
        packet.encode(session, key.as_ref(), &mut bytes);
        prop_assert_eq!(Packet::decode(&bytes, key.as_ref()), Ok((session, packet.clone())));
        // A receiver without the key still reads a tagged packet.
        prop_assert_eq!(Packet::decode(&bytes, None), Ok((session, packet)));
    }

    #[test]
    fn packet_decode_survives_arbitrary_bytes(bytes in vec(any::<u8>(), 0..2048), key in any::<[u8; 32]>()) {
        decode_is_canonical(&bytes, &SessionKey::new(key))?;
    }

    #[test]
    fn packet_decode_survives_plausible_headers(
        kind in 0..9u8,
        flags in prop_oneof![Just(0u8), Just(1u8), any::<u8>()],
        reserved in prop_oneof![Just(0u8), any::<u8>()],
        body in vec(any::<u8>(), 0..256),
        key in any::<[u8; 32]>(),
    ) {
        // Arbitrary bytes rarely get past the version byte; these always do.
        let mut bytes = vec![PROTOCOL_VERSION, kind, flags, reserved];
        bytes.extend_from_slice(&7u64.to_be_bytes());
        bytes.extend_from_slice(&body);
        decode_is_canonical(&bytes, &SessionKey::new(key))?;
    }

    #[test]
    fn packet_decode_survives_damaged_packets(
        spec in spec(),
        session in any::<u64>(),
        key in key(),
        damage in mutations(),
    ) {
        let mut bytes = Vec::new();
        spec.packet().encode(session, key.as_ref(), &mut bytes);
        let changed = mutate(&mut bytes, &damage);
        let check_key = key.clone().unwrap_or_else(|| SessionKey::new([0x5a; 32]));
        decode_is_canonical(&bytes, &check_key)?;
        if changed && let Some(key) = &key {
            prop_assert!(Packet::decode(&bytes, Some(key)).is_err(), "a damaged tagged packet passed its tag");
        }
    }

    #[test]
    fn manifests_round_trip(manifest in manifest()) {
        let bytes = manifest.encode();
        prop_assert_eq!(Manifest::decode(&bytes).unwrap(), manifest);
    }

    #[test]
    fn manifest_decode_survives_arbitrary_bytes(bytes in vec(any::<u8>(), 0..4096), sealed in any::<bool>()) {
        let mut bytes = bytes;
        if sealed {
            bytes.splice(0..0, *b"FTNM\0\x01");
            seal(&mut bytes);
        }
        manifest_decode_is_canonical(&bytes)?;
    }

    #[test]
    fn manifest_decode_survives_damaged_manifests(manifest in manifest(), damage in mutations(), sealed in any::<bool>()) {
        let mut bytes = manifest.encode();
        let changed = mutate(&mut bytes, &damage);
        if sealed {
            reseal(&mut bytes);
        } else if changed {
            prop_assert!(Manifest::decode(&bytes).is_err(), "a damaged manifest passed its checksum");
        }
        manifest_decode_is_canonical(&bytes)?;
    }
}

proptest! {
    #[test]
    fn tickets_round_trip(
        manifest in manifest(),
        session_id in any::<u64>(),
        ip in any::<[u8; 4]>(),
        port in any::<u16>(),
        key in key(),
    ) {
        let ticket = SessionTicket { session_id, group: SocketAddrV4::new(Ipv4Addr::from(ip), port), key, manifest };
        prop_assert_eq!(SessionTicket::decode(&ticket.encode()).unwrap(), ticket);
    }

    #[test]
    fn ticket_decode_survives_arbitrary_bytes(header in vec(any::<u8>(), 0..64), manifest in manifest(), damage in mutations()) {
        // A plausible ticket header in front of a real manifest, then damaged anywhere.
        let mut bytes = b"FTNT\0\x01".to_vec();
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&manifest.encode());
        mutate(&mut bytes, &damage);
        if let Ok(ticket) = SessionTicket::decode(&bytes) {
            prop_assert_eq!(ticket.encode(), bytes);
        }
    }
}

#[test]
fn a_tag_with_no_room_for_a_header_is_truncated() {
    let mut bytes = Vec::new();
    Packet::End.encode(1, Some(&SessionKey::new([3; 32])), &mut bytes);
    assert_eq!(bytes.len(), HEADER_LEN + TAG_LEN);
    assert_eq!(Packet::decode(&bytes[..HEADER_LEN + TAG_LEN - 1], None), Err(WireError::Truncated));
}

#[test]
fn a_manifest_claiming_four_billion_blocks_is_rejected_without_allocating() {
    // A correctly sealed header whose layout really has 2^32 - 1 blocks of one 16-byte symbol,
    // followed by no hashes at all.
    let blocks = u32::MAX;
    let mut bytes = b"FTNM\0\x01\0\0".to_vec();
    bytes.extend_from_slice(&(u64::from(blocks) * 16).to_be_bytes());
    bytes.extend_from_slice(&16u16.to_be_bytes());
    bytes.extend_from_slice(&[0, 0]);
    bytes.extend_from_slice(&1u32.to_be_bytes());
    bytes.extend_from_slice(&blocks.to_be_bytes());
    bytes.extend_from_slice(&[0; 32]);
    seal(&mut bytes);
    assert!(matches!(Manifest::decode(&bytes), Err(ManifestError::Wire(WireError::Truncated))));
}
