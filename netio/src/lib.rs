//! UDP sockets for fountain's drivers: multicast setup, buffer sizing, readiness; and the
//! receiver's output write-behind.
//!
//! This is the one crate where unsafe code may live (the `poll`, `sync_file_range`,
//! `posix_fadvise` and `setpriority` wrappers), because the standard library has no way to wait
//! on two sockets at once, to pace a file's writeback or to set one thread's priority.

mod batch;
mod file;
mod link;
mod poll;
mod priority;
mod socket;
mod stats;

pub use batch::{BatchReceiver, BatchSender, MAX_SEND_BATCH};
pub use file::{drop_cached, start_writeback, wait_writeback};
pub use link::{MtuAboveLink, link_speed_bps, sending_mtu};
pub use poll::{wait_readable, wait_writable};
pub use priority::lower_thread_priority;
pub use stats::udp_rcvbuf_errors;
pub use socket::{MulticastOptions, bind_feedback, bind_group, bind_sender, bind_unicast, send_lossy};
