//! MACs that booted without being known, so an operator can turn them into nodes.
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, now_unix_s};
use crate::inventory::Inventory;
use crate::mac::Mac;

/// An unknown MAC seen at boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovered {
    /// The MAC.
    pub mac: Mac,
    /// First boot seen, Unix seconds.
    pub first_seen_unix_s: u64,
    /// Last boot seen, Unix seconds.
    pub last_seen_unix_s: u64,
    /// Boots seen.
    pub boots: u64,
    /// Hardware its discovery agent reported, once it has.
    #[serde(default)]
    pub inventory: Option<Inventory>,
}

impl Store {
    /// Records a boot from an unknown MAC.
    pub fn record_discovery(&self, mac: Mac) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO discovered_macs (mac, first_seen_unix_s, last_seen_unix_s, boots) VALUES (?1, ?2, ?2, 1)
                 ON CONFLICT(mac) DO UPDATE SET last_seen_unix_s = ?2, boots = boots + 1",
                params![mac.to_string(), now_unix_s()],
            )?;
            Ok(())
        })
    }

    /// Unknown MACs seen, most recent first.
    pub fn discovered(&self) -> Result<Vec<Discovered>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT mac, first_seen_unix_s, last_seen_unix_s, boots, inventory FROM discovered_macs ORDER BY last_seen_unix_s DESC, mac")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, Option<String>>(4)?)))?;
            rows.map(|row| {
                let (mac, first_seen_unix_s, last_seen_unix_s, boots, inventory) = row?;
                let mac = mac.parse().map_err(|e| StoreError::Corrupt(format!("discovered MAC: {e}")))?;
                let inventory = inventory.map(|i| serde_json::from_str(&i).map_err(|e| StoreError::Corrupt(format!("inventory of {mac}: {e}")))).transpose()?;
                Ok(Discovered { mac, first_seen_unix_s, last_seen_unix_s, boots, inventory })
            })
            .collect()
        })
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
