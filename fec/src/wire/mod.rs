//! The symbol packet format and the feedback messages, and the manifest's byte reader.
//!
//! Every packet starts with the same 12-byte header: `version u8, kind u8, flags u8, reserved u8,
//! session id u64` (big-endian). A packet may carry a 16-byte keyed-blake3 tag at its end (flag
//! `TAGGED`) so forged packets are dropped before they reach a decoder.

mod loss;
mod packet;
mod reader;
mod tag;

pub use loss::{LOSS_SIGNIFICANCE, loss_spread};
pub use packet::{DATA_HEADER_LEN, Delivery, HEADER_LEN, IPV4_UDP_HEADER_LEN, Kind, MAX_HAVE_BYTES, MAX_NEEDS_PER_STATUS, MAX_PEERS_PER_PACKET, Need, Packet, PROTOCOL_VERSION, PeerAddr, symbol_size_for_mtu};
pub use reader::{Reader, Writer};
pub use tag::{SessionKey, TAG_LEN};

use thiserror::Error;

/// Why a datagram was rejected.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// Shorter than its fields say.
    #[error("packet truncated")]
    Truncated,
    /// Bytes left over after the last field.
    #[error("{0} trailing bytes")]
    Trailing(usize),
    /// A protocol version we do not speak.
    #[error("unsupported protocol version {0}")]
    Version(u8),
    /// An unknown packet kind.
    #[error("unknown packet kind {0}")]
    Kind(u8),
    /// Unknown flag bits or a non-zero reserved byte.
    #[error("unknown flags {0:#04x}")]
    Flags(u8),
    /// A field out of its allowed range.
    #[error("field {0} out of range")]
    Range(&'static str),
    /// A packet of another session.
    #[error("packet of another session ({0:#018x})")]
    Session(u64),
    /// The session requires a tag and the packet has none, or the tag is wrong.
    #[error("authentication tag missing or invalid")]
    Tag,
}
