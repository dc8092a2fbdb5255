//! Stateless boot storms at flow level: every node loads the whole image over HTTP from one of
//! several image servers the control plane chose for it (uniformly at random, or the less loaded
//! of two by power of two choices: the control plane's own [`control::selection`]), or every node
//! from the control plane alone (the Warewulf way). A server shares its link equally among the
//! downloads it serves (TCP fair share), each capped by the node's link. A server killed mid-storm
//! loses its downloads; each of its nodes moves, after the fetch's retries, to the least loaded
//! live server and keeps the bytes it had (blocks are verified as they land, so nothing is fetched
//! twice). The busiest server's load is the number of nodes the policy chose it for.

use crate::net::Nanos;
use crate::plan::Plan;
use crate::report::Outcome;
use control::selection::{Policy, choose};
use control::stateless::StatelessServer;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

/// The `[stateless]` section of a plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatelessKnobs {
    /// Image servers (the control plane is not one of them here).
    pub servers: usize,
    /// Each server's link, bits/s (the control plane's too, when it serves alone).
    pub server_bps: u64,
    /// When the first image server dies, ms (none: no server dies).
    pub kill_at_ms: Option<u64>,
    /// Time a node takes to give up on a dead server (the fetch's retries), ms.
    pub failover_ms: u64,
}

impl Default for StatelessKnobs {
    fn default() -> Self {
        Self { servers: 4, server_bps: 10_000_000_000, kill_at_ms: None, failover_ms: 300 }
    }
}

/// Where the nodes load from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// Image servers chosen by `policy`.
    Servers(Policy),
    /// The control plane alone.
    OneServer,
}

/// A storm's result: the usual outcome, and what the choice did.
#[derive(Debug, Clone)]
pub struct StormOutcome {
    /// Completion times and counts.
    pub outcome: Outcome,
    /// Nodes each server was chosen for.
    pub assigned: Vec<u64>,
    /// Nodes that moved off the killed server.
    pub failed_over: usize,
}

/// One node's download.
#[derive(Debug, Clone, Copy)]
struct Download {
    server: usize,
    left_bits: f64,
    /// Not before this time (a node waiting out its retries after a server died).
    resume_at: Nanos,
    done: Option<Nanos>,
}

/// Runs a storm of `plan.nodes` nodes loading `plan.object_mib` from `sources`.
pub fn storm(plan: &Plan, sources: Sources) -> StormOutcome {
    let knobs = &plan.stateless;
    let (count, kill_at) = match sources {
        Sources::Servers(_) => (knobs.servers.max(1), knobs.kill_at_ms.map(|ms| ms * 1_000_000)),
        Sources::OneServer => (1, None),
    };
    let mut servers: Vec<StatelessServer> =
        (0..count).map(|i| StatelessServer { id: i as i64, url: format!("http://server{i}"), weight: 1, healthy: true, load: 0 }).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let policy = match sources {
        Sources::Servers(p) => p,
        Sources::OneServer => Policy::Random,
    };
    let bits = plan.object_bytes() as f64 * 8.0;
    let mut nodes: Vec<Download> = (0..plan.nodes)
        .map(|_| {
            let server = choose(policy, &servers, &mut rng).expect("a healthy server");
            servers[server].load += 1;
            Download { server, left_bits: bits, resume_at: 0, done: None }
        })
        .collect();
    let assigned = servers.iter().map(|s| s.load).collect();
    let capacity = crate::baselines::tcp_goodput_bps(knobs.server_bps as f64, plan.loss.mean_rate());
    let node_cap = crate::baselines::tcp_goodput_bps(plan.links.node_bps as f64, plan.loss.mean_rate());
    let mut alive = vec![true; count];
    let mut now: Nanos = 0;
    let mut failed_over = 0;
    let mut events = 0u64;
    let deadline = plan.deadline_s * 1_000_000_000;
    while nodes.iter().any(|n| n.done.is_none()) && now < deadline {
        events += 1;
        let mut active = vec![0usize; count];
        for n in nodes.iter().filter(|n| n.done.is_none() && n.resume_at <= now) {
            active[n.server] += 1;
        }
        let rate = |n: &Download| if n.done.is_none() && n.resume_at <= now { (capacity / active[n.server] as f64).min(node_cap) } else { 0.0 };
        // The next event: a download ends, a node resumes, or the server dies.
        let mut next = deadline;
        for n in &nodes {
            let r = rate(n);
            if r > 0.0 {
                next = next.min(now + (n.left_bits / r * 1e9).ceil() as Nanos);
            } else if n.done.is_none() {
                next = next.min(n.resume_at);
            }
        }
        if let Some(k) = kill_at.filter(|&k| k > now && alive[0]) {
            next = next.min(k);
        }
        let dt = (next - now) as f64 / 1e9;
        let rates: Vec<f64> = nodes.iter().map(rate).collect();
        now = next.max(now + 1);
        for (n, r) in nodes.iter_mut().zip(rates) {
            if r > 0.0 {
                n.left_bits -= r * dt;
                if n.left_bits <= 1e-3 {
                    n.done = Some(now);
                }
            }
        }
        if kill_at.is_some_and(|k| now >= k) && alive[0] {
            alive[0] = false;
            for n in nodes.iter_mut().filter(|n| n.server == 0 && n.done.is_none()) {
                let live = (1..count).filter(|&s| alive[s]).min_by_key(|&s| servers[s].load);
                let Some(to) = live else { break };
                servers[to].load += 1;
                n.server = to;
                n.resume_at = now + knobs.failover_ms * 1_000_000;
                failed_over += 1;
            }
        }
    }
    let completion: Vec<Option<Nanos>> = nodes.iter().map(|n| n.done).collect();
    let name = match sources {
        Sources::Servers(Policy::TwoChoices) => "stateless_two_choices",
        Sources::Servers(Policy::Random) => "stateless_uniform",
        Sources::OneServer => "stateless_one_server",
    };
    let outcome = Outcome {
        protocol: name.into(),
        finished_ns: completion.iter().all(Option::is_some).then(|| completion.iter().flatten().max().copied()).flatten(),
        faulted: vec![false; plan.nodes],
        completion_ns: completion,
        sender_payload_bytes: plan.object_bytes() * plan.nodes as u64,
        data_packets: 0,
        feedback_packets: 0,
        events,
        verified_nodes: None,
        repair_symbols: 0,
        conservation_violations: 0,
        peer_symbols: 0,
        window_drops: 0,
    };
    StormOutcome { outcome, assigned, failed_over }
}
