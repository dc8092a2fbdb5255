//! Transfer sessions in the store: ids stay unique across restarts, and launched sessions leave a
//! record of who received what.
use rusqlite::params;

use super::{Store, StoreError, now_unix_s};
use crate::transfer::SessionId;
use crate::transfer::gather::Launch;

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
                "INSERT OR REPLACE INTO transfer_sessions (id, image, version, receivers, started_unix_s) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![launch.id, launch.key.image, launch.key.version, receivers, now_unix_s()],
            )?;
            Ok(())
        })
    }
}
