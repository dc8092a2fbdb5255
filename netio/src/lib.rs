//! UDP sockets for fountain's drivers: multicast setup, buffer sizing, readiness.
//!
//! This is the one crate where unsafe code may live (the `poll` wrapper), because the standard
//! library has no way to wait on two sockets at once.

mod batch;
mod poll;
mod socket;
mod stats;

pub use batch::{BatchReceiver, BatchSender, MAX_SEND_BATCH};
pub use poll::wait_readable;
pub use stats::udp_rcvbuf_errors;
pub use socket::{MulticastOptions, bind_feedback, bind_group, bind_sender};
