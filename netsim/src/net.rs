//! The network model: links with finite drop-tail queues, loss models, and the per-node view of
//! the topology (sender → core → rack uplink → top of rack → node) with its faults.

use crate::plan::{Fault, Loss, Plan};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Virtual time in nanoseconds since the start of the simulation.
pub type Nanos = u64;

/// Ethernet preamble, header, FCS and inter-frame gap: wire bytes around every IP packet.
pub const ETHERNET_OVERHEAD: u64 = 38;
/// IPv4 + UDP headers.
pub const IP_UDP_OVERHEAD: u64 = fec::wire::IPV4_UDP_HEADER_LEN as u64;
/// Standard Ethernet MTU.
pub const MTU: u64 = 1500;

/// Nanoseconds one nanosecond-clock needs to put `ip_bytes` on a link of `bps`.
pub fn serialization_ns(ip_bytes: u64, bps: u64) -> Nanos {
    (ip_bytes + ETHERNET_OVERHEAD) * 8 * 1_000_000_000 / bps.max(1)
}

/// The physical bound of a multicast sender: UDP payload goodput of an MTU-1500 link.
pub fn udp_goodput_bps(link_bps: u64) -> f64 {
    link_bps as f64 * (MTU - IP_UDP_OVERHEAD) as f64 / (MTU + ETHERNET_OVERHEAD) as f64
}

/// One direction of a link: a FIFO server with a drop-tail queue.
#[derive(Debug, Clone)]
pub struct LinkQueue {
    bps: u64,
    /// When the last admitted packet finishes serialising.
    busy_until: Nanos,
    queue_packets: u64,
    /// Serialisation time of a full-size packet, which sizes the queue.
    mtu_ns: Nanos,
    /// The last packet size seen and its serialisation time: nearly every packet is a data
    /// packet of one size, and this saves a division per packet per hop.
    last: (u64, Nanos),
    /// A change of rate to come: from this time on, this many bits per second.
    change: Option<(Nanos, u64)>,
}

impl LinkQueue {
    /// A link of `bps` whose port buffers `queue_packets` full-size packets.
    pub fn new(bps: u64, queue_packets: u64) -> Self {
        let mtu_ns = serialization_ns(MTU, bps);
        Self { bps, busy_until: 0, queue_packets, mtu_ns, last: (MTU, mtu_ns), change: None }
    }

    /// This link, whose rate becomes `bps` at `at` (see [`crate::plan::Fault::LinkRate`]).
    pub fn changing_at(mut self, at: Nanos, bps: u64) -> Self {
        self.change = Some((at, bps));
        self
    }

    /// A packet of `ip_bytes` reaches the port at `at`: when it has left the link, or `None`
    /// if the queue is full (drop-tail).
    #[inline]
    pub fn admit(&mut self, at: Nanos, ip_bytes: u64) -> Option<Nanos> {
        if let Some((from, bps)) = self.change
            && at >= from
        {
            *self = Self { busy_until: self.busy_until, ..Self::new(bps, self.queue_packets) };
        }
        if self.last.0 != ip_bytes {
            self.last = (ip_bytes, serialization_ns(ip_bytes, self.bps));
        }
        let service = self.last.1;
        let backlog = self.busy_until.saturating_sub(at);
        if backlog > service.max(self.mtu_ns) * self.queue_packets {
            return None;
        }
        self.busy_until = self.busy_until.max(at) + service;
        Some(self.busy_until)
    }
}

/// Per-path loss state.
#[derive(Debug, Clone)]
pub struct LossState {
    model: Loss,
    bad: bool,
    /// Bernoulli only: packets that still get through before the next loss, drawn once per
    /// loss (geometric) rather than one draw per packet; `None` until drawn.
    gap: Option<u64>,
}

impl LossState {
    /// Starts in the good state.
    pub fn new(model: Loss) -> Self {
        Self { model, bad: false, gap: None }
    }

    /// Whether the next packet is lost.
    #[inline]
    pub fn lose(&mut self, rng: &mut ChaCha8Rng) -> bool {
        match self.model {
            Loss::Bernoulli { rate } if rate <= 0.0 => false,
            Loss::Bernoulli { rate } => {
                let gap = self.gap.get_or_insert_with(|| geometric(rate, rng));
                if *gap == 0 {
                    self.gap = None;
                    return true;
                }
                *gap -= 1;
                false
            }
            Loss::GilbertElliott { p_good_to_bad, p_bad_to_good, loss_good, loss_bad } => {
                let flip = if self.bad { p_bad_to_good } else { p_good_to_bad };
                if rng.gen_bool(flip) {
                    self.bad = !self.bad;
                }
                let rate = if self.bad { loss_bad } else { loss_good };
                rate > 0.0 && rng.gen_bool(rate)
            }
        }
    }
}

/// Independent trials of success probability `p` that fail before the first success: the
/// same distribution as counting `gen_bool(p)` draws, from a single draw (inversion).
pub fn geometric(p: f64, rng: &mut ChaCha8Rng) -> u64 {
    if p >= 1.0 {
        return 0;
    }
    // The cast saturates when `p` is tiny.
    let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
    (u.ln() / (1.0 - p).ln()) as u64
}

/// What the faults of a plan mean for one node.
#[derive(Debug, Clone, Default)]
pub struct NodeFaults {
    /// When the node comes up first.
    pub join_at: Nanos,
    /// Down intervals `[from, until)`; `until = None` is forever.
    pub crashes: Vec<(Nanos, Option<Nanos>)>,
    /// Link speed factor.
    pub speed: f64,
}

/// The faults of a plan, resolved per node and rack.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Per node.
    pub nodes: Vec<NodeFaults>,
    /// Per rack: uplink down intervals.
    pub uplink_down: Vec<Vec<(Nanos, Nanos)>>,
    /// When every node's link changes rate, and to what fraction of it.
    pub link_rate: Option<(Nanos, f64)>,
}

const MS: Nanos = 1_000_000;

impl Faults {
    /// Resolves `plan`'s faults, picking nodes for fractional faults with `rng`.
    pub fn resolve(plan: &Plan, rng: &mut ChaCha8Rng) -> Self {
        let mut nodes = vec![NodeFaults { join_at: 0, crashes: Vec::new(), speed: 1.0 }; plan.nodes];
        let mut uplink_down = vec![Vec::new(); plan.racks];
        let mut link_rate = None;
        let pick = |named: &[usize], fraction: f64, rng: &mut ChaCha8Rng| -> Vec<usize> {
            let mut chosen: Vec<usize> = named.iter().copied().filter(|&n| n < plan.nodes).collect();
            let extra = (fraction * plan.nodes as f64).round() as usize;
            if extra > 0 {
                let mut all: Vec<usize> = (0..plan.nodes).collect();
                all.shuffle(rng);
                chosen.extend(all.into_iter().take(extra));
            }
            chosen
        };
        for fault in &plan.faults {
            match fault {
                Fault::Crash { nodes: named, fraction, at_ms, restart_ms } => {
                    for n in pick(named, *fraction, rng) {
                        nodes[n].crashes.push((at_ms * MS, restart_ms.map(|r| r * MS)));
                    }
                }
                Fault::LateJoin { nodes: named, fraction, at_ms } => {
                    for n in pick(named, *fraction, rng) {
                        nodes[n].join_at = at_ms * MS;
                    }
                }
                Fault::Slow { nodes: named, fraction, speed } => {
                    for n in pick(named, *fraction, rng) {
                        nodes[n].speed = speed.clamp(0.001, 1.0);
                    }
                }
                Fault::UplinkFail { rack, at_ms, until_ms } => uplink_down[*rack].push((at_ms * MS, until_ms * MS)),
                Fault::LinkRate { at_ms, speed } => link_rate = Some((at_ms * MS, *speed)),
            }
        }
        Self { nodes, uplink_down, link_rate }
    }

    /// Whether `rack`'s uplink is down at `at`.
    pub fn uplink_is_down(&self, rack: usize, at: Nanos) -> bool {
        self.uplink_down[rack].iter().any(|&(from, until)| at >= from && at < until)
    }

    /// A node link of `bps` under these faults: it changes rate if the plan says so.
    pub fn node_link(&self, bps: u64, queue_packets: u64) -> LinkQueue {
        let link = LinkQueue::new(bps, queue_packets);
        match self.link_rate {
            Some((at, speed)) => link.changing_at(at, (bps as f64 * speed) as u64),
            None => link,
        }
    }

    /// Whether the plan slowed or faulted `node`: a slow link, a crash, a late join, or a
    /// rack uplink that goes down. The others are the nodes whose times the straggler targets
    /// are about (issue 18: they must not wait for the faulted ones).
    pub fn is_faulted(&self, node: usize) -> bool {
        let faults = &self.nodes[node];
        faults.speed < 1.0
            || !faults.crashes.is_empty()
            || faults.join_at > 0
            || self.uplink_down.get(node % self.uplink_down.len().max(1)).is_some_and(|down| !down.is_empty())
    }
}
