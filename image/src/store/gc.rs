//! `gc`: removes chunks no version names and the temporary files of writes that never finished
//! (a killed publish leaves both). Holds the store's lock alone, so no publish is in flight.
use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{LockKind, Store, StoreError, chunks};
use crate::durable;

/// What `gc` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    /// Unreferenced chunks removed.
    pub chunks_removed: usize,
    /// Their bytes.
    pub bytes_freed: u64,
    /// Temporary files removed.
    pub temp_files_removed: usize,
}

impl Store {
    /// Drops unreferenced chunks and leftover temporary files. Refuses to run if any version file is
    /// unreadable: its chunks would look unreferenced.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        let _lock = self.lock(LockKind::Exclusive)?;
        let mut report = GcReport::default();
        let tmp = self.root.join("tmp");
        for f in chunks::read_dir(&tmp)? {
            std::fs::remove_file(&f).map_err(|e| StoreError::io("removing", &f, e))?;
            report.temp_files_removed += 1;
        }
        let versions = self.versions(None)?;
        let referenced: HashSet<&str> = versions.iter().flat_map(|v| v.chunks.iter().map(|c| c.id.as_str())).collect();
        for (id, len) in self.chunks.list()? {
            if !referenced.contains(id.as_str()) {
                let path = self.chunks.path(&id);
                std::fs::remove_file(&path).map_err(|e| StoreError::io("removing", &path, e))?;
                report.chunks_removed += 1;
                report.bytes_freed += len;
            }
        }
        durable::sync_dir(&tmp).map_err(|e| StoreError::io("syncing", &tmp, e))?;
        Ok(report)
    }
}
