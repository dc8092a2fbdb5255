//! `fountain serve`: opens the data directory, binds, and runs the API and the window timer until
//! told to stop.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::auth::Auth;
use crate::health::HealthTracker;
use crate::http::{self, ConnectionLimits};
use crate::selection::{Policy, ServerPool};
use crate::stateless::check_url;
use crate::sync::lock;
use crate::store::{Store, StoreError};
use crate::transfer::gather::{GatherConfig, Gatherer};
use crate::transfer::DeliveryChoice;
use crate::transfer::launcher::TransferLauncher;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Data directory (store, tokens, images, boot files).
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// URL nodes reach the server at; `http://<listen>` when absent.
    pub public_url: Option<String>,
    /// Stateless server selection.
    pub policy: Policy,
    /// Seed for server selection, for reproducible runs.
    pub seed: Option<u64>,
    /// Gathering window after the first registration.
    pub window: Duration,
    /// Registrations that close a window at once.
    pub max_receivers: usize,
    /// How often stateless servers are probed; `None` leaves health to the API.
    pub health_interval: Option<Duration>,
    /// Connection cap and timeouts.
    pub limits: ConnectionLimits,
    /// Delivery of re-images that choose none.
    pub delivery: DeliveryChoice,
    /// The MTU of the network sessions go out on: manifests the server writes are cut for it.
    pub mtu: u16,
}

impl ServeConfig {
    /// A server on an ephemeral loopback port with a seeded selection and a window that only
    /// `max_receivers` registrations close: what tests, benchmarks and embedders start from.
    pub fn loopback(data_dir: PathBuf, max_receivers: usize) -> Self {
        ServeConfig {
            data_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            policy: Policy::TwoChoices,
            seed: Some(1),
            window: Duration::from_secs(3600),
            max_receivers,
            health_interval: None,
            limits: ConnectionLimits::default(),
            delivery: DeliveryChoice::Auto,
            // Ethernet's, as `serve` gives loopback.
            mtu: 1500,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store failed to open.
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
    /// Token files could not be read or created.
    #[error("reading or creating token files: {0}")]
    Tokens(std::io::Error),
    /// Binding the listen address failed.
    #[error("binding {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// Settings that cannot work.
    #[error("{0}")]
    Config(String),
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    http: JoinHandle<()>,
    timer: JoinHandle<()>,
    checkpointer: JoinHandle<()>,
    health: Option<JoinHandle<()>>,
}

/// How often the write-ahead log is copied back into the database.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

impl Server {
    /// Opens the store and starts serving; call inside a tokio runtime.
    pub async fn start(config: ServeConfig, launcher: Arc<dyn TransferLauncher>) -> Result<Server, ServeError> {
        if config.max_receivers == 0 {
            return Err(ServeError::Config("max receivers must be at least 1".into()));
        }
        if config.limits.max_connections == 0 {
            return Err(ServeError::Config("max connections must be at least 1".into()));
        }
        let store = Store::open(&config.data_dir)?;
        for missing in [crate::ipxe::KERNEL_FILE, crate::ipxe::INITRD_FILE].map(|f| config.data_dir.join(api::boot::BOOT_DIR).join(f)).iter().filter(|p| !p.is_file()) { tracing::warn!("boot file {} is missing: nodes that boot the agent will fail (write it with `fountain boot build --out {}`)", missing.display(), config.data_dir.join(api::boot::BOOT_DIR).display()); }
        let auth = Auth::load_or_create(&config.data_dir).map_err(ServeError::Tokens)?;
        crate::served::clean_interrupted_uploads(&config.data_dir);
        let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(|e| ServeError::Bind(config.listen, e))?;
        let addr = listener.local_addr().map_err(|e| ServeError::Bind(config.listen, e))?;
        let public_url = match config.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None if addr.ip().is_unspecified() => {
                return Err(ServeError::Config(format!("listening on {addr}: give --public-url, the address nodes reach this server at")));
            }
            None => format!("http://{addr}"),
        };
        check_url(&public_url).map_err(ServeError::Config)?;
        let mut pool = ServerPool::new(config.policy, config.seed);
        pool.set_servers(store.servers()?);
        let gatherer = Gatherer::new(GatherConfig { window: config.window, max_receivers: config.max_receivers, delivery: config.delivery }, store.first_free_session_id()?);
        let state = Arc::new(AppState {
            store: Arc::new(store),
            auth,
            pool: Mutex::new(pool),
            gatherer: Arc::new(Mutex::new(gatherer)),
            window_changed: Notify::new(),
            launcher,
            data_dir: config.data_dir,
            public_url,
            mtu: config.mtu,
            exchanges: Mutex::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let http = tokio::spawn(http::serve(listener, api::router(state.clone()), config.limits, stopped.clone()));
        let timer = tokio::spawn(run_window_timer(state.clone(), stopped.clone()));
        let checkpointer = tokio::spawn(run_checkpointer(state.clone(), stopped.clone()));
        let health = config.health_interval.map(|every| tokio::spawn(run_health_checks(state.clone(), every, stopped)));
        tracing::info!(%addr, "control plane listening");
        Ok(Server { addr, state, stop, http, timer, checkpointer, health })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (tests inspect the store through it).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops accepting, stops running senders (their sessions fail, saying so), finishes open
    /// requests and returns when every task has ended.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || state.launcher.shutdown()).await.map_err(std::io::Error::other)?;
        let _ = self.timer.await;
        let _ = self.checkpointer.await;
        if let Some(health) = self.health {
            let _ = health.await;
        }
        self.http.await.map_err(std::io::Error::other)?;
        let _ = self.state.store.checkpoint();
        Ok(())
    }

    /// Serves until the HTTP task ends (the CLI runs this until Ctrl-C).
    pub async fn run_until_ctrl_c(self) -> std::io::Result<()> {
        tokio::signal::ctrl_c().await?;
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

/// Closes gathering windows when their deadlines pass and starts their senders.
async fn run_window_timer(state: Arc<AppState>, mut stopped: watch::Receiver<bool>) {
    loop {
        let deadline = lock(&state.gatherer).poll_timeout();
        let wait = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wait => {}
            _ = state.window_changed.notified() => {}
            _ = stopped.changed() => return,
        }
        lock(&state.gatherer).handle_timeout(Instant::now());
        state.start_launches();
    }
}

/// Checkpoints the store's write-ahead log off the request path.
async fn run_checkpointer(state: Arc<AppState>, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(CHECKPOINT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        let st = state.clone();
        match tokio::task::spawn_blocking(move || st.store.checkpoint()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "WAL checkpoint failed"),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint task failed"),
        }
    }
}

/// Probes the stateless servers every `every`.
async fn run_health_checks(state: Arc<AppState>, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let tracker = Arc::new(Mutex::new(HealthTracker::default()));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        let (st, tracker) = (state.clone(), tracker.clone());
        match tokio::task::spawn_blocking(move || st.check_health(&mut lock(&tracker))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "health check failed"),
            Err(e) => tracing::warn!(error = %e, "health check task failed"),
        }
    }
}
