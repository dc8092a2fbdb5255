//! Object layout, RaptorQ block codec, manifest and wire format of fountain.
//!
//! Everything here is pure computation: no sockets, no clocks, no threads. Every parser returns a
//! `Result` and never panics, because `raptorq` itself panics on malformed input and nothing
//! unvalidated may reach it.
#![forbid(unsafe_code)]

pub mod codec;
pub mod layout;
pub mod manifest;
pub mod ticket;
pub mod wire;

pub use codec::{BlockDecoder, BlockEncoder, DecodeError, MAX_ESI};
pub use layout::{BlockId, LayoutError, ObjectLayout};
pub use manifest::{Manifest, ManifestError};
pub use ticket::SessionTicket;
