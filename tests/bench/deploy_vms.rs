//! The main job on VMs, measured: builds (once, cached under target/) a small Debian image, starts the
//! vmtest lab (qemu TCG guests PXE-booting `fountain serve`'s agent in a private namespace), and
//! deploys the image to one node by unicast and to two nodes by multicast. For each node it prints
//! the time of every phase its agent reported (agent boot, inventory, layout, transfer, unpack, config,
//! bootloader) and the unpack rate, then one JSON line with all of it. A benchmark, not a test: it
//! asserts nothing about speed.
//!
//!     cargo bench --bench deploy_vms                       # both scenarios
//!     cargo bench --bench deploy_vms -- --scenario unicast # or multicast
//!
//! It prints `SKIPPED: ...` and exits 0 where qemu, the lab's network or debootstrap are missing.
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use vmtest::{Lab, Vm, VmSpec};

/// Image name in the lab.
const IMAGE: &str = "demo";
/// Debian suite and role of the image.
const SUITE: &str = "bookworm";
const ROLE: &str = "compute";
/// One system disk per node, BIOS boot.
const LAYOUT: &str = "bootloader: bios
disks:
  - id: a
    match: { serial: 'sys-a' }
    partitions:
      - { id: a1, size: 1M, flags: [bios_grub] }
      - { id: a2, size: rest, fs: ext4, mount: / }
";
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
    if let Some(why) = vmtest::unavailable_reason().or_else(|| (!tool_runs("debootstrap", "--version")).then(|| "debootstrap is not installed".into())) {
        println!("SKIPPED: deploy_vms needs qemu, a test network and debootstrap: {why}");
        return Ok(());
    }
    let fountain = Path::new(env!("CARGO_BIN_EXE_fountain"));
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vmtest");
    let boot = vmtest::boot_files(fountain, &cache).context("building the agent's boot files")?;
    let image_data = demo_image(fountain, &cache.join("deploy-image"))?;
    println!("cpu: {}; load: {}", cpu_model(), std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
    let mut results = Vec::new();
    for scenario in scenarios {
        results.push(deploy(fountain, &boot, &image_data, scenario).with_context(|| format!("the {} deploy", scenario.name()))?);
    }
    println!("{}", json!({ "bench": "deploy_vms", "image": format!("{IMAGE} (debian {SUITE}, role {ROLE})"), "scenarios": results }));
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

/// A data directory whose image store holds `demo@1`, built with `fountain image build` the first
/// time and reused after (debootstrap's base stays in its build cache too).
fn demo_image(fountain: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let done = dir.join("built");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        println!("building the {IMAGE} image (debootstrap {SUITE}, role {ROLE}) once into {}", dir.display());
        let started = Instant::now();
        let status = Command::new(fountain)
            .args(["image", "build", IMAGE, "--debootstrap", SUITE, "--role", ROLE, "--data-dir"])
            .arg(dir)
            .status()
            .context("running fountain image build")?;
        if !status.success() {
            bail!("fountain image build failed ({status})");
        }
        println!("image built in {:.0} s", started.elapsed().as_secs_f64());
        std::fs::write(&done, b"")?;
    }
    Ok(dir.to_path_buf())
}

/// Deploys the image to `scenario`'s nodes in a fresh lab and collects their phase times.
fn deploy(fountain: &Path, boot: &Path, image_data: &Path, scenario: Scenario) -> anyhow::Result<Value> {
    let lab = Lab::start(fountain, boot)?;
    // The built image's store becomes the lab server's store, and its version is served to nodes.
    copy_tree(&image_data.join("store"), &lab.data_dir().join("store"))?;
    let served = lab.fountain_json(&["image", "store", "serve", &format!("{IMAGE}@1")])?;
    let artifact_bytes = served["artifact_bytes"].as_u64().context("no artifact_bytes in the served version")?;
    let layout = lab.dir().join("layout.yaml");
    std::fs::write(&layout, LAYOUT)?;
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
        .map(|(name, disk, mac)| Vm::start(&lab, &VmSpec { name: name.clone(), mac: mac.clone(), disks: vec![(disk.clone(), "sys-a".into())], memory_mib: MEMORY_MIB }))
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
        println!("note: the nodes registered more than the server's window (10 s) apart, so they were sent in {} sessions", sessions.len());
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
    for (phase, s) in n["phases_s"].as_object().into_iter().flatten() {
        println!("    {phase:<11} {:>8.1} s", s.as_f64().unwrap_or(0.0));
    }
    println!("    {:<11} {:>8.1} s", "total", n["total_s"].as_f64().unwrap_or(0.0));
    match n["unpack_mib_s"].as_f64() {
        Some(r) => println!("    unpack rate {r:.1} MiB/s of artifact"),
        None => println!("    unpack rate: no unpack phase reported"),
    }
}

/// Copies a directory tree (hard links where the filesystem allows, else copies).
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::hard_link(&src, &dst).or_else(|_| std::fs::copy(&src, &dst).map(drop)).with_context(|| format!("copying {}", src.display()))?;
        }
    }
    Ok(())
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
