//! Runs a [`ReceiverSession`] over real UDP sockets, writing verified blocks to a [`Target`].

use crate::journal::Journal;
use crate::serve::{PeerServer, ServeParams};
use crate::session::{DecodeFailure, DecodeJob, Event, ReceiverSession};
use crate::target::Target;
use fec::wire::Kind;
use netio::BatchReceiver;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io;
use std::net::UdpSocket;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Largest datagram we accept.
const MAX_DATAGRAM: usize = 65_536;
/// When a wake-up found fewer datagrams than this, let more accumulate before the next one.
const BATCH_DATAGRAMS: usize = 64;
/// How long to let datagrams accumulate: waking per datagram costs more than handling one
/// (a context switch, an IPI on a VM), while the socket buffer holds tens of milliseconds.
const COALESCE: Duration = Duration::from_micros(500);
/// The longest the loop drains the data socket before it turns to its timers, its peers and
/// its reports. A receiver short of CPU never finds the socket empty (the sender outpaces it
/// until it hears of it), and drained until empty it reported only when its decode queue
/// filled: the VM lab's TCG guests at the 24 Mbit/s ceiling sent spans of 4-5 s from behind
/// a second of queue, and a guest slowed further by its host fell silent past the sender's
/// receiver timeout. One status interval: reports keep their cadence under any backlog.
const MAX_DRAIN: Duration = Duration::from_millis(20);
/// Decode jobs queued or running per worker thread before the loop stops taking in data. Each
/// holds a block's symbols and then its decoded bytes until they are written (~3 MB at K=1024,
/// T=1408), so this caps the jobs at ~100 MB on two cores. It must absorb a write stalled by
/// dirty-page writeback: with 2 per worker, an 8 GiB receive on loopback stopped draining the
/// socket during each stall, the kernel dropped, and the blocks waiting for repair held
/// 1.1 GB of partial assemblies (16 per worker: 170 MB, 2% repair instead of 9%). Since the
/// target's write-behind keeps writes at the device's pace those stalls are gone, but 4 per
/// worker measured no leaner (8 GiB: 35.6 MB peak RSS, 107 MB/s against 28.7 MB, 115 MB/s), so
/// 16 stays as headroom for a device slower than the network.
const DECODES_PER_WORKER: usize = 16;
/// Nice steps the decode workers run below the receive loop (`netio::lower_thread_priority`):
/// a decode holds a core for milliseconds, and the loop that drains the socket, or a sender's
/// paced loop on the same host, must not wait behind it. The harness's 300 Mbit/s row with 1%
/// loss (a sender and four decoding receivers on 2 cores) had the sender's sleeps come back
/// 3-18 ms late and the link idle for it: 7.93 s, and 7.78 s with the decodes 4 steps down
/// (medians of 8, alternating). Ten steps gained as much there but starved the decodes where
/// the CPU is short for everything (the 1 Gbit/s row: 3.36 s to 4.10 s; the receivers' decode
/// queues filled, their loops stopped reading, the rate was cut to 157 Mbit/s); at four the
/// decodes keep two thirds of a fair share (CFS weights 423 against 1024 when both run) and the
/// 1 Gbit/s row lost nothing (3.52 s against 3.67).
const DECODE_NICE: i32 = 4;

/// Why receiving stopped without the object.
#[derive(Debug, Error)]
pub enum ReceiveError {
    /// A socket, the target or the journal failed.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    /// The sender ended the session before this receiver had everything.
    #[error("the sender ended the session with {stored} of {total} blocks here")]
    SenderEnded {
        /// Blocks stored.
        stored: u32,
        /// Blocks in the object.
        total: u32,
    },
    /// The sender fell silent.
    #[error("no packet from the sender for too long ({stored} of {total} blocks here)")]
    SenderLost {
        /// Blocks stored.
        stored: u32,
        /// Blocks in the object.
        total: u32,
    },
}

/// Drops incoming datagrams, with a seeded RNG, to test and demonstrate repair: a fraction of
/// them, and (optionally) whatever exceeds a byte rate, as a slow NIC or link would.
#[derive(Debug)]
pub struct LossInjector {
    rate: f64,
    rng: ChaCha8Rng,
    limit: Option<RateLimit>,
}

/// A token bucket of bytes: datagrams beyond it are dropped.
#[derive(Debug)]
struct RateLimit {
    bytes_per_s: f64,
    tokens: f64,
    burst: f64,
    at: Instant,
}

impl LossInjector {
    /// Drops each datagram with probability `rate`.
    pub fn new(rate: f64, seed: u64) -> Self {
        Self { rate, rng: ChaCha8Rng::seed_from_u64(seed), limit: None }
    }

    /// Also drops what arrives beyond `bits_per_s` (bursts of 10 ms pass).
    pub fn with_rate_limit(mut self, bits_per_s: u64) -> Self {
        let bytes_per_s = bits_per_s as f64 / 8.0;
        let burst = (bytes_per_s / 100.0).max(65_536.0);
        self.limit = Some(RateLimit { bytes_per_s, tokens: burst, burst, at: Instant::now() });
        self
    }

    /// Whether to drop a datagram of `len` bytes that arrived at `now`.
    fn drops(&mut self, now: Instant, len: usize) -> bool {
        if let Some(limit) = &mut self.limit {
            limit.tokens = (limit.tokens + now.saturating_duration_since(limit.at).as_secs_f64() * limit.bytes_per_s).min(limit.burst);
            limit.at = limit.at.max(now);
            if limit.tokens < len as f64 {
                return true;
            }
            limit.tokens -= len as f64;
        }
        self.rate > 0.0 && self.rng.gen_bool(self.rate.min(1.0))
    }
}

/// The sockets, output and bookkeeping of one receiver.
pub struct ReceiverIo<'a> {
    /// Joined to the group: data and progress arrive here.
    pub data: &'a UdpSocket,
    /// Unicast to and from the sender.
    pub feedback: &'a UdpSocket,
    /// Where verified blocks go.
    pub target: &'a Target,
    /// Records stored blocks for resumption.
    pub journal: Option<&'a mut Journal>,
    /// Injected loss on incoming data (multicast and from peers), if any.
    pub loss: Option<LossInjector>,
}

/// A decode job's outcome, back from a worker: the block is verified and on the target, or
/// the decoder returns with why it failed.
enum Decoded {
    Stored(fec::BlockId),
    Failed(DecodeFailure),
    WriteFailed(io::Error),
}

/// Drives `session` until it finishes. Calls `on_block` after each block is stored.
///
/// Decoding, verification and the write run on worker threads (one per core, a few nice steps
/// down: [`DECODE_NICE`]), so the receive loop keeps draining the socket while a block decodes;
/// otherwise a multi-millisecond decode overflows the socket buffer at line rate. At most
/// [`DECODES_PER_WORKER`] jobs per worker are out at once: beyond that the loop leaves datagrams
/// in the socket buffer until a job returns, so memory is a window of blocks whatever the
/// object's size (what the kernel then drops is asked for again, like any loss).
pub fn run(session: &mut ReceiverSession, io: ReceiverIo<'_>, on_block: impl FnMut(&ReceiverSession)) -> Result<(), ReceiveError> {
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let (job_tx, job_rx) = crossbeam_channel::unbounded::<DecodeJob>();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<Decoded>();
    let target = io.target;
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (job_rx, done_tx) = (job_rx.clone(), done_tx.clone());
            scope.spawn(move || {
                if let Err(e) = netio::lower_thread_priority(DECODE_NICE) {
                    tracing::debug!(error = %e, "decode worker keeps its priority");
                }
                for job in job_rx {
                    let outcome = match job.run() {
                        Ok((block, data)) => match target.write_block(block, &data) {
                            Ok(()) => Decoded::Stored(block),
                            Err(e) => Decoded::WriteFailed(e),
                        },
                        Err(failure) => Decoded::Failed(failure),
                    };
                    if done_tx.send(outcome).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let config = session.config();
        let server = config.peer.enabled.then(|| {
            let params = ServeParams {
                layout: *session.manifest().layout(),
                session_id: config.session_id,
                key: config.key.clone(),
            };
            PeerServer::spawn(scope, io.feedback, target, params)
        });
        let decodes = Decodes { jobs: &job_tx, done: &done_rx, in_flight: 0, max_in_flight: workers * DECODES_PER_WORKER };
        let result = receive_loop(session, io, on_block, decodes, server.as_ref());
        drop(job_tx);
        result
    })
}

/// The decode jobs handed to workers, and how many are out.
struct Decodes<'a> {
    jobs: &'a crossbeam_channel::Sender<DecodeJob>,
    done: &'a crossbeam_channel::Receiver<Decoded>,
    in_flight: usize,
    max_in_flight: usize,
}

impl Decodes<'_> {
    fn is_full(&self) -> bool {
        self.in_flight >= self.max_in_flight
    }
}

/// What the session asked for that ends the loop.
enum Stop {
    Finished,
    Ended { by_sender: bool },
}

/// Hands the session's decode jobs to the workers and acts on its other events.
fn dispatch_events(
    session: &mut ReceiverSession,
    target: &Target,
    decodes: &mut Decodes<'_>,
    server: Option<&PeerServer>,
) -> Result<Option<Stop>, ReceiveError> {
    while let Some(event) = session.poll_event() {
        match event {
            Event::Decode(job) => {
                decodes.in_flight += 1;
                decodes.jobs.send(job).expect("workers outlive the loop");
            }
            Event::Complete => target.sync()?,
            Event::Finished => return Ok(Some(Stop::Finished)),
            Event::SenderEnded => return Ok(Some(Stop::Ended { by_sender: true })),
            Event::SenderLost => return Ok(Some(Stop::Ended { by_sender: false })),
            Event::Serve(request) => {
                if !server.is_some_and(|s| s.submit(request)) {
                    tracing::debug!("peer serving queue full: request dropped");
                }
            }
            Event::PeerBanned { index, addr } => {
                tracing::warn!("peer {index} at {addr} sent symbols that failed verification: dropped");
            }
        }
    }
    Ok(None)
}

fn receive_loop(
    session: &mut ReceiverSession,
    mut io: ReceiverIo<'_>,
    mut on_block: impl FnMut(&ReceiverSession),
    mut decodes: Decodes<'_>,
    server: Option<&PeerServer>,
) -> Result<(), ReceiveError> {
    let mut data_rx = BatchReceiver::new(io.data)?;
    let mut feedback_buf = vec![0u8; MAX_DATAGRAM];
    // An outcome taken while waiting for a worker, handled with the others.
    let mut returned: Option<Decoded> = None;
    io.data.set_nonblocking(true)?;
    io.feedback.set_nonblocking(true)?;
    // Finished, and staying a while to serve peers.
    let mut lingering = false;
    loop {
        let mut drained = 0;
        let mut stop = None;
        let drain_until = Instant::now() + MAX_DRAIN;
        while stop.is_none() && !decodes.is_full() && Instant::now() < drain_until {
            let loss = &mut io.loss;
            let received = data_rx.recv(io.data, |from, arrived, datagram| {
                if !loss.as_mut().is_some_and(|l| l.drops(arrived, datagram.len())) {
                    session.handle_datagram(arrived, from, datagram);
                }
            });
            match received {
                Ok(n) => drained += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e.into()),
            }
            stop = dispatch_events(session, io.target, &mut decodes, server)?;
        }
        loop {
            match io.feedback.recv_from(&mut feedback_buf) {
                Ok((len, from)) => {
                    // Peers' symbols cross the same (lossy, slow) link as the multicast.
                    let datagram = &feedback_buf[..len];
                    let kind = datagram.get(1).copied();
                    let is_data = kind == Some(Kind::Data as u8) || kind == Some(Kind::Seed as u8);
                    let now = Instant::now();
                    if !(is_data && io.loss.as_mut().is_some_and(|l| l.drops(now, len))) {
                        session.handle_datagram(now, from, datagram);
                        if session.take_forward() {
                            forward(io.feedback, session, datagram)?;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e.into()),
            }
        }
        for outcome in returned.take().into_iter().chain(decodes.done.try_iter()) {
            decodes.in_flight -= 1;
            match outcome {
                Decoded::Stored(block) => {
                    if let Some(journal) = io.journal.as_deref_mut() {
                        journal.record(block, session.manifest().block_hash(block).expect("verified block"))?;
                    }
                    session.block_stored(block);
                    on_block(session);
                }
                Decoded::Failed(failure) => session.decode_failed(failure),
                Decoded::WriteFailed(e) => return Err(e.into()),
            }
        }
        if stop.is_none() {
            stop = dispatch_events(session, io.target, &mut decodes, server)?;
        }
        match stop {
            Some(Stop::Finished) => lingering = true,
            Some(Stop::Ended { by_sender }) => return Err(ended(session, by_sender)),
            None => {}
        }
        let linger_until = session.linger_until().filter(|_| lingering);
        if lingering && linger_until.is_none_or(|until| Instant::now() >= until) {
            return Ok(());
        }
        let now = Instant::now();
        while let Some(transmit) = session.poll_transmit(now) {
            netio::send_lossy(io.feedback, &transmit.packet, transmit.destination)?;
        }
        let wake = [session.poll_timeout(), linger_until].into_iter().flatten().min();
        let mut wait = wake.map(|at| at.saturating_duration_since(Instant::now()));
        if decodes.is_full() {
            // Data waits in the socket buffer until a worker hands a block back.
            returned = match wait {
                Some(wait) => decodes.done.recv_timeout(wait).ok(),
                None => decodes.done.recv().ok(),
            };
        } else {
            if decodes.in_flight > 0 {
                // Results come back on a channel the socket poll cannot see: look again soon.
                wait = Some(wait.map_or(COALESCE, |w| w.min(COALESCE)));
            }
            if drained < BATCH_DATAGRAMS && drained > 0 && wait.is_none_or(|w| w >= COALESCE) {
                std::thread::sleep(COALESCE);
            } else {
                netio::wait_readable([io.data, io.feedback], wait)?;
            }
        }
        session.handle_timeout(Instant::now());
    }
}

/// Sends a seed from the sender, unchanged, to every member (delivery without multicast).
fn forward(socket: &UdpSocket, session: &ReceiverSession, datagram: &[u8]) -> io::Result<()> {
    session.members().try_for_each(|member| netio::send_lossy(socket, datagram, member))
}

fn ended(session: &ReceiverSession, by_sender: bool) -> ReceiveError {
    let (stored, total) = (session.stored_blocks(), session.manifest().layout().block_count());
    if by_sender { ReceiveError::SenderEnded { stored, total } } else { ReceiveError::SenderLost { stored, total } }
}
