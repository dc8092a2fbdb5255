//! Boot storm benchmark (issue 16): N stateless nodes, each the real `fountain fetch` download, as
//! processes in namespaces against image servers (one killed mid-storm) chosen by two-choices and by
//! uniform choice, every node from the one control plane (the Warewulf way), and every node running
//! the stateless agent's own download, booting together in one multicast session. Prints a table,
//! the machine, and one JSON line. Needs root, `ip`/`tc`/`nft`/`ethtool` and GNU time.

use benches::headtohead::machine::Machine;
use benches::headtohead::netns;
use benches::headtohead::object::write_random;
use benches::storm::{Mode, Storm, StormSpec, run_modes, summary};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Namespace prefix of this benchmark (the test uses another).
const NETNS_PREFIX: &str = "fstb";

/// Boot storm: image servers with failover against one server.
#[derive(Debug, clap::Parser)]
struct Args {
    /// Nodes (at most 10 per node namespace are used).
    #[arg(long, default_value_t = 200)]
    nodes: usize,
    /// Image servers.
    #[arg(long, default_value_t = 4)]
    servers: usize,
    /// Image size in MiB.
    #[arg(long, default_value_t = 8)]
    size_mib: u64,
    /// Every server's link, Mbit/s.
    #[arg(long, default_value_t = 400)]
    rate_mbit: u64,
    /// Limit on one storm, seconds.
    #[arg(long, default_value_t = 300)]
    time_limit_s: u64,
    /// The fountain binary.
    #[arg(long, env = "FOUNTAIN_BIN", default_value = "target/release/fountain")]
    fountain: PathBuf,
}

fn main() -> anyhow::Result<ExitCode> {
    let args = <Args as clap::Parser>::parse();
    if let Some(reason) = netns::unavailable_reason() {
        eprintln!("storm: network namespaces cannot be created here: {reason}");
        return Ok(ExitCode::FAILURE);
    }
    let spec = StormSpec {
        nodes: args.nodes,
        node_hosts: args.nodes.div_ceil(10).clamp(1, netns::MAX_RECEIVERS - args.servers),
        image_servers: args.servers,
        object_bytes: args.size_mib << 20,
        rate_bps: args.rate_mbit * 1_000_000,
        kill_at: 0.3,
        time_limit: Duration::from_secs(args.time_limit_s),
        parallel: 2,
        server_dir: None,
    };
    let mut machine = Machine::now();
    let bytes = spec.object_bytes;
    let mut storm = Storm::prepare(NETNS_PREFIX, spec.clone(), &args.fountain, |p| write_random(p, bytes, 16))?;
    let outcomes = run_modes(&mut storm, &[Mode::TwoChoices, Mode::Uniform, Mode::OneServer, Mode::Multicast])?;
    machine.finish();
    println!("Boot storm: {} nodes, {} MiB image, {} image servers at {} Mbit/s each (first killed at 30% of the bytes), vs the control plane alone at {} Mbit/s", spec.nodes, args.size_mib, spec.image_servers, args.rate_mbit, args.rate_mbit);
    println!("Machine: {}", machine.describe());
    print!("{}", summary(&outcomes));
    for o in &outcomes {
        for f in o.failures.iter().take(3) {
            eprintln!("{}: {f}", o.mode);
        }
    }
    let json = serde_json::json!({ "bench": "storm", "nodes": spec.nodes, "size_mib": args.size_mib, "servers": spec.image_servers, "rate_mbit": args.rate_mbit, "machine": machine, "storms": outcomes });
    println!("{json}");
    Ok(if outcomes.iter().all(|o| o.verified == o.nodes) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
