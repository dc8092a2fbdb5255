//! `fountain fetch`: download an image version from the control plane over plain HTTP, every block
//! verified against the manifest before it is written. The last resort where multicast and peers
//! cannot deliver; resumable through the same journal as `fountain recv`.

use super::progress::bar;
use super::recv::journal_path;
use anyhow::Context;
use control::node::ImageRef;
use receiver::fetch::{FetchConfig, ImageServer, missing_blocks};
use receiver::{Journal, Target};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// `fountain fetch` arguments.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Control-plane URL.
    #[arg(long, env = "FOUNTAIN_SERVER", default_value_t = format!("http://{}", control::cli::DEFAULT_LISTEN))]
    pub server: String,
    /// Image to fetch, as `name` (its default version) or `name@version`.
    #[arg(long)]
    pub image: ImageRef,
    /// This node's name.
    #[arg(long)]
    pub node: String,
    /// This node's token, from its boot script (FOUNTAIN_NODE_TOKEN keeps it off the command line).
    #[arg(long, env = "FOUNTAIN_NODE_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Output file or block device.
    #[arg(long)]
    pub out: PathBuf,
    /// Journal of stored blocks for resuming (default: OUT.fountain-journal next to a file).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Range requests in flight at once.
    #[arg(long, default_value_t = FetchConfig::default().parallel_requests)]
    pub parallel: usize,
}

/// Runs `fountain fetch`.
pub fn run(args: FetchArgs) -> anyhow::Result<ExitCode> {
    let config = FetchConfig { parallel_requests: args.parallel.max(1), ..FetchConfig::default() };
    let server = ImageServer::new(&args.server, &args.node, &args.token, &config);
    let object = server.object(&args.image.name, args.image.version)?;
    let layout = *object.manifest.layout();
    let target = Target::open(&args.out, layout).with_context(|| format!("opening {}", args.out.display()))?;
    let journal_file = args.journal.clone().unwrap_or_else(|| journal_path(&args.out));
    let (mut journal, stored) = Journal::open(&journal_file, &object.manifest, &target)?;
    if !stored.is_empty() {
        eprintln!("fetched: resuming with {} verified block(s) from the journal", stored.len());
    }
    let missing = missing_blocks(&object.manifest, &stored);
    let progress = bar(layout.object_size(), "fetched");
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    progress.set_position(stored.iter().map(|&b| layout.block_len(b) as u64).sum());
    let started = Instant::now();
    let stats = server.fetch(&object, &target, Some(&mut journal), &missing, &config, |b| progress.inc(layout.block_len(b) as u64))?;
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    progress.finish_and_clear();
    journal.remove()?;
    let mbps = stats.bytes as f64 / elapsed / 1e6;
    println!(
        "fetched: {}@{} ({} bytes), {} bytes over HTTP in {elapsed:.2} s, {mbps:.1} MB/s ({:.2} Gbit/s), {} requests, {} retries",
        object.image,
        object.version,
        layout.object_size(),
        stats.bytes,
        mbps * 8.0 / 1000.0,
        stats.requests,
        stats.retries
    );
    Ok(ExitCode::SUCCESS)
}
