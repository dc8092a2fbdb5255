//! The sending side of a fountain transfer.
//!
//! [`SenderSession`] is a sans-IO state machine in the quinn-proto mould: it never touches a
//! socket, a clock or a thread. Time is passed in, datagrams are handed in, and what to send comes
//! out of [`SenderSession::poll_transmit`]. The [`udp`] driver runs it over real sockets; netsim
//! runs the very same type over a simulated network.

pub mod pacing;
pub mod rate;
pub mod session;
pub mod setup;
pub mod source;
pub mod udp;

pub use pacing::Pacer;
pub use session::{Event, SenderConfig, SenderSession, SenderStats, SymbolTo, Transmit};
pub use setup::{PreparedSender, setup, ticket_config};
pub use source::{BlockSource, SourceError};
pub use udp::SendError;
