//! The scenarios of issue 6's targets: which link, how many receivers, how much loss.

use super::netns::TopologySpec;

/// The network-bound link: slow enough that this 2-core machine keeps up with every tool.
pub const NETWORK_BOUND_RATE_BPS: u64 = 300_000_000;
/// The CPU-bound link: the CPU, not the link, runs out first.
pub const CPU_BOUND_RATE_BPS: u64 = 1_000_000_000;

/// A named group of scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// 300 Mbit/s: 4 receivers at 0, 1 and 5% loss; 8 receivers at 5%.
    Network,
    /// 1 Gbit/s: 2 and 4 receivers at 0 and 1% loss.
    Cpu,
    /// No rate limit, 1 receiver.
    Unlimited,
    /// Every tool told more than the link (issue 18): 300 Mbit/s told 1 Gbit/s, and 1 Gbit/s
    /// told 10 Gbit/s (a sender given its NIC's speed), 4 receivers at 0, 1 and 5% loss.
    Overestimate,
}

/// The over-estimate suite's links, each with the rate every tool is told: the rows.
pub const OVERESTIMATES: [(u64, u64); 2] = [(NETWORK_BOUND_RATE_BPS, 1_000_000_000), (CPU_BOUND_RATE_BPS, 10_000_000_000)];

impl Suite {
    /// Every suite.
    pub const ALL: [Suite; 4] = [Suite::Network, Suite::Cpu, Suite::Unlimited, Suite::Overestimate];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Network => "network",
            Suite::Cpu => "cpu",
            Suite::Unlimited => "unlimited",
            Suite::Overestimate => "overestimate",
        }
    }

    /// Parses [`Suite::name`].
    pub fn parse(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Its scenarios.
    pub fn scenarios(self) -> Vec<TopologySpec> {
        let spec = |receivers, rate_bps, loss| TopologySpec { receivers, rate_bps, loss, ceiling_bps: None };
        let over = |rate_bps: u64, ceiling_bps: u64, loss| TopologySpec { ceiling_bps: Some(ceiling_bps), ..spec(4, Some(rate_bps), loss) };
        match self {
            Suite::Network => vec![
                spec(4, Some(NETWORK_BOUND_RATE_BPS), 0.0),
                spec(4, Some(NETWORK_BOUND_RATE_BPS), 0.01),
                spec(4, Some(NETWORK_BOUND_RATE_BPS), 0.05),
                spec(8, Some(NETWORK_BOUND_RATE_BPS), 0.05),
            ],
            Suite::Cpu => vec![
                spec(2, Some(CPU_BOUND_RATE_BPS), 0.0),
                spec(2, Some(CPU_BOUND_RATE_BPS), 0.01),
                spec(4, Some(CPU_BOUND_RATE_BPS), 0.0),
                spec(4, Some(CPU_BOUND_RATE_BPS), 0.01),
            ],
            Suite::Unlimited => vec![spec(1, None, 0.0)],
            Suite::Overestimate => OVERESTIMATES
                .into_iter()
                .flat_map(|(rate, ceiling)| [0.0, 0.01, 0.05].map(|loss| over(rate, ceiling, loss)))
                .collect(),
        }
    }
}
