//! `fountain sim PLAN.toml`: runs a netsim plan, prints its table and writes its JSON.

use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `fountain sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// The plan (see netsim/plans/).
    plan: PathBuf,
    /// Where to write the JSON report (default: the plan's path with `.json`).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Override the plan's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the plan's node count.
    #[arg(long)]
    nodes: Option<usize>,
    /// Override the plan's protocols (comma-separated).
    #[arg(long, value_delimiter = ',')]
    protocols: Option<Vec<String>>,
}

/// Runs the plan.
pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let mut plan = netsim::Plan::load(&args.plan)?;
    if let Some(seed) = args.seed {
        plan.seed = seed;
    }
    if let Some(nodes) = args.nodes {
        plan.nodes = nodes;
        plan.racks = plan.racks.min(nodes);
    }
    if let Some(protocols) = args.protocols {
        plan.protocols = protocols;
    }
    plan.validate()?;
    let report = netsim::run(&plan);
    print!("{}", report.table());
    let json_path = args.json.unwrap_or_else(|| args.plan.with_extension("json"));
    std::fs::write(&json_path, report.to_json()).with_context(|| format!("writing {}", json_path.display()))?;
    println!("JSON: {}", json_path.display());
    Ok(ExitCode::SUCCESS)
}
