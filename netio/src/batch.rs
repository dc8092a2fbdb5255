//! Batched UDP I/O: many datagrams per system call.
//!
//! Sending uses UDP GSO (one `sendmsg` carries up to 64 equal-sized datagrams, segmented by the
//! kernel) where the kernel offers it and falls back to one datagram per call where it does not;
//! receiving uses `recvmmsg` with GRO. Both come from quinn-udp, which probes the capabilities
//! once and downgrades on EIO/EINVAL.
//!
//! A received datagram comes with when it reached this host (the kernel's receive timestamp,
//! which quinn-udp asks for), not when we read it, up to a scheduler's time slice: a receiver
//! descheduled for a moment reads its socket late, and timed by its reads the path looked slow
//! and queued when the receiver was; but a queue that stands in the socket is the receiver not
//! keeping up, which the sender must see (see [`arrival`]).

use crate::poll::wait_writable;
use quinn_udp::{RecvMeta, UdpSocketState};
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

/// Most datagrams one GSO send carries (the kernel allows 64).
pub const MAX_SEND_BATCH: usize = 64;
/// Most bytes one GSO send may carry: a UDP datagram's 16-bit length bounds the whole batch.
const MAX_GSO_BYTES: usize = 65_000;
/// Bytes of one receive buffer: a whole GRO super-datagram.
const RECV_BUFFER_BYTES: usize = 64 * 1024;
/// The most of a datagram's wait in the socket that is taken off its arrival: about a
/// scheduler's time slice (a reader descheduled by other work on its cores, as in the
/// head-to-head harness, waited 3-18 ms) and the receive loop's longest turn away from its data
/// socket. A longer wait is a standing queue in the socket, and it counts: a receiver whose host
/// cannot take in the session's rate (the VM lab's TCG guests) showed none of it timed by the
/// kernel alone, kept the sender at its ceiling, overflowed its socket and starved its own
/// reports until the sender dropped it.
const MAX_FORGIVEN_WAIT: Duration = Duration::from_millis(25);

/// Collects equal-sized datagrams for one destination and sends them in as few calls as the
/// kernel allows.
pub struct BatchSender {
    state: UdpSocketState,
    max_segments: usize,
    buf: Vec<u8>,
    segment: usize,
    count: usize,
    destination: Option<SocketAddr>,
    /// Datagrams dropped so far (see [`Self::dropped`]).
    dropped: u64,
}

impl BatchSender {
    /// A batcher for `socket`; `gso` false forces one datagram per call.
    pub fn new(socket: &UdpSocket, gso: bool) -> io::Result<Self> {
        let state = UdpSocketState::new(socket.into())?;
        let max_segments = if gso { state.max_gso_segments().clamp(1, MAX_SEND_BATCH) } else { 1 };
        Ok(Self { state, max_segments, buf: Vec::with_capacity(MAX_SEND_BATCH * 9000), segment: 0, count: 0, destination: None, dropped: 0 })
    }

    /// Datagrams one send call may carry here.
    pub fn max_segments(&self) -> usize {
        self.max_segments
    }

    /// Datagrams dropped so far: their batch found the socket buffer full for 200 ms,
    /// or the qdisc full (ENOBUFS), or an earlier datagram's ICMP error pending. The protocol
    /// repairs them like losses; the driver says how many there were.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Appends one datagram built by `write` for `destination`, sending the batch first if it
    /// cannot join it.
    pub fn push(&mut self, socket: &UdpSocket, destination: SocketAddr, write: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let start = self.buf.len();
        write(&mut self.buf);
        let len = self.buf.len() - start;
        let joins = self.count > 0
            && self.destination == Some(destination)
            && len == self.segment
            && self.buf.len() <= MAX_GSO_BYTES;
        if self.count > 0 && !joins {
            let datagram = self.buf.split_off(start);
            self.flush(socket)?;
            self.buf = datagram;
        }
        self.destination = Some(destination);
        self.segment = len;
        self.count += 1;
        if self.count >= self.max_segments {
            self.flush(socket)?;
        }
        Ok(())
    }

    /// Sends whatever is batched. A full socket buffer (the qdisc or the NIC's ring still holds
    /// our earlier datagrams) is waited out until it has room, for `SEND_WAIT` at most; past
    /// that, and on ENOBUFS from a full qdisc, the batch is dropped like lost packets, which the
    /// protocol repairs, and counted ([`Self::dropped`]). If the kernel refuses GSO, batching is
    /// switched off and the batch resent one datagram at a time.
    pub fn flush(&mut self, socket: &UdpSocket) -> io::Result<()> {
        let Some(destination) = self.destination.filter(|_| self.count > 0) else { return Ok(()) };
        let segment = self.segment;
        let count = self.count as u64;
        let dropped = match self.send(socket, destination, &self.buf, (self.count > 1).then_some(segment)) {
            Err(e) if self.count > 1 && matches!(e.raw_os_error(), Some(libc::EIO) | Some(libc::EINVAL)) => {
                self.max_segments = 1;
                self.buf.chunks(segment).try_fold(0, |dropped, datagram| Ok::<_, io::Error>(dropped + u64::from(!self.send(socket, destination, datagram, None)?)))
            }
            // One send carries the whole batch: all of it or none is dropped.
            other => other.map(|sent| if sent { 0 } else { count }),
        };
        self.buf.clear();
        self.count = 0;
        self.dropped += dropped?;
        Ok(())
    }

    /// Sends one datagram or GSO batch; returns whether it was sent (see [`send_waiting`]).
    fn send(&self, socket: &UdpSocket, destination: SocketAddr, contents: &[u8], segment_size: Option<usize>) -> io::Result<bool> {
        let transmit = quinn_udp::Transmit { destination, ecn: None, contents, segment_size, src_ip: None };
        send_waiting(|| self.state.try_send(socket.into(), &transmit), |left| wait_writable(socket, left), SEND_WAIT)
    }
}

/// Longest one send waits for room in a full socket buffer before its batch is dropped: long
/// enough for a qdisc to drain a burst (a 16 MB tbf queue at 300 Mbit/s is 0.43 s, and the
/// socket wakes us once half its buffer is free), short enough that feedback is still read.
const SEND_WAIT: Duration = Duration::from_millis(200);

/// Sends with `try_send`, waiting with `wait` (given the time left) while the socket buffer is
/// full, for `limit` at most. Returns whether it was sent; `false` where it was dropped: the
/// buffer stayed full, the qdisc was full (ENOBUFS), or an earlier datagram's ICMP error
/// (ECONNREFUSED) took its place. Other errors are returned.
fn send_waiting(mut try_send: impl FnMut() -> io::Result<()>, mut wait: impl FnMut(Duration) -> io::Result<bool>, limit: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + limit;
    loop {
        match try_send() {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || !wait(left)? {
                    return Ok(false);
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) || e.kind() == io::ErrorKind::ConnectionRefused => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// Receives many datagrams per call (recvmmsg + GRO).
pub struct BatchReceiver {
    state: UdpSocketState,
    bufs: Vec<Vec<u8>>,
    meta: Vec<RecvMeta>,
}

impl BatchReceiver {
    /// A receiver for `socket`.
    pub fn new(socket: &UdpSocket) -> io::Result<Self> {
        let state = UdpSocketState::new(socket.into())?;
        let batch = quinn_udp::BATCH_SIZE;
        Ok(Self { state, bufs: vec![vec![0; RECV_BUFFER_BYTES]; batch], meta: vec![RecvMeta::default(); batch] })
    }

    /// Receives what is queued (without blocking on a non-blocking socket) and hands each
    /// datagram to `handle`, with when it arrived; returns how many there were. `WouldBlock`
    /// means nothing was queued.
    pub fn recv(&mut self, socket: &UdpSocket, mut handle: impl FnMut(SocketAddr, Instant, &[u8])) -> io::Result<usize> {
        let mut slices: Vec<IoSliceMut<'_>> = self.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let messages = self.state.recv(socket.into(), &mut slices, &mut self.meta)?;
        let now = Instant::now();
        let wall = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let mut datagrams = 0;
        for (meta, buf) in self.meta.iter().zip(&self.bufs).take(messages) {
            let stride = meta.stride.max(1);
            let arrived = arrival(meta.timestamp, now, wall);
            for datagram in buf[..meta.len].chunks(stride) {
                handle(meta.addr, arrived, datagram);
                datagrams += 1;
            }
        }
        Ok(datagrams)
    }
}

/// When a datagram stamped `stamp` by the kernel (wall clock, since the Unix epoch) arrived, on
/// the monotonic clock that reads `now` at wall clock `wall`, forgiving at most
/// [`MAX_FORGIVEN_WAIT`] of its wait; `now` where it has no stamp, or one in the future (the
/// wall clock stepped back since). A step forward is bounded by the same cap.
fn arrival(stamp: Option<Duration>, now: Instant, wall: Duration) -> Instant {
    stamp
        .filter(|stamp| !stamp.is_zero())
        .and_then(|stamp| wall.checked_sub(stamp))
        .and_then(|waited| now.checked_sub(waited.min(MAX_FORGIVEN_WAIT)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn would_block() -> io::Error {
        io::Error::from(io::ErrorKind::WouldBlock)
    }

    #[test]
    fn a_full_buffer_is_waited_out_not_spun_on() {
        let (mut tries, mut waits) = (0, 0);
        let sent = send_waiting(
            || {
                tries += 1;
                if tries <= 3 { Err(would_block()) } else { Ok(()) }
            },
            |left| {
                waits += 1;
                assert!(left > Duration::ZERO && left <= SEND_WAIT);
                Ok(true)
            },
            SEND_WAIT,
        )
        .unwrap();
        assert!(sent);
        assert_eq!((tries, waits), (4, 3), "one wait for room per full buffer, no spinning");
    }

    #[test]
    fn a_buffer_that_stays_full_drops_the_send_once_the_wait_is_over() {
        let mut tries = 0;
        let sent = send_waiting(
            || {
                tries += 1;
                Err(would_block())
            },
            |_| Ok(false),
            SEND_WAIT,
        )
        .unwrap();
        assert!(!sent);
        assert_eq!(tries, 1);
        // Without time left it does not wait at all.
        assert!(!send_waiting(|| Err(would_block()), |_| panic!("no time left to wait"), Duration::ZERO).unwrap());
    }

    #[test]
    fn a_full_qdisc_drops_and_other_errors_are_returned() {
        let enobufs = || Err(io::Error::from_raw_os_error(libc::ENOBUFS));
        assert!(!send_waiting(enobufs, |_| panic!("ENOBUFS is not waited on"), SEND_WAIT).unwrap());
        let eperm = || Err(io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(send_waiting(eperm, |_| Ok(true), SEND_WAIT).unwrap_err().raw_os_error(), Some(libc::EPERM));
    }

    /// A real socket with room sends at once and counts nothing dropped.
    #[test]
    fn batches_to_a_listening_socket_are_not_dropped() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let mut batch = BatchSender::new(&socket, true).unwrap();
        for i in 0..100u8 {
            batch.push(&socket, receiver.local_addr().unwrap(), |buf| buf.extend_from_slice(&[i; 100])).unwrap();
        }
        batch.flush(&socket).unwrap();
        assert_eq!(batch.dropped(), 0);
        assert!(wait_writable(&socket, Duration::from_secs(1)).unwrap());
    }

    #[test]
    fn a_datagram_read_late_is_timed_by_its_arrival() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = BatchReceiver::new(&receiver).unwrap();
        // The kernel turns receive stamping on a moment after the first socket asks (a deferred
        // static key), and stamps what arrives before then as it is read: a few tries.
        let mut waits = Vec::new();
        for _ in 0..5 {
            sender.send_to(&[7; 100], receiver.local_addr().unwrap()).unwrap();
            let sent = Instant::now();
            // The reader is descheduled for a moment: the datagram waits in the socket.
            std::thread::sleep(Duration::from_millis(15));
            let mut arrivals = Vec::new();
            let read = batch.recv(&receiver, |_, arrived, datagram| arrivals.push((arrived, datagram.len()))).unwrap();
            assert_eq!((read, arrivals[0].1), (1, 100));
            waits.push(arrivals[0].0.saturating_duration_since(sent));
            if waits.last() < Some(&Duration::from_millis(7)) {
                return;
            }
        }
        panic!("every datagram was timed when it was read: {waits:?} after its send");
    }

    #[test]
    fn a_short_wait_is_forgiven_and_a_standing_queue_is_not() {
        let now = Instant::now();
        let wall = Duration::from_secs(1_000_000);
        let ms = Duration::from_millis;
        assert_eq!(arrival(Some(wall - ms(10)), now, wall), now - ms(10));
        // Seconds in the socket: the receiver is the bottleneck, and all but a time slice of it
        // shows (as does a step of the wall clock forward).
        assert_eq!(arrival(Some(wall - ms(800)), now, wall), now - MAX_FORGIVEN_WAIT);
        assert_eq!(arrival(None, now, wall), now);
        assert_eq!(arrival(Some(Duration::ZERO), now, wall), now);
        // The wall clock stepped back since the stamp.
        assert_eq!(arrival(Some(wall + ms(5)), now, wall), now);
    }
}
