//! Nodes in the store: the node document as JSON plus the columns that are looked up or changed on
//! their own (MACs for boot lookups, the token generation, the stateless server assignment).
use rusqlite::{OptionalExtension, Transaction, params};

use super::{Store, StoreError, found, now_unix_s};
use crate::image::ImageVersion;
use crate::mac::Mac;
use crate::node::{Installed, NextBoot, Node};
use crate::transfer::DeliveryChoice;

/// What a boot request needs to know about the node behind a MAC.
#[derive(Debug, Clone)]
pub struct NodeBoot {
    /// The node.
    pub node: Node,
    /// Current token generation.
    pub token_generation: u64,
    /// Stateless server it was last given.
    pub stateless_server: Option<i64>,
}

pub(super) fn decode(doc: &str) -> Result<Node, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("node document: {e}")))
}

pub(super) fn encode(node: &Node) -> String {
    serde_json::to_string(node).expect("a node always serialises")
}

impl Store {
    /// Adds a node; refuses a taken name or MAC, and references to missing images or layouts.
    pub fn insert_node(&self, node: &Node) -> Result<(), StoreError> {
        self.write(|tx| {
            let exists: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM nodes WHERE name = ?1)", [&node.name], |r| r.get(0))?;
            if exists {
                return Err(StoreError::Conflict(format!("node {} already exists", node.name)));
            }
            check_references(tx, node)?;
            // A name used before continues its token generations, so no token of the deleted node
            // works for the new one.
            let generation: u64 =
                tx.query_row("SELECT COALESCE((SELECT next_token_generation FROM retired_nodes WHERE name = ?1), 0)", [&node.name], |r| r.get(0))?;
            tx.execute(
                "INSERT INTO nodes (name, doc, token_generation, updated_unix_s) VALUES (?1, ?2, ?3, ?4)",
                params![node.name, encode(node), generation, now_unix_s()],
            )?;
            put_macs(tx, node)
        })
    }

    /// Replaces node `name` by `change(current)`, checked against the store, in one transaction. The
    /// node's token is revoked (its generation bumped) when `reimage_requested` (every re-image request
    /// gets a fresh token) or when the change takes the node out of re-imaging (a cancelled re-image
    /// leaves no token that still reads its config or image).
    pub fn update_node(&self, name: &str, reimage_requested: bool, change: impl FnOnce(&Node) -> Result<Node, StoreError>) -> Result<Node, StoreError> {
        self.write(|tx| {
            let current = get(tx, name)?;
            let node = change(&current)?;
            check_references(tx, &node)?;
            let cancelled = current.next_boot == NextBoot::Reimage && node.next_boot != NextBoot::Reimage;
            if reimage_requested || cancelled {
                put_doc_revoking_token(tx, &node)?;
            } else {
                tx.execute("UPDATE nodes SET doc = ?2, updated_unix_s = ?3 WHERE name = ?1", params![name, encode(&node), now_unix_s()])?;
            }
            if node.macs != current.macs {
                tx.execute("DELETE FROM node_macs WHERE node = ?1", [name])?;
                put_macs(tx, &node)?;
            }
            Ok(node)
        })
    }

    /// Removes a node and its MACs, revoking its token for good.
    pub fn delete_node(&self, name: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let generation: u64 = found(tx.query_row("SELECT token_generation FROM nodes WHERE name = ?1", [name], |r| r.get(0)), || format!("node {name}"))?;
            tx.execute(
                "INSERT INTO retired_nodes (name, next_token_generation) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET next_token_generation = ?2",
                params![name, generation + 1],
            )?;
            tx.execute("DELETE FROM nodes WHERE name = ?1", [name])?;
            Ok(())
        })
    }

    /// One node.
    pub fn node(&self, name: &str) -> Result<Node, StoreError> {
        self.read(|c| get(c, name))
    }

    /// All nodes by name.
    pub fn nodes(&self) -> Result<Vec<Node>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT doc FROM nodes ORDER BY name")?;
            let docs = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            docs.iter().map(|d| decode(d)).collect()
        })
    }

    /// The node that boots from `mac`, if any.
    pub fn node_by_mac(&self, mac: Mac) -> Result<Option<NodeBoot>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT n.doc, n.token_generation, n.stateless_server FROM node_macs m JOIN nodes n ON n.name = m.node WHERE m.mac = ?1",
            )?;
            let row = stmt.query_row([mac.to_string()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?, r.get::<_, Option<i64>>(2)?))).optional()?;
            row.map(|(doc, token_generation, stateless_server)| Ok(NodeBoot { node: decode(&doc)?, token_generation, stateless_server })).transpose()
        })
    }

    /// The node's current token generation.
    pub fn token_generation(&self, name: &str) -> Result<u64, StoreError> {
        self.read(|c| found(c.query_row("SELECT token_generation FROM nodes WHERE name = ?1", [name], |r| r.get(0)), || format!("node {name}")))
    }

    /// The stateless server the node was last given.
    pub fn stateless_server(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.read(|c| found(c.query_row("SELECT stateless_server FROM nodes WHERE name = ?1", [name], |r| r.get(0)), || format!("node {name}")))
    }

    /// Records which stateless server the node was given.
    pub fn set_stateless_server(&self, name: &str, server: Option<i64>) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("UPDATE nodes SET stateless_server = ?2 WHERE name = ?1", params![name, server])?;
            Ok(())
        })
    }

    /// Marks a node for re-imaging with `delivery` (`None`: the server's default) and revokes its old
    /// token, so a token seen in an earlier boot script cannot act for the new install.
    pub fn set_reimage(&self, name: &str, delivery: Option<DeliveryChoice>) -> Result<Node, StoreError> {
        self.write(|tx| {
            let mut node = get(tx, name)?;
            node.next_boot = NextBoot::Reimage;
            node.delivery = delivery;
            node.check().map_err(StoreError::Invalid)?;
            check_references(tx, &node)?;
            put_doc_revoking_token(tx, &node)?;
            Ok(node)
        })
    }

    /// The agent's report of a successful re-image: records what was installed and flips the next boot
    /// to local, in one transaction and only if the node was still set to re-image.
    pub fn finish_reimage(&self, name: &str, installed: &ImageVersion) -> Result<Node, StoreError> {
        self.write(|tx| {
            let mut node = get(tx, name)?;
            if node.next_boot != NextBoot::Reimage {
                return Err(StoreError::Conflict(format!("node {name} is not being re-imaged")));
            }
            node.next_boot = NextBoot::Local;
            node.installed = Some(Installed { image: installed.image.clone(), version: installed.version, at_unix_s: now_unix_s() });
            put_doc_revoking_token(tx, &node)?;
            Ok(node)
        })
    }
}

fn put_doc_revoking_token(tx: &Transaction<'_>, node: &Node) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE nodes SET doc = ?2, token_generation = token_generation + 1, updated_unix_s = ?3 WHERE name = ?1",
        params![node.name, encode(node), now_unix_s()],
    )?;
    Ok(())
}

pub(super) fn get(c: &rusqlite::Connection, name: &str) -> Result<Node, StoreError> {
    let doc: String = found(c.query_row("SELECT doc FROM nodes WHERE name = ?1", [name], |r| r.get(0)), || format!("node {name}"))?;
    decode(&doc)
}

fn put_macs(tx: &Transaction<'_>, node: &Node) -> Result<(), StoreError> {
    for mac in &node.macs {
        let owner: Option<String> = tx.query_row("SELECT node FROM node_macs WHERE mac = ?1", [mac.to_string()], |r| r.get(0)).optional()?;
        if let Some(owner) = owner {
            return Err(StoreError::Conflict(format!("MAC {mac} already belongs to node {owner}")));
        }
        tx.execute("INSERT INTO node_macs (mac, node) VALUES (?1, ?2)", params![mac.to_string(), node.name])?;
        tx.execute("DELETE FROM discovered_macs WHERE mac = ?1", [mac.to_string()])?;
    }
    Ok(())
}

/// Checks that the node's image, pinned version and layout exist.
fn check_references(tx: &Transaction<'_>, node: &Node) -> Result<(), StoreError> {
    if let Some(image) = &node.image {
        let default: Option<Option<u32>> =
            tx.query_row("SELECT default_version FROM images WHERE name = ?1", [&image.name], |r| r.get(0)).optional()?;
        match (default, image.version) {
            (None, _) => return Err(StoreError::Invalid(format!("unknown image {}", image.name))),
            (Some(_), Some(v)) => {
                let exists: bool = tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM image_versions WHERE image = ?1 AND version = ?2)",
                    params![image.name, v],
                    |r| r.get(0),
                )?;
                if !exists {
                    return Err(StoreError::Invalid(format!("image {} has no version {v}", image.name)));
                }
            }
            (Some(None), None) if node.next_boot != NextBoot::Local => {
                return Err(StoreError::Invalid(format!("image {} has no published version yet", image.name)));
            }
            _ => {}
        }
    }
    if let Some(layout) = &node.layout {
        let exists: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM layouts WHERE name = ?1)", [layout], |r| r.get(0))?;
        if !exists {
            return Err(StoreError::Invalid(format!("unknown layout {layout}")));
        }
    }
    Ok(())
}
