//! A sender ready to run from a session ticket and the object: what `fountain send` and the control
//! plane both build before driving the session over UDP.

use crate::session::{Event, SenderConfig, SenderSession};
use crate::source::BlockSource;
use crate::udp::{self, SendError};
use fec::SessionTicket;
use netio::MulticastOptions;
use std::fs::File;
use std::io;
use std::net::UdpSocket;
use std::time::Instant;

/// Encoders the block source keeps in memory beyond the blocks the first pass interleaves, so
/// repair requests for recent blocks do not re-read and re-hash them.
pub const EXTRA_CACHED_ENCODERS: usize = 64;
/// Threads that read, verify and encode upcoming blocks off the packet loop.
pub const ENCODE_WORKERS: usize = 2;

/// A sender config for `ticket`: its session id, group and packet key, and no multicast where
/// the ticket names a unicast address (the sender's own, see [`fec::SessionTicket::group`]);
/// every other setting at its default for the caller to adjust.
pub fn ticket_config(ticket: &SessionTicket) -> SenderConfig {
    let mut config = SenderConfig::new(ticket.session_id, ticket.group.into());
    config.key = ticket.key.clone();
    config.swarm = !ticket.group.ip().is_multicast();
    config
}

/// A session with its block source and bound socket.
pub struct PreparedSender {
    session: SenderSession,
    source: BlockSource,
    socket: UdpSocket,
}

/// Binds the sender's socket on `multicast`'s interface (without multicast, at the ticket's
/// address: see [`SenderConfig::swarm`]) and opens `object` as the block source of the session
/// `config` describes, sending the object `ticket`'s manifest describes.
pub fn setup(ticket: &SessionTicket, config: SenderConfig, object: File, multicast: MulticastOptions) -> io::Result<PreparedSender> {
    let cache = config.interleave_blocks as usize + EXTRA_CACHED_ENCODERS;
    let socket = if config.swarm { netio::bind_unicast(ticket.group)? } else { netio::bind_sender(multicast)? };
    Ok(PreparedSender {
        session: SenderSession::new(config, ticket.manifest.clone()),
        source: BlockSource::new(object, ticket.manifest.clone(), cache, ENCODE_WORKERS),
        socket,
    })
}

impl PreparedSender {
    /// The session (for its stats and receivers).
    pub fn session(&self) -> &SenderSession {
        &self.session
    }

    /// Sends until every registered receiver is done or `deadline` passes; see [`udp::run`].
    pub fn run(&mut self, deadline: Option<Instant>, on_event: impl FnMut(&SenderSession, &Event)) -> Result<(), SendError> {
        udp::run(&mut self.session, &self.socket, &mut self.source, deadline, on_event)
    }

    /// [`PreparedSender::run`], also ending as soon as `stop` gives a reason; see [`udp::run_stoppable`].
    pub fn run_stoppable(
        &mut self,
        deadline: Option<Instant>,
        stop: udp::StopCheck<'_>,
        on_event: impl FnMut(&SenderSession, &Event),
    ) -> Result<(), SendError> {
        udp::run_stoppable(&mut self.session, &self.socket, &mut self.source, deadline, stop, on_event)
    }
}
