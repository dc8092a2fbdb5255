//! The main job on VMs, measured: builds (once, cached under target/ and shared with the VM tests)
//! the small Debian image the VM tests install ([`vmtest::debian_image`]), starts the vmtest lab
//! (qemu TCG guests PXE-booting `fountain serve`'s agent in a private namespace), and deploys the
//! image to one node by unicast and to two nodes by multicast. For each node it prints the time of
//! every phase its agent reported (agent boot, inventory, layout, transfer, unpack, config,
//! bootloader) and the unpack rate, then one JSON line with all of it. A benchmark, not a test: it
//! asserts nothing about speed.
//!
//!     cargo test -p fountain --bench deploy_vms                        # both scenarios
//!     cargo test -p fountain --bench deploy_vms -- --scenario unicast  # or multicast
//!
//! `cargo test` builds the fountain binary the guests run as the VM tests do (the dev profile, whose
//! dependencies are optimised) and reuses their build; `cargo bench` gives a release build instead.
//!
//! It prints `SKIPPED: ...` and exits 0 where qemu, the lab's network or the Debian mirror are missing.
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use control::store::agent_status::Phase;
use serde_json::{Value, json};
use vmtest::{Firmware, Lab, Vm, VmSpec};

/// Image name in the lab.
const IMAGE: &str = "demo";
const DISK_BYTES: u64 = 4 << 30;
const MEMORY_MIB: u32 = 1536;
/// A whole deploy under TCG on a loaded 2-core machine: boot, layout, transfer, unpack, initramfs, grub.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(45 * 60);
const POLL: Duration = Duration::from_secs(2);

/// One deploy to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// One node alone: HTTP ranges from the control plane.
    Unicast,
    /// Two nodes in one multicast session.
    Multicast,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Unicast => "unicast",
            Scenario::Multicast => "multicast",
        }
    }

    fn nodes(self) -> usize {
        match self {
            Scenario::Unicast => 1,
            Scenario::Multicast => 2,
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("deploy_vms: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let scenarios = scenarios(std::env::args().skip(1))?;
    if let Some(why) = vmtest::unavailable_reason().or_else(|| (!tool_runs("debootstrap", "--version")).then(|| "debootstrap is not installed".into())).or_else(vmtest::image_unavailable_reason) {
        println!("SKIPPED: deploy_vms needs qemu, a test network, debootstrap and the Debian mirror: {why}");
        return Ok(());
    }
    let fountain = Path::new(env!("CARGO_BIN_EXE_fountain"));
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vmtest");
    let boot = vmtest::boot_files(fountain, &cache).context("building the agent's boot files")?;
    let image = vmtest::debian_image(&cache).context("building the Debian image")?;
    println!("cpu: {}; load: {}", cpu_model(), std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
    let mut results = Vec::new();
    for scenario in scenarios {
        results.push(deploy(fountain, &boot, &image.artifact, scenario).with_context(|| format!("the {} deploy", scenario.name()))?);
    }
    println!("{}", json!({ "bench": "deploy_vms", "image": format!("{IMAGE} (debian {}, the VM tests' image)", vmtest::SUITE), "scenarios": results }));
    Ok(())
}

fn scenarios(mut args: impl Iterator<Item = String>) -> anyhow::Result<Vec<Scenario>> {
    let mut chosen = vec![Scenario::Unicast, Scenario::Multicast];
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scenario" => {
                chosen = match args.next().as_deref() {
                    Some("unicast") => vec![Scenario::Unicast],
                    Some("multicast") => vec![Scenario::Multicast],
                    Some("both") => vec![Scenario::Unicast, Scenario::Multicast],
                    other => bail!("--scenario takes unicast, multicast or both, not {other:?}"),
                }
            }
            // cargo bench passes --bench to every bench target.
            "--bench" => {}
            other => bail!("unknown argument {other:?} (use --scenario unicast|multicast|both)"),
        }
    }
    Ok(chosen)
}

/// Deploys the image to `scenario`'s nodes in a fresh lab and collects their phase times.
fn deploy(fountain: &Path, boot: &Path, artifact: &Path, scenario: Scenario) -> anyhow::Result<Value> {
    let lab = Lab::start(fountain, boot)?;
    lab.publish_artifact(IMAGE, artifact)?;
    let artifact_bytes = std::fs::metadata(artifact)?.len();
    let layout = lab.dir().join("layout.yaml");
    std::fs::write(&layout, vmtest::layouts::SINGLE_DISK)?;
    lab.fountain(&["layout", "add", "single", path_str(&layout)?])?;

    let names: Vec<String> = (0..scenario.nodes()).map(|i| format!("{}{i}", scenario.name())).collect();
    let mut vms = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mac = format!("52:54:00:5e:00:{i:02x}");
        let config = lab.dir().join(format!("{name}.yaml"));
        std::fs::write(&config, format!("hostname: {name}\n"))?;
        lab.fountain(&["node", "add", name, "--mac", &mac, "--image", IMAGE, "--layout", "single", "--config", path_str(&config)?])?;
        lab.fountain(&["node", "reimage", name, "--delivery", scenario.name()])?;
        let disk = lab.dir().join(format!("{name}-a.img"));
        std::fs::File::create(&disk).and_then(|f| f.set_len(DISK_BYTES))?;
        vms.push((name.clone(), disk, mac));
    }
    let started = Instant::now();
    let running: Vec<Vm> = vms
        .iter()
        .map(|(name, disk, mac)| Vm::start(&lab, &VmSpec { name: name.clone(), mac: mac.clone(), disks: vec![(disk.clone(), "sys-a".into())], memory_mib: MEMORY_MIB, firmware: Firmware::Bios }))
        .collect::<anyhow::Result<_>>()?;
    let mut nodes = Vec::new();
    for name in &names {
        let show = wait_installed(&lab, name, started)?;
        nodes.push(node_result(name, &show, artifact_bytes));
    }
    drop(running);
    let transfers = lab.fountain_json(&["image", "transfers"])?;
    let sessions: Vec<Value> = transfers.as_array().into_iter().flatten().map(|s| json!({ "id": s["id"], "delivery": s["delivery"], "receivers": s["receivers"] })).collect();
    println!("\n{} ({} node{}), {:.0} s from power-on to the last success report; sessions: {}", scenario.name(), names.len(), if names.len() > 1 { "s" } else { "" }, started.elapsed().as_secs_f64(), Value::Array(sessions.clone()));
    if scenario == Scenario::Multicast && sessions.len() > 1 {
        println!("note: the nodes registered more than the lab server's gathering window apart, so they were sent in {} sessions", sessions.len());
    }
    for n in &nodes {
        print_node(n);
    }
    Ok(json!({ "scenario": scenario.name(), "artifact_bytes": artifact_bytes, "sessions": sessions, "nodes": nodes }))
}

/// Polls `node show` until the node reports success (its next boot flips to local) or fails for good.
fn wait_installed(lab: &Lab, name: &str, started: Instant) -> anyhow::Result<Value> {
    loop {
        let show = lab.fountain_json(&["node", "show", name])?;
        if show["node"]["next_boot"] == "local" {
            return Ok(show);
        }
        if started.elapsed() > DEPLOY_TIMEOUT {
            bail!("{name} did not finish within {DEPLOY_TIMEOUT:?}; last agent status {}, re-image {}; consoles in {}", show["agent"], show["reimages"][0], lab.dir().display());
        }
        std::thread::sleep(POLL);
    }
}

/// A node's phases (seconds) and its unpack rate, from `node show --json`.
fn node_result(name: &str, show: &Value, artifact_bytes: u64) -> Value {
    let attempt = &show["reimages"][0];
    let phases: Vec<(String, f64)> = attempt["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["phase"].as_str().unwrap_or("?").to_string(), p["millis"].as_u64().unwrap_or(0) as f64 / 1000.0))
        .collect();
    let unpack = phases.iter().find(|(p, _)| p == "unpack").map(|&(_, s)| s);
    let rate = unpack.filter(|&s| s > 0.0).map(|s| artifact_bytes as f64 / s / (1u64 << 20) as f64);
    json!({
        "node": name,
        "attempts_failed": attempt["failures"],
        "phases_s": phases.iter().map(|(p, s)| (p.clone(), json!(s))).collect::<serde_json::Map<_, _>>(),
        "total_s": phases.iter().map(|(_, s)| s).sum::<f64>(),
        "unpack_mib_s": rate,
    })
}

fn print_node(n: &Value) {
    println!("  {} (failed attempts: {})", n["node"].as_str().unwrap_or("?"), n["attempts_failed"]);
    // In the order the agent runs them (the JSON object's keys are sorted).
    for phase in Phase::ALL.map(|p| p.to_string()) {
        if let Some(s) = n["phases_s"][&phase].as_f64() {
            println!("    {phase:<11} {s:>8.1} s");
        }
    }
    println!("    {:<11} {:>8.1} s", "total", n["total_s"].as_f64().unwrap_or(0.0));
    match n["unpack_mib_s"].as_f64() {
        Some(r) => println!("    unpack rate {r:.1} MiB/s of artifact"),
        None => println!("    unpack rate: no unpack phase reported"),
    }
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().with_context(|| format!("{} is not UTF-8", p.display()))
}

fn tool_runs(tool: &str, arg: &str) -> bool {
    Command::new(tool).arg(arg).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status().is_ok()
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info.lines().find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string()));
    format!("{} x{}", model.unwrap_or_else(|| "unknown".into()), std::thread::available_parallelism().map_or(0, |n| n.get()))
}
