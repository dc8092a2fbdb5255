//! Packet kinds, their encoding and their validating parser.

use super::{Reader, SessionKey, TAG_LEN, WireError, Writer};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u8 = 4;
/// Bytes of the common header.
pub const HEADER_LEN: usize = 12;
/// Bytes of a data (or seed) packet before its payload: the header, block and ESI.
pub const DATA_HEADER_LEN: usize = HEADER_LEN + 8;
/// Bytes of the IPv4 and UDP headers in front of every datagram.
pub const IPV4_UDP_HEADER_LEN: usize = 28;

/// The largest symbol size whose data packets (tagged or not) fit one IPv4 datagram at `mtu`,
/// so no datagram is fragmented and none carries less than it could: at MTU 1500, 1448 bytes
/// untagged (98.4% of the UDP payload, where a fixed 1408 was 95.7%) and 1432 tagged. `None`
/// when the MTU leaves no room for the smallest symbol.
pub fn symbol_size_for_mtu(mtu: u16, tagged: bool) -> Option<u16> {
    let tag = if tagged { TAG_LEN } else { 0 };
    let room = usize::from(mtu).checked_sub(IPV4_UDP_HEADER_LEN + DATA_HEADER_LEN + tag)?;
    let aligned = room - room % usize::from(crate::layout::SYMBOL_ALIGNMENT);
    let size = u16::try_from(aligned.min(usize::from(crate::layout::MAX_SYMBOL_SIZE))).ok()?;
    (size >= crate::layout::MIN_SYMBOL_SIZE).then_some(size)
}
/// Most needs one status packet may carry, so it fits a 1500-byte MTU.
pub const MAX_NEEDS_PER_STATUS: usize = 100;
/// Most peer addresses one [`Packet::Peers`] may carry (64 IPv6 entries fit a 1500-byte MTU).
pub const MAX_PEERS_PER_PACKET: usize = 64;
/// Most bitmap bytes one [`Packet::Have`] may carry: 8,192 blocks, 11.5 GB at K=1024, T=1408.
pub const MAX_HAVE_BYTES: usize = 1024;
/// Flag bit: a tag follows the body.
const FLAG_TAGGED: u8 = 0x01;

/// The kind byte of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Sender → group: one symbol.
    Data = 1,
    /// Sender → group: how far the first pass has got.
    Progress = 2,
    /// Receiver → sender: register for the session.
    Join = 3,
    /// Receiver → sender: what it still needs.
    Status = 4,
    /// Receiver → sender: the object is complete and verified.
    Done = 5,
    /// Sender → receiver: a join or done was recorded.
    Ack = 6,
    /// Sender → group: the session is over.
    End = 7,
    /// Sender → receiver: the multicast no longer waits for you; finish from peers.
    Handoff = 8,
    /// Sender → receiver: addresses of other members, so peers can find each other.
    Peers = 9,
    /// Peer → peer: which blocks the sender holds.
    Have = 10,
    /// Peer → peer: a request for fresh symbols of one block.
    Ask = 11,
    /// Sender → one member, without multicast: a symbol that member forwards to every other.
    Seed = 12,
}

impl Kind {
    fn from_u8(v: u8) -> Result<Self, WireError> {
        Ok(match v {
            1 => Self::Data,
            2 => Self::Progress,
            3 => Self::Join,
            4 => Self::Status,
            5 => Self::Done,
            6 => Self::Ack,
            7 => Self::End,
            8 => Self::Handoff,
            9 => Self::Peers,
            10 => Self::Have,
            11 => Self::Ask,
            12 => Self::Seed,
            other => return Err(WireError::Kind(other)),
        })
    }
}

/// A receiver's need for one block: `need` more symbols, having seen ESIs below `seen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// The block.
    pub block: u32,
    /// How many more distinct symbols it needs.
    pub need: u32,
    /// One past the highest ESI it has received (0 if none), so the sender can tell whether
    /// the report was written before or after its last repair burst arrived.
    pub seen: u32,
}

const NEED_LEN: usize = 12;

/// What reached one receiver from the sender over a span of its progress packets: the sender's
/// adaptive rate control reads the path's bottleneck from it (see `sender::rate`). All zero:
/// no span measured yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Data symbols from the sender that reached the receiver over the span.
    pub symbols: u32,
    /// Of those, the symbols it dropped at its full window of blocks: delivered by the path,
    /// lost to the receiver.
    pub window_drops: u32,
    /// Data symbols the sender sent over the span: the difference of the two progress marks.
    pub marks: u32,
    /// The receiver's own time between the two progress packets, µs: the symbols arrived at
    /// `symbols / span_us`, the path's bottleneck rate while a queue stands before it.
    pub span_us: u32,
    /// How much later than the fastest one seen the latest progress packet arrived, µs, by the
    /// sender's timestamps: the queue standing on the path (or in the receiver's socket).
    pub queue_us: u32,
}


/// A session member another receiver may ask for symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr {
    /// The member's index in the session (it picks the member's repair ESI range).
    pub index: u32,
    /// Where it takes peer requests. IPv6 flow info and scope are not carried.
    pub addr: SocketAddr,
}

/// One parsed packet. Data payloads borrow from the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// One encoding symbol of a block.
    Data {
        /// The block (ours, 32-bit).
        block: u32,
        /// RaptorQ encoding symbol id.
        esi: u32,
        /// The symbol.
        payload: &'a [u8],
    },
    /// The sender has finished its first pass over blocks `< closed`.
    Progress {
        /// Blocks whose first pass is complete.
        closed: u32,
        /// Data symbols the sender had sent when this left. A receiver echoes the latest it has
        /// heard in its status: everything sent before that mark had arrived or was lost, so the
        /// sender can tell a fresh need from one written while repair was still queued.
        sent: u64,
        /// The sender's clock when this left, µs since its session began: receivers measure
        /// the one-way delay's growth (a queue on the path) from it.
        stamp_us: u64,
    },
    /// A receiver registers.
    Join {
        /// The receiver's id.
        receiver: u64,
    },
    /// A receiver's needs.
    Status {
        /// The receiver's id.
        receiver: u64,
        /// Blocks it has verified and stored.
        done_blocks: u32,
        /// The latest [`Packet::Progress`] mark (`sent`) it had taken in when it wrote this.
        heard: u64,
        /// How full its window of blocks in flight is, percent: above half, it is not keeping up
        /// (decoding or the disk lags the link) and the sender's adaptive rate backs off before
        /// the window overflows into loss.
        backlog_pct: u8,
        /// What reached it since its last report.
        delivery: Delivery,
        /// Per-block needs, lowest blocks first.
        needs: Vec<Need>,
    },
    /// A receiver holds the whole object, verified against this root hash.
    Done {
        /// The receiver's id.
        receiver: u64,
        /// The root hash it verified.
        root: [u8; 32],
    },
    /// The sender recorded a receiver's join (or its done, when `done`).
    Ack {
        /// The receiver's id.
        receiver: u64,
        /// Whether this acknowledges completion rather than joining.
        done: bool,
        /// The receiver's index among the session's members, which gives it its own range of
        /// repair ESIs to serve peers from.
        index: u32,
    },
    /// The session is over.
    End,
    /// The multicast stops waiting for this receiver (it fell too far behind); it completes
    /// from peers.
    Handoff {
        /// The receiver's id.
        receiver: u64,
    },
    /// Some members of the session (at most [`MAX_PEERS_PER_PACKET`]).
    Peers {
        /// Their indices and addresses.
        peers: Vec<PeerAddr>,
    },
    /// The blocks a member holds, verified: bit `i` (most significant bit first) of `bits` is
    /// block `first + i`.
    Have {
        /// The sending member's index.
        node: u32,
        /// The block of the first bit.
        first: u32,
        /// At most [`MAX_HAVE_BYTES`] bytes of bitmap.
        bits: &'a [u8],
    },
    /// A member asks a peer for `need` fresh symbols of `block`, sent at `rate_kbps`.
    Ask {
        /// The asking member's index.
        node: u32,
        /// The block.
        block: u32,
        /// How many symbols.
        need: u32,
        /// The rate to send them at, in kbit/s of payload, when the asker knows what its link
        /// takes in from one peer; 0 for the peer's own serving rate. A peer never sends faster
        /// than its own rate.
        rate_kbps: u32,
    },
    /// One encoding symbol of a block, sent (without multicast) to one member only, which
    /// forwards this very datagram to every other member: the sender's link carries the object
    /// once and the members' links carry the rest, each symbol in flight a few microseconds.
    Seed {
        /// The block.
        block: u32,
        /// RaptorQ encoding symbol id.
        esi: u32,
        /// The symbol.
        payload: &'a [u8],
    },
}

impl Packet<'_> {
    /// The packet's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Data { .. } => Kind::Data,
            Self::Progress { .. } => Kind::Progress,
            Self::Join { .. } => Kind::Join,
            Self::Status { .. } => Kind::Status,
            Self::Done { .. } => Kind::Done,
            Self::Ack { .. } => Kind::Ack,
            Self::End => Kind::End,
            Self::Handoff { .. } => Kind::Handoff,
            Self::Peers { .. } => Kind::Peers,
            Self::Have { .. } => Kind::Have,
            Self::Ask { .. } => Kind::Ask,
            Self::Seed { .. } => Kind::Seed,
        }
    }

    /// Appends the encoded packet for `session` to `buf`, tagged when `key` is given.
    ///
    /// A status with more than [`MAX_NEEDS_PER_STATUS`] needs is a caller bug (no receiver would
    /// accept it); debug builds panic on it.
    pub fn encode(&self, session: u64, key: Option<&SessionKey>, buf: &mut Vec<u8>) {
        let start = buf.len();
        let flags = if key.is_some() { FLAG_TAGGED } else { 0 };
        let mut w = Writer::new(buf);
        w.u8(PROTOCOL_VERSION).u8(self.kind() as u8).u8(flags).u8(0).u64(session);
        match self {
            Self::Data { block, esi, payload } | Self::Seed { block, esi, payload } => {
                w.u32(*block).u32(*esi).bytes(payload);
            }
            Self::Progress { closed, sent, stamp_us } => {
                w.u32(*closed).u64(*sent).u64(*stamp_us);
            }
            Self::Join { receiver } => {
                w.u64(*receiver);
            }
            Self::Status { receiver, done_blocks, heard, backlog_pct, delivery, needs } => {
                debug_assert!(needs.len() <= MAX_NEEDS_PER_STATUS, "{} needs in one status packet", needs.len());
                w.u64(*receiver).u32(*done_blocks).u64(*heard).u8(*backlog_pct);
                w.u32(delivery.symbols).u32(delivery.window_drops).u32(delivery.marks).u32(delivery.span_us).u32(delivery.queue_us);
                w.u16(needs.len() as u16);
                for n in needs {
                    w.u32(n.block).u32(n.need).u32(n.seen);
                }
            }
            Self::Done { receiver, root } => {
                w.u64(*receiver).bytes(root);
            }
            Self::Ack { receiver, done, index } => {
                w.u64(*receiver).u8(u8::from(*done)).u32(*index);
            }
            Self::End => {}
            Self::Handoff { receiver } => {
                w.u64(*receiver);
            }
            Self::Peers { peers } => {
                debug_assert!(peers.len() <= MAX_PEERS_PER_PACKET, "{} peers in one packet", peers.len());
                w.u16(peers.len() as u16);
                for peer in peers {
                    w.u32(peer.index);
                    match peer.addr.ip() {
                        IpAddr::V4(ip) => w.u8(4).bytes(&ip.octets()),
                        IpAddr::V6(ip) => w.u8(6).bytes(&ip.octets()),
                    };
                    w.u16(peer.addr.port());
                }
            }
            Self::Have { node, first, bits } => {
                debug_assert!(bits.len() <= MAX_HAVE_BYTES, "{} bitmap bytes in one packet", bits.len());
                w.u32(*node).u32(*first).bytes(bits);
            }
            Self::Ask { node, block, need, rate_kbps } => {
                w.u32(*node).u32(*block).u32(*need).u32(*rate_kbps);
            }
        }
        if let Some(key) = key {
            let tag = key.tag(&buf[start..]);
            buf.extend_from_slice(&tag);
        }
    }
}

impl<'a> Packet<'a> {
    /// Parses a datagram of session `session` (see [`Packet::decode`]); another session's
    /// packet is an error like a malformed one.
    pub fn decode_for(bytes: &'a [u8], key: Option<&SessionKey>, session: u64) -> Result<Self, WireError> {
        match Self::decode(bytes, key)? {
            (id, packet) if id == session => Ok(packet),
            (id, _) => Err(WireError::Session(id)),
        }
    }

    /// Parses a datagram into its session id and packet. With a `key`, only correctly tagged
    /// packets pass; without one, a tag is stripped unchecked.
    pub fn decode(bytes: &'a [u8], key: Option<&SessionKey>) -> Result<(u64, Self), WireError> {
        let mut header = Reader::new(bytes);
        let version = header.u8()?;
        if version != PROTOCOL_VERSION {
            return Err(WireError::Version(version));
        }
        let kind = Kind::from_u8(header.u8()?)?;
        let flags = header.u8()?;
        let reserved = header.u8()?;
        if flags & !FLAG_TAGGED != 0 || reserved != 0 {
            return Err(WireError::Flags(flags));
        }
        let session = header.u64()?;
        let tagged = flags & FLAG_TAGGED != 0;
        let body = if tagged {
            let body_end = bytes.len().checked_sub(TAG_LEN).filter(|&end| end >= HEADER_LEN).ok_or(WireError::Truncated)?;
            if let Some(key) = key
                && !key.verify(&bytes[..body_end], &bytes[body_end..])
            {
                return Err(WireError::Tag);
            }
            &bytes[HEADER_LEN..body_end]
        } else if key.is_some() {
            return Err(WireError::Tag);
        } else {
            header.rest()
        };
        let mut r = Reader::new(body);
        let packet = match kind {
            Kind::Data => Self::Data { block: r.u32()?, esi: r.u32()?, payload: r.take_rest() },
            Kind::Seed => Self::Seed { block: r.u32()?, esi: r.u32()?, payload: r.take_rest() },
            Kind::Progress => Self::Progress { closed: r.u32()?, sent: r.u64()?, stamp_us: r.u64()? },
            Kind::Join => Self::Join { receiver: r.u64()? },
            Kind::Status => {
                let receiver = r.u64()?;
                let done_blocks = r.u32()?;
                let heard = r.u64()?;
                let backlog_pct = r.u8()?;
                if backlog_pct > 100 {
                    return Err(WireError::Range("backlog"));
                }
                let delivery = Delivery { symbols: r.u32()?, window_drops: r.u32()?, marks: r.u32()?, span_us: r.u32()?, queue_us: r.u32()? };
                let count = usize::from(r.u16()?);
                if count > MAX_NEEDS_PER_STATUS || r.rest().len() != count * NEED_LEN {
                    return Err(WireError::Range("needs"));
                }
                let needs = (0..count)
                    .map(|_| Ok(Need { block: r.u32()?, need: r.u32()?, seen: r.u32()? }))
                    .collect::<Result<_, WireError>>()?;
                Self::Status { receiver, done_blocks, heard, backlog_pct, delivery, needs }
            }
            Kind::Done => Self::Done { receiver: r.u64()?, root: r.array()? },
            Kind::Ack => {
                let receiver = r.u64()?;
                let done = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(WireError::Range("ack")),
                };
                Self::Ack { receiver, done, index: r.u32()? }
            }
            Kind::End => Self::End,
            Kind::Handoff => Self::Handoff { receiver: r.u64()? },
            Kind::Peers => {
                let count = usize::from(r.u16()?);
                if count > MAX_PEERS_PER_PACKET {
                    return Err(WireError::Range("peers"));
                }
                let peers = (0..count)
                    .map(|_| {
                        let index = r.u32()?;
                        let ip = match r.u8()? {
                            4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>()?)),
                            6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>()?)),
                            _ => return Err(WireError::Range("address family")),
                        };
                        Ok(PeerAddr { index, addr: SocketAddr::new(ip, r.u16()?) })
                    })
                    .collect::<Result<_, WireError>>()?;
                Self::Peers { peers }
            }
            Kind::Have => {
                let (node, first, bits) = (r.u32()?, r.u32()?, r.take_rest());
                if bits.len() > MAX_HAVE_BYTES {
                    return Err(WireError::Range("have bitmap"));
                }
                Self::Have { node, first, bits }
            }
            Kind::Ask => Self::Ask { node: r.u32()?, block: r.u32()?, need: r.u32()?, rate_kbps: r.u32()? },
        };
        r.expect_empty()?;
        Ok((session, packet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(packet: Packet<'_>, key: Option<&SessionKey>) {
        let mut buf = Vec::new();
        packet.encode(42, key, &mut buf);
        let (session, parsed) = Packet::decode(&buf, key).unwrap();
        assert_eq!(session, 42);
        assert_eq!(parsed, packet);
    }

    #[test]
    fn every_kind_round_trips() {
        let key = SessionKey::new([7; 32]);
        let payload = [9u8; 64];
        let packets = [
            Packet::Data { block: 3, esi: 1025, payload: &payload },
            Packet::Seed { block: 4, esi: 7, payload: &payload },
            Packet::Progress { closed: 17, sent: 1 << 40, stamp_us: 123_456 },
            Packet::Join { receiver: u64::MAX },
            Packet::Status {
                receiver: 5,
                done_blocks: 2,
                heard: 99,
                backlog_pct: 40,
                delivery: Delivery { symbols: 700, window_drops: 3, marks: 720, span_us: 10_000, queue_us: 250 },
                needs: vec![Need { block: 1, need: 30, seen: 1100 }],
            },
            Packet::Done { receiver: 5, root: [3; 32] },
            Packet::Ack { receiver: 5, done: true, index: 9 },
            Packet::End,
            Packet::Handoff { receiver: 5 },
            Packet::Peers {
                peers: vec![
                    PeerAddr { index: 1, addr: "10.0.0.2:6000".parse().unwrap() },
                    PeerAddr { index: 70_000, addr: "[fd00::7]:6001".parse().unwrap() },
                ],
            },
            Packet::Have { node: 4, first: 8, bits: &[0xf0, 0x01] },
            Packet::Ask { node: 4, block: 12, need: 40, rate_kbps: 9_600 },
        ];
        for packet in packets {
            round_trip(packet.clone(), None);
            round_trip(packet, Some(&key));
        }
    }

    #[test]
    fn symbols_sized_for_the_mtu_fill_the_datagram_without_fragmenting() {
        let mut buf = Vec::new();
        for (mtu, tagged) in [(1500, false), (1500, true), (9000, false), (576, true)] {
            let size = usize::from(symbol_size_for_mtu(mtu, tagged).unwrap());
            buf.clear();
            let key = tagged.then(|| SessionKey::new([1; 32]));
            let payload = vec![0u8; size];
            Packet::Data { block: 1, esi: 2, payload: &payload }.encode(7, key.as_ref(), &mut buf);
            let datagram = IPV4_UDP_HEADER_LEN + buf.len();
            assert!(datagram <= usize::from(mtu), "{datagram} bytes at MTU {mtu}");
            assert!(datagram + usize::from(crate::layout::SYMBOL_ALIGNMENT) > usize::from(mtu), "{datagram} bytes wastes room at MTU {mtu}");
        }
        assert_eq!(symbol_size_for_mtu(1500, false), Some(1448));
        assert_eq!(symbol_size_for_mtu(1500, true), Some(1432));
        assert_eq!(symbol_size_for_mtu(60, false), None);
    }

    #[test]
    fn rejects_bad_headers() {
        let mut buf = Vec::new();
        Packet::Progress { closed: 1, sent: 0, stamp_us: 0 }.encode(1, None, &mut buf);
        let mut wrong_version = buf.clone();
        wrong_version[0] = 9;
        assert_eq!(Packet::decode(&wrong_version, None), Err(WireError::Version(9)));
        let mut wrong_kind = buf.clone();
        wrong_kind[1] = 99;
        assert_eq!(Packet::decode(&wrong_kind, None), Err(WireError::Kind(99)));
        let mut wrong_flags = buf.clone();
        wrong_flags[2] = 0x80;
        assert_eq!(Packet::decode(&wrong_flags, None), Err(WireError::Flags(0x80)));
        assert_eq!(Packet::decode(&buf[..buf.len() - 1], None), Err(WireError::Truncated));
        let mut long = buf.clone();
        long.push(0);
        assert_eq!(Packet::decode(&long, None), Err(WireError::Trailing(1)));
    }

    #[test]
    fn tags_are_enforced() {
        let key = SessionKey::new([1; 32]);
        let other = SessionKey::new([2; 32]);
        let mut untagged = Vec::new();
        Packet::Data { block: 0, esi: 0, payload: &[1; 16] }.encode(1, None, &mut untagged);
        assert_eq!(Packet::decode(&untagged, Some(&key)), Err(WireError::Tag));
        let mut forged = Vec::new();
        Packet::Data { block: 0, esi: 0, payload: &[1; 16] }.encode(1, Some(&other), &mut forged);
        assert_eq!(Packet::decode(&forged, Some(&key)), Err(WireError::Tag));
        let mut tagged = Vec::new();
        Packet::Data { block: 0, esi: 0, payload: &[1; 16] }.encode(1, Some(&key), &mut tagged);
        let last = tagged.len() - 20;
        tagged[last] ^= 1;
        assert_eq!(Packet::decode(&tagged, Some(&key)), Err(WireError::Tag));
    }
}
