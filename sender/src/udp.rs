//! Runs a [`SenderSession`] over a real UDP socket, with the wall clock.

use crate::session::{Event, SenderSession, Transmit};
use crate::source::{BlockSource, SourceError};
use fec::wire::Packet;
use std::io;
use std::net::UdpSocket;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Waits shorter than this sleep with nanosecond resolution instead of polling the socket, whose
/// timeout has millisecond resolution. The pacer's bucket absorbs the sleep's overshoot.
const SLEEP_BELOW: Duration = Duration::from_millis(2);
/// Largest datagram we accept.
const MAX_DATAGRAM: usize = 65_536;

/// Why sending stopped.
#[derive(Debug, Error)]
pub enum SendError {
    /// The socket failed.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    /// A block could not be read or no longer matches the manifest.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The deadline passed before every receiver finished.
    #[error("timed out with {done} of {joined} receivers done")]
    TimedOut {
        /// Receivers that finished.
        done: usize,
        /// Receivers registered.
        joined: usize,
    },
}

/// Drives `session` until it finishes or `deadline` passes; calls `on_event` for each event.
pub fn run(
    session: &mut SenderSession,
    socket: &UdpSocket,
    source: &mut BlockSource,
    deadline: Option<Instant>,
    mut on_event: impl FnMut(&SenderSession, &Event),
) -> Result<(), SendError> {
    let session_id = session.config().session_id;
    let key = session.config().key.clone();
    let group = session.config().group;
    let mut packet = Vec::with_capacity(MAX_DATAGRAM);
    let mut recv_buf = vec![0u8; MAX_DATAGRAM];
    socket.set_nonblocking(true)?;
    loop {
        let now = Instant::now();
        while let Some(transmit) = session.poll_transmit(now) {
            match transmit {
                Transmit::Symbol { block, esi } => {
                    let payload = source.symbol(block, esi)?;
                    packet.clear();
                    Packet::Data { block, esi, payload: &payload }.encode(session_id, key.as_ref(), &mut packet);
                    send(socket, &packet, group)?;
                }
                Transmit::Control { destination, packet } => send(socket, &packet, destination)?,
            }
        }
        while let Some(event) = session.poll_event() {
            on_event(session, &event);
        }
        if session.is_finished() {
            return Ok(());
        }
        if deadline.is_some_and(|d| now >= d) {
            let done = session.receivers().filter(|(_, r)| r.done).count();
            return Err(SendError::TimedOut { done, joined: session.receivers().count() });
        }
        // Feedback first, then sleep until the next timer (or the next datagram).
        loop {
            match socket.recv_from(&mut recv_buf) {
                Ok((len, from)) => session.handle_datagram(Instant::now(), from, &recv_buf[..len]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let now = Instant::now();
        let wake = session.poll_timeout(now).into_iter().chain(deadline).min();
        let wait = wake.map(|w| w.saturating_duration_since(now));
        match wait {
            Some(w) if w < SLEEP_BELOW => std::thread::sleep(w),
            _ => {
                netio::wait_readable([socket], wait)?;
            }
        }
        session.handle_timeout(Instant::now());
    }
}

/// Tries to send a datagram before giving up on a full socket buffer.
const SEND_RETRIES: u32 = 10_000;

/// Sends one datagram. A full socket buffer is retried a while; past that (and on ENOBUFS from a
/// full qdisc) the datagram is dropped like a lost packet, since the protocol repairs loss anyway
/// and blocking would stall feedback.
fn send(socket: &UdpSocket, packet: &[u8], to: std::net::SocketAddr) -> io::Result<()> {
    for _ in 0..SEND_RETRIES {
        match socket.send_to(packet, to) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) || e.kind() == io::ErrorKind::ConnectionRefused => {
                return Ok(());
            }
            other => return other.map(drop),
        }
    }
    Ok(())
}
