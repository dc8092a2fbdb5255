//! One whole download of an object into a file or block device, the way every receiving program
//! runs it (`fountain recv`, `fountain fetch` and the node agent share this code): the target and
//! its journal opened first, so a restarted download resumes with the blocks already verified; then
//! either the multicast session of a ticket (with HTTP for what it ends without) or HTTP ranges
//! alone. Only verified blocks are written, and the journal is removed once the object is whole.
//!
//! Progress goes to a callback, so a terminal draws a bar and the agent reports to its control plane.

use crate::fetch::{FetchConfig, FetchError, ImageObject, ImageServer, missing_blocks};
use crate::fetch_mirrors::{Assignment, MirrorStats, Mirrors};
use crate::journal::{Journal, JournalError};
use crate::target::Target;
use crate::udp::{self, LossInjector, ReceiverIo};
use crate::{ReceiverConfig, ReceiverSession, ReceiverStats};
use fec::{BlockId, ObjectLayout, SessionTicket};
use netio::MulticastOptions;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why a download stopped without the whole object.
#[derive(Debug, Error)]
pub enum DownloadError {
    /// The HTTP fallback serves another object than the session's; nothing was written.
    #[error("refusing the HTTP fallback: {0}; nothing was written")]
    OtherObject(String),
    /// The output could not be opened or sized.
    #[error("opening {path}: {source}")]
    Open {
        /// The output.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The journal could not be opened or removed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A socket could not be bound.
    #[error("binding the {what} socket: {source}")]
    Bind {
        /// Which socket.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The multicast session failed and there was no fallback (or the fallback was not for this).
    #[error(transparent)]
    Session(#[from] udp::ReceiveError),
    /// The control plane did not say which image and servers the node loads from.
    #[error("asking {url} for the node's image servers: {source}")]
    Assignment {
        /// Control plane.
        url: String,
        /// Why.
        source: FetchError,
    },
    /// Fetching over HTTP failed (on every server).
    #[error("fetching {image}@{version} from {url}: {source}")]
    Fetch {
        /// Image.
        image: String,
        /// Version.
        version: u32,
        /// The servers.
        url: String,
        /// Why (the last server's error).
        source: FetchError,
    },
}

/// An image version on one or more servers (image servers, then the control plane), its manifest
/// in hand: where HTTP blocks come from. With several servers a download moves to the next when one
/// fails (see [`Mirrors`]).
pub struct HttpImage {
    mirrors: Mirrors,
    /// The server the manifest came from, where fetching starts.
    first: usize,
    /// The version served and its manifest, against which every block is checked.
    pub object: ImageObject,
    /// The servers' URLs, for messages.
    pub url: String,
}

impl HttpImage {
    /// Asks the control plane at `url`, as `node` with `token`, for the manifest of `image` at
    /// `version` (its default when `None`).
    pub fn resolve(url: &str, node: &str, token: &str, image: &str, version: Option<u32>, config: FetchConfig) -> Result<Self, DownloadError> {
        Self::from_mirrors(Mirrors::new(vec![ImageServer::new(url, node, token, &config)], config), image, version)
    }

    /// Asks `mirrors` in order for the manifest of `image` at `version` (its default when `None`);
    /// fetching starts on the first server that gave it.
    pub fn from_mirrors(mirrors: Mirrors, image: &str, version: Option<u32>) -> Result<Self, DownloadError> {
        let url = mirrors.servers().iter().map(ImageServer::base_url).collect::<Vec<_>>().join(", ");
        let (object, first) = mirrors.object(image, version).map_err(|source| DownloadError::Fetch {
            image: image.to_string(),
            version: version.unwrap_or_default(),
            url: url.clone(),
            source,
        })?;
        Ok(HttpImage { mirrors, first, object, url })
    }

    /// The stateless node's download: asks the control plane at `control_url` for the image
    /// version assigned to `node` and the servers to fetch it from (the chosen one first).
    pub fn assigned(control_url: &str, node: &str, token: &str, config: FetchConfig) -> Result<Self, DownloadError> {
        let assignment = Assignment::ask(control_url, node, token, &config).map_err(|source| DownloadError::Assignment { url: control_url.to_string(), source })?;
        Self::from_mirrors(assignment.mirrors(node, token, &config), &assignment.image, Some(assignment.version))
    }

    /// The servers in the order they are tried.
    pub fn servers(&self) -> &[ImageServer] {
        self.mirrors.servers()
    }

    /// Servers left before fetching began: those before the one that gave the manifest.
    pub fn skipped(&self) -> usize {
        self.first
    }

    /// Downloads `missing` blocks into `target`, each verified before it is written and recorded in
    /// `journal`; `on_block` is called after each.
    pub fn fetch(&self, target: &Target, journal: &mut Journal, missing: &[BlockId], on_block: impl FnMut(BlockId)) -> Result<MirrorStats, DownloadError> {
        self.mirrors.fetch(&self.object, target, Some(journal), missing, self.first, on_block).map_err(|source| DownloadError::Fetch {
            image: self.object.image.clone(),
            version: self.object.version,
            url: self.url.clone(),
            source,
        })
    }

    /// Checks, before anything is written, that this serves the object `ticket` describes: its blocks
    /// would fail verification one by one otherwise, and only after the multicast ended.
    pub fn ensure_same_object(&self, ticket: &SessionTicket) -> Result<(), DownloadError> {
        let (served, expected) = (self.object.manifest.root(), ticket.manifest.root());
        let (image, session) = (self.object.manifest.layout(), ticket.manifest.layout());
        let label = format!("{}@{}", self.object.image, self.object.version);
        if (image.symbol_size(), image.block_symbols()) != (session.symbol_size(), session.block_symbols()) {
            return Err(DownloadError::OtherObject(format!(
                "{label} is laid out in {}-byte symbols, {} a block, the session in {}-byte symbols, {} a block \
                 (send it with --symbol-size {} --block-symbols {})",
                image.symbol_size(),
                image.block_symbols(),
                session.symbol_size(),
                session.block_symbols(),
                image.symbol_size(),
                image.block_symbols()
            )));
        }
        if served != expected {
            return Err(DownloadError::OtherObject(format!(
                "{label} on {} has manifest root {served}, but the session ticket's object has {expected} (wrong image?)",
                self.url
            )));
        }
        Ok(())
    }
}

/// Where a download stands, for a progress bar or a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Blocks verified on the target.
    pub blocks_done: u32,
    /// Blocks in the object.
    pub blocks_total: u32,
    /// Bytes of the object verified on the target.
    pub bytes_done: u64,
    /// Bytes in the object.
    pub bytes_total: u64,
}

impl Progress {
    fn new(layout: &ObjectLayout, blocks_done: u32, bytes_done: u64) -> Self {
        Progress { blocks_done, blocks_total: layout.block_count(), bytes_done: bytes_done.min(layout.object_size()), bytes_total: layout.object_size() }
    }
}

/// How a multicast receive runs.
pub struct ReceiveOptions {
    /// Local address of the interface to join the group on.
    pub iface: Ipv4Addr,
    /// Injected loss, for tests and demos.
    pub loss: Option<LossInjector>,
    /// The id the control plane assigned this node in the session (random if `None`).
    pub receiver_id: Option<u64>,
    /// Give up on a silent sender after this long (the session's default if `None`).
    pub sender_timeout: Option<Duration>,
    /// Where the blocks come from when the session ends without them; `None`: it is an error.
    pub fallback: Option<HttpImage>,
}

/// What a download stored, and from where.
#[derive(Debug)]
pub struct Downloaded {
    /// Object bytes.
    pub bytes: u64,
    /// From the start to the object being whole (a finished receiver may stay on to serve peers).
    pub elapsed: Duration,
    /// Blocks verified on the target when it started, from the journal.
    pub resumed_blocks: u32,
    /// Blocks that came by multicast or from peers.
    pub session_blocks: u32,
    /// Blocks fetched over HTTP.
    pub http_blocks: u32,
    /// What HTTP moved, and the servers it left.
    pub http: MirrorStats,
    /// What the session took in and sent (all zero for an HTTP-only download).
    pub stats: ReceiverStats,
}

/// The default journal path for an output: `OUT.fountain-journal`.
pub fn journal_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".fountain-journal");
    PathBuf::from(name)
}

fn open(out: &Path, journal: &Path, manifest: &fec::Manifest) -> Result<(Target, Journal, Vec<BlockId>), DownloadError> {
    let target = Target::open(out, *manifest.layout()).map_err(|source| DownloadError::Open { path: out.to_owned(), source })?;
    let (journal, stored) = Journal::open(journal, manifest, &target)?;
    Ok((target, journal, stored))
}

/// Receives the object of `ticket` into `out`, resuming from `journal`; what the session ends
/// without (the sender ended early or fell silent) comes from `options.fallback` if there is one.
pub fn receive(ticket: &SessionTicket, out: &Path, journal: &Path, options: ReceiveOptions, mut on_progress: impl FnMut(Progress)) -> Result<Downloaded, DownloadError> {
    let ReceiveOptions { iface, loss, receiver_id, sender_timeout, fallback } = options;
    if let Some(http) = &fallback {
        http.ensure_same_object(ticket)?;
    }
    let manifest = ticket.manifest.clone();
    let layout = *manifest.layout();
    let (target, mut journal, stored) = open(out, journal, &manifest)?;
    let options = MulticastOptions { interface: iface, ttl: 1 };
    // Without multicast the ticket names the sender, and everything comes by unicast.
    let multicast = ticket.group.ip().is_multicast();
    let data = if multicast { netio::bind_group(ticket.group, options) } else { netio::bind_feedback(options) };
    let data = data.map_err(|source| DownloadError::Bind { what: "data", source })?;
    let feedback = netio::bind_feedback(options).map_err(|source| DownloadError::Bind { what: "feedback", source })?;
    let mut config = ReceiverConfig::new(ticket.session_id, receiver_id.unwrap_or_else(rand::random));
    config.key = ticket.key.clone();
    config.sender = (!multicast).then(|| ticket.group.into());
    if let Some(timeout) = sender_timeout {
        config.sender_timeout = timeout;
    }
    let resumed = stored.len() as u32;
    let mut session = ReceiverSession::new(config, manifest, stored);
    let full = layout.full_block_bytes();
    let started = Instant::now();
    on_progress(Progress::new(&layout, resumed, u64::from(resumed) * full));
    let io = ReceiverIo { data: &data, feedback: &feedback, target: &target, journal: Some(&mut journal), loss };
    // Completion, not the return: a finished receiver stays a while to serve its peers.
    let mut complete = None;
    let received = udp::run(&mut session, io, |s| {
        on_progress(Progress::new(&layout, s.stored_blocks(), u64::from(s.stored_blocks()) * full));
        if s.is_complete() {
            complete.get_or_insert_with(Instant::now);
        }
    });
    let http = match (received, &fallback) {
        (Ok(()), _) => MirrorStats::default(),
        (Err(ended @ (udp::ReceiveError::SenderEnded { .. } | udp::ReceiveError::SenderLost { .. })), Some(http)) => {
            let missing: Vec<BlockId> = layout.blocks().filter(|&b| !session.is_stored(b)).collect();
            tracing::warn!("{ended}; fetching the {} missing block(s) over HTTP from {}", missing.len(), http.url);
            let mut done = session.stored_blocks();
            let mut bytes = layout.object_size() - missing.iter().map(|&b| layout.block_len(b) as u64).sum::<u64>();
            let stats = http.fetch(&target, &mut journal, &missing, |b| {
                done += 1;
                bytes += layout.block_len(b) as u64;
                on_progress(Progress::new(&layout, done, bytes));
            })?;
            complete = Some(Instant::now());
            stats
        }
        (Err(e), _) => return Err(e.into()),
    };
    journal.remove().map_err(JournalError::Io)?;
    Ok(Downloaded {
        bytes: layout.object_size(),
        elapsed: complete.unwrap_or_else(Instant::now).duration_since(started),
        resumed_blocks: resumed,
        session_blocks: session.stored_blocks() - resumed,
        http_blocks: http.fetch.blocks,
        http,
        stats: session.stats().clone(),
    })
}

/// Downloads all of `http`'s object over HTTP ranges into `out`, resuming from `journal`.
pub fn fetch(http: &HttpImage, out: &Path, journal: &Path, mut on_progress: impl FnMut(Progress)) -> Result<Downloaded, DownloadError> {
    let manifest = &http.object.manifest;
    let layout = *manifest.layout();
    let (target, mut journal, stored) = open(out, journal, manifest)?;
    let missing = missing_blocks(manifest, &stored);
    let resumed = stored.len() as u32;
    let mut done = resumed;
    let mut bytes = layout.object_size() - missing.iter().map(|&b| layout.block_len(b) as u64).sum::<u64>();
    on_progress(Progress::new(&layout, done, bytes));
    let started = Instant::now();
    let stats = http.fetch(&target, &mut journal, &missing, |b| {
        done += 1;
        bytes += layout.block_len(b) as u64;
        on_progress(Progress::new(&layout, done, bytes));
    })?;
    let elapsed = started.elapsed();
    journal.remove().map_err(JournalError::Io)?;
    Ok(Downloaded {
        bytes: layout.object_size(),
        elapsed,
        resumed_blocks: resumed,
        session_blocks: 0,
        http_blocks: stats.fetch.blocks,
        http: stats,
        stats: ReceiverStats::default(),
    })
}
