//! Chunk files: `chunks/HH/HASH`, where HASH is the blake3 of the file's bytes (hex) and HH its first
//! two digits (256 directories keep each one small). A chunk is written once, whichever version first
//! has it, and never changed.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::StoreError;
use crate::durable;

/// The chunk directory.
#[derive(Debug, Clone)]
pub struct Chunks {
    dir: PathBuf,
    tmp: PathBuf,
}

impl Chunks {
    /// The chunks under `dir`, written through temporary files in `tmp` (same filesystem).
    pub fn new(dir: PathBuf, tmp: PathBuf) -> Self {
        Chunks { dir, tmp }
    }

    /// Where chunk `id` (hex) lives.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(&id[..2]).join(id)
    }

    /// Stores a chunk unless it is there already; returns whether it was new. The rename is not yet
    /// durable: the caller syncs the chunk's directory (`sync_dirs`) before it names the chunk in a
    /// version.
    pub fn put(&self, id: &blake3::Hash, data: &[u8]) -> Result<bool, StoreError> {
        let hex = id.to_hex();
        let dest = self.path(&hex);
        if dest.exists() {
            return Ok(false);
        }
        let subdir = dest.parent().expect("a chunk path has a parent");
        std::fs::create_dir_all(subdir).map_err(|e| StoreError::io("creating", subdir, e))?;
        let tmp = durable::tmp_path(&self.tmp, "chunk");
        durable::write_tmp(&tmp, data).map_err(|e| StoreError::io("writing", &tmp, e))?;
        std::fs::rename(&tmp, &dest).map_err(|e| StoreError::io("renaming into place", &dest, e))?;
        Ok(true)
    }

    /// Syncs the directories of these chunks (and the chunk directory itself, which new
    /// subdirectories were added to), making every chunk named durable.
    pub fn sync_dirs<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Result<(), StoreError> {
        let prefixes: BTreeSet<&str> = ids.into_iter().map(|id| &id[..2]).collect();
        for p in prefixes {
            let d = self.dir.join(p);
            durable::sync_dir(&d).map_err(|e| StoreError::io("syncing", &d, e))?;
        }
        durable::sync_dir(&self.dir).map_err(|e| StoreError::io("syncing", &self.dir, e))
    }

    /// Reads chunk `id` and checks its hash.
    pub fn read(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(id);
        let data = std::fs::read(&path).map_err(|e| StoreError::io("reading chunk", &path, e))?;
        if blake3::hash(&data).to_hex().as_str() != id {
            return Err(StoreError::CorruptChunk(id.to_string()));
        }
        Ok(data)
    }

    /// Every chunk file present: id and size. Files whose names are not chunk ids are skipped.
    pub fn list(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        for sub in read_dir(&self.dir)? {
            if !sub.is_dir() {
                continue;
            }
            for f in read_dir(&sub)? {
                let Some(name) = f.file_name().and_then(|n| n.to_str()) else { continue };
                if is_chunk_id(name) {
                    let len = f.metadata().map_err(|e| StoreError::io("reading the size of", &f, e))?.len();
                    out.push((name.to_string(), len));
                }
            }
        }
        Ok(out)
    }
}

/// 64 lowercase hex digits.
fn is_chunk_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The entries of a directory, sorted.
pub fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| StoreError::io("listing", dir, e))? {
        out.push(e.map_err(|e| StoreError::io("listing", dir, e))?.path());
    }
    out.sort();
    Ok(out)
}
