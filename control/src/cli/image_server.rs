//! `fountain image-server`: its own command rather than a role of `fountain serve`, because it
//! shares none of serve's settings (no store, no tokens, no iPXE, no multicast) and needs others
//! (the upstream, its server token, the versions to carry).
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::http::ConnectionLimits;
use crate::image_server::{ImageServer, ImageServerConfig};
use crate::node::ImageRef;

/// Arguments of `fountain image-server`.
#[derive(Debug, clap::Args)]
pub struct ImageServerArgs {
    /// The control plane's URL.
    #[arg(long)]
    upstream: String,
    /// The control plane's server token (its data directory's `server.token`), to pull copies with;
    /// it reads published versions and nothing else (FOUNTAIN_TOKEN, when set, wins).
    #[arg(long, env = "FOUNTAIN_TOKEN_FILE", default_value = "fountain-data/server.token")]
    token_file: PathBuf,
    /// Versions to carry, as name@version (repeat the flag for several).
    #[arg(long, required = true)]
    carry: Vec<ImageRef>,
    /// Where copies are kept.
    #[arg(long, default_value = "/var/lib/fountain-image-server")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8081")]
    listen: SocketAddr,
    /// Range requests in flight per pull.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// HTTP connections served at once.
    #[arg(long, default_value_t = ConnectionLimits::default().max_connections)]
    max_connections: usize,
}

/// Runs an image server until Ctrl-C or SIGTERM.
pub fn run(args: ImageServerArgs) -> anyhow::Result<ExitCode> {
    let token = match std::env::var("FOUNTAIN_TOKEN") {
        Ok(t) => t,
        Err(_) => std::fs::read_to_string(&args.token_file).with_context(|| format!("reading the server token from {}", args.token_file.display()))?,
    };
    let config = ImageServerConfig {
        data_dir: args.data_dir,
        listen: args.listen,
        upstream: args.upstream,
        token: token.trim().to_string(),
        carry: args.carry,
        parallel_requests: args.parallel,
        limits: ConnectionLimits { max_connections: args.max_connections, ..ConnectionLimits::default() },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let server = ImageServer::start(config.clone()).await?;
        eprintln!("fountain image server on http://{} (upstream {}, copies in {})", server.addr(), config.upstream, config.data_dir.display());
        let ready = server.ready_signal();
        tokio::spawn(async move {
            if ready.await {
                eprintln!("fountain image server: every carried version is verified and served");
            }
        });
        server.run_until_stopped().await?;
        Ok(ExitCode::SUCCESS)
    })
}
