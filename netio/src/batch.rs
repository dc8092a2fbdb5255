//! Batched UDP I/O: many datagrams per system call.
//!
//! Sending uses UDP GSO (one `sendmsg` carries up to 64 equal-sized datagrams, segmented by the
//! kernel) where the kernel offers it and falls back to one datagram per call where it does not;
//! receiving uses `recvmmsg` with GRO. Both come from quinn-udp, which probes the capabilities
//! once and downgrades on EIO/EINVAL.

use quinn_udp::{RecvMeta, UdpSocketState};
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};

/// Most datagrams one GSO send carries (the kernel allows 64).
pub const MAX_SEND_BATCH: usize = 64;
/// Most bytes one GSO send may carry: a UDP datagram's 16-bit length bounds the whole batch.
const MAX_GSO_BYTES: usize = 65_000;
/// Bytes of one receive buffer: a whole GRO super-datagram.
const RECV_BUFFER_BYTES: usize = 64 * 1024;

/// Collects equal-sized datagrams for one destination and sends them in as few calls as the
/// kernel allows.
pub struct BatchSender {
    state: UdpSocketState,
    max_segments: usize,
    buf: Vec<u8>,
    segment: usize,
    count: usize,
    destination: Option<SocketAddr>,
}

impl BatchSender {
    /// A batcher for `socket`; `gso` false forces one datagram per call.
    pub fn new(socket: &UdpSocket, gso: bool) -> io::Result<Self> {
        let state = UdpSocketState::new(socket.into())?;
        let max_segments = if gso { state.max_gso_segments().clamp(1, MAX_SEND_BATCH) } else { 1 };
        Ok(Self { state, max_segments, buf: Vec::with_capacity(MAX_SEND_BATCH * 9000), segment: 0, count: 0, destination: None })
    }

    /// Datagrams one send call may carry here.
    pub fn max_segments(&self) -> usize {
        self.max_segments
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

    /// Sends whatever is batched. A full socket buffer is waited out briefly; past that (and on
    /// ENOBUFS from a full qdisc) the batch is dropped like lost packets, which the protocol
    /// repairs. If the kernel refuses GSO, batching is switched off and the batch resent one
    /// datagram at a time.
    pub fn flush(&mut self, socket: &UdpSocket) -> io::Result<()> {
        let Some(destination) = self.destination.filter(|_| self.count > 0) else { return Ok(()) };
        let segment = self.segment;
        let result = match self.send(socket, destination, &self.buf, (self.count > 1).then_some(segment)) {
            Err(e) if self.count > 1 && matches!(e.raw_os_error(), Some(libc::EIO) | Some(libc::EINVAL)) => {
                self.max_segments = 1;
                self.buf.chunks(segment).try_for_each(|datagram| self.send(socket, destination, datagram, None))
            }
            other => other,
        };
        self.buf.clear();
        self.count = 0;
        result
    }

    fn send(&self, socket: &UdpSocket, destination: SocketAddr, contents: &[u8], segment_size: Option<usize>) -> io::Result<()> {
        let transmit = quinn_udp::Transmit { destination, ecn: None, contents, segment_size, src_ip: None };
        for _ in 0..SEND_RETRIES {
            match self.state.try_send(socket.into(), &transmit) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) || e.kind() == io::ErrorKind::ConnectionRefused => return Ok(()),
                other => return other,
            }
        }
        Ok(())
    }
}

/// Tries to send a batch into a full socket buffer before dropping it.
const SEND_RETRIES: u32 = 10_000;

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
    /// datagram to `handle`; returns how many there were. `WouldBlock` means nothing was queued.
    pub fn recv(&mut self, socket: &UdpSocket, mut handle: impl FnMut(SocketAddr, &[u8])) -> io::Result<usize> {
        let mut slices: Vec<IoSliceMut<'_>> = self.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let messages = self.state.recv(socket.into(), &mut slices, &mut self.meta)?;
        let mut datagrams = 0;
        for (meta, buf) in self.meta.iter().zip(&self.bufs).take(messages) {
            let stride = meta.stride.max(1);
            for datagram in buf[..meta.len].chunks(stride) {
                handle(meta.addr, datagram);
                datagrams += 1;
            }
        }
        Ok(datagrams)
    }
}
