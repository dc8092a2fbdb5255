//! The receiving side of a fountain transfer.
//!
//! [`ReceiverSession`] is sans-IO: it collects symbols, decides when a block can be decoded,
//! reports what it still needs, and tells the driver when to decode and what to write. Decoding
//! and verification run in [`DecodeJob`]s the driver may move to worker threads; only verified
//! blocks are ever handed out for writing. The [`udp`] driver writes them to a file or block
//! device with a [`Journal`] so a restarted receiver resumes.

pub mod download;
pub mod fetch;
pub mod fetch_mirrors;
pub mod journal;
pub mod peer;
pub mod serve;
pub mod session;
pub mod target;
pub mod udp;

pub use journal::{Journal, JournalError};
pub use peer::{PeerConfig, ServeBudget, ServeRequest};
pub use session::{DecodeFailure, DecodeJob, Event, ReceiverConfig, ReceiverSession, ReceiverStats, Transmit};
pub use target::Target;
