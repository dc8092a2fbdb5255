//! Waiting until sockets are readable or have room to send.
#![allow(unsafe_code)]

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Blocks until one of `sockets` is readable or `timeout` passes (`None`: forever). Returns
/// which are readable.
pub fn wait_readable<const N: usize>(sockets: [&UdpSocket; N], timeout: Option<Duration>) -> io::Result<[bool; N]> {
    wait(sockets, libc::POLLIN, timeout)
}

/// Blocks until `socket` has room to send or `timeout` passes. Returns whether it has room
/// (or an error is pending, which the next send reports).
pub fn wait_writable(socket: &UdpSocket, timeout: Duration) -> io::Result<bool> {
    wait([socket], libc::POLLOUT, Some(timeout)).map(|[ready]| ready)
}

/// `poll` on `sockets` for `event` (or a pending error); an interrupted wait reports none ready.
fn wait<const N: usize>(sockets: [&UdpSocket; N], event: libc::c_short, timeout: Option<Duration>) -> io::Result<[bool; N]> {
    let mut fds = sockets.map(|s| libc::pollfd { fd: s.as_raw_fd(), events: event, revents: 0 });
    let timeout_ms = match timeout {
        None => -1,
        Some(t) => i32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(i32::MAX),
    };
    // SAFETY: `fds` is a valid, initialised array of N pollfd structs that outlives the call,
    // and N fits the nfds_t count.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), N as libc::nfds_t, timeout_ms) };
    if ready < 0 {
        let err = io::Error::last_os_error();
        return if err.kind() == io::ErrorKind::Interrupted { Ok([false; N]) } else { Err(err) };
    }
    Ok(fds.map(|fd| fd.revents & (event | libc::POLLERR) != 0))
}
