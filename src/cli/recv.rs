//! `fountain recv`: join a session from its ticket and write the verified object; with an image
//! named, fetch over HTTP whatever the session ended without.

use super::fetch::{HttpImage, ImageSource};
use super::progress::{Summary, bar};
use anyhow::Context;
use fec::{BlockId, SessionTicket};
use netio::MulticastOptions;
use receiver::udp::{LossInjector, ReceiveError, ReceiverIo};
use receiver::{Journal, ReceiverConfig, ReceiverSession, Target};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `fountain recv` arguments.
#[derive(Debug, clap::Args)]
#[command(mut_arg("node", |a| a.requires("image")))]
pub struct RecvArgs {
    /// The session ticket `fountain send` wrote.
    #[arg(long)]
    pub manifest: PathBuf,
    /// Output file or block device.
    #[arg(long)]
    pub out: PathBuf,
    /// Journal of stored blocks for resuming (default: OUT.fountain-journal next to a file).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Local address of the interface to join the group on.
    #[arg(long, default_value_t = Ipv4Addr::LOCALHOST)]
    pub iface: Ipv4Addr,
    /// Drop this fraction of incoming datagrams (testing and demos).
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Seed for injected loss.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// This node's receiver id in the session, as the control plane assigned it (default: random).
    #[arg(long)]
    pub receiver_id: Option<u64>,
    /// Give up on a sender silent for this many seconds (and fall back to HTTP, given --image).
    #[arg(long, value_parser = super::units::parse_seconds)]
    pub sender_timeout: Option<Duration>,
    /// Where to fetch, over plain HTTP, the blocks the session ends without: the control plane,
    /// the image (its manifest root must be the ticket's) and this node with its token. Looked up
    /// before anything is written, so a wrong image or token fails at once, not after the multicast.
    #[command(flatten, next_help_heading = "HTTP fallback (with --image)")]
    pub fallback: ImageSource,
}

/// How one receiver runs.
pub struct ReceiveOptions {
    /// Local address of the interface to join the group on.
    pub iface: Ipv4Addr,
    /// Injected loss, for tests and demos.
    pub loss: Option<LossInjector>,
    /// The id the control plane assigned this node in the session (random if `None`).
    pub receiver_id: Option<u64>,
    /// Name in progress lines and the summary.
    pub label: String,
    /// Draw a progress bar.
    pub show_progress: bool,
    /// Give up on a silent sender after this long (the session's default if `None`).
    pub sender_timeout: Option<Duration>,
    /// Where the blocks come from when the session ends without them; `None`: it is an error.
    pub fallback: Option<HttpImage>,
}

/// What a receive stored, and from where.
pub struct Received {
    /// The transfer as a whole.
    pub summary: Summary,
    /// Blocks verified on the target when it started, from the journal.
    pub resumed_blocks: u32,
    /// Blocks that came by multicast or from peers.
    pub session_blocks: u32,
    /// Blocks fetched over HTTP after the session ended without them.
    pub http_blocks: u32,
    /// What the session took in and sent.
    pub stats: receiver::ReceiverStats,
}

/// Reads and validates a ticket file.
pub fn read_ticket(path: &Path) -> anyhow::Result<SessionTicket> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    SessionTicket::decode(&bytes).with_context(|| format!("{} is not a valid session ticket", path.display()))
}

/// The default journal path for an output.
pub fn journal_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".fountain-journal");
    PathBuf::from(name)
}

/// Checks, before anything is written, that the fallback serves the object the ticket describes:
/// its blocks would fail verification one by one otherwise, and only after the multicast ended.
fn ensure_same_object(http: &HttpImage, ticket: &SessionTicket) -> anyhow::Result<()> {
    let (served, expected) = (http.object.manifest.root(), ticket.manifest.root());
    let (image, session) = (http.object.manifest.layout(), ticket.manifest.layout());
    anyhow::ensure!(
        (image.symbol_size(), image.block_symbols()) == (session.symbol_size(), session.block_symbols()),
        "refusing the HTTP fallback: {}@{} is laid out in {}-byte symbols, {} a block, the session in {}-byte symbols, {} a block \
         (send it with --symbol-size {} --block-symbols {}); nothing was written",
        http.object.image,
        http.object.version,
        image.symbol_size(),
        image.block_symbols(),
        session.symbol_size(),
        session.block_symbols(),
        image.symbol_size(),
        image.block_symbols()
    );
    anyhow::ensure!(
        served == expected,
        "refusing the HTTP fallback: {}@{} on {} has manifest root {served}, but the session ticket's object has {expected} \
         (wrong --image?); nothing was written",
        http.object.image,
        http.object.version,
        http.url
    );
    Ok(())
}

/// Receives the object of `ticket` into `out`, resuming from `journal`; what the session ends
/// without (the sender ended early or fell silent) comes from `options.fallback` if there is one.
pub fn receive(ticket: &SessionTicket, out: &Path, journal: &Path, options: ReceiveOptions) -> anyhow::Result<Received> {
    let ReceiveOptions { iface, loss, receiver_id, label, show_progress, sender_timeout, fallback } = options;
    if let Some(http) = &fallback {
        ensure_same_object(http, ticket)?;
    }
    let label = label.as_str();
    let manifest = ticket.manifest.clone();
    let layout = *manifest.layout();
    let target = Target::open(out, layout).with_context(|| format!("opening {}", out.display()))?;
    let (mut journal, stored) = Journal::open(journal, &manifest, &target)?;
    let options = MulticastOptions { interface: iface, ttl: 1 };
    // Without multicast the ticket names the sender, and everything comes by unicast.
    let multicast = ticket.group.ip().is_multicast();
    let data = if multicast { netio::bind_group(ticket.group, options) } else { netio::bind_feedback(options) };
    let data = data.context("binding the data socket")?;
    let feedback = netio::bind_feedback(options).context("binding the feedback socket")?;
    let mut config = ReceiverConfig::new(ticket.session_id, receiver_id.unwrap_or_else(rand::random));
    config.key = ticket.key.clone();
    config.sender = (!multicast).then(|| ticket.group.into());
    if let Some(timeout) = sender_timeout {
        config.sender_timeout = timeout;
    }
    let resumed = stored.len() as u32;
    let mut session = ReceiverSession::new(config, manifest, stored);
    let progress = bar(layout.object_size(), label);
    if !show_progress {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    if resumed > 0 {
        eprintln!("{label}: resuming with {resumed} verified block(s) from the journal");
    }
    let full = layout.full_block_bytes();
    let started = Instant::now();
    let io = ReceiverIo { data: &data, feedback: &feedback, target: &target, journal: Some(&mut journal), loss };
    // Completion, not the return: a finished receiver stays a while to serve its peers.
    let mut complete = None;
    let received = receiver::udp::run(&mut session, io, |s| {
        progress.set_position((u64::from(s.stored_blocks()) * full).min(layout.object_size()));
        if s.is_complete() {
            complete.get_or_insert_with(Instant::now);
        }
    });
    progress.finish_and_clear();
    let http_blocks = match (received, &fallback) {
        (Ok(()), _) => 0,
        (Err(ended @ (ReceiveError::SenderEnded { .. } | ReceiveError::SenderLost { .. })), Some(http)) => {
            let missing: Vec<BlockId> = layout.blocks().filter(|&b| !session.is_stored(b)).collect();
            eprintln!("{label}: {ended}; fetching the {} missing block(s) over HTTP from {}", missing.len(), http.url);
            http.fetch(&target, &mut journal, &missing, label, show_progress)?.fetch.blocks
        }
        (Err(e), _) => return Err(e.into()),
    };
    journal.remove()?;
    let summary = Summary {
        role: label.to_owned(),
        bytes: layout.object_size(),
        elapsed: complete.unwrap_or_else(Instant::now).duration_since(started),
        repair_symbols: session.stats().repair_symbols,
        requested_repair_symbols: 0,
        corrupt_blocks: session.stats().corrupt_blocks,
    };
    let session_blocks = session.stored_blocks() - resumed;
    Ok(Received { summary, resumed_blocks: resumed, session_blocks, http_blocks, stats: session.stats().clone() })
}

/// Runs `fountain recv`.
pub fn run(args: RecvArgs) -> anyhow::Result<ExitCode> {
    let ticket = read_ticket(&args.manifest)?;
    let fallback = args.fallback.resolve().context("looking up the HTTP fallback's image")?;
    let journal = args.journal.clone().unwrap_or_else(|| journal_path(&args.out));
    let loss = (args.loss > 0.0).then(|| LossInjector::new(args.loss, args.seed));
    let kernel_drops_before = netio::udp_rcvbuf_errors();
    let options = ReceiveOptions {
        iface: args.iface,
        loss,
        receiver_id: args.receiver_id,
        label: "received".into(),
        show_progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        sender_timeout: args.sender_timeout,
        fallback,
    };
    let received = receive(&ticket, &args.out, &journal, options)?;
    received.summary.print();
    println!(
        "received: blocks: {} from the journal, {} by multicast/peers, {} over HTTP",
        received.resumed_blocks, received.session_blocks, received.http_blocks
    );
    let stats = &received.stats;
    println!(
        "received: symbols: {} kept ({} repair, {} from peers), {} duplicate, {} dropped at the window of blocks; {} status reports, {} peer requests, {} symbols served",
        stats.symbols,
        stats.repair_symbols,
        stats.peer_symbols,
        stats.duplicate_symbols,
        stats.window_drops,
        stats.status_packets,
        stats.peer_asks,
        stats.served_symbols
    );
    if let (Some(before), Some(after)) = (kernel_drops_before, netio::udp_rcvbuf_errors())
        && after > before
    {
        eprintln!(
            "note: the kernel dropped {} datagrams on this host at full socket buffers (UdpRcvbufErrors): \
             raise net.core.rmem_max or lower the sender's --rate",
            after - before
        );
    }
    Ok(ExitCode::SUCCESS)
}
