//! `fountain sim PLAN.toml`: runs a netsim plan and prints its table and its report as a JSON line;
//! `--json PATH` also writes the report, pretty, to a file. Nothing is written unless asked: the
//! plans' committed reports (netsim/plans/*.json) are records of a stated run, and a trial run
//! that rewrote them by default was committed by mistake (ef5544f put two back).

use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `fountain sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// The plan (see netsim/plans/).
    plan: PathBuf,
    /// Also write the JSON report to this file (none is written without it).
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
    println!("{}", report.to_json_line());
    if let Some(path) = args.json {
        std::fs::write(&path, report.to_json()).with_context(|| format!("writing {}", path.display()))?;
        println!("JSON: {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
