//! The SQLite store: one file in the data directory, WAL mode, every change in one transaction.
//!
//! Access goes through one connection behind a mutex: every statement is a point lookup or a small
//! write that takes microseconds, far below the cost of the HTTP request around it, and one writer is
//! what SQLite allows anyway.
pub mod agent_status;
pub mod attempts;
pub mod discovered;
pub mod images;
mod layouts;
mod nodes;
pub mod schema;
mod servers;
pub mod sessions;
mod stateless_boot;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, Transaction, TransactionBehavior};

pub use nodes::NodeBoot;

/// The database file in the data directory.
pub const DB_FILE: &str = "fountain.db";
/// How long a statement waits for a lock held by another process (a CLI inspecting the file).
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// Prepared statements kept per connection: more than the store has, so none is ever re-prepared.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The change conflicts with what is stored (duplicate name, MAC of another node).
    #[error("{0}")]
    Conflict(String),
    /// The change is well-formed but not allowed (unknown image referenced, no older version).
    #[error("{0}")]
    Invalid(String),
    /// A stored value did not read back.
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Opening the data directory failed.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
}

/// The store.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    checkpointer: Mutex<Connection>,
    /// The budget for recording new unknown MACs.
    discovery: Mutex<discovered::Bucket>,
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir` and migrates it.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        let mut conn = Connection::open(data_dir.join(DB_FILE))?;
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        schema::migrate(&mut conn)?;
        let checkpointer = Connection::open(data_dir.join(DB_FILE))?;
        checkpointer.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        let discovery = Mutex::new(discovered::Bucket::new(discovered::DiscoveryLimits::default()));
        Ok(Store { conn: Mutex::new(conn), checkpointer: Mutex::new(checkpointer), discovery })
    }

    /// Copies what it can of the write-ahead log back into the database without blocking readers or
    /// the writer; returns the WAL frames still not copied (0 when the log is fully applied).
    pub fn checkpoint(&self) -> Result<u64, StoreError> {
        let c = crate::sync::lock(&self.checkpointer);
        let (log, copied): (i64, i64) = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(1)?, r.get(2)?)))?;
        Ok((log - copied).max(0) as u64)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        crate::sync::lock(&self.conn)
    }

    /// Runs `f` in one immediate transaction, committed only if `f` succeeds.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs read-only `f` on the connection.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        f(&self.conn())
    }

    /// The schema version of the open store.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        self.read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now_unix_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Maps "no row" to [`StoreError::NotFound`] naming `what`.
fn found<T>(r: rusqlite::Result<T>, what: impl FnOnce() -> String) -> Result<T, StoreError> {
    match r {
        Err(rusqlite::Error::QueryReturnedNoRows) => Err(StoreError::NotFound(what())),
        other => Ok(other?),
    }
}

/// A store in a fresh folder holding one plain stateful node `n1`, for the store's unit tests.
#[cfg(test)]
pub(crate) fn store_with_node() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let new = crate::node::NewNode {
        name: "n1".into(),
        macs: vec!["52:54:00:00:00:01".parse().unwrap()],
        groups: vec![],
        image: None,
        layout: None,
        boot_mode: Default::default(),
        next_boot: None,
        config: crate::node::NodeConfig::default(),
    };
    store.insert_node(&new.into_node().unwrap()).unwrap();
    (dir, store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_applies_the_whole_log_while_the_store_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..50 {
            store.create_image(&format!("img{i}")).unwrap();
        }
        let wal = dir.path().join(format!("{DB_FILE}-wal"));
        assert!(std::fs::metadata(&wal).unwrap().len() > 0, "writes went to the log, not the file");
        assert_eq!(store.checkpoint().unwrap(), 0);
        assert_eq!(store.images().unwrap().len(), 50);
    }
}
