//! What each node's agent last said: its progress or its error, and the hardware it found, so that
//! `fountain node show` tells an operator why a re-image stopped without a console.
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::attempts::{self, AttemptEvent};
use super::{Store, StoreError, found, now_unix_s};
use crate::inventory::Inventory;

/// An agent's report about its node (body of `POST /api/v1/agent/nodes/{name}/status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentReport {
    /// What the agent is doing or has done (`inventory reported`, `layout applied: 14 steps`).
    pub message: String,
    /// Set when the agent stopped on an error: what failed.
    #[serde(default)]
    pub error: Option<String>,
    /// The node's hardware, when this report carries it.
    #[serde(default)]
    pub inventory: Option<Inventory>,
    /// Phases of this boot's job that ended since the last report, with how long each took.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseTime>,
}

/// One phase of an agent's job, in the order a stateful re-image runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// From the kernel starting to the agent's first report (the agent reads it from /proc/uptime).
    AgentBoot,
    /// Reading the hardware.
    Inventory,
    /// Partitions, RAID, LVM, filesystems and mounts.
    Layout,
    /// Receiving the image (multicast session, peers or HTTP).
    Transfer,
    /// Unpacking the image onto the target filesystems.
    Unpack,
    /// fstab, RAID/LVM config, the installed system's initramfs and the node config plugins.
    Config,
    /// The bootloader on every disk that carries /boot.
    Bootloader,
}

impl Phase {
    /// Every phase, in the order a stateful re-image runs them (what a full report lists).
    pub const ALL: [Phase; 7] = [Phase::AgentBoot, Phase::Inventory, Phase::Layout, Phase::Transfer, Phase::Unpack, Phase::Config, Phase::Bootloader];
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::AgentBoot => "agent_boot",
            Phase::Inventory => "inventory",
            Phase::Layout => "layout",
            Phase::Transfer => "transfer",
            Phase::Unpack => "unpack",
            Phase::Config => "config",
            Phase::Bootloader => "bootloader",
        })
    }
}

/// How long one phase took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseTime {
    /// Which phase.
    pub phase: Phase,
    /// Its duration in milliseconds.
    pub millis: u64,
}

/// The last report, with its time; the inventory is the last one any report carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// Last message.
    pub message: String,
    /// Error of the last report, if it was one.
    pub error: Option<String>,
    /// Last error any report carried (kept when later progress reports come in).
    pub last_error: Option<String>,
    /// Last inventory reported.
    pub inventory: Option<Inventory>,
    /// Unix time of the last report, seconds.
    pub updated_unix_s: u64,
}

impl Store {
    /// Records an agent report for node `name`.
    pub fn record_agent_report(&self, name: &str, report: AgentReport) -> Result<AgentStatus, StoreError> {
        self.write(|tx| {
            found(tx.query_row("SELECT name FROM nodes WHERE name = ?1", [name], |r| r.get::<_, String>(0)), || format!("node {name}"))?;
            let before = get(tx, name)?;
            let status = AgentStatus {
                last_error: report.error.clone().or_else(|| before.as_ref().and_then(|b| b.last_error.clone())),
                inventory: report.inventory.or_else(|| before.and_then(|b| b.inventory)),
                message: report.message,
                error: report.error,
                updated_unix_s: now_unix_s(),
            };
            let event = AttemptEvent { phases: &report.phases, failure: status.error.as_deref(), installed: false, progress: status.error.is_none() };
            attempts::record(tx, name, event)?;
            let doc = serde_json::to_string(&status).expect("a status always serialises");
            tx.execute(
                "INSERT INTO agent_status (node, doc, updated_unix_s) VALUES (?1, ?2, ?3) ON CONFLICT(node) DO UPDATE SET doc = ?2, updated_unix_s = ?3",
                params![name, doc, status.updated_unix_s],
            )?;
            Ok(status)
        })
    }

    /// Node `name`'s last agent status; `None` before its agent first reported.
    pub fn agent_status(&self, name: &str) -> Result<Option<AgentStatus>, StoreError> {
        self.read(|c| {
            found(c.query_row("SELECT name FROM nodes WHERE name = ?1", [name], |r| r.get::<_, String>(0)), || format!("node {name}"))?;
            get(c, name)
        })
    }
}

pub(super) fn get(c: &rusqlite::Connection, name: &str) -> Result<Option<AgentStatus>, StoreError> {
    let doc: Option<String> = c.query_row("SELECT doc FROM agent_status WHERE node = ?1", [name], |r| r.get(0)).optional()?;
    doc.map(|d| serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(format!("agent status of {name}: {e}")))).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::InventoryDisk;

    #[test]
    fn progress_keeps_the_last_error_and_inventory() {
        let (_dir, store) = crate::store::store_with_node();
        assert_eq!(store.agent_status("n1").unwrap(), None);
        let inventory = Inventory { disks: vec![InventoryDisk { name: "vda".into(), size_bytes: 1 << 30, ..Default::default() }], ..Default::default() };
        store.record_agent_report("n1", AgentReport { message: "inventory".into(), error: None, inventory: Some(inventory.clone()), phases: Vec::new() }).unwrap();
        store.record_agent_report("n1", AgentReport { message: "layout refused".into(), error: Some("needs 3 disks".into()), inventory: None, phases: Vec::new() }).unwrap();
        let s = store.record_agent_report("n1", AgentReport { message: "retrying".into(), error: None, inventory: None, phases: Vec::new() }).unwrap();
        assert_eq!(s.error, None);
        assert_eq!(s.last_error.as_deref(), Some("needs 3 disks"));
        assert_eq!(s.inventory, Some(inventory));
        assert_eq!(store.agent_status("n1").unwrap(), Some(s));
        assert!(matches!(store.agent_status("ghost"), Err(StoreError::NotFound(_))));
        assert!(matches!(store.record_agent_report("ghost", AgentReport::default()), Err(StoreError::NotFound(_))));
    }
}
