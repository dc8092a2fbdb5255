//! `fountain recv`: join a session from its ticket and write the verified object; with an image
//! named, fetch over HTTP whatever the session ended without.

use super::fetch::ImageSource;
use super::progress::{Summary, bar, on_download};
use anyhow::Context;
use fec::SessionTicket;
pub use receiver::download::journal_path;
use receiver::download::{self, HttpImage};
use receiver::udp::LossInjector;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// `fountain recv` arguments.
#[derive(Debug, clap::Args)]
#[command(mut_arg("node", |a| a.requires("image")))]
pub struct RecvArgs {
    /// The session ticket `fountain send` wrote.
    #[arg(long)]
    pub manifest: PathBuf,
    /// Start before the sender: wait up to this long for the ticket to appear (a shared
    /// directory, a script that copies it out), as udpcast's and uftp's receivers wait for
    /// their sender. Remove a ticket from an earlier session first: one that exists is read at once.
    #[arg(long, value_parser = super::units::parse_seconds)]
    pub wait_for_ticket: Option<Duration>,
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

/// Waits up to `limit` for the ticket at `path` to exist. `fountain send` renames it into
/// place, so it is whole once it exists. Polled: a receiver waits once, before its session.
fn wait_for_ticket(path: &Path, limit: Duration) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + limit;
    while !path.try_exists().with_context(|| format!("looking for {}", path.display()))? {
        anyhow::ensure!(std::time::Instant::now() < deadline, "no ticket at {} after {:.0?}", path.display(), limit);
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// Reads and validates a ticket file.
pub fn read_ticket(path: &Path) -> anyhow::Result<SessionTicket> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    SessionTicket::decode(&bytes).with_context(|| format!("{} is not a valid session ticket", path.display()))
}

/// Receives the object of `ticket` into `out`, resuming from `journal`, with a progress bar; what
/// the session ends without comes from `options.fallback` if there is one (see
/// [`receiver::download::receive`], which the node agent runs too).
pub fn receive(ticket: &SessionTicket, out: &Path, journal: &Path, options: ReceiveOptions) -> anyhow::Result<Received> {
    let ReceiveOptions { iface, loss, receiver_id, label, show_progress, sender_timeout, fallback } = options;
    let progress = bar(ticket.manifest.layout().object_size(), &label, show_progress);
    let options = download::ReceiveOptions { iface, loss, receiver_id, sender_timeout, fallback };
    let done = download::receive(ticket, out, journal, options, on_download(&progress, &label))?;
    progress.finish_and_clear();
    let summary = Summary {
        role: label,
        bytes: done.bytes,
        elapsed: done.elapsed,
        repair_symbols: done.stats.repair_symbols,
        requested_repair_symbols: 0,
        corrupt_blocks: done.stats.corrupt_blocks,
    };
    Ok(Received { summary, resumed_blocks: done.resumed_blocks, session_blocks: done.session_blocks, http_blocks: done.http_blocks, stats: done.stats })
}

/// Runs `fountain recv`.
pub fn run(args: RecvArgs) -> anyhow::Result<ExitCode> {
    if let Some(limit) = args.wait_for_ticket {
        wait_for_ticket(&args.manifest, limit)?;
    }
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
