//! `fountain send`: hash a file, write its session ticket, and send it to the group.

use super::progress::{Summary, bar};
use super::units::{parse_rate, parse_seconds};
use anyhow::Context;
use fec::wire::SessionKey;
use fec::{Manifest, ObjectLayout, SessionTicket};
use netio::MulticastOptions;
use sender::{Event, PreparedSender};
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The rate ceiling when neither --rate nor the link says.
const DEFAULT_RATE_BPS: u64 = 1_000_000_000;

/// How to send.
#[derive(Debug, Clone, clap::Args)]
pub struct SendOptions {
    /// Multicast group and port; or, for a network without multicast, the sender's own unicast
    /// address and port: each symbol then goes to one receiver, which forwards it to the others.
    #[arg(long, default_value = "239.255.70.1:47000")]
    pub group: SocketAddrV4,
    /// Pacing rate on the wire, bits/s (k/M/G suffixes; 0 or "unlimited"): the ceiling, below
    /// which the sender finds the path's bottleneck from what reaches the receivers (see
    /// --fixed-rate). Default: the speed of the link --iface is on, where the system knows it
    /// (/sys/class/net/IF/speed), else 1G.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<u64>,
    /// Start this many seconds after the first receiver joined, even if fewer than --receivers.
    #[arg(long, value_parser = parse_seconds)]
    pub join_window: Option<Duration>,
    /// Local address of the interface multicast leaves by (default: loopback only).
    #[arg(long, default_value_t = Ipv4Addr::LOCALHOST)]
    pub iface: Ipv4Addr,
    /// Multicast TTL.
    #[arg(long, default_value_t = 1)]
    pub ttl: u32,
    /// Symbol size T in bytes, a multiple of 8 up to 8960. Default: the largest whose packets
    /// fit one datagram at --mtu (1448 at 1500, 1432 with --authenticate).
    #[arg(long)]
    pub symbol_size: Option<u16>,
    /// The path MTU, for the default --symbol-size (9000 for jumbo frames). Default: the MTU of the
    /// link --iface is on (/sys/class/net/IF/mtu), else 1500 (loopback's own is not asked); more
    /// than the link's is refused.
    #[arg(long)]
    pub mtu: Option<u16>,
    /// Source symbols per block K.
    #[arg(long, default_value_t = fec::layout::DEFAULT_BLOCK_SYMBOLS)]
    pub block_symbols: u32,
    /// Proactive repair in the first pass, percent of each block. With multicast it pauses after
    /// 1 s of sending in which no receiver needed anything, until one does.
    #[arg(long, default_value_t = 1.0)]
    pub overhead: f64,
    /// Authenticate every packet with a random per-session key (carried in the ticket).
    #[arg(long)]
    pub authenticate: bool,
    /// Give up after this many seconds.
    #[arg(long, value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// Hold --rate whatever the receivers report. By default the rate adapts: it starts at a
    /// sixteenth of --rate and doubles until receivers see congestion (a queue building on the
    /// path, or loss above their usual), then paces at the slowest receiver's delivery rate and
    /// probes above it now and then, never above --rate. A few receivers far slower than the
    /// rest stop setting the pace.
    #[arg(long)]
    pub fixed_rate: bool,
    /// Loss above a receiver's usual loss (fraction) that the adaptive rate takes for congestion.
    #[arg(long, default_value_t = 0.02)]
    pub adaptive_loss: f64,
    /// Drop a receiver not heard from for this many seconds.
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    pub receiver_timeout: Duration,
    /// Once a receiver is done, hand the unfinished ones off to their peers (and end) after this
    /// many seconds without another finishing.
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    pub straggler_deadline: Duration,
}

/// `fountain send` arguments.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The file (or block device) to send.
    pub file: PathBuf,
    /// Where to write the session ticket (manifest + group + key) receivers need.
    #[arg(long)]
    pub manifest: PathBuf,
    /// Receivers to wait for before sending; the session ends when all registered are done.
    #[arg(long, default_value_t = 1)]
    pub receivers: usize,
    /// How to send.
    #[command(flatten)]
    pub options: SendOptions,
}

/// A sender ready to run: its session, block source, socket and the ticket for receivers.
pub struct PreparedSend {
    /// The ticket receivers join with.
    pub ticket: SessionTicket,
    sender: PreparedSender,
    timeout: Option<Duration>,
}

/// Hashes `file` and binds the sender's socket.
pub fn prepare(file: &Path, options: &SendOptions, receivers: usize) -> anyhow::Result<PreparedSend> {
    let object = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let size = object.metadata()?.len();
    let symbol_size = match options.symbol_size {
        Some(size) => size,
        None => {
            let mtu = netio::sending_mtu(options.mtu, options.iface)?;
            fec::wire::symbol_size_for_mtu(mtu, options.authenticate).with_context(|| format!("an MTU of {mtu} leaves no room for a symbol"))?
        }
    };
    let layout = ObjectLayout::new(size, symbol_size, options.block_symbols)?;
    let manifest = Manifest::hash_file(layout, &object).with_context(|| format!("hashing {}", file.display()))?;
    let key = options.authenticate.then(|| SessionKey::new(rand::random()));
    let ticket = SessionTicket { session_id: rand::random(), group: options.group, key, manifest };
    let mut config = sender::ticket_config(&ticket);
    let rate = options.rate.or_else(|| netio::link_speed_bps(options.iface)).unwrap_or(DEFAULT_RATE_BPS);
    config.rate_bps = rate;
    config.min_receivers = receivers;
    config.join_window = options.join_window;
    config.repair_overhead_pct = options.overhead;
    config.receiver_timeout = options.receiver_timeout;
    config.straggler_deadline = options.straggler_deadline;
    if !options.fixed_rate && rate > 0 {
        let mut adaptive = sender::rate::RateConfig::new(rate);
        adaptive.loss_threshold = options.adaptive_loss;
        config.adaptive_rate = Some(adaptive);
    }
    let multicast = MulticastOptions { interface: options.iface, ttl: options.ttl };
    let sender = sender::setup(&ticket, config, object, multicast).context("binding the sender socket")?;
    Ok(PreparedSend { ticket, sender, timeout: options.timeout })
}

impl PreparedSend {
    /// Sends until every receiver is done; returns the summary.
    pub fn run(mut self, show_progress: bool) -> anyhow::Result<Summary> {
        let layout = *self.ticket.manifest.layout();
        let progress = bar(layout.object_size(), "sent", show_progress);
        let mut started = Instant::now();
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let mut handed_off = Vec::new();
        self.sender.run(deadline, |session, event| {
            match event {
                Event::Started => {
                    started = Instant::now();
                    progress.println(format!("sending to {} receiver(s)", session.receivers().count()));
                }
                Event::ReceiverDone(_) => {
                    let done = session.receivers().filter(|(_, r)| r.done).count();
                    progress.set_position(layout.object_size() * done as u64 / session.receivers().count().max(1) as u64);
                }
                Event::ReceiverLost(id) => progress.println(format!("receiver {id:016x} fell silent and was dropped")),
                Event::ReceiverWrongRoot(id) => progress.println(format!("receiver {id:016x} reported another object's root hash")),
                Event::ReceiverHandedOff(id) => {
                    let blocks = session.receivers().find(|(r, _)| *r == id).map_or(0, |(_, info)| info.done_blocks);
                    handed_off.push((*id, blocks));
                }
                Event::ReceiverJoined(_) | Event::Finished => {}
            }
        })?;
        progress.finish_and_clear();
        for (id, blocks) in &handed_off {
            println!("sender: receiver {id:016x} handed off to its peers with {blocks} of {} blocks stored", layout.block_count());
        }
        let stats = self.sender.session().stats();
        Ok(Summary {
            role: "sender".into(),
            bytes: layout.object_size(),
            elapsed: started.elapsed(),
            repair_symbols: stats.proactive_repair_symbols + stats.requested_repair_symbols,
            requested_repair_symbols: stats.requested_repair_symbols,
            corrupt_blocks: 0,
        })
    }
}

/// Runs `fountain send`.
pub fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let prepared = prepare(&args.file, &args.options, args.receivers)?;
    write_ticket(&args.manifest, &prepared.ticket)?;
    eprintln!(
        "ticket written to {}; waiting for {} receiver(s) on {}",
        args.manifest.display(),
        args.receivers,
        args.options.group
    );
    let summary = prepared.run(std::io::IsTerminal::is_terminal(&std::io::stderr()))?;
    summary.print();
    Ok(ExitCode::SUCCESS)
}

/// Writes the ticket readable by its owner only: it may hold the session key. It appears
/// whole (written beside it, then renamed into place), so a script that starts receivers as
/// soon as the file exists never hands them half a ticket.
fn write_ticket(path: &Path, ticket: &SessionTicket) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("writing {}", partial.display()))?;
    file.write_all(&ticket.encode()).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
    Ok(())
}
