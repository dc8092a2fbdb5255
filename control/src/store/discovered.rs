//! MACs that booted without being known, so an operator can turn them into nodes.
//!
//! Anyone on the boot network can make up MACs, so this table is bounded three ways: a new MAC is
//! written only while a token bucket allows ([`DiscoveryLimits::new_per_s`], bursts of
//! [`DiscoveryLimits::burst`]); a MAC already listed is rewritten at most once per
//! [`DiscoveryLimits::touch_interval_s`]; and past [`DiscoveryLimits::max_rows`] the least recently
//! seen rows are dropped. A MAC refused by the bucket still gets its discovery script and is recorded
//! at a later boot. Reading is by pages, most recently seen first.
use std::str::FromStr;
use std::time::Instant;

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, now_unix_s};
use crate::inventory::Inventory;
use crate::mac::Mac;
use crate::sync::lock;

/// Rows listed per page unless the request says otherwise.
pub const DISCOVERED_PAGE_DEFAULT: usize = 100;
/// Most rows one page may ask for.
pub const DISCOVERED_PAGE_MAX: usize = 1000;

/// An unknown MAC seen at boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovered {
    /// The MAC.
    pub mac: Mac,
    /// First boot seen, Unix seconds.
    pub first_seen_unix_s: u64,
    /// Last boot recorded, Unix seconds (within [`DiscoveryLimits::touch_interval_s`] of the last boot).
    pub last_seen_unix_s: u64,
    /// Boots recorded (repeats within [`DiscoveryLimits::touch_interval_s`] count once).
    pub boots: u64,
    /// Hardware its discovery agent reported, once it has.
    #[serde(default)]
    pub inventory: Option<Inventory>,
}

/// Columns [`discovered_row`] reads, in order; a new field is one more column here and there.
const COLUMNS: &str = "mac, first_seen_unix_s, last_seen_unix_s, boots, inventory";

fn discovered_row(r: &Row<'_>) -> rusqlite::Result<(String, u64, u64, u64, Option<String>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

/// One page of [`Discovered`] rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredPage {
    /// The rows, most recently seen first.
    pub discovered: Vec<Discovered>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Query of `GET /api/v1/discovered`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Rows per page, 1 to [`DISCOVERED_PAGE_MAX`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Where a page ends: the last row's (last seen, MAC), in the list's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    last_seen_unix_s: u64,
    mac: Mac,
}

impl FromStr for Cursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("invalid cursor {:?}: pass the 'next' of the previous page", s.chars().take(64).collect::<String>());
        let (seen, mac) = s.split_once('_').ok_or_else(err)?;
        Ok(Cursor { last_seen_unix_s: seen.parse().map_err(|_| err())?, mac: mac.parse().map_err(|_| err())? })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.last_seen_unix_s, self.mac)
    }
}

/// Bounds on what unknown MACs may write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiscoveryLimits {
    /// Rows kept; the least recently seen go first.
    pub max_rows: u64,
    /// New MACs recorded per second, sustained.
    pub new_per_s: f64,
    /// New MACs recorded at once after a quiet spell.
    pub burst: f64,
    /// A listed MAC's row is rewritten at most this often.
    pub touch_interval_s: u64,
}

impl Default for DiscoveryLimits {
    /// Room for a few racks of new machines at once; a flood of made-up MACs writes ten rows a second.
    fn default() -> Self {
        DiscoveryLimits { max_rows: 4096, new_per_s: 10.0, burst: 256.0, touch_interval_s: 60 }
    }
}

/// A token bucket: sans-IO, the caller passes the time.
#[derive(Debug)]
pub(super) struct Bucket {
    limits: DiscoveryLimits,
    tokens: f64,
    last: Option<Instant>,
}

impl Bucket {
    /// A full bucket.
    pub(super) fn new(limits: DiscoveryLimits) -> Self {
        Bucket { limits, tokens: limits.burst, last: None }
    }

    /// Takes one token if there is one at `now`.
    fn take(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let refill = now.saturating_duration_since(last).as_secs_f64() * self.limits.new_per_s;
            self.tokens = (self.tokens + refill).min(self.limits.burst);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What happened to one boot of an unknown MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new row.
    New,
    /// An existing row's last seen and boots were updated.
    Touched,
    /// Nothing written: the MAC was seen within the touch interval, or the new-MAC budget is spent.
    Skipped,
}

impl Store {
    /// Records a boot from an unknown MAC, within the [`DiscoveryLimits`].
    pub fn record_discovery(&self, mac: Mac) -> Result<Recorded, StoreError> {
        self.record_discovery_at(mac, Instant::now(), now_unix_s())
    }

    fn record_discovery_at(&self, mac: Mac, now: Instant, now_s: u64) -> Result<Recorded, StoreError> {
        let limits = lock(&self.discovery).limits;
        let key = mac.to_string();
        let seen: Option<u64> =
            self.read(|c| Ok(c.query_row("SELECT last_seen_unix_s FROM discovered_macs WHERE mac = ?1", [&key], |r| r.get(0)).optional()?))?;
        if let Some(seen) = seen {
            if now_s.saturating_sub(seen) < limits.touch_interval_s {
                return Ok(Recorded::Skipped);
            }
            return self.write(|tx| {
                tx.execute("UPDATE discovered_macs SET last_seen_unix_s = ?2, boots = boots + 1 WHERE mac = ?1", params![key, now_s])?;
                Ok(Recorded::Touched)
            });
        }
        if !lock(&self.discovery).take(now) {
            return Ok(Recorded::Skipped);
        }
        self.write(|tx| {
            let n = tx.execute(
                "INSERT OR IGNORE INTO discovered_macs (mac, first_seen_unix_s, last_seen_unix_s, boots) VALUES (?1, ?2, ?2, 1)",
                params![key, now_s],
            )?;
            let rows: u64 = tx.query_row("SELECT COUNT(*) FROM discovered_macs", [], |r| r.get(0))?;
            if rows > limits.max_rows {
                tx.execute(
                    "DELETE FROM discovered_macs WHERE mac IN (SELECT mac FROM discovered_macs ORDER BY last_seen_unix_s, mac LIMIT ?1)",
                    [rows - limits.max_rows],
                )?;
            }
            Ok(if n == 1 { Recorded::New } else { Recorded::Skipped })
        })
    }

    /// Up to `limit` unknown MACs after `after`, most recently seen first.
    pub fn discovered_page(&self, limit: usize, after: Option<&Cursor>) -> Result<DiscoveredPage, StoreError> {
        let (seen, mac) = after.map_or((i64::MAX, String::new()), |c| (i64::try_from(c.last_seen_unix_s).unwrap_or(i64::MAX), c.mac.to_string()));
        let mut rows: Vec<Discovered> = self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM discovered_macs WHERE last_seen_unix_s < ?1 OR (last_seen_unix_s = ?1 AND mac > ?2)
                 ORDER BY last_seen_unix_s DESC, mac LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![seen, mac, limit as i64 + 1], discovered_row)?;
            rows.map(|row| {
                let (mac, first_seen_unix_s, last_seen_unix_s, boots, inventory) = row?;
                let mac = mac.parse().map_err(|e| StoreError::Corrupt(format!("discovered MAC: {e}")))?;
                let inventory = inventory.map(|i| serde_json::from_str(&i).map_err(|e| StoreError::Corrupt(format!("inventory of {mac}: {e}")))).transpose()?;
                Ok(Discovered { mac, first_seen_unix_s, last_seen_unix_s, boots, inventory })
            })
            .collect()
        })?;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|d| Cursor { last_seen_unix_s: d.last_seen_unix_s, mac: d.mac }.to_string())
        } else {
            None
        };
        Ok(DiscoveredPage { discovered: rows, next })
    }

    /// Stores the inventory the discovery agent of `mac` reported. Only a MAC that booted the discovery
    /// script and belongs to no node may report (the route is open, as firmware has no credentials).
    pub fn record_discovered_inventory(&self, mac: Mac, inventory: &Inventory) -> Result<(), StoreError> {
        let doc = serde_json::to_string(inventory).expect("an inventory always serialises");
        self.write(|tx| {
            let node: Option<String> = tx.query_row("SELECT node FROM node_macs WHERE mac = ?1", [mac.to_string()], |r| r.get(0)).optional()?;
            if let Some(node) = node {
                return Err(StoreError::Conflict(format!("MAC {mac} belongs to node {node}: its agent reports with the node's token")));
            }
            let n = tx.execute("UPDATE discovered_macs SET inventory = ?2 WHERE mac = ?1", params![mac.to_string(), doc])?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("discovered MAC {mac} (it must boot the discovery script first)")));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn mac(i: u32) -> Mac {
        format!("52:54:01:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff).parse().unwrap()
    }

    fn store(limits: DiscoveryLimits) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        *lock(&store.discovery) = Bucket::new(limits);
        (dir, store)
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let mut b = Bucket::new(DiscoveryLimits { burst: 3.0, new_per_s: 2.0, ..DiscoveryLimits::default() });
        let t0 = Instant::now();
        assert_eq!((0..5).map(|_| b.take(t0)).collect::<Vec<_>>(), [true, true, true, false, false]);
        assert!(b.take(t0 + Duration::from_millis(500)), "one token after half a second at 2/s");
        assert!(!b.take(t0 + Duration::from_millis(500)));
        assert_eq!((0..5).filter(|_| b.take(t0 + Duration::from_secs(100))).count(), 3, "refills only to the burst");
    }

    #[test]
    fn the_table_keeps_the_most_recently_seen_rows() {
        let (_dir, store) = store(DiscoveryLimits { max_rows: 3, burst: 100.0, ..DiscoveryLimits::default() });
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(store.record_discovery_at(mac(i), t0, 1000 + u64::from(i)).unwrap(), Recorded::New);
        }
        let page = store.discovered_page(10, None).unwrap();
        assert_eq!(page.discovered.iter().map(|d| d.mac).collect::<Vec<_>>(), [mac(4), mac(3), mac(2)], "the oldest two were dropped");
        assert_eq!(store.record_discovery_at(mac(2), t0, 1010).unwrap(), Recorded::Skipped, "seen within the touch interval");
        assert_eq!(store.record_discovery_at(mac(2), t0, 1100).unwrap(), Recorded::Touched);
        assert_eq!(store.discovered_page(1, None).unwrap().discovered[0], Discovered { mac: mac(2), first_seen_unix_s: 1002, last_seen_unix_s: 1100, boots: 2, inventory: None });
    }

    #[test]
    fn a_spent_budget_writes_nothing() {
        let (_dir, store) = store(DiscoveryLimits { burst: 2.0, new_per_s: 1.0, ..DiscoveryLimits::default() });
        let t0 = Instant::now();
        let results: Vec<Recorded> = (0..4).map(|i| store.record_discovery_at(mac(i), t0, 1000).unwrap()).collect();
        assert_eq!(results, [Recorded::New, Recorded::New, Recorded::Skipped, Recorded::Skipped]);
        assert_eq!(store.record_discovery_at(mac(3), t0 + Duration::from_secs(1), 1001).unwrap(), Recorded::New);
        assert_eq!(store.discovered_page(10, None).unwrap().discovered.len(), 3);
    }

    #[test]
    fn pages_cover_every_row_once_in_order() {
        let (_dir, store) = store(DiscoveryLimits::default());
        let t0 = Instant::now();
        for i in 0..25 {
            store.record_discovery_at(mac(i), t0, 1000 + u64::from(i % 4)).unwrap();
        }
        let mut seen = Vec::new();
        let mut after: Option<Cursor> = None;
        loop {
            let page = store.discovered_page(7, after.as_ref()).unwrap();
            assert!(page.discovered.len() <= 7);
            seen.extend(page.discovered.iter().map(|d| (std::cmp::Reverse(d.last_seen_unix_s), d.mac)));
            match page.next {
                Some(next) => after = Some(next.parse().unwrap()),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(seen, sorted, "most recent first, no repeats");
        assert_eq!(seen.len(), 25);
        assert!("1000-52:54:00:00:00:01".parse::<Cursor>().unwrap_err().contains("invalid cursor"));
    }

    #[test]
    fn only_a_discovered_mac_of_no_node_may_report_its_inventory() {
        let (_dir, store) = store(DiscoveryLimits::default());
        let inventory = Inventory { cpus: 4, memory_bytes: 8 << 30, ..Default::default() };
        assert!(matches!(store.record_discovered_inventory(mac(1), &inventory), Err(StoreError::NotFound(_))), "never booted discovery");
        store.record_discovery(mac(1)).unwrap();
        store.record_discovered_inventory(mac(1), &inventory).unwrap();
        let page = store.discovered_page(10, None).unwrap();
        assert_eq!(page.discovered[0].inventory, Some(inventory.clone()));
        let node = crate::node::NewNode {
            name: "n1".into(),
            macs: vec![mac(1)],
            groups: vec![],
            image: None,
            layout: None,
            boot_mode: Default::default(),
            next_boot: None,
            config: Default::default(),
        };
        store.insert_node(&node.into_node().unwrap()).unwrap();
        let err = store.record_discovered_inventory(mac(1), &inventory).unwrap_err().to_string();
        assert!(err.contains("belongs to node n1"), "{err}");
    }
}
