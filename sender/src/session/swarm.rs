//! Delivery without multicast ([`super::SenderConfig::swarm`]): the sender's link carries the
//! object about once and the members' links carry the rest.
//!
//! Each first-pass symbol goes to one member in turn, as a seed that member forwards at once to
//! every other member. Granularity is the symbol, not the block: a symbol is in flight for one
//! fan-out (microseconds), so the last member finishes right after the sender's last symbol,
//! where relaying whole blocks would add a block's fan-out to every other member (0.6 s at 500
//! members of 10 Gbit/s). A fountain code makes any K of a block's symbols enough, so a member
//! that lags or drops out costs the others only the share of symbols it failed to forward,
//! which the first pass's overhead and peer repair cover. Needs go to the member that reported
//! them, each symbol fresh.

use super::receivers::Receivers;
use super::schedule::Schedule;
use fec::BlockId;
use fec::wire::Need;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Seeding order and the repair owed to single members.
#[derive(Debug, Default)]
pub(super) struct Swarm {
    /// Members seeded in turn: a snapshot of the unfinished members, renewed each round.
    seeds: Vec<SocketAddr>,
    next_seed: usize,
    /// Repair owed: to whom, which block, how many symbols.
    repairs: VecDeque<(SocketAddr, BlockId, u32)>,
    /// Per member and block: when its last repair burst was queued, and the ESI past it.
    repairing: HashMap<(u64, BlockId), (Instant, u32)>,
}

impl Swarm {
    /// The member the next first-pass symbol goes to.
    pub(super) fn next_seed(&mut self, receivers: &Receivers) -> Option<SocketAddr> {
        if self.next_seed >= self.seeds.len() {
            self.seeds = receivers.seed_order();
            self.next_seed = 0;
        }
        let seed = self.seeds.get(self.next_seed).copied();
        self.next_seed += 1;
        seed
    }

    /// Member `receiver` at `addr` needs `need`: queue it fresh symbols, unless a burst for the
    /// block went out within `holdoff` and the report was written before it arrived.
    pub(super) fn on_need(&mut self, now: Instant, receiver: u64, addr: SocketAddr, need: Need, holdoff: Duration, schedule: &Schedule) {
        if need.need == 0 || need.block >= schedule.closed() {
            return;
        }
        let key = (receiver, need.block);
        if let Some(&(at, past)) = self.repairing.get(&key)
            && need.seen < past
            && now < at + holdoff
        {
            return;
        }
        let past = schedule.next_esi(need.block) + self.owed(need.block) + need.need;
        self.repairing.insert(key, (now, past));
        self.repairs.push_back((addr, need.block, need.need));
    }

    /// Symbols of `block` queued for any member, not yet sent.
    fn owed(&self, block: BlockId) -> u32 {
        self.repairs.iter().filter(|(_, b, _)| *b == block).map(|(_, _, n)| n).sum()
    }

    /// The next repair symbol owed: to whom, and which block.
    pub(super) fn next_repair(&mut self) -> Option<(SocketAddr, BlockId)> {
        let (addr, block, left) = self.repairs.front_mut()?;
        let next = (*addr, *block);
        *left -= 1;
        if *left == 0 {
            self.repairs.pop_front();
        }
        Some(next)
    }

    /// Whether no repair is owed.
    pub(super) fn is_idle(&self) -> bool {
        self.repairs.is_empty()
    }
}
