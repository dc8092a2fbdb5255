//! Image servers: extra HTTP servers that share a boot storm's load with the control plane.
//!
//! An image server is told which published versions to carry. It pulls each from the control plane
//! (the upstream) over HTTP ranges with the same block-verified, journaled fetch the nodes use, so a
//! copy is never stored unverified and an interrupted pull resumes; then it serves the copies on the
//! same node routes as the control plane (manifest and object, byte ranges), so a node fetches from
//! it exactly as from the control plane and can move between them mid-download. It holds no node
//! tokens: the first request of each node is checked by asking the upstream for that node's
//! manifest with the node's own token ([`authorize`]). It reports its load (nodes downloading, downloads in flight,
//! bytes per second) at `/` and `/healthz`, which the control plane's health probe reads.
pub mod authorize;
pub mod copies;
pub mod load;
pub mod pull;
pub mod routes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::http::{self, ConnectionLimits};
use crate::node::ImageRef;

/// What an image server is told.
#[derive(Debug, Clone)]
pub struct ImageServerConfig {
    /// Where copies are kept.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The control plane's URL.
    pub upstream: String,
    /// The control plane's server token (`server.token`), for pulling copies.
    pub token: String,
    /// Versions to carry (a version number is required: a copy is of one version).
    pub carry: Vec<ImageRef>,
    /// Range requests in flight per pull.
    pub parallel_requests: usize,
    /// Connection cap and timeouts.
    pub limits: ConnectionLimits,
}

/// Why an image server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ImageServerError {
    /// A carried image names no version.
    #[error("--carry {0}: name the version (name@N); an image server holds copies of fixed versions")]
    NoVersion(String),
    /// The data directory could not be made.
    #[error("data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    /// Binding failed.
    #[error("binding {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// A running image server.
pub struct ImageServer {
    addr: SocketAddr,
    state: Arc<routes::ServerState>,
    stop: watch::Sender<bool>,
    http: JoinHandle<()>,
}

impl ImageServer {
    /// Binds, starts pulling every carried version and serves; call inside a tokio runtime.
    pub async fn start(config: ImageServerConfig) -> Result<ImageServer, ImageServerError> {
        let mut wanted = Vec::new();
        for r in &config.carry {
            let version = r.version.ok_or_else(|| ImageServerError::NoVersion(r.name.clone()))?;
            wanted.push((r.name.clone(), version));
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|e| ImageServerError::DataDir(config.data_dir.display().to_string(), e))?;
        let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(|e| ImageServerError::Bind(config.listen, e))?;
        let addr = listener.local_addr().map_err(|e| ImageServerError::Bind(config.listen, e))?;
        let state = Arc::new(routes::ServerState::new(&config));
        let (stop, stopped) = watch::channel(false);
        for (image, version) in wanted {
            state.copies.set(&image, version, copies::CopyState::Pulling { stored: 0, blocks: 0 });
            let (state, config) = (state.clone(), config.clone());
            // Detached: a pull ends with its copy complete or given up; one cut by the process
            // ending resumes from its journal at the next start.
            tokio::task::spawn_blocking(move || pull::pull(&config, &state.copies, &image, version));
        }
        let http = tokio::spawn(http::serve(listener, routes::router(state.clone()), config.limits, stopped.clone()));
        tokio::spawn(load::run_sampler(state.load.clone(), stopped));
        tracing::info!(%addr, upstream = %config.upstream, "image server listening");
        Ok(ImageServer { addr, state, stop, http })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether every carried version is pulled, verified and served.
    pub fn ready(&self) -> bool {
        self.state.copies.all_ready()
    }

    /// Resolves to `true` once every carried version is served, `false` once one has failed.
    pub fn ready_signal(&self) -> impl std::future::Future<Output = bool> + use<> {
        let state = self.state.clone();
        async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
            loop {
                tick.tick().await;
                let report = state.copies.report();
                if report.iter().any(|c| c.state == "failed") {
                    return false;
                }
                if state.copies.all_ready() {
                    return true;
                }
            }
        }
    }

    /// The load and copies, as `/healthz` reports them.
    pub fn health(&self) -> routes::Health {
        routes::Health { load: self.state.load.report(), copies: self.state.copies.report() }
    }

    /// Stops serving and finishes open requests.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        self.http.await.map_err(std::io::Error::other)
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
        self.shutdown().await
    }
}
