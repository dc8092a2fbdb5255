//! The protocols fountain is compared with, on the same plan, topology, loss and faults:
//! sequential unicast, parallel unicast from one server (max-min fair share of the links), and
//! udpcast-style multicast where every receiver acknowledges each slice, the sender retransmits
//! the union of their losses, and the slowest receiver sets the rate.
//!
//! Unicast is modelled at flow level (TCP goodput, lost segments resent once per loss); udpcast
//! packet by packet with each receiver's losses drawn from the plan's RNG (Gilbert–Elliott loss
//! is replaced by its mean rate). Crashed nodes are not modelled by the baselines; late joiners
//! miss a udpcast session entirely.

use crate::net::{ETHERNET_OVERHEAD, Faults, IP_UDP_OVERHEAD, Nanos, geometric, serialization_ns};
use crate::plan::Plan;
use crate::report::Outcome;
use rand_chacha::ChaCha8Rng;

/// TCP payload per full segment (MSS at MTU 1500 with timestamps).
const TCP_MSS: u64 = 1448;
/// Packets per udpcast slice (each slice is acknowledged by every receiver).
const UDPCAST_SLICE_PACKETS: usize = 1024;
/// udpcast payload per packet.
const UDPCAST_PAYLOAD: u64 = 1456;

/// TCP goodput of a link of `link_bps` at `loss`.
pub(crate) fn tcp_goodput_bps(link_bps: f64, loss: f64) -> f64 {
    link_bps * TCP_MSS as f64 / (crate::net::MTU + ETHERNET_OVERHEAD) as f64 * (1.0 - loss)
}

fn node_bps(plan: &Plan, faults: &Faults, node: usize) -> f64 {
    plan.links.node_bps as f64 * faults.nodes[node].speed
}

fn rtt_ns(plan: &Plan) -> Nanos {
    6 * plan.links.hop_latency_us * 1000
}

/// Time lost to uplink failures of `rack` during `[from, to)`.
fn outage_ns(faults: &Faults, rack: usize, from: Nanos, to: Nanos) -> Nanos {
    faults.uplink_down[rack].iter().map(|&(a, b)| b.min(to).saturating_sub(a.max(from))).sum()
}

/// One node after another, each at its path's TCP goodput.
pub fn sequential_unicast(plan: &Plan, faults: &Faults) -> Outcome {
    let loss = plan.loss.mean_rate();
    let object = plan.object_bytes() as f64;
    let mut now: Nanos = 0;
    let mut completion = Vec::with_capacity(plan.nodes);
    for node in 0..plan.nodes {
        let path = (plan.links.sender_bps.min(plan.links.uplink_bps) as f64).min(node_bps(plan, faults, node));
        let start = now.max(faults.nodes[node].join_at) + 2 * rtt_ns(plan);
        let mut end = start + (object * 8.0 / tcp_goodput_bps(path, loss) * 1e9) as Nanos;
        end += outage_ns(faults, node % plan.racks, start, end);
        completion.push(Some(end));
        now = end;
    }
    unicast_outcome("sequential_unicast", plan, faults, completion)
}

fn unicast_outcome(name: &str, plan: &Plan, faults: &Faults, completion: Vec<Option<Nanos>>) -> Outcome {
    let loss = plan.loss.mean_rate();
    let per_node = plan.object_bytes() as f64 / (1.0 - loss);
    let segments = (per_node / TCP_MSS as f64) as u64 * plan.nodes as u64;
    Outcome {
        protocol: name.into(),
        finished_ns: completion.iter().flatten().max().copied(),
        completion_ns: completion,
        faulted: (0..plan.nodes).map(|n| faults.is_faulted(n)).collect(),
        sender_payload_bytes: (per_node * plan.nodes as f64) as u64,
        data_packets: segments,
        // Delayed ACKs: one per two segments.
        feedback_packets: segments / 2,
        events: 0,
        verified_nodes: None,
        repair_symbols: (segments as f64 * loss) as u64,
        conservation_violations: 0,
        peer_symbols: 0,
        window_drops: 0,
    }
}

/// Every node at once from one server: max-min fair shares of the sender link, the rack
/// uplinks and each node's link, recomputed whenever a flow starts, ends, or an uplink fails.
pub fn parallel_unicast(plan: &Plan, faults: &Faults) -> Outcome {
    let loss = plan.loss.mean_rate();
    let n = plan.nodes;
    let mut remaining_bits = vec![plan.object_bytes() as f64 * 8.0; n];
    let caps: Vec<f64> = (0..n).map(|i| tcp_goodput_bps(node_bps(plan, faults, i), loss)).collect();
    let sender_cap = tcp_goodput_bps(plan.links.sender_bps as f64, loss);
    let uplink_cap = tcp_goodput_bps(plan.links.uplink_bps as f64, loss);
    let mut completion = vec![None; n];
    let mut now: Nanos = 0;
    let mut changes: Vec<Nanos> = faults.nodes.iter().map(|f| f.join_at).collect();
    changes.extend(faults.uplink_down.iter().flatten().flat_map(|&(a, b)| [a, b]));
    loop {
        let active: Vec<usize> = (0..n)
            .filter(|&i| completion[i].is_none() && faults.nodes[i].join_at <= now && !faults.uplink_is_down(i % plan.racks, now))
            .collect();
        let next_change = changes.iter().copied().filter(|&c| c > now).min();
        if active.is_empty() {
            match next_change {
                Some(c) => {
                    now = c;
                    continue;
                }
                None => break,
            }
        }
        let rates = max_min_rates(&active, &caps, sender_cap, uplink_cap, plan.racks);
        let finish_in = active
            .iter()
            .zip(&rates)
            .map(|(&i, &r)| (remaining_bits[i] / r * 1e9).ceil() as Nanos)
            .min()
            .expect("active is not empty");
        let step = next_change.map_or(finish_in, |c| finish_in.min(c - now)).max(1);
        for (&i, &r) in active.iter().zip(&rates) {
            remaining_bits[i] -= r * step as f64 / 1e9;
            if remaining_bits[i] <= 1.0 {
                completion[i] = Some(now + step + rtt_ns(plan));
            }
        }
        now += step;
    }
    unicast_outcome("parallel_unicast", plan, faults, completion)
}

/// Progressive filling: raise every unfrozen flow's rate together until it meets its cap or
/// saturates a shared link.
fn max_min_rates(active: &[usize], caps: &[f64], sender_cap: f64, uplink_cap: f64, racks: usize) -> Vec<f64> {
    let mut rates = vec![0.0; active.len()];
    let mut frozen = vec![false; active.len()];
    loop {
        let unfrozen = frozen.iter().filter(|f| !**f).count();
        if unfrozen == 0 {
            return rates;
        }
        let used: f64 = rates.iter().sum();
        let mut rack_used = vec![0.0; racks];
        let mut rack_unfrozen = vec![0usize; racks];
        for (k, &i) in active.iter().enumerate() {
            rack_used[i % racks] += rates[k];
            if !frozen[k] {
                rack_unfrozen[i % racks] += 1;
            }
        }
        let mut inc = (sender_cap - used) / unfrozen as f64;
        for r in 0..racks {
            if rack_unfrozen[r] > 0 {
                inc = inc.min((uplink_cap - rack_used[r]) / rack_unfrozen[r] as f64);
            }
        }
        for (k, &i) in active.iter().enumerate() {
            if !frozen[k] {
                inc = inc.min(caps[i] - rates[k]);
            }
        }
        let inc = inc.max(0.0);
        for k in 0..active.len() {
            if !frozen[k] {
                rates[k] += inc;
            }
        }
        let sender_full = rates.iter().sum::<f64>() >= sender_cap * (1.0 - 1e-9);
        let mut rack_used = vec![0.0; racks];
        for (k, &i) in active.iter().enumerate() {
            rack_used[i % racks] += rates[k];
        }
        for (k, &i) in active.iter().enumerate() {
            let at_cap = rates[k] >= caps[i] * (1.0 - 1e-9);
            let rack_full = rack_used[i % racks] >= uplink_cap * (1.0 - 1e-9);
            if sender_full || at_cap || rack_full || inc == 0.0 {
                frozen[k] = true;
            }
        }
    }
}

/// udpcast-style: slices of packets, every receiver reports its losses after each slice and the
/// sender resends their union until every receiver holds the slice; the rate is the slowest
/// receiver's link.
pub fn udpcast(plan: &Plan, faults: &Faults, rng: &mut ChaCha8Rng) -> Outcome {
    let loss = plan.loss.mean_rate();
    let present: Vec<usize> = (0..plan.nodes).filter(|&i| faults.nodes[i].join_at == 0).collect();
    let slowest = present.iter().map(|&i| node_bps(plan, faults, i)).fold(f64::INFINITY, f64::min);
    let path = (plan.links.sender_bps.min(plan.links.uplink_bps) as f64).min(slowest) * plan.sender.rate_fraction;
    let packet_ns = serialization_ns(IP_UDP_OVERHEAD + UDPCAST_PAYLOAD, path as u64);
    let packets = plan.object_bytes().div_ceil(UDPCAST_PAYLOAD) as usize;
    let mut now: Nanos = 0;
    let (mut sent, mut feedback) = (0u64, 0u64);
    // Each receiver's missing packets in the current slice, as offsets.
    let mut missing: Vec<Vec<u32>> = vec![Vec::new(); present.len()];
    let mut union = vec![false; UDPCAST_SLICE_PACKETS];
    for slice_start in (0..packets).step_by(UDPCAST_SLICE_PACKETS) {
        let slice = UDPCAST_SLICE_PACKETS.min(packets - slice_start);
        let mut to_send: Vec<u32> = (0..slice as u32).collect();
        let mut first = true;
        while !to_send.is_empty() {
            now += to_send.len() as u64 * packet_ns + rtt_ns(plan);
            sent += to_send.len() as u64;
            feedback += present.len() as u64;
            union[..slice].iter_mut().for_each(|u| *u = false);
            for need in missing.iter_mut() {
                let candidates: &[u32] = if first { &to_send } else { need };
                let lost = lose_some(candidates, loss, rng);
                for &p in &lost {
                    union[p as usize] = true;
                }
                *need = lost;
            }
            to_send = (0..slice as u32).filter(|&p| union[p as usize]).collect();
            first = false;
        }
    }
    // Uplink outages stall the whole group (every receiver must acknowledge each slice).
    for rack in 0..plan.racks {
        now += outage_ns(faults, rack, 0, now);
    }
    let completion = (0..plan.nodes).map(|i| (faults.nodes[i].join_at == 0).then_some(now)).collect();
    Outcome {
        protocol: "udpcast".into(),
        completion_ns: completion,
        faulted: (0..plan.nodes).map(|n| faults.is_faulted(n)).collect(),
        sender_payload_bytes: sent * UDPCAST_PAYLOAD,
        data_packets: sent,
        feedback_packets: feedback,
        finished_ns: Some(now),
        events: sent,
        verified_nodes: None,
        repair_symbols: sent - packets as u64,
        conservation_violations: 0,
        peer_symbols: 0,
        window_drops: 0,
    }
}

/// The members of `candidates` lost at independent probability `loss` (geometric skips, so the
/// cost is the number lost, not the number sent).
fn lose_some(candidates: &[u32], loss: f64, rng: &mut ChaCha8Rng) -> Vec<u32> {
    let mut lost = Vec::new();
    if loss <= 0.0 {
        return lost;
    }
    let mut i = 0usize;
    loop {
        i = i.saturating_add(usize::try_from(geometric(loss, rng)).unwrap_or(usize::MAX));
        if i >= candidates.len() {
            return lost;
        }
        lost.push(candidates[i]);
        i += 1;
    }
}
