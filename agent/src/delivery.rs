//! How a node gets its image once it has registered in its version's window, shared by the
//! stateful install and the stateless boot: the control plane's decision (multicast: join the
//! session from its grant, with HTTP for what it ends without; unicast: HTTP ranges alone, from the
//! servers the node was given), the download through [`receiver::download`], and the progress
//! reports and console lines on the way.
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use control::api::agent::{Progress as ProgressReport, Registered};
use control::transfer::{Delivery, EncodedTicket, SessionId, TransferGrant};
use fec::SessionTicket;
use receiver::download::{self, DownloadError, Downloaded, HttpImage, Progress, ReceiveOptions};

use crate::error::AgentError;
use crate::report::Reporter;
use crate::run::say;

/// How long the agent waits for its session's sender after registering: the gathering window plus
/// the sender's start, with room for a control plane busy with other sessions.
const GRANT_TIMEOUT: Duration = Duration::from_secs(900);
/// Pause between looks at the config while waiting for the sender.
const GRANT_POLL: Duration = Duration::from_secs(1);
/// Least time between two progress reports to the control plane.
const REPORT_EVERY: Duration = Duration::from_secs(2);
/// Console lines per transfer (one per this fraction of the image).
const CONSOLE_STEPS: u64 = 10;
/// Why the image could not be had, by either route.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The control plane's session could not deliver the image (its reason, or a bad grant).
    #[error("transfer: {0}")]
    Transfer(String),
    /// Receiving or fetching the image failed.
    #[error(transparent)]
    Download(#[from] DownloadError),
}

/// How the image comes, from the registration's reply: at once, or once the window has closed
/// (while it is open registration says multicast; the decision may yet be unicast).
pub fn route(reporter: &Reporter, registered: &Registered) -> Result<Route, AgentError> {
    if let Some(why) = &registered.transfer_error {
        return Err(DeliveryError::Transfer(why.clone()).into());
    }
    match (registered.delivery, &registered.transfer) {
        (Delivery::Unicast, _) => Ok(Route::Unicast),
        (Delivery::Multicast, Some(grant)) => Ok(Route::Multicast(grant.clone())),
        (Delivery::Multicast, None) => wait_for_grant(reporter, registered.session),
    }
}

/// How the image comes, once the control plane has decided.
pub enum Route {
    /// Join the session's sender with this grant.
    Multicast(TransferGrant),
    /// Download over HTTP ranges; no sender runs for this node.
    Unicast,
}

impl Route {
    /// The delivery this route is.
    pub fn delivery(&self) -> Delivery {
        match self {
            Route::Unicast => Delivery::Unicast,
            Route::Multicast(_) => Delivery::Multicast,
        }
    }

    /// Downloads `http`'s object into `artifact` this way, resuming from `journal`: HTTP ranges from
    /// its servers, or the session (joined on the default route's interface, the one the node booted
    /// and got its lease on) with `http` for what the session ends without. Progress goes to the
    /// control plane through `reporter` and to the console, which gets a summary at the end.
    pub fn download(self, reporter: &Reporter, http: HttpImage, artifact: &Path, journal: &Path) -> Result<Downloaded, DeliveryError> {
        let mut progress = Reporting::new(reporter);
        let on_progress = |p| progress.update(p);
        let downloaded = match self {
            Route::Unicast => download::fetch(&http, artifact, journal, on_progress)?,
            Route::Multicast(grant) => {
                let ticket = EncodedTicket::from_hex(&grant.ticket).ok_or_else(|| DeliveryError::Transfer("the session ticket is not hex".into()))?;
                let ticket = SessionTicket::decode(ticket.as_bytes()).map_err(|e| DeliveryError::Transfer(format!("the session ticket is invalid: {e}")))?;
                let kernel_drops_before = netio::udp_rcvbuf_errors();
                let options = ReceiveOptions { iface: Ipv4Addr::UNSPECIFIED, loss: None, receiver_id: Some(grant.receiver_id), sender_timeout: None, fallback: Some(http) };
                let downloaded = download::receive(&ticket, artifact, journal, options, on_progress)?;
                let kernel_drops = netio::udp_rcvbuf_errors().zip(kernel_drops_before).map_or(0, |(after, before)| after.saturating_sub(before));
                let s = &downloaded.stats;
                say(&format!(
                    "session symbols: {} kept ({} repair, {} from peers), {} duplicate, {} rejected, {} dropped at the window of blocks; {} blocks failed their check; {kernel_drops} datagrams dropped by the kernel at a full socket buffer",
                    s.symbols, s.repair_symbols, s.peer_symbols, s.duplicate_symbols, s.rejected_packets, s.window_drops, s.corrupt_blocks
                ));
                downloaded
            }
        };
        progress.finish(&downloaded);
        Ok(downloaded)
    }
}

/// Polls the node's config until its session's sender runs, or the closed window made the session
/// unicast (a node alone under `auto` delivery), or the session failed.
fn wait_for_grant(reporter: &Reporter, session: SessionId) -> Result<Route, AgentError> {
    say(&format!("registered in session {session}; waiting for its sender"));
    let deadline = Instant::now() + GRANT_TIMEOUT;
    loop {
        let config = reporter.config()?;
        if let Some(grant) = config.transfer.filter(|g| g.session == session) {
            return Ok(Route::Multicast(grant));
        }
        if config.delivery == Some(Delivery::Unicast) {
            return Ok(Route::Unicast);
        }
        if let Some(why) = config.transfer_error {
            return Err(DeliveryError::Transfer(why).into());
        }
        if Instant::now() > deadline {
            return Err(DeliveryError::Transfer(format!("no sender for session {session} within {} s", GRANT_TIMEOUT.as_secs())).into());
        }
        std::thread::sleep(GRANT_POLL);
    }
}

/// Sends progress to the control plane now and then, and a console line every tenth of the image.
struct Reporting<'a> {
    reporter: &'a Reporter,
    last_report: Option<Instant>,
    console_step: u64,
    failed_once: bool,
}

impl<'a> Reporting<'a> {
    /// Reports through `reporter`.
    fn new(reporter: &'a Reporter) -> Self {
        Reporting { reporter, last_report: None, console_step: 0, failed_once: false }
    }

    /// Takes the download's progress.
    fn update(&mut self, p: Progress) {
        let step = p.bytes_done * CONSOLE_STEPS / p.bytes_total.max(1);
        if step > self.console_step || self.last_report.is_none() {
            self.console_step = step;
            say(&format!("received {} of {} blocks ({} MiB of {})", p.blocks_done, p.blocks_total, p.bytes_done >> 20, p.bytes_total >> 20));
        }
        let due = self.last_report.is_none_or(|t| t.elapsed() >= REPORT_EVERY) || p.blocks_done == p.blocks_total;
        if due {
            self.last_report = Some(Instant::now());
            // Progress is for the operator's view: a lost report must not stall the receive loop.
            let report = ProgressReport { blocks_done: u64::from(p.blocks_done), blocks_total: u64::from(p.blocks_total) };
            if let Err(e) = self.reporter.progress_once(&report)
                && !std::mem::replace(&mut self.failed_once, true)
            {
                say(&format!("note: a progress report failed ({e}); the transfer goes on"));
            }
        }
    }

    /// Says what the whole download did.
    fn finish(&mut self, d: &Downloaded) {
        say(&format!(
            "image received: {} MiB in {:.1} s ({} blocks from the journal, {} from the session, {} over HTTP)",
            d.bytes >> 20,
            d.elapsed.as_secs_f64(),
            d.resumed_blocks,
            d.session_blocks,
            d.http_blocks
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_ticket_reads_back_from_its_hex() {
        let bytes: Vec<u8> = (0..=255).collect();
        let hex = EncodedTicket::new(bytes.clone()).to_hex();
        assert_eq!(EncodedTicket::from_hex(&hex).unwrap().as_bytes(), bytes);
        assert_eq!(EncodedTicket::from_hex(&hex.to_uppercase()).unwrap().as_bytes(), bytes);
        assert!(EncodedTicket::from_hex("abc").is_none());
        assert!(EncodedTicket::from_hex("zz").is_none());
    }
}
