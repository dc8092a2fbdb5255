//! `verify`: every chunk re-hashed, every version checked to name only chunks that are present with
//! the length it records.
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{LockKind, Store, StoreError, version};

/// One thing wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// A chunk whose bytes do not hash to its name.
    CorruptChunk {
        /// Its id.
        id: String,
    },
    /// A version names a chunk that is not there, or is there with another length.
    MissingChunk {
        /// `NAME@V`.
        version: String,
        /// The chunk.
        id: String,
    },
    /// A version file that does not parse.
    BadVersionFile {
        /// The error.
        reason: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::CorruptChunk { id } => write!(f, "corrupt chunk {id}"),
            Problem::MissingChunk { version, id } => write!(f, "{version}: missing chunk {id}"),
            Problem::BadVersionFile { reason } => f.write_str(reason),
        }
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Versions checked.
    pub versions: usize,
    /// Chunks re-hashed.
    pub chunks: usize,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Everything wrong; empty when the store is sound.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Nothing wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Re-hashes every chunk and checks every version against the chunks present.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let _lock = self.lock(LockKind::Shared)?;
        let mut report = VerifyReport::default();
        let mut present: HashMap<String, u64> = HashMap::new();
        for (id, len) in self.chunks.list()? {
            match self.chunks.read(&id) {
                Ok(_) => {
                    report.chunks += 1;
                    report.bytes += len;
                    present.insert(id, len);
                }
                Err(StoreError::CorruptChunk(id)) => report.problems.push(Problem::CorruptChunk { id }),
                Err(e) => return Err(e),
            }
        }
        for name in self.names()? {
            for n in self.numbers(&name)? {
                let v = match version::read(&version::file_name(&self.versions_dir(), &name, n)) {
                    Ok(v) => v,
                    Err(e @ StoreError::BadVersionFile { .. }) => {
                        report.problems.push(Problem::BadVersionFile { reason: e.to_string() });
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                report.versions += 1;
                for c in &v.chunks {
                    if present.get(&c.id) != Some(&u64::from(c.len)) {
                        report.problems.push(Problem::MissingChunk { version: v.label(), id: c.id.clone() });
                    }
                }
            }
        }
        Ok(report)
    }
}
