//! MACs that booted without being known, so an operator can turn them into nodes.
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, now_unix_s};
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
            let mut stmt = c.prepare_cached("SELECT mac, first_seen_unix_s, last_seen_unix_s, boots FROM discovered_macs ORDER BY last_seen_unix_s DESC, mac")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.map(|row| {
                let (mac, first_seen_unix_s, last_seen_unix_s, boots) = row?;
                let mac = mac.parse().map_err(|e| StoreError::Corrupt(format!("discovered MAC: {e}")))?;
                Ok(Discovered { mac, first_seen_unix_s, last_seen_unix_s, boots })
            })
            .collect()
        })
    }
}
