//! Serving peers over UDP: mints the symbols a [`ServeRequest`] asks for from the verified
//! block on the target and sends them, each run paced at its rate, side by side, on a thread of
//! its own, so neither the encode (milliseconds per block) nor the pacing ever holds up the
//! receive loop.

use crate::peer::ServeRequest;
use crate::target::Target;
use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use fec::wire::{Packet, SessionKey};
use fec::{BlockEncoder, ObjectLayout};
use std::io;
use std::net::UdpSocket;
use std::thread::Scope;
use std::time::{Duration, Instant};

/// Requests queued for the serving thread, and runs it sends at once. The session's budget
/// already bounds them (runs at their askers' lower rates take longer, not more of the link);
/// past this a request is dropped and the peer asks someone else.
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

/// One granted run being sent: its symbols, how many went out, when the next is due and the
/// time between two at its rate.
struct Stream {
    request: ServeRequest,
    symbols: Vec<Bytes>,
    sent: usize,
    next_send: Instant,
    symbol_time: Duration,
}

/// Serves the runs the session's [`crate::peer::ServeBudget`] granted, side by side, each paced
/// at its rate.
fn serve(queue: &Receiver<ServeRequest>, socket: &UdpSocket, target: &Target, params: &ServeParams) -> io::Result<()> {
    let mut block = Vec::new();
    let mut packet = Vec::new();
    let mut streams: Vec<Stream> = Vec::new();
    loop {
        // Take every request queued; wait for one only when nothing is being sent.
        while streams.len() < QUEUED_REQUESTS {
            let request = if streams.is_empty() {
                match queue.recv() {
                    Ok(request) => request,
                    Err(_) => return Ok(()),
                }
            } else {
                match queue.try_recv() {
                    Ok(request) => request,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            };
            target.read_block(request.block, &mut block)?;
            let encoder = BlockEncoder::new(&params.layout, request.block, Bytes::copy_from_slice(&block));
            let symbols = encoder.symbols(request.first_esi, request.count);
            let symbol_time = Duration::from_secs_f64(8.0 * f64::from(params.layout.symbol_size()) / request.rate_bps.max(1) as f64);
            streams.push(Stream { request, symbols, sent: 0, next_send: Instant::now(), symbol_time });
        }
        let Some(i) = (0..streams.len()).min_by_key(|&i| streams[i].next_send) else { continue };
        let now = Instant::now();
        if streams[i].next_send > now + SLACK {
            std::thread::sleep(streams[i].next_send - now - SLACK);
        }
        let stream = &mut streams[i];
        let ServeRequest { to, block: id, first_esi, .. } = stream.request;
        packet.clear();
        let esi = first_esi + stream.sent as u32;
        Packet::Data { block: id, esi, payload: &stream.symbols[stream.sent] }.encode(params.session_id, params.key.as_ref(), &mut packet);
        netio::send_lossy(socket, &packet, to)?;
        stream.sent += 1;
        stream.next_send = stream.next_send.max(now) + stream.symbol_time;
        if stream.sent == stream.symbols.len() {
            streams.swap_remove(i);
        }
    }
}
