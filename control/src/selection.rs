//! Choosing a stateless server for a booting node.
//!
//! The seed system picks uniformly at random among healthy servers. With n nodes over k servers that
//! leaves the busiest server about `sqrt(2 (n/k) ln k)` nodes above the mean; sampling two servers
//! and taking the less loaded one (power of two choices, Mitzenmacher) cuts the excess to
//! `ln ln k / ln 2`, at the same cost per choice. So two-choices is the default and uniform stays as the
//! baseline it is measured against.
use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::stateless::StatelessServer;

/// How a server is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Uniformly at random among healthy servers (the seed's behaviour).
    Random,
    /// The less loaded, per unit of weight, of two distinct healthy servers drawn at random.
    #[default]
    TwoChoices,
}

/// Index into `servers` of the chosen one; `None` when none is healthy.
pub fn choose(policy: Policy, servers: &[StatelessServer], rng: &mut impl Rng) -> Option<usize> {
    let healthy: Vec<usize> = servers.iter().enumerate().filter(|(_, s)| s.healthy).map(|(i, _)| i).collect();
    match (policy, healthy.len()) {
        (_, 0) => None,
        (Policy::Random, n) => Some(healthy[rng.gen_range(0..n)]),
        (Policy::TwoChoices, 1) => Some(healthy[0]),
        (Policy::TwoChoices, n) => {
            let first = rng.gen_range(0..n);
            let second = (first + rng.gen_range(1..n)) % n;
            let (a, b) = (healthy[first], healthy[second]);
            let (sa, sb) = (&servers[a], &servers[b]);
            // load_a / weight_a <= load_b / weight_b, without division.
            let a_lighter = u128::from(sa.load) * u128::from(sb.weight) <= u128::from(sb.load) * u128::from(sa.weight);
            Some(if a_lighter { a } else { b })
        }
    }
}

/// The servers with their current loads and the random source, shared by all boot requests so that
/// each choice sees the loads the previous ones left.
#[derive(Debug)]
pub struct ServerPool {
    policy: Policy,
    servers: Vec<StatelessServer>,
    rng: StdRng,
}

impl ServerPool {
    /// A pool choosing by `policy`; a seed makes the choices reproducible (tests, simulations).
    pub fn new(policy: Policy, seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        ServerPool { policy, servers: Vec::new(), rng }
    }

    /// Replaces the server list (after a change in the store), keeping nothing else: loads come
    /// with the servers, counted from the store's assignments.
    pub fn set_servers(&mut self, servers: Vec<StatelessServer>) {
        self.servers = servers;
    }

    /// The servers with their loads.
    pub fn servers(&self) -> &[StatelessServer] {
        &self.servers
    }

    /// Chooses a server for a node that held `previous` (released first, so a rebooting node does not
    /// count against its own old server) and counts the node on the chosen one.
    pub fn assign(&mut self, previous: Option<i64>) -> Option<StatelessServer> {
        if let Some(prev) = previous {
            self.release(prev);
        }
        let i = choose(self.policy, &self.servers, &mut self.rng)?;
        self.servers[i].load += 1;
        Some(self.servers[i].clone())
    }

    /// Forgets one node's assignment to `server`.
    pub fn release(&mut self, server: i64) {
        if let Some(s) = self.servers.iter_mut().find(|s| s.id == server) {
            s.load = s.load.saturating_sub(1);
        }
    }

    /// Loads by server id.
    pub fn loads(&self) -> HashMap<i64, u64> {
        self.servers.iter().map(|s| (s.id, s.load)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(healthy: &[bool]) -> Vec<StatelessServer> {
        healthy
            .iter()
            .enumerate()
            .map(|(i, &h)| StatelessServer { id: i as i64 + 1, url: format!("http://127.0.0.1:{}", 9000 + i), weight: 1, healthy: h, load: 0 })
            .collect()
    }

    fn max_load_after_storm(policy: Policy, seed: u64, nodes: usize, k: usize) -> u64 {
        let mut pool = ServerPool::new(policy, Some(seed));
        pool.set_servers(servers(&vec![true; k]));
        for _ in 0..nodes {
            pool.assign(None).unwrap();
        }
        pool.servers().iter().map(|s| s.load).max().unwrap()
    }

    #[test]
    fn no_healthy_server_means_no_choice() {
        let mut rng = StdRng::seed_from_u64(1);
        for p in [Policy::Random, Policy::TwoChoices] {
            assert_eq!(choose(p, &servers(&[false, false]), &mut rng), None);
            assert_eq!(choose(p, &servers(&[false, true]), &mut rng), Some(1));
        }
    }

    #[test]
    fn two_choices_prefers_less_load_per_weight() {
        let mut s = servers(&[true, true]);
        s[0].load = 10;
        s[0].weight = 4;
        s[1].load = 3;
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..20 {
            assert_eq!(choose(Policy::TwoChoices, &s, &mut rng), Some(0), "2.5 per weight beats 3");
        }
    }

    #[test]
    fn two_choices_beats_uniform_over_many_storms() {
        let (mut uniform, mut two) = (0, 0);
        for seed in 0..50 {
            uniform += max_load_after_storm(Policy::Random, seed, 1000, 4);
            two += max_load_after_storm(Policy::TwoChoices, seed, 1000, 4);
        }
        assert!(two < uniform, "two-choices {two} vs uniform {uniform}");
        assert!(two <= 50 * 252, "two-choices stays within 2 of the mean: {two}");
    }

    #[test]
    fn rebooting_node_releases_its_old_server() {
        let mut pool = ServerPool::new(Policy::TwoChoices, Some(3));
        pool.set_servers(servers(&[true, true]));
        let first = pool.assign(None).unwrap();
        let second = pool.assign(Some(first.id)).unwrap();
        assert_eq!(pool.loads().values().sum::<u64>(), 1, "{second:?}");
    }
}
