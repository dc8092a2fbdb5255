//! Simulation plans: small TOML files describing topology, object, loss, faults, seed and the
//! protocols to compare (the s2n-quic-sim habit).

use serde::Deserialize;
use std::path::Path;

/// Why a plan could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The plan's path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown keys.
    #[error("parsing plan: {0}")]
    Parse(#[from] toml::de::Error),
    /// The values make no sense together.
    #[error("invalid plan: {0}")]
    Invalid(String),
}

/// One simulation plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Shown in the report.
    pub name: String,
    /// The one seed every random choice derives from.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Receivers.
    pub nodes: usize,
    /// Racks the receivers are spread over (round-robin by index).
    #[serde(default = "default_racks")]
    pub racks: usize,
    /// Object size in MiB.
    pub object_mib: u64,
    /// `"accounting"` (no payload bytes) or `"bytes"` (real RaptorQ, real hashes).
    #[serde(default = "default_fidelity")]
    pub fidelity: Fidelity,
    /// Symbol size T in bytes.
    #[serde(default = "default_symbol_size")]
    pub symbol_size: u16,
    /// Source symbols per block K.
    #[serde(default = "default_block_symbols")]
    pub block_symbols: u32,
    /// Links.
    #[serde(default)]
    pub links: Links,
    /// Loss on each node's downlink (and on its feedback).
    #[serde(default)]
    pub loss: Loss,
    /// Faults in virtual time.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Sender knobs.
    #[serde(default)]
    pub sender: SenderKnobs,
    /// Peer repair knobs.
    #[serde(default)]
    pub peers: PeerKnobs,
    /// Stateless boot storm knobs (the `stateless_*` protocols).
    #[serde(default)]
    pub stateless: crate::stateless::StatelessKnobs,
    /// Protocols to run: `fountain`, `sequential_unicast`, `parallel_unicast`, `udpcast`,
    /// `stateless_two_choices`, `stateless_uniform`, `stateless_one_server`.
    #[serde(default = "default_protocols")]
    pub protocols: Vec<String>,
    /// Granularity at which simulated receivers react to data (their timers are exact).
    #[serde(default = "default_tick_us")]
    pub tick_us: u64,
    /// Give up (and count unfinished nodes as failed) after this much virtual time.
    #[serde(default = "default_deadline_s")]
    pub deadline_s: u64,
}

/// Simulation fidelity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fidelity {
    /// Symbol accounting: no payloads; decodes succeed with RaptorQ's probability.
    Accounting,
    /// Real symbols, real RaptorQ decodes, real blake3 checks.
    Bytes,
}

/// Link speeds, latencies and queues.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Links {
    /// Sender's link to the core switch, bits/s.
    pub sender_bps: u64,
    /// Each rack's uplink (core → top of rack), bits/s.
    pub uplink_bps: u64,
    /// Each node's link (top of rack → node), bits/s.
    pub node_bps: u64,
    /// Propagation + switching latency per hop, µs.
    pub hop_latency_us: u64,
    /// Uniform extra delay per packet per path, 0..jitter µs (order is kept: FIFO links).
    pub jitter_us: u64,
    /// Drop-tail queue of each switch port, packets.
    pub queue_packets: u64,
}

impl Default for Links {
    fn default() -> Self {
        Self {
            sender_bps: 10_000_000_000,
            uplink_bps: 40_000_000_000,
            node_bps: 10_000_000_000,
            hop_latency_us: 5,
            jitter_us: 0,
            queue_packets: 512,
        }
    }
}

/// Loss model.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum Loss {
    /// Independent loss with probability `rate`.
    Bernoulli {
        /// Loss probability per packet.
        rate: f64,
    },
    /// Gilbert–Elliott bursts: a good and a bad state with their own loss rates.
    GilbertElliott {
        /// Per-packet probability of going from good to bad.
        p_good_to_bad: f64,
        /// Per-packet probability of going from bad to good.
        p_bad_to_good: f64,
        /// Loss rate in the good state.
        loss_good: f64,
        /// Loss rate in the bad state.
        loss_bad: f64,
    },
}

impl Default for Loss {
    fn default() -> Self {
        Loss::Bernoulli { rate: 0.0 }
    }
}

impl Loss {
    /// The long-run loss rate.
    pub fn mean_rate(&self) -> f64 {
        match *self {
            Loss::Bernoulli { rate } => rate,
            Loss::GilbertElliott { p_good_to_bad, p_bad_to_good, loss_good, loss_bad } => {
                let bad = p_good_to_bad / (p_good_to_bad + p_bad_to_good);
                bad * loss_bad + (1.0 - bad) * loss_good
            }
        }
    }
}

/// A fault in virtual time. Node faults name nodes by index, or pick `fraction` of all nodes
/// with the plan's RNG.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Nodes crash at `at_ms` and restart at `restart_ms` (resuming from their journal).
    Crash {
        /// Chosen nodes.
        #[serde(default)]
        nodes: Vec<usize>,
        /// Or this fraction of all nodes.
        #[serde(default)]
        fraction: f64,
        /// Crash time.
        at_ms: u64,
        /// Restart time (none: stays down).
        restart_ms: Option<u64>,
    },
    /// Nodes that join at `at_ms` instead of at the start.
    LateJoin {
        /// Chosen nodes.
        #[serde(default)]
        nodes: Vec<usize>,
        /// Or this fraction of all nodes.
        #[serde(default)]
        fraction: f64,
        /// Join time.
        at_ms: u64,
    },
    /// Nodes whose NIC runs at `speed` × the others' link rate.
    Slow {
        /// Chosen nodes.
        #[serde(default)]
        nodes: Vec<usize>,
        /// Or this fraction of all nodes.
        #[serde(default)]
        fraction: f64,
        /// Fraction of the normal link rate.
        speed: f64,
    },
    /// Every node's link changes to `speed` × its rate at `at_ms` (a bottleneck that halves in
    /// the middle of a session: another tenant's traffic, a trunk member down). The sender is
    /// not told: under an adaptive rate it must find the new bottleneck from its receivers.
    LinkRate {
        /// When the links change.
        at_ms: u64,
        /// Fraction of the normal link rate from then on.
        speed: f64,
    },
    /// A rack's uplink fails from `at_ms` to `until_ms`: nothing passes either way.
    UplinkFail {
        /// The rack.
        rack: usize,
        /// Failure start.
        at_ms: u64,
        /// Repair.
        until_ms: u64,
    },
}

/// Sender knobs a plan may set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SenderKnobs {
    /// Sending rate as a fraction of the slowest link on the normal path, in wire bits (the
    /// sender is told the bottleneck; it holds the rate).
    pub rate_fraction: f64,
    /// Instead of `rate_fraction`: the sender's ceiling in bits/s, whatever the path (capped at
    /// its own link), with adaptive rate control finding the bottleneck below it, as a sender
    /// told its NIC's speed does on a real network.
    pub rate_bps: Option<u64>,
    /// Proactive repair with the first pass, percent of K.
    pub repair_overhead_pct: f64,
    /// Blocks interleaved by the first pass.
    pub interleave_blocks: u32,
    /// Receiver feedback: data packets per report of the whole group (100 ⇒ ≤ ~1%).
    pub data_packets_per_report: u32,
}

impl Default for SenderKnobs {
    fn default() -> Self {
        Self { rate_fraction: 0.99, rate_bps: None, repair_overhead_pct: 1.0, interleave_blocks: 8, data_packets_per_report: 100 }
    }
}

/// Peer repair knobs a plan may set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeerKnobs {
    /// Receivers ask and serve peers.
    pub enabled: bool,
    /// How fast a member serves one request, as a fraction of its link.
    pub serve_fraction: f64,
    /// Requests a member serves side by side (with `serve_fraction`, at most 1 of its link).
    pub serve_streams: usize,
    /// Requests a member keeps outstanding; with `serve_fraction` it sets how fast a node pulls
    /// from peers (their product near 1 fills its link).
    pub asks_in_flight: usize,
    /// A request unanswered this long goes to another peer, ms. The receivers' defaults
    /// (200/200/50 ms) suit real hosts with scheduling jitter and links of unknown speed; a
    /// simulated datacenter with known links can be tighter.
    pub ask_timeout_ms: u64,
    /// A request answered and then silent this long is asked again, ms.
    pub ask_stall_ms: u64,
    /// Granted symbols a member queues at most, ms at its serving rate.
    pub serve_backlog_ms: u64,
}

impl Default for PeerKnobs {
    fn default() -> Self {
        Self { enabled: true, serve_fraction: 0.24, serve_streams: 4, asks_in_flight: 4, ask_timeout_ms: 8, ask_stall_ms: 20, serve_backlog_ms: 4 }
    }
}

fn default_seed() -> u64 {
    1
}
fn default_racks() -> usize {
    1
}
fn default_fidelity() -> Fidelity {
    Fidelity::Accounting
}
fn default_symbol_size() -> u16 {
    fec::layout::DEFAULT_SYMBOL_SIZE
}
fn default_block_symbols() -> u32 {
    fec::layout::DEFAULT_BLOCK_SYMBOLS
}
fn default_protocols() -> Vec<String> {
    vec!["fountain".into()]
}
fn default_tick_us() -> u64 {
    500
}
fn default_deadline_s() -> u64 {
    600
}

impl Plan {
    /// Parses and checks a plan.
    pub fn parse(text: &str) -> Result<Self, PlanError> {
        let plan: Plan = toml::from_str(text)?;
        plan.validate()?;
        Ok(plan)
    }

    /// Reads a plan file.
    pub fn load(path: &Path) -> Result<Self, PlanError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| PlanError::Io { path: path.display().to_string(), source })?;
        Self::parse(&text)
    }

    /// Checks that the values make sense together (after overrides).
    pub fn validate(&self) -> Result<(), PlanError> {
        let bad = |why: &str| Err(PlanError::Invalid(why.into()));
        if self.nodes == 0 || self.racks == 0 || self.racks > self.nodes {
            return bad("need 1 <= racks <= nodes");
        }
        if self.object_mib == 0 || self.tick_us == 0 {
            return bad("object_mib and tick_us must be positive");
        }
        if !(0.0..1.0).contains(&self.loss.mean_rate()) {
            return bad("loss rate must be in [0, 1)");
        }
        if !(0.01..=1.0).contains(&self.sender.rate_fraction) {
            return bad("sender.rate_fraction must be in [0.01, 1]");
        }
        let serving = self.peers.serve_fraction * self.peers.serve_streams as f64;
        if !(0.001..=1.0).contains(&serving) || self.peers.asks_in_flight == 0 {
            return bad("peers.serve_fraction × serve_streams must be in [0.001, 1] and peers.asks_in_flight positive");
        }
        for protocol in &self.protocols {
            if !crate::PROTOCOLS.contains(&protocol.as_str()) {
                return Err(PlanError::Invalid(format!("unknown protocol {protocol:?}; known: {:?}", crate::PROTOCOLS)));
            }
        }
        if self.sender.rate_bps == Some(0) {
            return bad("sender.rate_bps must be positive");
        }
        for fault in &self.faults {
            match fault {
                Fault::UplinkFail { rack, .. } if *rack >= self.racks => return bad("uplink_fail names a rack that does not exist"),
                Fault::LinkRate { speed, .. } if !(0.01..=1.0).contains(speed) => return bad("link_rate speed must be in [0.01, 1]"),
                _ => {}
            }
        }
        fec::ObjectLayout::new(self.object_bytes(), self.symbol_size, self.block_symbols)
            .map_err(|e| PlanError::Invalid(e.to_string()))?;
        Ok(())
    }

    /// Object size in bytes.
    pub fn object_bytes(&self) -> u64 {
        self.object_mib << 20
    }
}
