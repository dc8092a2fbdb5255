//! Disk layouts in the store, kept as the YAML the operator wrote (comments included); only layouts
//! that passed [`crate::layout::parse`] are stored.
use rusqlite::params;

use super::{Store, StoreError, found, now_unix_s};

impl Store {
    /// Stores a checked layout; replaces an existing one only when `replace` is set.
    pub fn put_layout(&self, name: &str, yaml: &str, replace: bool) -> Result<(), StoreError> {
        self.write(|tx| {
            let sql = if replace {
                "INSERT INTO layouts (name, yaml, updated_unix_s) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET yaml = ?2, updated_unix_s = ?3"
            } else {
                "INSERT OR IGNORE INTO layouts (name, yaml, updated_unix_s) VALUES (?1, ?2, ?3)"
            };
            if tx.execute(sql, params![name, yaml, now_unix_s()])? == 0 {
                return Err(StoreError::Conflict(format!("layout {name} already exists (use --replace, or ?replace=true, to overwrite it)")));
            }
            Ok(())
        })
    }

    /// Removes a layout; refused while a node is assigned it.
    pub fn delete_layout(&self, name: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let mut stmt = tx.prepare_cached("SELECT name FROM nodes WHERE json_extract(doc, '$.layout') = ?1 ORDER BY name")?;
            let users = stmt.query_map([name], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            if !users.is_empty() {
                return Err(StoreError::Conflict(format!("layout {name} is assigned to node(s) {}", users.join(", "))));
            }
            if tx.execute("DELETE FROM layouts WHERE name = ?1", [name])? == 0 {
                return Err(StoreError::NotFound(format!("layout {name}")));
            }
            Ok(())
        })
    }

    /// A layout's YAML.
    pub fn layout(&self, name: &str) -> Result<String, StoreError> {
        self.read(|c| found(c.query_row("SELECT yaml FROM layouts WHERE name = ?1", [name], |r| r.get(0)), || format!("layout {name}")))
    }

    /// All layout names.
    pub fn layouts(&self) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT name FROM layouts ORDER BY name")?;
            Ok(stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?)
        })
    }
}
