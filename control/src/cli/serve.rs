//! `fountain serve`.
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::http::ConnectionLimits;
use crate::node_config::{MTU_MAX_BYTES, MTU_MIN_BYTES};
use crate::selection::Policy;
use crate::serve::{ServeConfig, Server};
use crate::transfer::DeliveryChoice;
use crate::transfer::engine::{EngineConfig, MulticastLauncher};

/// Arguments of `fountain serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Data directory: store, tokens, images/, boot/.
    #[arg(long, default_value = super::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = super::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// URL nodes reach this server at (required when listening on 0.0.0.0).
    #[arg(long)]
    public_url: Option<String>,
    /// How stateless servers are chosen.
    #[arg(long, value_enum, default_value_t = Policy::TwoChoices)]
    selection: Policy,
    /// Seed for server selection (reproducible experiments).
    #[arg(long)]
    seed: Option<u64>,
    /// Gathering window after the first re-imaging node registers, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    window_ms: u64,
    /// Registered nodes that start a session at once.
    #[arg(long, default_value_t = 256)]
    max_receivers: usize,
    /// Delivery of re-images that choose none: auto (unicast for a node alone in its window,
    /// multicast for two or more), multicast or unicast.
    #[arg(long, value_enum, default_value_t = DeliveryChoice::Auto)]
    delivery: DeliveryChoice,
    /// Probe stateless servers this often, in milliseconds (0: health only through the API).
    #[arg(long, default_value_t = 5_000)]
    health_interval_ms: u64,
    /// Multicast group and port of the first transfer session; concurrent sessions take the next
    /// group addresses.
    #[arg(long, default_value = "239.255.70.1:47000")]
    group: SocketAddrV4,
    /// Local address of the interface multicast leaves by (default: loopback only).
    #[arg(long, default_value_t = Ipv4Addr::LOCALHOST)]
    iface: Ipv4Addr,
    /// Multicast TTL.
    #[arg(long, default_value_t = 1)]
    ttl: u32,
    /// Pacing rate of each session on the wire, bits per second (0: unlimited).
    #[arg(long, default_value_t = 1_000_000_000)]
    rate_bps: u64,
    /// MTU of the network sessions go out on, in bytes: the manifests the server writes (image add
    /// without --manifest, image serve) get the largest symbols one datagram holds at it, 9000 for
    /// jumbo frames. Default: the MTU of the link --iface is on (/sys/class/net/IF/mtu), else 1500;
    /// more than the link's is refused.
    #[arg(long, value_parser = clap::value_parser!(u16).range(i64::from(MTU_MIN_BYTES)..=i64::from(MTU_MAX_BYTES)))]
    mtu: Option<u16>,
    /// HTTP connections served at once; more wait until one closes.
    #[arg(long, default_value_t = ConnectionLimits::default().max_connections)]
    max_connections: usize,
    /// Time a client has to send a request header (and an idle keep-alive connection stays
    /// open), in milliseconds.
    #[arg(long, default_value_t = ConnectionLimits::default().header_read_timeout.as_millis() as u64)]
    header_timeout_ms: u64,
    /// Time a connection may move no byte while no request is being handled, in milliseconds.
    #[arg(long, default_value_t = ConnectionLimits::default().idle_timeout.as_millis() as u64)]
    idle_timeout_ms: u64,
}

/// Runs the server until Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = ServeConfig {
        data_dir: args.data_dir,
        listen: args.listen,
        public_url: args.public_url,
        policy: args.selection,
        seed: args.seed,
        window: Duration::from_millis(args.window_ms),
        max_receivers: args.max_receivers,
        delivery: args.delivery,
        mtu: netio::sending_mtu(args.mtu, args.iface)?,
        health_interval: (args.health_interval_ms > 0).then(|| Duration::from_millis(args.health_interval_ms)),
        limits: ConnectionLimits {
            max_connections: args.max_connections,
            header_read_timeout: Duration::from_millis(args.header_timeout_ms),
            idle_timeout: Duration::from_millis(args.idle_timeout_ms),
            ..ConnectionLimits::default()
        },
    };
    let engine = EngineConfig { interface: args.iface, ttl: args.ttl, rate_bps: args.rate_bps, ..EngineConfig::loopback(args.group) };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let server = Server::start(config.clone(), Arc::new(MulticastLauncher::new(engine))).await?;
        eprintln!(
            "fountain control plane on http://{} (data in {}, admin token in {}; manifests cut for an MTU of {})",
            server.addr(),
            config.data_dir.display(),
            config.data_dir.join(crate::auth::ADMIN_TOKEN_FILE).display(),
            config.mtu
        );
        server.run_until_ctrl_c().await?;
        Ok(ExitCode::SUCCESS)
    })
}
