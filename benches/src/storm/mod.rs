//! Boot storm (issue 16): stateless nodes, each the real `fountain fetch` download a stateless node
//! runs (ask the control plane for its servers, fetch every block verified, fail over), as processes
//! in network namespaces against image servers that are separate processes, one killed in the
//! middle; compared with every node fetching from the one control plane (the Warewulf way).
//!
//! The network is the head-to-head harness's bridge ([`crate::headtohead::netns`]): the control
//! plane is its sender host, the image servers its first receiver hosts (each link rate-limited by a
//! tbf, a server NIC), and the nodes share the remaining hosts, several per namespace. Node copies
//! land in files on /dev/shm (RAM, as a stateless node's image does).
pub mod appliance;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::headtohead::netns::{self, Topology, TopologySpec};
use crate::headtohead::object::{ScratchDir, hash_file};
use crate::headtohead::process::NetnsProcess;
use appliance::{Appliance, IMAGE};

/// Port of the control plane and of the image servers.
const CONTROL_PORT: u16 = 8080;
const IMAGE_SERVER_PORT: u16 = 8081;
/// How often a storm checks on its processes.
const POLL: Duration = Duration::from_millis(50);
/// Time a server has to come up.
const START_LIMIT: Duration = Duration::from_secs(60);

/// The storm's shape.
#[derive(Debug, Clone)]
pub struct StormSpec {
    /// Nodes.
    pub nodes: usize,
    /// Namespaces the nodes share.
    pub node_hosts: usize,
    /// Image servers (besides the control plane).
    pub image_servers: usize,
    /// Image size.
    pub object_bytes: u64,
    /// Rate of every server's link (the control plane's too), bits/s.
    pub rate_bps: u64,
    /// Fraction of all node bytes stored when the first image server is killed.
    pub kill_at: f64,
    /// Limit on one storm, from the first node started to the last one done.
    pub time_limit: Duration,
    /// Range requests in flight per node.
    pub parallel: usize,
    /// Where the image servers keep their copies (default: with the nodes' copies on /dev/shm; an
    /// image too large to hold twice in RAM puts them on disk).
    pub server_dir: Option<PathBuf>,
}

/// Where nodes load from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// From the image servers the control plane chooses by power of two choices, one killed.
    TwoChoices,
    /// From the image servers the control plane chooses uniformly at random, one killed.
    Uniform,
    /// Every node from the control plane alone (the Warewulf way).
    OneServer,
    /// The stateless agent's own download (`fountain fetch --stateless`): every node joins its
    /// version's window, so all of them share one multicast session from the control plane, with
    /// HTTP from the image servers (one killed) for what it misses.
    Multicast,
}

impl Mode {
    /// Name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Mode::TwoChoices => "two-choices",
            Mode::Uniform => "uniform",
            Mode::OneServer => "one-server",
            Mode::Multicast => "multicast",
        }
    }
}

/// What one storm did.
#[derive(Debug, Clone, Serialize)]
pub struct StormOutcome {
    /// Mode name.
    pub mode: &'static str,
    /// Nodes started.
    pub nodes: usize,
    /// Seconds from the first node started to the last one done.
    pub seconds: f64,
    /// Nodes that ended successfully with a copy identical to the image.
    pub verified: usize,
    /// Nodes that moved to another server (before or during the download).
    pub failed_over: usize,
    /// Of those, nodes that moved mid-download, keeping the verified blocks they had.
    pub failed_over_mid_download: usize,
    /// Nodes that got the image by multicast (from the session and their peers).
    pub by_multicast: usize,
    /// Nodes the control plane chose each image server for (empty for one-server).
    pub assigned: Vec<u64>,
    /// Whether an image server was killed mid-storm.
    pub killed: bool,
    /// Nodes that failed, with the end of their log.
    pub failures: Vec<String>,
}

impl StormOutcome {
    /// Nodes on the busiest image server.
    pub fn max_assigned(&self) -> u64 {
        self.assigned.iter().copied().max().unwrap_or(0)
    }
}

/// A built network, a populated control plane and the image's hash: ready for storms.
pub struct Storm {
    spec: StormSpec,
    fountain: PathBuf,
    topology: Topology,
    scratch: ScratchDir,
    appliance: Appliance,
    expected: blake3::Hash,
}

impl Storm {
    /// Builds the network (namespaces named `<prefix><pid>-...`) and the control plane's data with
    /// an image of `spec.object_bytes` made by `make_image` (which returns the file's blake3).
    pub fn prepare(prefix: &str, spec: StormSpec, fountain: &Path, make_image: impl FnOnce(&Path) -> std::io::Result<blake3::Hash>) -> anyhow::Result<Self> {
        let hosts = spec.image_servers + spec.node_hosts;
        let topology = Topology::build(prefix, TopologySpec { receivers: hosts, rate_bps: Some(spec.rate_bps), loss: 0.0, ceiling_bps: None })?;
        for server in &topology.receivers[..spec.image_servers] {
            netns::limit_rate(server, spec.rate_bps)?;
        }
        let scratch = ScratchDir::create(Path::new("/dev/shm"), &format!("{prefix}-{}", std::process::id()))?;
        let data_dir = scratch.path().join("control");
        let image_dir = data_dir.join("images").join(IMAGE).join("1");
        std::fs::create_dir_all(&image_dir)?;
        let expected = make_image(&image_dir.join("root.img"))?;
        let urls: Vec<String> = topology.receivers[..spec.image_servers].iter().map(|h| format!("http://{}:{IMAGE_SERVER_PORT}", h.addr)).collect();
        let appliance = Appliance::populate(&data_dir, &urls, spec.nodes)?;
        Ok(Storm { spec, fountain: fountain.to_path_buf(), topology, scratch, appliance, expected })
    }

    /// The control plane's multicast settings: sessions leave by its bridge interface at the link's
    /// rate, and a window closes as soon as every node has registered (or after a minute).
    fn multicast_args(&self) -> Vec<String> {
        let (iface, rate, nodes) = (self.topology.sender.addr.to_string(), self.spec.rate_bps.to_string(), self.spec.nodes.to_string());
        ["--iface", &iface, "--rate-bps", &rate, "--window-ms", "60000", "--max-receivers", &nodes].into_iter().map(String::from).collect()
    }

    fn control_url(&self) -> String {
        format!("http://{}:{CONTROL_PORT}", self.topology.sender.addr)
    }

    /// Runs one storm.
    pub fn run(&mut self, mode: Mode) -> anyhow::Result<StormOutcome> {
        self.appliance.reset()?;
        let logs = self.scratch.path().join(format!("logs-{}", mode.name()));
        std::fs::create_dir_all(&logs)?;
        let fountain = self.fountain.clone();
        let data_dir = self.appliance.data_dir.display().to_string();
        let selection = if mode == Mode::Uniform { "random" } else { "two-choices" };
        let control_args = ["serve", "--data-dir", &data_dir, "--listen", &format!("{}:{CONTROL_PORT}", self.topology.sender.addr)]
            .into_iter()
            .chain(["--selection", selection, "--seed", "7", "--health-interval-ms", "0", "--max-connections", "4096"])
            .map(String::from)
            .chain(self.multicast_args())
            .collect::<Vec<_>>();
        let mut control = NetnsProcess::spawn(&self.topology.sender.netns, &fountain, &control_args, "control", &logs)?;
        wait_for_line(&mut control, &logs, "fountain control plane on")?;
        let mut servers = Vec::new();
        if mode != Mode::OneServer {
            for (i, host) in self.topology.receivers[..self.spec.image_servers].iter().enumerate() {
                let dir = self.spec.server_dir.as_deref().unwrap_or(self.scratch.path()).join(format!("image-server-{i}"));
                let args = ["image-server", "--upstream", &self.control_url(), "--token-file", &format!("{data_dir}/server.token"), "--carry", &format!("{IMAGE}@1")]
                    .into_iter()
                    .map(String::from)
                    .chain(["--data-dir".into(), dir.display().to_string(), "--listen".into(), format!("{}:{IMAGE_SERVER_PORT}", host.addr)])
                    .collect::<Vec<_>>();
                servers.push(NetnsProcess::spawn(&host.netns, &fountain, &args, &format!("image-server-{i}"), &logs)?);
            }
            for s in &mut servers {
                wait_for_line(s, &logs, "every carried version is verified and served")?;
            }
        }
        let outs = self.scratch.path().join(format!("nodes-{}", mode.name()));
        std::fs::create_dir_all(&outs)?;
        let node_hosts = &self.topology.receivers[self.spec.image_servers..];
        let started = Instant::now();
        let mut nodes = Vec::with_capacity(self.spec.nodes);
        for (i, (name, token)) in self.appliance.nodes.iter().enumerate() {
            let mut args: Vec<String> = ["fetch", "--server", &self.control_url(), "--node", name, "--token", token, "--parallel", &self.spec.parallel.to_string()]
                .into_iter()
                .map(String::from)
                .collect();
            args.extend(["--out".into(), outs.join(name).display().to_string(), "--journal".into(), outs.join(format!("{name}.journal")).display().to_string()]);
            match mode {
                Mode::OneServer => args.extend(["--image".into(), format!("{IMAGE}@1")]),
                Mode::Multicast => args.push("--stateless".into()),
                Mode::TwoChoices | Mode::Uniform => {}
            }
            nodes.push(NetnsProcess::spawn(&node_hosts[i % node_hosts.len()].netns, &fountain, &args, name, &logs)?);
        }
        let total = self.spec.object_bytes * self.spec.nodes as u64;
        let deadline = started + self.spec.time_limit;
        let mut killed = false;
        let mut last_done = started;
        loop {
            let mut running = 0;
            for n in &mut nodes {
                if n.try_exit()?.is_none() {
                    running += 1;
                }
            }
            if running > 0 {
                last_done = Instant::now();
            }
            if running == 0 || Instant::now() >= deadline {
                break;
            }
            if !killed && !servers.is_empty() && stored_bytes(&outs)? as f64 >= self.spec.kill_at * total as f64 {
                servers[0].kill();
                killed = true;
            }
            std::thread::sleep(POLL);
        }
        let seconds = last_done.duration_since(started).as_secs_f64();
        let mut outcome =
            StormOutcome { mode: mode.name(), nodes: nodes.len(), seconds, verified: 0, failed_over: 0, failed_over_mid_download: 0, by_multicast: 0, assigned: Vec::new(), killed, failures: Vec::new() };
        for n in &mut nodes {
            let name = n.name().to_string();
            let ok = n.try_exit()?.is_some_and(|s| s.success());
            let log = std::fs::read_to_string(logs.join(format!("{name}.log"))).unwrap_or_default();
            let out = outs.join(&name);
            if ok && hash_file(&out).ok() == Some(self.expected) {
                outcome.verified += 1;
            } else {
                outcome.failures.push(format!("{name}: {}", log.chars().rev().take(400).collect::<String>().chars().rev().collect::<String>()));
            }
            let summary = log.lines().find(|l| l.starts_with("fetched: ") && l.contains("failovers=")).unwrap_or_default();
            outcome.failed_over += usize::from(field(summary, "failovers=").is_some_and(|n| n > 0));
            outcome.failed_over_mid_download += usize::from(field(summary, "kept_blocks=").is_some_and(|n| n > 0));
            outcome.by_multicast += usize::from(summary.contains(" delivery=multicast ") && field(summary, "session_blocks=").is_some_and(|n| n > 0));
            let _ = std::fs::remove_file(&out);
        }
        drop(nodes);
        for s in &mut servers {
            s.stop(Duration::from_secs(2));
        }
        control.stop(Duration::from_secs(5));
        if mode != Mode::OneServer {
            outcome.assigned = self.appliance.servers()?.iter().map(|s| s.load).collect();
        }
        Ok(outcome)
    }
}

/// The number after `name` (e.g. `failovers=`) in a node's summary line.
fn field(summary: &str, name: &str) -> Option<u64> {
    let at = summary.find(name)? + name.len();
    summary[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Bytes the node copies under `dir` hold in RAM (tmpfs allocates as blocks are written).
fn stored_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        // A node's journal goes when it finishes: a file may vanish between listing and reading.
        match entry?.metadata() {
            Ok(meta) => total += meta.blocks() * 512,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Waits until `process`'s log holds `line`; fails if it ends first or takes too long.
fn wait_for_line(process: &mut NetnsProcess, logs: &Path, line: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_LIMIT;
    let path = logs.join(format!("{}.log", process.name()));
    loop {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        if log.contains(line) {
            return Ok(());
        }
        if let Some(status) = process.try_exit()? {
            anyhow::bail!("{} ended ({status}) before it was ready:\n{log}", process.name());
        }
        if Instant::now() >= deadline {
            anyhow::bail!("{} not ready within {START_LIMIT:?}:\n{log}", process.name());
        }
        std::thread::sleep(POLL);
    }
}

/// The result of comparing storms: checked by the test, printed by the benchmark.
pub fn summary(outcomes: &[StormOutcome]) -> String {
    let mut s = String::from("| mode | nodes | verified | by multicast | failed over (mid-download) | server killed | busiest server (nodes) | time to all booted (s) |\n|---|---|---|---|---|---|---|---|\n");
    for o in outcomes {
        let busiest = match o.mode {
            "one-server" => "all (one server)".to_string(),
            "multicast" => "one session".to_string(),
            _ => format!("{} of {:?}", o.max_assigned(), o.assigned),
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} ({}) | {} | {busiest} | {:.2} |\n",
            o.mode, o.nodes, o.verified, o.by_multicast, o.failed_over, o.failed_over_mid_download, o.killed, o.seconds
        ));
    }
    s
}

/// Context for errors of a whole comparison.
pub fn run_modes(storm: &mut Storm, modes: &[Mode]) -> anyhow::Result<Vec<StormOutcome>> {
    modes.iter().map(|&m| storm.run(m).with_context(|| format!("storm {}", m.name()))).collect()
}
