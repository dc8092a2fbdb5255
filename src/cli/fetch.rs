//! `fountain fetch`: download an image version over plain HTTP, every block verified against the
//! manifest before it is written, from the control plane or from several servers holding it (image
//! servers, then the control plane), moving to the next when one fails mid-download. Without
//! `--image` it runs the stateless node's download: the control plane names the image and the
//! servers (the one its policy chose first). The last resort where multicast and peers cannot
//! deliver; resumable through the same journal as `fountain recv`, which falls back to the same code
//! for the blocks its session left missing.

use super::progress::bar;
use super::recv::journal_path;
use anyhow::Context;
use control::node::ImageRef;
use fec::BlockId;
use receiver::fetch::{FetchConfig, ImageObject, ImageServer, missing_blocks};
use receiver::fetch_mirrors::{Assignment, MirrorStats, Mirrors};
use receiver::{Journal, Target};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// An image on the control plane and the node that fetches it: what `fountain fetch` downloads and
/// what `fountain recv` falls back to. The image, node and token are options so that `recv` can
/// take the same flags without requiring them; `fetch` makes them required.
#[derive(Debug, Clone, clap::Args)]
pub struct ImageSource {
    /// Control-plane URL.
    #[arg(long, env = "FOUNTAIN_SERVER", default_value_t = format!("http://{}", control::cli::DEFAULT_LISTEN))]
    pub server: String,
    /// Image to fetch, as `name` (its default version) or `name@version`.
    #[arg(long)]
    pub image: Option<ImageRef>,
    /// This node's name.
    #[arg(long)]
    pub node: Option<String>,
    /// This node's token, from its boot script (FOUNTAIN_NODE_TOKEN keeps it off the command line).
    #[arg(long, env = "FOUNTAIN_NODE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Range requests in flight at once.
    #[arg(long, default_value_t = FetchConfig::default().parallel_requests)]
    pub parallel: usize,
    /// Image servers holding the image, tried in this order before the control plane (comma
    /// separated).
    #[arg(long, value_delimiter = ',')]
    pub image_servers: Vec<String>,
}

impl ImageSource {
    /// Asks the server for the image's manifest (resolving its default version); `None` when no
    /// image was named.
    pub fn resolve(&self) -> anyhow::Result<Option<HttpImage>> {
        let Some(image) = &self.image else { return Ok(None) };
        let (Some(node), Some(token)) = (&self.node, &self.token) else {
            anyhow::bail!("--image {image} needs --node and a token (--token or FOUNTAIN_NODE_TOKEN)");
        };
        let config = self.config();
        let servers = self.image_servers.iter().chain(std::iter::once(&self.server)).map(|url| ImageServer::new(url, node, token, &config)).collect();
        HttpImage::new(Mirrors::new(servers, config), &image.name, image.version).map(Some)
    }

    /// The stateless node's download: asks the control plane for the node's image and servers.
    pub fn resolve_assigned(&self) -> anyhow::Result<HttpImage> {
        let (Some(node), Some(token)) = (&self.node, &self.token) else {
            anyhow::bail!("fetching the assigned image needs --node and a token (--token or FOUNTAIN_NODE_TOKEN)");
        };
        let config = self.config();
        let assignment = Assignment::ask(&self.server, node, token, &config).context("asking the control plane for the node's image servers")?;
        HttpImage::new(assignment.mirrors(node, token, &config), &assignment.image, Some(assignment.version))
    }

    fn config(&self) -> FetchConfig {
        FetchConfig { parallel_requests: self.parallel.max(1), ..FetchConfig::default() }
    }
}

/// An image version on one or more servers, its manifest in hand: where HTTP blocks come from.
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
    fn new(mirrors: Mirrors, image: &str, version: Option<u32>) -> anyhow::Result<Self> {
        let url = mirrors.servers().iter().map(ImageServer::base_url).collect::<Vec<_>>().join(", ");
        let (object, first) = mirrors.object(image, version).with_context(|| format!("asking {url} for the manifest of {image}"))?;
        Ok(HttpImage { mirrors, first, object, url })
    }
}

impl HttpImage {
    /// Downloads `missing` blocks into `target`, each verified before it is written and recorded in
    /// `journal`, with a progress bar labelled `label` that starts at the blocks already there.
    pub fn fetch(
        &self,
        target: &Target,
        journal: &mut Journal,
        missing: &[BlockId],
        label: &str,
        show_progress: bool,
    ) -> anyhow::Result<MirrorStats> {
        let layout = self.object.manifest.layout();
        let progress = bar(layout.object_size(), label);
        if !show_progress {
            progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let missing_bytes: u64 = missing.iter().map(|&b| layout.block_len(b) as u64).sum();
        progress.set_position(layout.object_size() - missing_bytes);
        let stats = self
            .mirrors
            .fetch(&self.object, target, Some(journal), missing, self.first, |b| progress.inc(layout.block_len(b) as u64))
            .with_context(|| format!("fetching {}@{} from {}", self.object.image, self.object.version, self.url))?;
        progress.finish_and_clear();
        Ok(stats)
    }
}

/// `fountain fetch` arguments.
#[derive(Debug, clap::Args)]
#[command(mut_arg("node", |a| a.required(true)), mut_arg("token", |a| a.required(true)))]
pub struct FetchArgs {
    /// The image (the one the control plane assigned the node when absent) and the node fetching it.
    #[command(flatten)]
    pub source: ImageSource,
    /// Output file or block device.
    #[arg(long)]
    pub out: PathBuf,
    /// Journal of stored blocks for resuming (default: OUT.fountain-journal next to a file).
    #[arg(long)]
    pub journal: Option<PathBuf>,
}

/// Runs `fountain fetch`.
pub fn run(args: FetchArgs) -> anyhow::Result<ExitCode> {
    let http = match args.source.resolve()? {
        Some(http) => http,
        None => args.source.resolve_assigned()?,
    };
    let layout = *http.object.manifest.layout();
    let target = Target::open(&args.out, layout).with_context(|| format!("opening {}", args.out.display()))?;
    let journal_file = args.journal.clone().unwrap_or_else(|| journal_path(&args.out));
    let (mut journal, stored) = Journal::open(&journal_file, &http.object.manifest, &target)?;
    if !stored.is_empty() {
        eprintln!("fetched: resuming with {} verified block(s) from the journal", stored.len());
    }
    let missing = missing_blocks(&http.object.manifest, &stored);
    let started = Instant::now();
    let stats = http.fetch(&target, &mut journal, &missing, "fetched", std::io::IsTerminal::is_terminal(&std::io::stderr()))?;
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    journal.remove()?;
    for f in &stats.failovers {
        eprintln!("fetched: left {} after {} verified block(s): {}", f.server, f.delivered, f.error);
    }
    let finished_on = http.mirrors.servers()[stats.finished_on].base_url();
    let (fetch, failovers) = (stats.fetch, stats.failovers.len());
    let mbps = fetch.bytes as f64 / elapsed / 1e6;
    println!(
        "fetched: {}@{} ({} bytes), {} bytes over HTTP in {elapsed:.2} s, {mbps:.1} MB/s ({:.2} Gbit/s), {} requests, {} retries, failovers={failovers} finished_on={finished_on}",
        http.object.image,
        http.object.version,
        layout.object_size(),
        fetch.bytes,
        mbps * 8.0 / 1000.0,
        fetch.requests,
        fetch.retries
    );
    Ok(ExitCode::SUCCESS)
}
