//! Serving peers over UDP: mints the symbols a [`ServeRequest`] asks for from the verified
//! block on the target and sends them, paced, on a thread of its own, so neither the encode
//! (milliseconds per block) nor the pacing ever holds up the receive loop.

use crate::peer::ServeRequest;
use crate::target::Target;
use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use fec::wire::{Packet, SessionKey};
use fec::{BlockEncoder, ObjectLayout};
use std::io;
use std::net::UdpSocket;
use std::thread::Scope;
use std::time::{Duration, Instant};

/// Requests queued for the serving thread. The session's budget already bounds them; past
/// this a request is dropped and the peer asks someone else.
const QUEUED_REQUESTS: usize = 64;
/// Pacing slack: the thread sleeps only once it is this far ahead of the rate.
const SLACK: Duration = Duration::from_millis(1);

/// Where the session's serve requests go.
pub struct PeerServer {
    requests: Sender<ServeRequest>,
}

/// How the serving thread encodes and paces.
pub struct ServeParams {
    /// The object's layout.
    pub layout: ObjectLayout,
    /// The session, for the packet header.
    pub session_id: u64,
    /// The session's packet key, if any.
    pub key: Option<SessionKey>,
    /// Payload bits per second to send at most.
    pub rate_bps: u64,
}

impl PeerServer {
    /// Starts the serving thread in `scope`, sending from `socket` and reading from `target`.
    pub fn spawn<'scope>(scope: &'scope Scope<'scope, '_>, socket: &'scope UdpSocket, target: &'scope Target, params: ServeParams) -> Self {
        let (requests, queue) = crossbeam_channel::bounded(QUEUED_REQUESTS);
        scope.spawn(move || {
            if let Err(e) = serve(&queue, socket, target, &params) {
                tracing::warn!("peer serving stopped: {e}");
            }
        });
        Self { requests }
    }

    /// Queues `request`; returns false if the queue is full (the request is dropped).
    pub fn submit(&self, request: ServeRequest) -> bool {
        match self.requests.try_send(request) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }
}

fn serve(queue: &Receiver<ServeRequest>, socket: &UdpSocket, target: &Target, params: &ServeParams) -> io::Result<()> {
    let mut block = Vec::new();
    let mut packet = Vec::new();
    let mut next_send = Instant::now();
    let symbol_ns = 8e9 * f64::from(params.layout.symbol_size()) / params.rate_bps.max(1) as f64;
    for request in queue {
        target.read_block(request.block, &mut block)?;
        let encoder = BlockEncoder::new(&params.layout, request.block, Bytes::copy_from_slice(&block));
        for (n, payload) in encoder.symbols(request.first_esi, request.count).into_iter().enumerate() {
            let now = Instant::now();
            next_send = next_send.max(now) + Duration::from_nanos(symbol_ns as u64);
            if next_send > now + SLACK {
                std::thread::sleep(next_send - now - SLACK);
            }
            packet.clear();
            let esi = request.first_esi + n as u32;
            Packet::Data { block: request.block, esi, payload: &payload }.encode(params.session_id, params.key.as_ref(), &mut packet);
            match socket.send_to(&packet, request.to) {
                Ok(_) => {}
                // A peer gone or a full buffer loses symbols like the network would.
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionRefused) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
