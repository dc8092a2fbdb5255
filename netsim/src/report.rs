//! Results: per-protocol outcomes, the summary table, JSON, and the event-trace hash.

use crate::net::Nanos;
use hdrhistogram::Histogram;
use serde::Serialize;

/// A hash of the event trace (FNV-1a over every recorded event), so two runs of one seed can be
/// compared without storing the trace.
#[derive(Debug, Clone, Copy)]
pub struct Trace {
    hash: u64,
    events: u64,
}

impl Default for Trace {
    fn default() -> Self {
        Self { hash: 0xcbf2_9ce4_8422_2325, events: 0 }
    }
}

impl Trace {
    /// Records one event: when, who, what kind, and one detail.
    pub fn record(&mut self, at: Nanos, who: u64, kind: u64, detail: u64) {
        for word in [at, who, kind, detail] {
            for byte in word.to_le_bytes() {
                self.hash ^= u64::from(byte);
                self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        self.events += 1;
    }

    /// The hash so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Events recorded.
    pub fn events(&self) -> u64 {
        self.events
    }
}

/// What one protocol achieved on a plan.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Protocol name.
    pub protocol: String,
    /// Per node: when it held the whole object, verified (`None`: never).
    pub completion_ns: Vec<Option<Nanos>>,
    /// Per node: whether the plan slowed or faulted it (see `net::Faults::is_faulted`).
    pub faulted: Vec<bool>,
    /// Payload bytes the sender put on the wire (all copies, all retransmissions).
    pub sender_payload_bytes: u64,
    /// Data packets the sender sent.
    pub data_packets: u64,
    /// Feedback packets that reached the sender.
    pub feedback_packets: u64,
    /// When the sender finished (`None`: deadline).
    pub finished_ns: Option<Nanos>,
    /// Simulated events (packet deliveries included).
    pub events: u64,
    /// Full bytes only: nodes whose output equals the object.
    pub verified_nodes: Option<usize>,
    /// Repair symbols (fountain) or retransmitted packets (baselines).
    pub repair_symbols: u64,
    /// Nodes that stored more blocks than the distinct symbols they took in allow (must be 0).
    pub conservation_violations: usize,
    /// Symbols nodes took in from peers rather than the sender (fountain with peer repair).
    pub peer_symbols: u64,
    /// Symbols receivers dropped because their window of open assemblies was full, plus
    /// assemblies it evicted (fountain; see `ReceiverConfig::max_assemblies`). Each is asked
    /// for again like a loss, so a large count costs repair, peer traffic and simulated events.
    pub window_drops: u64,
}

/// One row of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Protocol.
    pub protocol: String,
    /// Completion time percentiles over nodes that finished, seconds.
    pub p50_s: f64,
    /// 99th percentile.
    pub p99_s: f64,
    /// Last node.
    pub max_s: f64,
    /// Last node ÷ the lower bound.
    pub max_ratio: f64,
    /// Last node that the plan neither slowed nor faulted ÷ the lower bound.
    pub max_ratio_unfaulted: f64,
    /// Sender payload bytes ÷ object bytes.
    pub sender_bytes_ratio: f64,
    /// Feedback packets at the sender.
    pub feedback_packets: u64,
    /// Feedback ÷ data packets, percent.
    pub feedback_pct: f64,
    /// Nodes that never finished.
    pub failed_nodes: usize,
    /// Symbols dropped at the receivers' assembly window (see [`Outcome::window_drops`]).
    pub window_drops: u64,
    /// Full bytes only: nodes whose output hash-matched the object.
    pub verified_nodes: Option<usize>,
    /// Simulated events.
    pub events: u64,
    /// Wall-clock seconds the simulation took.
    pub wall_s: f64,
    /// Events per wall-clock second.
    pub events_per_s: f64,
}

impl Row {
    /// Summarises `outcome` against the lower bound `bound_s`.
    pub fn new(outcome: &Outcome, object_bytes: u64, bound_s: f64, wall_s: f64) -> Self {
        let mut histogram = Histogram::<u64>::new(3).expect("3 significant digits is valid");
        let mut max_unfaulted = 0u64;
        for (done, faulted) in outcome.completion_ns.iter().zip(&outcome.faulted) {
            if let Some(ns) = done {
                histogram.record((ns / 1000).max(1)).expect("auto-resizing histogram");
                if !faulted {
                    max_unfaulted = max_unfaulted.max(*ns);
                }
            }
        }
        let failed = outcome.completion_ns.iter().filter(|d| d.is_none()).count();
        let secs = |us: u64| us as f64 / 1e6;
        let max_s = secs(histogram.max());
        Self {
            protocol: outcome.protocol.clone(),
            p50_s: secs(histogram.value_at_quantile(0.5)),
            p99_s: secs(histogram.value_at_quantile(0.99)),
            max_s,
            max_ratio: max_s / bound_s,
            max_ratio_unfaulted: max_unfaulted as f64 / 1e9 / bound_s,
            sender_bytes_ratio: outcome.sender_payload_bytes as f64 / object_bytes as f64,
            feedback_packets: outcome.feedback_packets,
            feedback_pct: 100.0 * outcome.feedback_packets as f64 / outcome.data_packets.max(1) as f64,
            failed_nodes: failed,
            window_drops: outcome.window_drops,
            verified_nodes: outcome.verified_nodes,
            events: outcome.events,
            wall_s,
            events_per_s: outcome.events as f64 / wall_s.max(1e-9),
        }
    }
}

/// The whole report of one plan.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Plan name.
    pub plan: String,
    /// Seed.
    pub seed: u64,
    /// Nodes.
    pub nodes: usize,
    /// Object bytes.
    pub object_bytes: u64,
    /// Lower bound: object ÷ UDP goodput of the slowest link on the normal path, seconds.
    pub bound_s: f64,
    /// Without multicast (`fountain_swarm`, whose row is measured against it): the most of
    /// object ÷ the sender's uplink, object ÷ a node's downlink, and N·object ÷ every uplink
    /// together (sender and nodes), at UDP goodput, seconds.
    pub swarm_bound_s: Option<f64>,
    /// Hash of fountain's event trace (same seed ⇒ same hash).
    pub trace_hash: String,
    /// One row per protocol.
    pub rows: Vec<Row>,
}

impl Report {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data serialises")
    }

    /// The report as one line of JSON, for a benchmark's output.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("plain data serialises")
    }

    /// The table, one protocol per line.
    pub fn table(&self) -> String {
        let mut out = format!(
            "plan {} · {} nodes · {:.0} MiB · seed {} · bound {:.3} s · trace {}\n",
            self.plan,
            self.nodes,
            self.object_bytes as f64 / 1048576.0,
            self.seed,
            self.bound_s,
            self.trace_hash
        );
        if let Some(swarm) = self.swarm_bound_s {
            out += &format!("without multicast: swarm bound {swarm:.3} s (fountain_swarm's max/bound is against it)\n");
        }
        out += "| protocol | p50 s | p99 s | max s | max/bound | max/bound (not faulted) | sender bytes/object | feedback pkts | feedback/data | failed | wall s | events/s |\n";
        out += "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
        for r in &self.rows {
            out += &format!(
                "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {:.3}% | {}{} | {:.1} | {:.2e} |\n",
                r.protocol,
                r.p50_s,
                r.p99_s,
                r.max_s,
                r.max_ratio,
                r.max_ratio_unfaulted,
                r.sender_bytes_ratio,
                r.feedback_packets,
                r.feedback_pct,
                r.failed_nodes,
                r.verified_nodes.map_or(String::new(), |v| format!(" ({v} verified)")),
                r.wall_s,
                r.events_per_s
            );
        }
        // Not a column: it is zero unless the receivers' window is too small for the plan, and
        // then it explains why repair and the run's events grew.
        for r in self.rows.iter().filter(|r| r.window_drops > 0) {
            out += &format!("{}: receivers dropped {} symbols at their assembly window\n", r.protocol, r.window_drops);
        }
        out
    }
}
