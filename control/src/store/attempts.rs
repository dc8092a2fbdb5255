//! Each node's re-image attempts, one record per token generation (every re-image request starts a
//! new one): the phase times its agent reported, how many times it failed and why last, and whether
//! it ended installed. The current record and the one before it are kept, so `fountain node show`
//! compares a running re-image with the last one.
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::agent_status::PhaseTime;
use super::{Store, StoreError, found, now_unix_s};
use crate::node::NextBoot;

/// Records kept per node: the current generation's and the latest one before it.
pub const ATTEMPTS_KEPT: usize = 2;

/// One re-image (one token generation) of a node, as its agent reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReimageAttempt {
    /// The node's token generation during this re-image.
    pub generation: u64,
    /// Phases in the order they first ended; a phase reported again (a retry) keeps its latest time.
    pub phases: Vec<PhaseTime>,
    /// Failures reported: status reports with an error, and failure reports that said something new.
    pub failures: u32,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// The agent reported progress after its last failure (it is retrying, or succeeded).
    #[serde(default)]
    pub active_since_failure: bool,
    /// Unix time of the success report, seconds; absent while it runs or after it gave up.
    pub installed_unix_s: Option<u64>,
    /// Unix time of its first report, seconds.
    pub started_unix_s: u64,
    /// Unix time of its last report, seconds.
    pub updated_unix_s: u64,
}

impl ReimageAttempt {
    /// Attempts the agent started: each failure ended one, and one more runs (or succeeded) when the
    /// agent reported progress after its last failure.
    pub fn attempts(&self) -> u32 {
        self.failures + u32::from(self.failures == 0 || self.active_since_failure)
    }

    /// Sum of the phase times, milliseconds.
    pub fn total_millis(&self) -> u64 {
        self.phases.iter().map(|p| p.millis).sum()
    }
}

/// What one agent request adds to the node's current attempt.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AttemptEvent<'a> {
    /// Phases that ended.
    pub phases: &'a [PhaseTime],
    /// A failure's message.
    pub failure: Option<&'a str>,
    /// The re-image succeeded.
    pub installed: bool,
    /// The agent made progress (a report that is no failure).
    pub progress: bool,
}

impl Store {
    /// Node `name`'s kept attempts, newest first (at most [`ATTEMPTS_KEPT`]).
    pub fn reimage_attempts(&self, name: &str) -> Result<Vec<ReimageAttempt>, StoreError> {
        self.read(|c| {
            found(c.query_row("SELECT name FROM nodes WHERE name = ?1", [name], |r| r.get::<_, String>(0)), || format!("node {name}"))?;
            let mut stmt = c.prepare_cached("SELECT doc FROM reimage_attempts WHERE node = ?1 ORDER BY generation DESC")?;
            let docs = stmt.query_map([name], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
            docs.iter().map(|d| decode(name, d)).collect()
        })
    }

    /// A failure report for node `name`'s current attempt: counted unless its agent's last status
    /// already reported this very error (an agent reports a failure both ways).
    pub fn record_reimage_failure(&self, name: &str, reason: &str) -> Result<Option<ReimageAttempt>, StoreError> {
        self.write(|tx| {
            let current = super::agent_status::get(tx, name)?.and_then(|s| s.error);
            let failure = (current.as_deref() != Some(reason)).then_some(reason);
            record(tx, name, AttemptEvent { failure, progress: false, ..Default::default() })
        })
    }

    /// The success report of node `name`'s current attempt (before the flip to local bumps its token
    /// generation).
    pub fn record_reimage_success(&self, name: &str) -> Result<Option<ReimageAttempt>, StoreError> {
        self.write(|tx| record(tx, name, AttemptEvent { installed: true, progress: true, ..Default::default() }))
    }
}

/// Adds `event` to the attempt of `name`'s current token generation, creating it (and dropping all
/// but the latest earlier one) on its first report; `None` (nothing recorded) unless the node is set
/// to re-image (a stateless agent's reports are no re-image).
pub(super) fn record(tx: &Transaction<'_>, name: &str, event: AttemptEvent<'_>) -> Result<Option<ReimageAttempt>, StoreError> {
    if super::nodes::get(tx, name)?.next_boot != NextBoot::Reimage {
        return Ok(None);
    }
    let generation: u64 = tx.query_row("SELECT token_generation FROM nodes WHERE name = ?1", [name], |r| r.get(0))?;
    let doc: Option<String> = tx.query_row("SELECT doc FROM reimage_attempts WHERE node = ?1 AND generation = ?2", params![name, generation], |r| r.get(0)).optional()?;
    let now = now_unix_s();
    let mut attempt = match doc {
        Some(d) => decode(name, &d)?,
        None => ReimageAttempt { generation, phases: Vec::new(), failures: 0, last_error: None, active_since_failure: false, installed_unix_s: None, started_unix_s: now, updated_unix_s: now },
    };
    for p in event.phases {
        match attempt.phases.iter_mut().find(|q| q.phase == p.phase) {
            Some(q) => q.millis = p.millis,
            None => attempt.phases.push(*p),
        }
    }
    if let Some(reason) = event.failure {
        attempt.failures += 1;
        attempt.last_error = Some(reason.to_string());
    }
    if event.progress {
        attempt.active_since_failure = attempt.failures > 0;
    } else if event.failure.is_some() {
        attempt.active_since_failure = false;
    }
    if event.installed {
        attempt.installed_unix_s = Some(now);
    }
    attempt.updated_unix_s = now;
    let doc = serde_json::to_string(&attempt).expect("an attempt always serialises");
    tx.execute(
        "INSERT INTO reimage_attempts (node, generation, doc) VALUES (?1, ?2, ?3) ON CONFLICT(node, generation) DO UPDATE SET doc = ?3",
        params![name, generation, doc],
    )?;
    tx.execute(
        "DELETE FROM reimage_attempts WHERE node = ?1 AND generation NOT IN (SELECT generation FROM reimage_attempts WHERE node = ?1 ORDER BY generation DESC LIMIT ?2)",
        params![name, ATTEMPTS_KEPT as i64],
    )?;
    Ok(Some(attempt))
}

fn decode(name: &str, doc: &str) -> Result<ReimageAttempt, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("re-image attempt of {name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::agent_status::{AgentReport, Phase};
    use crate::node::Node;

    /// Node n1 set to re-image.
    fn store_with_node() -> (tempfile::TempDir, Store) {
        let (dir, store) = crate::store::store_with_node();
        store.update_node("n1", true, |n| Ok(Node { next_boot: NextBoot::Reimage, ..n.clone() })).unwrap();
        (dir, store)
    }

    fn report(phases: &[(Phase, u64)], error: Option<&str>) -> AgentReport {
        AgentReport {
            message: "m".into(),
            error: error.map(Into::into),
            inventory: None,
            phases: phases.iter().map(|&(phase, millis)| PhaseTime { phase, millis }).collect(),
        }
    }

    /// Starts a new re-image the way the API does: a new token generation.
    fn bump(store: &Store) {
        store.update_node("n1", true, |n| Ok(n.clone())).unwrap();
    }

    #[test]
    fn phases_collect_per_generation_and_a_retried_phase_keeps_its_latest_time() {
        let (_dir, store) = store_with_node();
        assert!(store.reimage_attempts("n1").unwrap().is_empty());
        store.record_agent_report("n1", report(&[(Phase::AgentBoot, 9000), (Phase::Inventory, 20)], None)).unwrap();
        store.record_agent_report("n1", report(&[(Phase::Layout, 3000)], Some("mdadm failed"))).unwrap();
        store.record_agent_report("n1", report(&[(Phase::Layout, 2500), (Phase::Transfer, 7000)], None)).unwrap();
        let a = &store.reimage_attempts("n1").unwrap()[0];
        let phases: Vec<(Phase, u64)> = a.phases.iter().map(|p| (p.phase, p.millis)).collect();
        assert_eq!(phases, vec![(Phase::AgentBoot, 9000), (Phase::Inventory, 20), (Phase::Layout, 2500), (Phase::Transfer, 7000)]);
        assert_eq!((a.failures, a.last_error.as_deref(), a.attempts()), (1, Some("mdadm failed"), 2), "the retry reported a phase after the failure");
        assert_eq!(a.total_millis(), 18_520);
    }

    #[test]
    fn a_new_reimage_starts_a_new_record_and_keeps_the_last_one() {
        let (_dir, store) = store_with_node();
        for millis in [100, 200, 300] {
            store.record_agent_report("n1", report(&[(Phase::Unpack, millis)], None)).unwrap();
            store.record_reimage_success("n1").unwrap();
            bump(&store);
        }
        let kept = store.reimage_attempts("n1").unwrap();
        assert_eq!(kept.len(), ATTEMPTS_KEPT);
        assert_eq!(kept.iter().map(|a| a.phases[0].millis).collect::<Vec<_>>(), vec![300, 200], "newest first, the oldest dropped");
        assert!(kept.iter().all(|a| a.installed_unix_s.is_some()));
        assert!(kept[0].generation > kept[1].generation);
    }

    #[test]
    fn a_failure_reported_both_ways_counts_once() {
        let (_dir, store) = store_with_node();
        store.record_agent_report("n1", report(&[], Some("no space"))).unwrap();
        let a = store.record_reimage_failure("n1", "no space").unwrap().unwrap();
        assert_eq!(a.failures, 1, "the status already said it");
        let a = store.record_reimage_failure("n1", "checksum mismatch").unwrap().unwrap();
        assert_eq!((a.failures, a.last_error.as_deref(), a.attempts()), (2, Some("checksum mismatch"), 2));
        assert!(matches!(store.reimage_attempts("ghost"), Err(StoreError::NotFound(_))));
        assert!(matches!(store.record_reimage_failure("ghost", "x"), Err(StoreError::NotFound(_))));
    }
}
