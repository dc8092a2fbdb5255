//! Transfer sessions in the store: ids stay unique across restarts, and launched sessions leave a
//! record of who received what, so `image transfers` still shows them after a restart.
use std::collections::BTreeMap;

use rusqlite::params;

use super::{Store, StoreError, now_unix_s};
use crate::transfer::gather::Launch;
use crate::transfer::{Delivery, ReceiverState, SessionId, SessionState, SessionStatus};

/// The state shown for a session that had not ended when the server stopped: its sender ran in the
/// server's process, so it ended with it.
pub const INTERRUPTED: &str = "interrupted: the control plane stopped before the session ended";

/// One `transfer_sessions` row: id, image, version, receivers (JSON), last status (JSON), delivery.
type HistoryRow = (SessionId, String, u32, String, Option<String>, Option<String>);

impl Store {
    /// The first session id this run may use: one past every launched session. The id of a window that
    /// closed empty before a restart may come again; agents take their session from the registration
    /// reply, never from the boot script alone, so that is harmless.
    pub fn first_free_session_id(&self) -> Result<SessionId, StoreError> {
        self.read(|c| Ok(c.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM transfer_sessions", [], |r| r.get(0))?))
    }

    /// Records a launched session.
    pub fn record_launch(&self, launch: &Launch) -> Result<(), StoreError> {
        let receivers = serde_json::to_string(&launch.receivers).expect("names serialise");
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO transfer_sessions (id, image, version, receivers, started_unix_s, delivery) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![launch.id, launch.key.image, launch.key.version, receivers, now_unix_s(), launch.delivery.to_string()],
            )?;
            Ok(())
        })
    }

    /// Records where a launched session stands (its end, or a receiver's report).
    pub fn record_session(&self, status: &SessionStatus) -> Result<(), StoreError> {
        let doc = serde_json::to_string(status).expect("a session status serialises");
        self.write(|tx| {
            tx.execute("UPDATE transfer_sessions SET status = ?2 WHERE id = ?1", params![status.id, doc])?;
            Ok(())
        })
    }

    /// The `limit` most recent launched sessions as last recorded, oldest first; one that had not
    /// ended shows as failed with [`INTERRUPTED`].
    pub fn session_history(&self, limit: usize) -> Result<Vec<SessionStatus>, StoreError> {
        let rows: Vec<HistoryRow> = self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT id, image, version, receivers, status, delivery FROM transfer_sessions ORDER BY id DESC LIMIT ?1")?;
            let rows = stmt.query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        let mut history = rows
            .into_iter()
            .map(|(id, image, version, receivers, status, delivery)| {
                let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("transfer session {id}: {e}"));
                let mut s = match status {
                    Some(doc) => serde_json::from_str::<SessionStatus>(&doc).map_err(corrupt)?,
                    None => {
                        let names: Vec<String> = serde_json::from_str(&receivers).map_err(corrupt)?;
                        let receivers = names.into_iter().map(|n| (n, ReceiverState::Registered)).collect::<BTreeMap<_, _>>();
                        SessionStatus { id, image, version, state: SessionState::Running, delivery: None, receivers }
                    }
                };
                // Sessions recorded before deliveries were chosen were all multicast.
                let delivery = delivery.map(|d| serde_json::from_value(serde_json::Value::String(d)).map_err(corrupt)).transpose()?;
                s.delivery = s.delivery.or(delivery).or(Some(Delivery::Multicast));
                if matches!(s.state, SessionState::Gathering | SessionState::Running) {
                    s.state = SessionState::Failed { reason: INTERRUPTED.into() };
                }
                Ok(s)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        history.reverse();
        Ok(history)
    }
}
