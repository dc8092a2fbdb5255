//! Runs a [`SenderSession`] over a real UDP socket, with the wall clock.

use crate::session::{Event, SenderSession, SymbolTo, Transmit};
use crate::source::{BlockSource, SourceError};
use fec::BlockId;
use fec::wire::Packet;
use netio::BatchSender;
use std::io;
use std::net::UdpSocket;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Waits shorter than this sleep with nanosecond resolution instead of polling the socket, whose
/// timeout has millisecond resolution. The pacer's bucket absorbs the sleep's overshoot.
const SLEEP_BELOW: Duration = Duration::from_millis(2);
/// Largest datagram we accept.
const MAX_DATAGRAM: usize = 65_536;
/// Datagrams sent between two looks at events and feedback. Paced, the pacer ends each burst
/// long before this; unpaced, nothing else would, and the whole first pass went out before the
/// session's start was even reported.
const MAX_BURST: usize = 1024;
/// How often a stoppable run looks at its stop condition while nothing else wakes it.
pub const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// Blocks ahead of the newest one sent whose encoders are prepared on workers.
const PREFETCH_BLOCKS: u32 = 16;
/// Datagrams dropped at a full socket buffer are logged at most this often.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(1);

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
    /// The caller's stop condition ended the run.
    #[error("stopped: {0}")]
    Stopped(String),
}

/// How long the packet loop sleeps at least when paced: half the time the pacer's bucket takes to
/// fill. Waking for every packet the pacer frees costs more than the packet (a wake-up per
/// datagram held loopback at ~50 MB/s); waking per half bucket sends GSO-sized batches and still
/// never lets the bucket overflow, so the rate holds.
fn pacing_quantum(config: &crate::SenderConfig) -> Duration {
    if config.rate_bps == 0 {
        return Duration::ZERO;
    }
    let floor = Duration::from_secs_f64(config.pacing_min_burst_bytes as f64 * 8.0 / config.rate_bps as f64);
    (config.pacing_burst.max(floor) / 2).clamp(Duration::from_micros(20), Duration::from_millis(1))
}

/// Drives `session` until it finishes or `deadline` passes, batching sends with GSO where the
/// kernel allows; calls `on_event` for each event.
pub fn run(
    session: &mut SenderSession,
    socket: &UdpSocket,
    source: &mut BlockSource,
    deadline: Option<Instant>,
    on_event: impl FnMut(&SenderSession, &Event),
) -> Result<(), SendError> {
    run_with(session, socket, source, deadline, true, on_event)
}

/// [`run`], choosing whether to batch with GSO (`false`: one datagram per system call).
pub fn run_with(
    session: &mut SenderSession,
    socket: &UdpSocket,
    source: &mut BlockSource,
    deadline: Option<Instant>,
    gso: bool,
    on_event: impl FnMut(&SenderSession, &Event),
) -> Result<(), SendError> {
    drive(session, socket, source, deadline, gso, None, on_event)
}

/// A stop condition: asked between bursts, it gives the reason to stop, or `None` to go on.
pub type StopCheck<'a> = &'a mut dyn FnMut(&SenderSession) -> Option<String>;

/// [`run`], also ending with [`SendError::Stopped`] as soon as `stop` gives a reason; `stop` is
/// asked after every burst and at least every [`STOP_CHECK_INTERVAL`]. An embedder (the control
/// plane) stops senders this way on shutdown, or when nobody joins.
pub fn run_stoppable(
    session: &mut SenderSession,
    socket: &UdpSocket,
    source: &mut BlockSource,
    deadline: Option<Instant>,
    stop: StopCheck<'_>,
    on_event: impl FnMut(&SenderSession, &Event),
) -> Result<(), SendError> {
    drive(session, socket, source, deadline, true, Some(stop), on_event)
}

/// Which blocks the source was asked to have ready.
#[derive(Default)]
struct Prefetch {
    /// Blocks below this were asked for.
    through: Option<BlockId>,
    /// Whether the last ask was for their repair encoders too.
    repair: bool,
}

impl Prefetch {
    /// Before a symbol of `block` is sent: asks for the blocks ahead of it, and again for the
    /// whole window when `repair` turns on (a need after a quiet spell: the blocks' first passes
    /// now carry repair).
    fn before(&mut self, source: &mut BlockSource, block: BlockId, repair: bool) {
        let repair_began = repair && !self.repair;
        if repair_began || self.through.is_none_or(|t| block + PREFETCH_BLOCKS > t) {
            let from = if repair_began { block } else { self.through.map_or(block, |t| t.max(block)) };
            for ahead in from..block + 2 * PREFETCH_BLOCKS {
                source.prefetch(ahead, repair);
            }
            self.through = self.through.max(Some(block + 2 * PREFETCH_BLOCKS));
        }
        self.repair = repair;
    }
}

fn drive(
    session: &mut SenderSession,
    socket: &UdpSocket,
    source: &mut BlockSource,
    deadline: Option<Instant>,
    gso: bool,
    mut stop: Option<StopCheck<'_>>,
    mut on_event: impl FnMut(&SenderSession, &Event),
) -> Result<(), SendError> {
    let session_id = session.config().session_id;
    let key = session.config().key.clone();
    let group = session.config().group;
    let mut batch = BatchSender::new(socket, gso)?;
    let mut recv_buf = vec![0u8; MAX_DATAGRAM];
    // The first pass starts at block 0: its first blocks are read and verified while the
    // receivers join, their repair encoders prepared once sending starts (after them: read
    // behind encodes, the first burst waited 40 ms for them on two cores).
    let mut prefetch = Prefetch::default();
    prefetch.before(source, 0, false);
    let quantum = pacing_quantum(session.config());
    // Datagrams the kernel had no room for, as last logged, and when.
    let mut dropped_logged: (u64, Option<Instant>) = (0, None);
    socket.set_nonblocking(true)?;
    loop {
        let now = Instant::now();
        for _ in 0..MAX_BURST {
            let Some(transmit) = session.poll_transmit(now) else { break };
            match transmit {
                Transmit::Symbol { block, esi, to } => {
                    prefetch.before(source, block, session.expects_repair(now));
                    let payload = source.symbol(block, esi)?;
                    let (destination, packet) = match to {
                        SymbolTo::Group => (group, Packet::Data { block, esi, payload: &payload }),
                        SymbolTo::Seed(member) => (member, Packet::Seed { block, esi, payload: &payload }),
                        SymbolTo::Member(member) => (member, Packet::Data { block, esi, payload: &payload }),
                    };
                    batch.push(socket, destination, |buf| packet.encode(session_id, key.as_ref(), buf))?;
                }
                Transmit::Control { destination, packet } => {
                    batch.push(socket, destination, |buf| buf.extend_from_slice(&packet))?;
                }
            }
        }
        batch.flush(socket)?;
        if batch.dropped() > dropped_logged.0 && dropped_logged.1.is_none_or(|at| now >= at + DROP_LOG_INTERVAL) {
            tracing::warn!(dropped = batch.dropped(), "datagrams dropped: the socket buffer stayed full (the path is slower than the rate)");
            dropped_logged = (batch.dropped(), Some(now));
        }
        while let Some(event) = session.poll_event() {
            on_event(session, &event);
        }
        if session.is_finished() {
            return Ok(());
        }
        if let Some(reason) = stop.as_mut().and_then(|stop| stop(session)) {
            return Err(SendError::Stopped(reason));
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
        let check_stop = stop.is_some().then(|| now + STOP_CHECK_INTERVAL);
        let wake = session.poll_timeout(now).into_iter().chain(deadline).chain(check_stop).min();
        match wake.map(|w| w.saturating_duration_since(now)) {
            Some(w) if w < SLEEP_BELOW => std::thread::sleep(w.max(quantum)),
            wait => {
                netio::wait_readable([socket], wait)?;
            }
        }
        session.handle_timeout(Instant::now());
    }
}
