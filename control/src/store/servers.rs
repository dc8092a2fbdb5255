//! Stateless servers in the store; a server's load is the number of nodes assigned to it.
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, found};
use crate::stateless::{NewServer, ServerPatch, StatelessServer};

const SERVER_QUERY: &str = "SELECT s.id, s.url, s.weight, s.healthy, (SELECT COUNT(*) FROM nodes n WHERE n.stateless_server = s.id) FROM stateless_servers s";

fn server_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StatelessServer> {
    Ok(StatelessServer { id: r.get(0)?, url: r.get(1)?, weight: r.get(2)?, healthy: r.get(3)?, load: r.get(4)? })
}

impl Store {
    /// Adds a server with health `healthy` (known from a probe or the operator); refuses a URL already
    /// listed.
    pub fn add_server(&self, s: &NewServer, healthy: bool) -> Result<StatelessServer, StoreError> {
        self.write(|tx| {
            let taken: Option<i64> = tx.query_row("SELECT id FROM stateless_servers WHERE url = ?1", [&s.url], |r| r.get(0)).optional()?;
            if let Some(id) = taken {
                return Err(StoreError::Conflict(format!("server {} is already listed as id {id}", s.url)));
            }
            tx.execute("INSERT INTO stateless_servers (url, weight, healthy) VALUES (?1, ?2, ?3)", params![s.url, s.weight, healthy])?;
            Ok(StatelessServer { id: tx.last_insert_rowid(), url: s.url.clone(), weight: s.weight, healthy, load: 0 })
        })
    }

    /// Changes a server's weight or health.
    pub fn patch_server(&self, id: i64, p: &ServerPatch) -> Result<StatelessServer, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE stateless_servers SET weight = COALESCE(?2, weight), healthy = COALESCE(?3, healthy) WHERE id = ?1",
                params![id, p.weight, p.healthy],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("server {id}")));
            }
            found(tx.query_row(&format!("{SERVER_QUERY} WHERE s.id = ?1"), [id], server_row), || format!("server {id}"))
        })
    }

    /// Removes a server; its nodes get another one at their next boot.
    pub fn delete_server(&self, id: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            if tx.execute("DELETE FROM stateless_servers WHERE id = ?1", [id])? == 0 {
                return Err(StoreError::NotFound(format!("server {id}")));
            }
            Ok(())
        })
    }

    /// All servers with their loads, by id.
    pub fn servers(&self) -> Result<Vec<StatelessServer>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!("{SERVER_QUERY} ORDER BY s.id"))?;
            Ok(stmt.query_map([], server_row)?.collect::<Result<_, _>>()?)
        })
    }
}
