//! The store's part of a stateless boot: the node token on the kernel command line is good for one
//! exchange, so the exchange revokes it, and only if nobody revoked it first.
use rusqlite::params;

use super::{Store, StoreError};

impl Store {
    /// Moves `name`'s token generation from `generation` to the next one, revoking every token of
    /// `generation`; returns false (and changes nothing) when the generation already moved on, so of
    /// two exchanges of one token only the first succeeds.
    pub fn revoke_token_generation(&self, name: &str, generation: u64) -> Result<bool, StoreError> {
        self.write(|tx| {
            let changed = tx.execute("UPDATE nodes SET token_generation = token_generation + 1 WHERE name = ?1 AND token_generation = ?2", params![name, generation])?;
            Ok(changed == 1)
        })
    }
}
