//! Versioned migrations: migration `i` (1-based) takes the schema from `user_version` i-1 to i, each in
//! its own transaction, so a store opened by a newer binary moves forward one step at a time and an
//! interrupted upgrade leaves the last complete version.
use rusqlite::Connection;

use super::StoreError;

/// The migrations in order; append, never edit a published one.
const MIGRATIONS: &[&str] = &[
    // 1: the initial model.
    r#"
    CREATE TABLE stateless_servers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        url TEXT NOT NULL UNIQUE,
        weight INTEGER NOT NULL,
        healthy INTEGER NOT NULL
    );
    CREATE TABLE nodes (
        name TEXT PRIMARY KEY,
        doc TEXT NOT NULL,
        token_generation INTEGER NOT NULL DEFAULT 0,
        stateless_server INTEGER REFERENCES stateless_servers(id) ON DELETE SET NULL,
        updated_unix_s INTEGER NOT NULL
    );
    CREATE TABLE node_macs (
        mac TEXT PRIMARY KEY,
        node TEXT NOT NULL REFERENCES nodes(name) ON DELETE CASCADE
    );
    CREATE INDEX node_macs_by_node ON node_macs(node);
    CREATE TABLE images (
        name TEXT PRIMARY KEY,
        default_version INTEGER,
        created_unix_s INTEGER NOT NULL
    );
    CREATE TABLE image_versions (
        image TEXT NOT NULL REFERENCES images(name),
        version INTEGER NOT NULL,
        artifact TEXT NOT NULL,
        manifest TEXT NOT NULL,
        artifact_bytes INTEGER NOT NULL,
        manifest_blake3 TEXT NOT NULL,
        created_unix_s INTEGER NOT NULL,
        PRIMARY KEY (image, version)
    );
    CREATE TRIGGER image_versions_no_update BEFORE UPDATE ON image_versions
        BEGIN SELECT RAISE(ABORT, 'image versions are immutable'); END;
    CREATE TRIGGER image_versions_no_delete BEFORE DELETE ON image_versions
        BEGIN SELECT RAISE(ABORT, 'image versions are immutable'); END;
    CREATE TABLE layouts (
        name TEXT PRIMARY KEY,
        yaml TEXT NOT NULL,
        updated_unix_s INTEGER NOT NULL
    );
    CREATE TABLE discovered_macs (
        mac TEXT PRIMARY KEY,
        first_seen_unix_s INTEGER NOT NULL,
        last_seen_unix_s INTEGER NOT NULL,
        boots INTEGER NOT NULL
    );
    CREATE TABLE transfer_sessions (
        id INTEGER PRIMARY KEY,
        image TEXT NOT NULL,
        version INTEGER NOT NULL,
        receivers TEXT NOT NULL,
        started_unix_s INTEGER NOT NULL
    );
    "#,
    // 2: deletion (an image version may go once no node uses it; version numbers and node tokens are
    // never handed out twice), discovery ordered by age, transfer history that survives a restart.
    r#"
    DROP TRIGGER image_versions_no_delete;
    CREATE TRIGGER image_versions_no_delete_in_use BEFORE DELETE ON image_versions
        WHEN EXISTS (SELECT 1 FROM nodes WHERE json_extract(doc, '$.image.name') = OLD.image AND (
            json_extract(doc, '$.image.version') = OLD.version
            OR (json_extract(doc, '$.image.version') IS NULL AND (SELECT default_version FROM images WHERE name = OLD.image) = OLD.version)))
        BEGIN SELECT RAISE(ABORT, 'image version is in use by a node'); END;
    ALTER TABLE images ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;
    UPDATE images SET last_version = COALESCE((SELECT MAX(version) FROM image_versions v WHERE v.image = images.name), 0);
    CREATE TABLE retired_nodes (
        name TEXT PRIMARY KEY,
        next_token_generation INTEGER NOT NULL
    );
    CREATE INDEX discovered_by_age ON discovered_macs(last_seen_unix_s, mac);
    ALTER TABLE transfer_sessions ADD COLUMN status TEXT;
    "#,
    // 3: what agents report: a discovered machine's inventory, and each node's last agent status.
    r#"
    ALTER TABLE discovered_macs ADD COLUMN inventory TEXT;
    CREATE TABLE agent_status (
        node TEXT PRIMARY KEY REFERENCES nodes(name) ON DELETE CASCADE,
        doc TEXT NOT NULL,
        updated_unix_s INTEGER NOT NULL
    );
    "#,
    // 4: how each transfer session delivered (multicast or unicast), and each node's re-image attempts
    // (phase times, failures, last error) per token generation.
    r#"
    ALTER TABLE transfer_sessions ADD COLUMN delivery TEXT;
    CREATE TABLE reimage_attempts (
        node TEXT NOT NULL REFERENCES nodes(name) ON DELETE CASCADE,
        generation INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (node, generation)
    );
    "#,
];

/// Brings the schema up to date.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!("store schema version {current} is newer than this binary ({})", MIGRATIONS.len())));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// The schema version this binary writes.
pub fn latest_version() -> usize {
    MIGRATIONS.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DB_FILE, Store, images::VersionFiles};

    #[test]
    fn reopening_keeps_the_version_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Store::open(dir.path()).unwrap().schema_version().unwrap(), latest_version());
        assert_eq!(Store::open(dir.path()).unwrap().schema_version().unwrap(), latest_version());
        Connection::open(dir.path().join(DB_FILE)).unwrap().pragma_update(None, "user_version", latest_version() + 1).unwrap();
        let err = Store::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is newer than this binary"), "{err}");
    }

    #[test]
    fn published_versions_cannot_be_changed_even_by_hand() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
                let files = VersionFiles { artifact: "a".into(), manifest: "m".into(), artifact_bytes: 1, manifest_blake3: "00".into() };
        store.publish("rocky", &files, true).unwrap();
        let node = crate::node::NewNode {
            name: "n1".into(),
            macs: vec!["52:54:00:00:00:01".parse().unwrap()],
            groups: vec![],
            image: Some("rocky".parse().unwrap()),
            layout: None,
            boot_mode: crate::node::BootMode::Stateful,
            next_boot: None,
            config: Default::default(),
        };
        store.insert_node(&node.into_node().unwrap()).unwrap();
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        for (sql, refusal) in [("UPDATE image_versions SET artifact = 'evil'", "image versions are immutable"), ("DELETE FROM image_versions", "in use by a node")] {
            let err = conn.execute(sql, []).unwrap_err().to_string();
            assert!(err.contains(refusal), "{sql}: {err}");
        }
        assert_eq!(store.versions("rocky").unwrap()[0].artifact, "a");
    }

    #[test]
    fn a_version_1_store_with_data_moves_to_the_deletion_rules() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute_batch(
                "INSERT INTO images (name, default_version, created_unix_s) VALUES ('rocky', 1, 0);
                 INSERT INTO image_versions VALUES ('rocky', 1, 'a', 'm', 1, '00', 0), ('rocky', 2, 'b', 'm', 1, '00', 0);",
            )
            .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), latest_version());
        store.delete_version("rocky", 2).unwrap();
        let files = VersionFiles { artifact: "c".into(), manifest: "m".into(), artifact_bytes: 1, manifest_blake3: "00".into() };
        assert_eq!(store.publish("rocky", &files, false).unwrap().version, 3, "numbering continues from the versions published before the upgrade");
    }
}
