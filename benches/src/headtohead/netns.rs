//! A private test network: a bridge in its own namespace, one sender host and N receiver hosts on veth
//! pairs, a rate limit on the sender's link and random loss at each receiver's ingress.
//!
//! Everything lives in namespaces named `<prefix><pid>-...`, so dropping the [`Topology`] (or a later run
//! finding a dead pid in the name) removes every interface, qdisc and rule with the namespaces.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Interface name of every host's link to the bridge (inside its namespace).
pub const HOST_IFACE: &str = "eth0";
/// Bridge name in the bridge namespace.
const BRIDGE: &str = "br0";
/// Addresses live in 10.77.0.0/24; the sender is .1, receiver i is .(10 + i).
const SUBNET_PREFIX: [u8; 3] = [10, 77, 0];
const SENDER_HOST: u8 = 1;
const FIRST_RECEIVER_HOST: u8 = 10;
/// More receivers than this would run out of host numbers in the /24 (and of memory long before).
pub const MAX_RECEIVERS: usize = 200;
/// tbf queue: large enough that a sender's burst waits instead of being dropped silently (a full UDP
/// socket then blocks the sender, which is the back-pressure every tool gets).
const TBF_LIMIT_BYTES: u64 = 64 << 20;
/// tbf bucket: at least 10 ms of the rate, and no smaller than a few jumbo datagrams.
const TBF_MIN_BURST_BYTES: u64 = 64 << 10;
const TBF_BURST_SECONDS: f64 = 0.010;
/// Loss rules count in thousandths (`numgen random mod 1000`).
const LOSS_DENOMINATOR: u32 = 1000;
/// Every `ip`/`tc`/`nft` call is given this long.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// What a topology looks like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopologySpec {
    /// Receiver hosts.
    pub receivers: usize,
    /// tbf rate on the sender's link in bits/s; `None` for no limit.
    pub rate_bps: Option<u64>,
    /// Fraction of UDP datagrams dropped at each receiver's ingress (0.0–1.0, in steps of 0.001).
    pub loss: f64,
    /// The rate every tool is told, bits/s, when it is not the link's: an admin who knows only
    /// the sender's NIC speed (issue 18's over-estimate suite).
    pub ceiling_bps: Option<u64>,
}

impl TopologySpec {
    /// The rate the tools are told: the ceiling, else the link's.
    pub fn told_bps(&self) -> Option<u64> {
        self.ceiling_bps.or(self.rate_bps)
    }
}

/// One host: its namespace and address.
#[derive(Debug, Clone)]
pub struct Host {
    /// Namespace name (for `ip netns exec`).
    pub netns: String,
    /// Address on [`HOST_IFACE`].
    pub addr: Ipv4Addr,
}

/// A built network; removed on drop.
#[derive(Debug)]
pub struct Topology {
    /// The sending host.
    pub sender: Host,
    /// The receiving hosts.
    pub receivers: Vec<Host>,
    bridge_netns: String,
    created: Vec<String>,
}

/// Why namespaces cannot be built here, or `None` where they can.
pub fn unavailable_reason() -> Option<String> {
    for tool in ["ip", "tc", "nft", "ethtool"] {
        if !command_exists(tool) {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    let probe = format!("fh2hprobe{}", std::process::id());
    match run(Command::new("ip").args(["netns", "add", &probe])) {
        Ok(()) => {
            let _ = run(Command::new("ip").args(["netns", "del", &probe]));
            None
        }
        Err(e) => Some(format!("cannot create a network namespace (root needed): {e}")),
    }
}

fn command_exists(tool: &str) -> bool {
    Command::new(tool).arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

impl Topology {
    /// Builds the network. `prefix` (a few lowercase letters) names its namespaces; namespaces with the
    /// same prefix left by a process that no longer runs are removed first.
    pub fn build(prefix: &str, spec: TopologySpec) -> anyhow::Result<Self> {
        anyhow::ensure!((1..=MAX_RECEIVERS).contains(&spec.receivers), "1 to {MAX_RECEIVERS} receivers");
        anyhow::ensure!((0.0..1.0).contains(&spec.loss), "loss must be in [0, 1)");
        remove_stale(prefix);
        let tag = format!("{prefix}{}", std::process::id());
        let mut topology = Topology {
            sender: Host { netns: format!("{tag}-s"), addr: host_addr(SENDER_HOST) },
            receivers: (0..spec.receivers)
                .map(|i| Host { netns: format!("{tag}-r{i}"), addr: host_addr(FIRST_RECEIVER_HOST + i as u8) })
                .collect(),
            bridge_netns: format!("{tag}-br"),
            created: Vec::new(),
        };
        // Any leftover of this very pid (a previous topology of this process) goes too.
        for name in list_netns() {
            if name.starts_with(&format!("{tag}-")) {
                delete_netns(&name);
            }
        }
        topology.setup(spec)?;
        Ok(topology)
    }

    fn setup(&mut self, spec: TopologySpec) -> anyhow::Result<()> {
        let br = self.bridge_netns.clone();
        self.add_netns(&br)?;
        ip(&br, &["link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0"])?;
        ip(&br, &["link", "set", BRIDGE, "up"])?;
        let hosts: Vec<(Host, String)> = std::iter::once((self.sender.clone(), "vs".to_owned()))
            .chain(self.receivers.iter().enumerate().map(|(i, h)| (h.clone(), format!("vr{i}"))))
            .collect();
        for (host, port) in &hosts {
            self.add_netns(&host.netns)?;
            ip(&host.netns, &["link", "set", "lo", "up"])?;
            ip(&br, &["link", "add", port, "type", "veth", "peer", "name", HOST_IFACE, "netns", &host.netns])?;
            ip(&br, &["link", "set", port, "master", BRIDGE])?;
            ip(&br, &["link", "set", port, "up"])?;
            // `brd +`: udpcast rendezvous by broadcast and hangs without a broadcast address.
            ip(&host.netns, &["addr", "add", &format!("{}/24", host.addr), "brd", "+", "dev", HOST_IFACE])?;
            ip(&host.netns, &["link", "set", HOST_IFACE, "up"])?;
            ip(&host.netns, &["route", "add", "224.0.0.0/4", "dev", HOST_IFACE])?;
            // A GSO send of ~30 datagrams would cross veth and the bridge as one packet: the loss
            // rule would drop whole batches and receivers get super-packets, where a real NIC
            // segments before the wire. Only the sender's own interface keeps GSO (its saving
            // is real); the bridge segments on the way out of every port.
            ethtool_no_gso(&br, port)?;
            if host.netns != self.sender.netns {
                ethtool_no_gso(&host.netns, HOST_IFACE)?;
            }
        }
        ethtool_no_gso(&br, BRIDGE)?;
        if let Some(rate_bps) = spec.rate_bps {
            limit_rate(&self.sender, rate_bps)?;
        }
        let per_mille = (spec.loss * f64::from(LOSS_DENOMINATOR)).round() as u32;
        if per_mille > 0 {
            let rule = format!("meta l4proto udp numgen random mod {LOSS_DENOMINATOR} < {per_mille} drop");
            for host in &self.receivers {
                nft(&host.netns, &["add", "table", "inet", "fh2hloss"])?;
                nft(&host.netns, &["add", "chain", "inet", "fh2hloss", "ingress", "{ type filter hook prerouting priority raw; }"])?;
                nft(&host.netns, &["add", "rule", "inet", "fh2hloss", "ingress", &rule])?;
            }
        }
        Ok(())
    }

    fn add_netns(&mut self, name: &str) -> anyhow::Result<()> {
        run(Command::new("ip").args(["netns", "add", name]))?;
        self.created.push(name.to_owned());
        Ok(())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for name in self.created.iter().rev() {
            delete_netns(name);
        }
    }
}

/// Limits what `host` sends to `rate_bps` with a tbf on its link (a NIC's speed, for a server).
pub fn limit_rate(host: &Host, rate_bps: u64) -> anyhow::Result<()> {
    let burst = ((rate_bps as f64 / 8.0 * TBF_BURST_SECONDS) as u64).max(TBF_MIN_BURST_BYTES);
    run(Command::new("tc").args(["-n", &host.netns, "qdisc", "add", "dev", HOST_IFACE, "root", "tbf"]).args([
        "rate",
        &format!("{rate_bps}bit"),
        "burst",
        &format!("{burst}b"),
        "limit",
        &format!("{TBF_LIMIT_BYTES}b"),
    ]))
}

fn host_addr(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(SUBNET_PREFIX[0], SUBNET_PREFIX[1], SUBNET_PREFIX[2], host)
}

/// Turns UDP segmentation offload off on `dev` in `netns`.
fn ethtool_no_gso(netns: &str, dev: &str) -> anyhow::Result<()> {
    run(Command::new("ip").args(["netns", "exec", netns, "ethtool", "-K", dev, "tx-udp-segmentation", "off"]))
}

fn nft(netns: &str, args: &[&str]) -> anyhow::Result<()> {
    run(Command::new("ip").args(["netns", "exec", netns, "nft"]).args(args))
}

fn ip(netns: &str, args: &[&str]) -> anyhow::Result<()> {
    run(Command::new("ip").args(["-n", netns]).args(args))
}

/// Kills what still runs in a namespace (only processes we started can be there) and deletes it, which
/// takes its interfaces, qdiscs and nftables rules with it.
fn delete_netns(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).stderr(Stdio::null()).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).stderr(Stdio::null()).status();
        }
    }
    let _ = run(Command::new("ip").args(["netns", "del", name]));
}

fn list_netns() -> Vec<String> {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| l.split_whitespace().next().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Removes namespaces `<prefix><pid>-*` whose pid no longer runs (a run killed before its drop guards).
fn remove_stale(prefix: &str) {
    for name in list_netns() {
        let Some(rest) = name.strip_prefix(prefix) else { continue };
        let Some((pid, _)) = rest.split_once('-') else { continue };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            delete_netns(&name);
        }
    }
}

/// Runs a setup command with a time limit; its stderr becomes the error.
pub(crate) fn run(command: &mut Command) -> anyhow::Result<()> {
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn()?;
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
            }
            anyhow::bail!("{command:?} failed ({status}): {}", err.trim());
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("{command:?} took longer than {COMMAND_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
