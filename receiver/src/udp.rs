//! Runs a [`ReceiverSession`] over real UDP sockets, writing verified blocks to a [`Target`].

use crate::journal::Journal;
use crate::session::{Event, ReceiverSession};
use crate::target::Target;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io;
use std::net::UdpSocket;
use std::time::Instant;
use thiserror::Error;

/// Largest datagram we accept.
const MAX_DATAGRAM: usize = 65_536;

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

/// Drops a fraction of incoming datagrams, with a seeded RNG, to test and demonstrate repair.
#[derive(Debug)]
pub struct LossInjector {
    rate: f64,
    rng: ChaCha8Rng,
}

impl LossInjector {
    /// Drops each datagram with probability `rate`.
    pub fn new(rate: f64, seed: u64) -> Self {
        Self { rate, rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    fn drops(&mut self) -> bool {
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
    /// Injected loss on the data socket, if any.
    pub loss: Option<LossInjector>,
}

/// Drives `session` until it finishes. Calls `on_block` after each block is stored.
pub fn run(session: &mut ReceiverSession, mut io: ReceiverIo<'_>, mut on_block: impl FnMut(&ReceiverSession)) -> Result<(), ReceiveError> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    io.data.set_nonblocking(true)?;
    io.feedback.set_nonblocking(true)?;
    loop {
        for (socket, lossy) in [(io.data, true), (io.feedback, false)] {
            loop {
                match socket.recv_from(&mut buf) {
                    Ok((len, from)) => {
                        if lossy && io.loss.as_mut().is_some_and(LossInjector::drops) {
                            continue;
                        }
                        session.handle_datagram(Instant::now(), from, &buf[..len]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        while let Some(event) = session.poll_event() {
            match event {
                Event::Decode(job) => match job.run() {
                    Ok((block, data)) => {
                        io.target.write_block(block, &data)?;
                        if let Some(journal) = io.journal.as_deref_mut() {
                            journal.record(block, session.manifest().block_hash(block).expect("verified block"))?;
                        }
                        session.block_stored(block);
                        on_block(session);
                    }
                    Err(failure) => session.decode_failed(failure),
                },
                Event::Complete => io.target.sync()?,
                Event::Finished => return Ok(()),
                Event::SenderEnded => return Err(ended(session, true)),
                Event::SenderLost => return Err(ended(session, false)),
            }
        }
        let now = Instant::now();
        while let Some(transmit) = session.poll_transmit(now) {
            match io.feedback.send_to(&transmit.packet, transmit.destination) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e.into()),
            }
        }
        let wait = session.poll_timeout().map(|at| at.saturating_duration_since(Instant::now()));
        netio::wait_readable([io.data, io.feedback], wait)?;
        session.handle_timeout(Instant::now());
    }
}

fn ended(session: &ReceiverSession, by_sender: bool) -> ReceiveError {
    let (stored, total) = (session.stored_blocks(), session.manifest().layout().block_count());
    if by_sender { ReceiveError::SenderEnded { stored, total } } else { ReceiveError::SenderLost { stored, total } }
}
