//! netsim: a deterministic network simulator that drives fountain's real sans-IO
//! `SenderSession` and `ReceiverSession`s over a modelled datacenter network (sender → core →
//! racks → nodes, finite queues, loss, faults), next to baseline protocols on the same plan.
//!
//! One seed drives every random choice: the plan's seed seeds a ChaCha8 generator that picks
//! fault targets and seeds one derived stream per node and per session, so the same plan gives
//! the same event trace however the simulator orders its work.

pub mod baselines;
pub mod fountain;
pub mod net;
pub mod plan;
pub mod report;
mod rounds;
pub mod stateless;

pub use plan::{Plan, PlanError};
pub use report::{Outcome, Report, Row, Trace};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// Protocols a plan may ask for.
pub const PROTOCOLS: [&str; 8] = [
    "fountain",
    "fountain_swarm",
    "sequential_unicast",
    "parallel_unicast",
    "udpcast",
    "stateless_two_choices",
    "stateless_uniform",
    "stateless_one_server",
];

/// Runs every protocol of `plan` and summarises them.
pub fn run(plan: &Plan) -> Report {
    run_outcomes(plan).0
}

/// Runs every protocol of `plan`: the report and each protocol's raw outcome. fountain's nodes
/// advance on `NETSIM_THREADS` threads if set (to share a busy machine, or to time one core),
/// else on every core the machine offers.
pub fn run_outcomes(plan: &Plan) -> (Report, Vec<Outcome>) {
    let threads = std::env::var("NETSIM_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    run_outcomes_on(plan, threads)
}

/// [`run_outcomes`] with fountain's nodes on `threads` threads; the results are the same for
/// any count.
pub fn run_outcomes_on(plan: &Plan, threads: usize) -> (Report, Vec<Outcome>) {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let faults = net::Faults::resolve(plan, &mut rng);
    let path_bps = plan.links.sender_bps.min(plan.links.uplink_bps).min(plan.links.node_bps);
    let bound_s = bound_s(plan.object_bytes() as f64 * 8.0, net::udp_goodput_bps(path_bps), faults.link_rate);
    let swarm_bound_s = plan.protocols.iter().any(|p| p == "fountain_swarm").then(|| swarm_bound_s(plan, &faults));
    let mut trace = Trace::default();
    let mut rows = Vec::new();
    let mut outcomes = Vec::new();
    for protocol in &plan.protocols {
        let started = Instant::now();
        let outcome = match protocol.as_str() {
            "fountain" => fountain::run(plan, &mut rng, &faults, &mut trace, threads, fountain::Delivery::Multicast),
            "fountain_swarm" => fountain::run(plan, &mut rng, &faults, &mut trace, threads, fountain::Delivery::Swarm),
            "sequential_unicast" => baselines::sequential_unicast(plan, &faults),
            "parallel_unicast" => baselines::parallel_unicast(plan, &faults),
            "udpcast" => baselines::udpcast(plan, &faults, &mut rng),
            "stateless_two_choices" => stateless::storm(plan, stateless::Sources::Servers(control::selection::Policy::TwoChoices)).outcome,
            "stateless_uniform" => stateless::storm(plan, stateless::Sources::Servers(control::selection::Policy::Random)).outcome,
            "stateless_one_server" => stateless::storm(plan, stateless::Sources::OneServer).outcome,
            other => unreachable!("validated protocol {other}"),
        };
        let bound = if protocol == "fountain_swarm" { swarm_bound_s.unwrap_or(bound_s) } else { bound_s };
        rows.push(Row::new(&outcome, plan.object_bytes(), bound, started.elapsed().as_secs_f64()));
        outcomes.push(outcome);
    }
    let report = Report {
        plan: plan.name.clone(),
        seed: plan.seed,
        nodes: plan.nodes,
        object_bytes: plan.object_bytes(),
        bound_s,
        swarm_bound_s,
        trace_hash: format!("{:016x}", trace.hash()),
        rows,
    };
    (report, outcomes)
}

/// The multicast lower bound: `object_bits` through a path of `goodput_bps`, whose links change
/// to a fraction of their rate at a time if the plan says so.
fn bound_s(object_bits: f64, goodput_bps: f64, link_rate: Option<(net::Nanos, f64)>) -> f64 {
    let whole = object_bits / goodput_bps;
    match link_rate {
        Some((at, speed)) if whole > at as f64 / 1e9 => {
            let before = at as f64 / 1e9;
            before + (object_bits - goodput_bps * before) / (goodput_bps * speed)
        }
        _ => whole,
    }
}

/// The swarm lower bound (see [`Report::swarm_bound_s`]): every node must take the object in
/// through its own link, the sender must put it out once, and every copy but the sender's comes
/// out of some uplink.
fn swarm_bound_s(plan: &Plan, faults: &net::Faults) -> f64 {
    let object_bits = plan.object_bytes() as f64 * 8.0;
    let node_bps = |i: usize| net::udp_goodput_bps((plan.links.node_bps as f64 * faults.nodes[i].speed) as u64);
    let slowest_node = (0..plan.nodes).map(node_bps).fold(f64::INFINITY, f64::min);
    let sender = net::udp_goodput_bps(plan.links.sender_bps);
    let all_up = sender + (0..plan.nodes).map(node_bps).sum::<f64>();
    [object_bits / sender, object_bits / slowest_node, plan.nodes as f64 * object_bits / all_up].into_iter().fold(0.0, f64::max)
}
