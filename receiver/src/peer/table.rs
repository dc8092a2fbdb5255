//! The members a receiver knows, what each holds, and which it no longer trusts.

use super::have::HaveMap;
use fec::BlockId;
use rand::Rng;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

/// Random probes before [`PeerTable::random_holder`] falls back to a full scan.
const PROBES: usize = 8;

/// What a receiver knows of one peer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The member's index in the session.
    pub index: u32,
    /// Where it takes requests.
    pub addr: SocketAddr,
    /// What it last advertised.
    pub have: HaveMap,
    /// Blocks that failed verification with its symbols in them.
    pub strikes: u32,
    /// Dropped for sending symbols that failed verification: never asked or served again.
    pub banned: bool,
    /// When we last sent it our have-map.
    pub have_sent: Option<Instant>,
}

/// Known peers, by index and by address.
#[derive(Debug, Default)]
pub struct PeerTable {
    peers: Vec<PeerInfo>,
    by_index: HashMap<u32, usize, ahash::RandomState>,
    /// Looked up for every symbol a peer sends: SipHash, std's default, cost a simulated node a
    /// third of its time here; aHash keeps the keys random (an attacker picks its addresses)
    /// at a fraction of the cost.
    by_addr: HashMap<SocketAddr, usize, ahash::RandomState>,
}

impl PeerTable {
    /// Records that member `index` is at `addr` (the sender's list, or a packet from it).
    /// Returns the peer, or `None` for a banned one. An index seen at a new address moves
    /// there (the member restarted).
    pub fn learn(&mut self, index: u32, addr: SocketAddr) -> Option<&mut PeerInfo> {
        let slot = match self.by_index.get(&index) {
            Some(&slot) => {
                let old = self.peers[slot].addr;
                if old != addr {
                    self.by_addr.remove(&old);
                    self.by_addr.insert(addr, slot);
                    self.peers[slot].addr = addr;
                }
                slot
            }
            None => {
                let slot = self.peers.len();
                self.peers.push(PeerInfo { index, addr, have: HaveMap::default(), strikes: 0, banned: false, have_sent: None });
                self.by_index.insert(index, slot);
                self.by_addr.insert(addr, slot);
                slot
            }
        };
        let peer = &mut self.peers[slot];
        (!peer.banned).then_some(peer)
    }

    /// The peer at `addr`, if known.
    pub fn by_addr(&self, addr: SocketAddr) -> Option<&PeerInfo> {
        self.by_addr.get(&addr).map(|&slot| &self.peers[slot])
    }

    /// The peer with `index`, if known.
    pub fn get_mut(&mut self, index: u32) -> Option<&mut PeerInfo> {
        self.by_index.get(&index).map(|&slot| &mut self.peers[slot])
    }

    /// Known peers not banned.
    pub fn trusted(&self) -> impl Iterator<Item = &PeerInfo> {
        self.peers.iter().filter(|p| !p.banned)
    }

    /// Whether no trusted peer is known.
    pub fn is_empty(&self) -> bool {
        self.trusted().next().is_none()
    }

    /// A random trusted peer holding `block`, other than those in `avoid`, chosen uniformly:
    /// a few random probes find one at once when most peers hold the block (the usual case);
    /// otherwise one pass collects the candidates.
    pub fn random_holder(&self, block: BlockId, avoid: &[u32], rng: &mut impl Rng) -> Option<&PeerInfo> {
        let eligible = |p: &&PeerInfo| !p.banned && p.have.holds(block) && !avoid.contains(&p.index);
        if self.peers.is_empty() {
            return None;
        }
        for _ in 0..PROBES {
            let peer = &self.peers[rng.gen_range(0..self.peers.len())];
            if eligible(&peer) {
                return Some(peer);
            }
        }
        let candidates: Vec<&PeerInfo> = self.peers.iter().filter(eligible).collect();
        (!candidates.is_empty()).then(|| candidates[rng.gen_range(0..candidates.len())])
    }

    /// Whether some trusted peer holds `block`.
    pub fn any_holder(&self, block: BlockId) -> bool {
        self.peers.iter().any(|p| !p.banned && p.have.holds(block))
    }

    /// Up to `count` random trusted peers (fewer if fewer are known).
    pub fn random_peers(&self, count: usize, rng: &mut impl Rng) -> Vec<(u32, SocketAddr)> {
        let trusted: Vec<&PeerInfo> = self.trusted().collect();
        if trusted.len() <= count {
            return trusted.iter().map(|p| (p.index, p.addr)).collect();
        }
        rand::seq::index::sample(rng, trusted.len(), count).into_iter().map(|i| (trusted[i].index, trusted[i].addr)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn holders_are_chosen_evenly_and_banned_peers_never() {
        let mut table = PeerTable::default();
        for i in 0..4 {
            table.learn(i, addr(7000 + i as u16)).unwrap().have = HaveMap::from_packet(10, &[]);
        }
        table.get_mut(2).unwrap().banned = true;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = [0; 4];
        for _ in 0..3000 {
            counts[table.random_holder(5, &[3], &mut rng).unwrap().index as usize] += 1;
        }
        assert_eq!(counts[2], 0, "banned");
        assert_eq!(counts[3], 0, "avoided");
        assert!(counts[0] > 1000 && counts[1] > 1000, "{counts:?}");
        assert!(table.random_holder(11, &[], &mut rng).is_none(), "nobody holds block 11");
        assert!(table.learn(2, addr(1)).is_none(), "a banned peer stays banned");
    }

    #[test]
    fn a_restarted_member_moves_address() {
        let mut table = PeerTable::default();
        table.learn(7, addr(1));
        table.learn(7, addr(2));
        assert!(table.by_addr(addr(1)).is_none());
        assert_eq!(table.by_addr(addr(2)).unwrap().index, 7);
    }
}
