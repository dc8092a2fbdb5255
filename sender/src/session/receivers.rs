//! The receivers registered with a session.

use fec::wire::PeerAddr;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Instant;

/// What the sender knows of one receiver.
#[derive(Debug, Clone)]
pub struct ReceiverInfo {
    /// Where its feedback comes from, and where acks go.
    pub addr: SocketAddr,
    /// Blocks it reported as stored.
    pub done_blocks: u32,
    /// Whether that report came after the first pass was over. Receivers report seldom in a
    /// large group (a share of the feedback budget) and at once when they fall behind, so a
    /// report of few blocks from before the pass was over is a quiet receiver keeping up, not a
    /// straggler; only one written after the pass tells how far behind it is.
    pub reported_after_pass: bool,
    /// Whether it reported the whole object verified.
    pub done: bool,
    /// When it was last heard from.
    pub last_heard: Instant,
    /// Its index among the members, in join order (it picks the receiver's peer ESI range).
    pub index: u32,
    /// The sender stopped waiting for it (it fell behind, or joined after the end): it completes
    /// from peers and no longer counts for repair, rate or the end of the session.
    pub handed_off: bool,
}

/// Registered receivers, keyed by the id each picked.
#[derive(Debug, Default)]
pub struct Receivers {
    by_id: HashMap<u64, ReceiverInfo>,
    /// Every member that ever joined, by index: where peers can reach it.
    members: Vec<SocketAddr>,
    /// No receiver the session waits for was last heard before this (`None`: none is waited
    /// for). A lower bound, exact after each [`Self::expire`] scan: hearing from a receiver or
    /// its finishing only raises the true value, so the sender's timer and expiry need not scan
    /// every receiver for every packet it sends (at 5,000 receivers, 11% of a netsim run).
    heard_floor: Option<Instant>,
    /// Receivers whose latest report during the first pass held a need far behind (see
    /// [`Self::far_behind`]). Few outside a collapse, so counting them costs little.
    far_behind: HashSet<u64>,
}

impl Receivers {
    /// Registers (or refreshes) `id`; returns whether it is new.
    pub fn join(&mut self, now: Instant, id: u64, addr: SocketAddr) -> bool {
        match self.by_id.get_mut(&id) {
            Some(info) => {
                info.addr = addr;
                info.last_heard = now;
                false
            }
            None => {
                self.heard_floor = Some(self.heard_floor.map_or(now, |floor| floor.min(now)));
                let index = self.members.len() as u32;
                self.members.push(addr);
                self.by_id.insert(id, ReceiverInfo { addr, done_blocks: 0, reported_after_pass: false, done: false, last_heard: now, index, handed_off: false });
                true
            }
        }
    }

    /// Up to `max` members other than `index`, spread evenly over the whole membership from a
    /// start that depends on `index`, so each receiver learns a different slice and have-maps
    /// gossip the rest. Never the same member twice.
    pub fn sample_peers(&self, index: u32, max: usize) -> Vec<PeerAddr> {
        let others = self.members.len().saturating_sub(1);
        let count = max.min(others);
        if count == 0 {
            return Vec::new();
        }
        let start = (index as usize).wrapping_mul(7919) % others;
        (0..count)
            .map(|j| (start + j * others / count) % others)
            // Positions among the others, mapped past `index` itself.
            .map(|p| if p < index as usize { p } else { p + 1 })
            .map(|i| PeerAddr { index: i as u32, addr: self.members[i] })
            .collect()
    }

    /// Every member other than `index`, for delivery without multicast: each forwards its seeds
    /// to all the others.
    pub fn peers_of(&self, index: u32) -> Vec<PeerAddr> {
        let others = self.members.iter().enumerate().filter(|&(i, _)| i != index as usize);
        others.map(|(i, &addr)| PeerAddr { index: i as u32, addr }).collect()
    }

    /// The members still waited for, by index: the order seeds go round in without multicast.
    pub fn seed_order(&self) -> Vec<SocketAddr> {
        self.registered(ReceiverInfo::is_waited_for).into_iter().map(|(_, addr)| addr).collect()
    }

    /// Registered receivers that pass `filter`, as (index, address), by index (a stable order,
    /// which simulations need to be deterministic).
    pub fn registered(&self, filter: impl Fn(&ReceiverInfo) -> bool) -> Vec<(u32, SocketAddr)> {
        let mut chosen: Vec<(u32, SocketAddr)> = self.by_id.values().filter(|i| filter(i)).map(|i| (i.index, i.addr)).collect();
        chosen.sort_unstable();
        chosen
    }

    /// The receiver `id`, not counted as heard from.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut ReceiverInfo> {
        self.by_id.get_mut(&id)
    }

    /// The receiver `id`, refreshed as heard from now.
    pub fn heard(&mut self, now: Instant, id: u64) -> Option<&mut ReceiverInfo> {
        let info = self.by_id.get_mut(&id)?;
        info.last_heard = now;
        Some(info)
    }

    /// Removes receivers not heard from after `deadline`, returning their ids. (Inclusive: the
    /// session asks to be woken exactly at `last_heard + timeout`, and must act then.)
    pub fn expire(&mut self, deadline: Instant) -> Vec<u64> {
        if self.heard_floor.is_none_or(|floor| floor > deadline) {
            return Vec::new();
        }
        let lost: Vec<u64> = self
            .by_id
            .iter()
            .filter(|(_, info)| info.is_waited_for() && info.last_heard <= deadline)
            .map(|(id, _)| *id)
            .collect();
        for id in &lost {
            self.by_id.remove(id);
            self.far_behind.remove(id);
        }
        self.heard_floor = self.by_id.values().filter(|info| info.is_waited_for()).map(|info| info.last_heard).min();
        lost
    }

    /// Records whether `id`'s latest report held a need far behind the group.
    pub fn set_far_behind(&mut self, id: u64, far_behind: bool) {
        if far_behind {
            self.far_behind.insert(id);
        } else {
            self.far_behind.remove(&id);
        }
    }

    /// How many receivers still waited for reported a need far behind last, counted up to
    /// `limit` (the caller only asks whether they are more than a tail).
    pub fn far_behind(&self, limit: usize) -> usize {
        let waited_for = |id: &&u64| self.by_id.get(id).is_some_and(ReceiverInfo::is_waited_for);
        self.far_behind.iter().filter(waited_for).take(limit).count()
    }

    /// Registered receivers.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether none are registered.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Whether every registered receiver is done or handed off.
    pub fn all_done(&self) -> bool {
        self.by_id.values().all(|info| !info.is_waited_for())
    }

    /// How many receivers the session waits for.
    pub fn waited_for(&self) -> usize {
        self.by_id.values().filter(|info| info.is_waited_for()).count()
    }

    /// Whether some receiver holds the whole object.
    pub fn any_done(&self) -> bool {
        self.by_id.values().any(|info| info.done)
    }

    /// The receivers the session still waits for (not done, not handed off), by id.
    pub fn unfinished(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.by_id.iter().filter(|(_, info)| info.is_waited_for()).map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids
    }

    /// The receivers, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&u64, &ReceiverInfo)> {
        self.by_id.iter()
    }

    /// No receiver the session waits for was last heard before this: when to look for silent
    /// ones (see [`Self::expire`]).
    pub fn heard_floor(&self) -> Option<Instant> {
        self.heard_floor
    }
}

impl ReceiverInfo {
    /// Whether the session waits for this receiver: not done, and not handed off to peers.
    pub fn is_waited_for(&self) -> bool {
        !self.done && !self.handed_off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_receivers_expire_and_the_floor_follows() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + std::time::Duration::from_secs(s);
        let addr = |id: u8| SocketAddr::from(([10, 0, 0, id], 6000));
        let mut receivers = Receivers::default();
        for id in 0..3u8 {
            receivers.join(at(u64::from(id)), u64::from(id), addr(id));
        }
        receivers.heard(at(5), 0);
        receivers.heard(at(6), 2).unwrap().done = true;
        assert_eq!(receivers.heard_floor(), Some(t0), "a lower bound until the next scan");
        assert_eq!(receivers.expire(at(1)), vec![1], "silent since 1 s; 0 was heard at 5 s, 2 is done");
        assert_eq!(receivers.heard_floor(), Some(at(5)), "exact after a scan");
        assert!(receivers.expire(at(4)).is_empty());
        assert_eq!(receivers.len(), 2);
    }

    #[test]
    fn sampled_peers_are_distinct_and_never_the_asker() {
        let now = Instant::now();
        let mut receivers = Receivers::default();
        for id in 0..200u64 {
            receivers.join(now, id, SocketAddr::from(([10, 0, (id >> 8) as u8, id as u8], 6000)));
        }
        for (members, max) in [(2, 64), (4, 64), (5, 3), (200, 64)] {
            let sample = Receivers { members: receivers.members[..members].to_vec(), ..Receivers::default() };
            for index in 0..members as u32 {
                let peers = sample.sample_peers(index, max);
                assert!(peers.iter().all(|p| p.addr == sample.members[p.index as usize]));
                let mut indices: Vec<u32> = peers.iter().map(|p| p.index).collect();
                assert_eq!(indices.len(), max.min(members - 1));
                assert!(!indices.contains(&index));
                indices.sort_unstable();
                indices.dedup();
                assert_eq!(indices.len(), max.min(members - 1), "{members} members, index {index}: duplicates");
            }
        }
    }
}
