//! `fountain fetch`: download an image version over plain HTTP, every block verified against the
//! manifest before it is written, from the control plane or from several servers holding it (image
//! servers, then the control plane), moving to the next when one fails mid-download. Without
//! `--image` it runs the stateless node's download: the control plane names the image and the
//! servers (the one its policy chose first). The last resort where multicast and peers cannot
//! deliver; resumable through the same journal as `fountain recv`, which falls back to the same code
//! for the blocks its session left missing.

use super::progress::{bar, on_download};
use control::node::ImageRef;
pub use receiver::download::HttpImage;
use receiver::download::{self, journal_path};
use receiver::fetch::{FetchConfig, ImageServer};
use receiver::fetch_mirrors::Mirrors;
use std::path::PathBuf;
use std::process::ExitCode;

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
        Ok(Some(HttpImage::from_mirrors(Mirrors::new(servers, config), &image.name, image.version)?))
    }

    /// The stateless node's download: asks the control plane for the node's image and servers.
    pub fn resolve_assigned(&self) -> anyhow::Result<HttpImage> {
        let (Some(node), Some(token)) = (&self.node, &self.token) else {
            anyhow::bail!("fetching the assigned image needs --node and a token (--token or FOUNTAIN_NODE_TOKEN)");
        };
        Ok(HttpImage::assigned(&self.server, node, token, self.config())?)
    }

    fn config(&self) -> FetchConfig {
        FetchConfig { parallel_requests: self.parallel.max(1), ..FetchConfig::default() }
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
    /// Run a stateless node's whole download as its agent does (the token is exchanged for a boot
    /// credential and revoked, the node joins its version's window, gets the image by multicast or
    /// from its chosen server, then ends the credential), without mounting anything: the boot storm's
    /// node.
    #[arg(long, conflicts_with_all = ["image", "image_servers"])]
    pub stateless: bool,
}

/// Runs `fountain fetch` (the download is [`receiver::download::fetch`], which the node agent runs
/// too).
pub fn run(args: FetchArgs) -> anyhow::Result<ExitCode> {
    if args.stateless {
        return stateless(&args);
    }
    let http = match args.source.resolve()? {
        Some(http) => http,
        None => args.source.resolve_assigned()?,
    };
    let layout = *http.object.manifest.layout();
    let journal = args.journal.clone().unwrap_or_else(|| journal_path(&args.out));
    let progress = bar(layout.object_size(), "fetched", std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let done = download::fetch(&http, &args.out, &journal, on_download(&progress, "fetched"))?;
    progress.finish_and_clear();
    let elapsed = done.elapsed.as_secs_f64().max(1e-9);
    let stats = &done.http;
    for f in &stats.failovers {
        eprintln!("fetched: left {} after {} verified block(s): {}", f.server, f.delivered, f.error);
    }
    let finished_on = http.servers()[stats.finished_on].base_url();
    // Servers left: before the manifest (it came from a later one) and during the download; the
    // blocks those kept are what a move to another server did not fetch again.
    let failovers = http.skipped() + stats.failovers.len();
    let kept: u32 = stats.failovers.iter().map(|f| f.delivered).sum();
    let stats = &stats.fetch;
    let mbps = stats.bytes as f64 / elapsed / 1e6;
    println!(
        "fetched: {}@{} ({} bytes), {} bytes over HTTP in {elapsed:.2} s, {mbps:.1} MB/s ({:.2} Gbit/s), {} requests, {} retries, failovers={failovers} kept_blocks={kept} finished_on={finished_on}",
        http.object.image,
        http.object.version,
        layout.object_size(),
        stats.bytes,
        mbps * 8.0 / 1000.0,
        stats.requests,
        stats.retries
    );
    Ok(ExitCode::SUCCESS)
}

/// `fountain fetch --stateless`: [`agent::stateless::download_only`], with its summary line.
fn stateless(args: &FetchArgs) -> anyhow::Result<ExitCode> {
    let (Some(node), Some(token)) = (&args.source.node, &args.source.token) else { anyhow::bail!("--stateless needs --node and a token") };
    let order = agent::stateless::Order { server: &args.source.server, node, token: control::auth::Secret::new(token.clone()) };
    let started = std::time::Instant::now();
    let journal = args.journal.clone().unwrap_or_else(|| journal_path(&args.out));
    let f = agent::stateless::download_only(order, &args.out, &journal, &mut |line| eprintln!("fetched: {line}"))?;
    println!(
        "fetched: stateless {} bytes in {:.2} s, delivery={} session_blocks={} http_blocks={} failovers={}",
        f.bytes,
        started.elapsed().as_secs_f64(),
        f.delivery,
        f.session_blocks,
        f.http_blocks,
        f.failovers
    );
    Ok(ExitCode::SUCCESS)
}
