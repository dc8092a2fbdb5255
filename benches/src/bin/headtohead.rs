//! fountain vs udpcast vs uftp on a private namespace network: same file, same link, same loss, one
//! table. Needs root, `ip`/`tc`/`nft`, udp-sender/udp-receiver, uftp/uftpd and GNU time.

use anyhow::Context;
use benches::headtohead::machine::Machine;
use benches::headtohead::netns::{self, Topology, TopologySpec};
use benches::headtohead::object::{ScratchDir, hash_file, write_random};
use benches::headtohead::scenario::Suite;
use benches::headtohead::table::{self, Row, median, udp_bound_mbps};
use benches::headtohead::tools::{self, Tool, Transfer};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Namespace prefix of this harness (the namespace test uses another).
const NETNS_PREFIX: &str = "fh2h";
/// The object size and number of runs per row.
const FULL_SIZE_MIB: u64 = 1024;
const FULL_RUNS: usize = 3;
/// `--quick`: a size and run count for trying things.
const QUICK_SIZE_MIB: u64 = 64;
const QUICK_RUNS: usize = 1;
/// A transfer may take this many times its time at the link's UDP bound, plus a fixed allowance for
/// start-up (hashing, announcements) before it is abandoned.
const TIME_LIMIT_FACTOR: f64 = 6.0;
const TIME_LIMIT_FIXED_S: f64 = 30.0;
/// With no rate limit, the bound a transfer is timed against.
const UNLIMITED_FLOOR_MBPS: f64 = 50.0;
/// Seed of the object's bytes.
const OBJECT_SEED: u64 = 6;

/// Head-to-head: fountain, udpcast and uftp over the same namespace network.
#[derive(Debug, clap::Parser)]
struct Args {
    /// Suites to run (network: 300 Mbit/s, 4 rx at 0/1/5% and 8 rx at 5%; cpu: 1 Gbit/s, 2 and 4 rx at
    /// 0/1%; unlimited: no tbf, 1 rx; overestimate: 300 Mbit/s told 1 Gbit/s and 1 Gbit/s told 10
    /// Gbit/s, 4 rx at 0/1/5%). Default: all.
    #[arg(long, value_delimiter = ',', value_parser = parse_suite)]
    suite: Vec<Suite>,
    /// One custom scenario instead of suites: RECEIVERS,RATE_MBIT(0 = unlimited),LOSS_PERCENT, and
    /// optionally CEILING_MBIT, the rate every tool is told (the over-estimate suite's rows).
    #[arg(long, value_delimiter = ',')]
    custom: Vec<f64>,
    /// Tools to compare. Default: all.
    #[arg(long, value_delimiter = ',', value_parser = parse_tool)]
    tools: Vec<Tool>,
    /// 64 MiB, 1 run per row (unless --size/--runs say otherwise).
    #[arg(long)]
    quick: bool,
    /// Object size in MiB (default 1024, or 64 with --quick).
    #[arg(long)]
    size_mib: Option<u64>,
    /// Runs per row; the table shows the median (default 3, or 1 with --quick).
    #[arg(long)]
    runs: Option<usize>,
    /// The fountain binary.
    #[arg(long, env = "FOUNTAIN_BIN", default_value = "target/release/fountain")]
    fountain: PathBuf,
    /// An extra argument for `fountain send`, e.g. `--fountain-send-arg=--fixed-rate` (repeat
    /// for more).
    #[arg(long, allow_hyphen_values = true)]
    fountain_send_arg: Vec<String>,
    /// Where the object and the copies go (tmpfs, so the disk is not what is measured).
    #[arg(long, default_value = "/dev/shm")]
    work_dir: PathBuf,
    /// Where the table goes as JSON.
    #[arg(long, default_value = "headtohead.json")]
    json: PathBuf,
    /// Keep each run's logs (in --work-dir/fh2h-logs-PID) instead of deleting them.
    #[arg(long)]
    keep_logs: bool,
}

fn parse_suite(s: &str) -> Result<Suite, String> {
    Suite::parse(s).ok_or_else(|| format!("unknown suite {s:?} (network, cpu, unlimited, overestimate)"))
}

fn parse_tool(s: &str) -> Result<Tool, String> {
    Tool::parse(s).ok_or_else(|| format!("unknown tool {s:?} (fountain, udpcast, uftp)"))
}

fn main() -> ExitCode {
    match run(clap::Parser::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("headtohead: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(reason) = netns::unavailable_reason() {
        anyhow::bail!("cannot build the test network: {reason}");
    }
    let scenarios = scenarios(&args)?;
    let tools = if args.tools.is_empty() { Tool::ALL.to_vec() } else { args.tools.clone() };
    let fountain = std::fs::canonicalize(&args.fountain)
        .with_context(|| format!("fountain binary {} (build it with cargo build --release, or pass --fountain)", args.fountain.display()))?;
    for tool in &tools {
        for program in tool.programs(&fountain) {
            anyhow::ensure!(program.exists(), "{} needs {} (apt-get install -y udpcast uftp)", tool.name(), program.display());
        }
    }
    let bytes = args.size_mib.unwrap_or(if args.quick { QUICK_SIZE_MIB } else { FULL_SIZE_MIB }) << 20;
    let runs = args.runs.unwrap_or(if args.quick { QUICK_RUNS } else { FULL_RUNS }).max(1);
    let scratch = ScratchDir::create(&args.work_dir, &format!("{NETNS_PREFIX}-{}", std::process::id()))?;
    let source = scratch.path().join("object");
    let expected = write_random(&source, bytes, OBJECT_SEED)?;
    let logs = args.work_dir.join(format!("{NETNS_PREFIX}-logs-{}", std::process::id()));
    let mut machine = Machine::now();
    eprintln!("headtohead: {} MiB object, {runs} run(s) per row, tools {:?}", bytes >> 20, tools.iter().map(|t| t.name()).collect::<Vec<_>>());
    eprintln!("headtohead: {}", machine.describe());

    let mut rows = Vec::new();
    for spec in scenarios {
        let topology = Topology::build(NETNS_PREFIX, spec).context("building the namespace network")?;
        let mut samples: Vec<Samples> = vec![Samples::default(); tools.len()];
        // Tools take turns within each run, so load from elsewhere on the machine falls on all of them.
        for run in 0..runs {
            for (tool, Samples { seconds, cpu, sender_cpu, failures }) in tools.iter().zip(&mut samples) {
                let work = scratch.path().join(format!("{}-{run}", tool.name()));
                std::fs::create_dir_all(&work)?;
                let transfer = Transfer {
                    topology: &topology,
                    source: &source,
                    work_dir: &work,
                    rate_bps: spec.told_bps(),
                    time_limit: time_limit(bytes, spec.rate_bps),
                    fountain: &fountain,
                    fountain_send_args: &args.fountain_send_arg,
                };
                let result = tools::run(*tool, &transfer).and_then(|outcome| {
                    let good = outcome.copies.iter().filter(|c| hash_file(c).is_ok_and(|h| h == expected)).count();
                    anyhow::ensure!(good == spec.receivers, "{good} of {} copies match the source", spec.receivers);
                    Ok(outcome)
                });
                match &result {
                    Ok(o) => {
                        eprintln!("  {} {:?} run {run}: {:.2} s, {:.2} CPU s", tool.name(), spec, o.seconds, o.cpu_seconds);
                        if let Some(note) = &o.note {
                            eprintln!("    {note}");
                        }
                        seconds.push(o.seconds);
                        cpu.push(o.cpu_seconds);
                        sender_cpu.push(o.sender_cpu_seconds);
                    }
                    Err(e) => {
                        eprintln!("  {} {:?} run {run}: FAILED: {e:#} (logs in {})", tool.name(), spec, logs.display());
                        failures.push(format!("{e:#}"));
                    }
                }
                keep_or_remove_logs(&work, &logs, &format!("{}-{}rx-{}M-{}-{run}", tool.name(), spec.receivers, spec.rate_bps.unwrap_or(0) / 1_000_000, spec.loss), args.keep_logs || result.is_err());
            }
        }
        for (tool, Samples { seconds, cpu, sender_cpu, failures }) in tools.iter().zip(samples) {
            rows.push(Row {
                tool: tool.name(),
                receivers: spec.receivers,
                rate_bps: spec.rate_bps,
                ceiling_bps: spec.ceiling_bps,
                loss: spec.loss,
                bytes,
                ok_runs: seconds.len(),
                runs,
                seconds_min: seconds.iter().copied().reduce(f64::min),
                seconds_max: seconds.iter().copied().reduce(f64::max),
                seconds: median(seconds),
                cpu_seconds: median(cpu),
                sender_cpu_seconds: median(sender_cpu),
                failures,
            });
        }
        drop(topology);
    }
    machine.finish();
    let markdown = table::markdown(&rows);
    println!("{}\n\n{markdown}", machine.describe());
    std::fs::write(&args.json, table::json(&machine, &rows)).with_context(|| format!("writing {}", args.json.display()))?;
    eprintln!("headtohead: JSON in {}", args.json.display());
    Ok(if rows.iter().all(|r| r.ok_runs == r.runs) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// One tool's runs in one scenario.
#[derive(Debug, Clone, Default)]
struct Samples {
    seconds: Vec<f64>,
    cpu: Vec<f64>,
    sender_cpu: Vec<f64>,
    failures: Vec<String>,
}

fn scenarios(args: &Args) -> anyhow::Result<Vec<TopologySpec>> {
    if let [receivers, rate_mbit, loss_pct, ref ceiling @ ..] = args.custom[..] {
        anyhow::ensure!(receivers >= 1.0 && receivers.fract() == 0.0, "--custom: receivers must be a whole number ≥ 1");
        anyhow::ensure!(ceiling.len() <= 1, "--custom: RECEIVERS,RATE_MBIT,LOSS_PERCENT[,CEILING_MBIT]");
        let rate_bps = (rate_mbit > 0.0).then_some((rate_mbit * 1e6) as u64);
        let ceiling_bps = ceiling.first().map(|mbit| (mbit * 1e6) as u64);
        return Ok(vec![TopologySpec { receivers: receivers as usize, rate_bps, loss: loss_pct / 100.0, ceiling_bps }]);
    }
    let suites = if args.suite.is_empty() { Suite::ALL.to_vec() } else { args.suite.clone() };
    Ok(suites.into_iter().flat_map(Suite::scenarios).collect())
}

fn time_limit(bytes: u64, rate_bps: Option<u64>) -> Duration {
    let bound_mbps = rate_bps.map_or(UNLIMITED_FLOOR_MBPS, udp_bound_mbps);
    Duration::from_secs_f64(TIME_LIMIT_FIXED_S + TIME_LIMIT_FACTOR * bytes as f64 / (bound_mbps * 1e6))
}

/// Moves a run's logs (and not its copies) to `logs/label` when kept; the scratch copy goes either way.
fn keep_or_remove_logs(work: &std::path::Path, logs: &std::path::Path, label: &str, keep: bool) {
    if keep && std::fs::create_dir_all(logs.join(label)).is_ok() {
        for entry in std::fs::read_dir(work).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log" || e == "rusage") {
                let _ = std::fs::rename(&path, logs.join(label).join(entry.file_name()));
            }
        }
    }
    let _ = std::fs::remove_dir_all(work);
}
