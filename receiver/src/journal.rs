//! The journal of stored blocks, so a restarted receiver resumes instead of starting over.
//!
//! Append-only records `(block u32, first 8 bytes of its hash)` after a header naming the
//! object's root hash. The journal is only a hint: on resume every listed block is read back from
//! the target and checked against the manifest, so a torn record, a lost page or a target changed
//! behind our back costs a re-fetch, never a corrupt output. That is also why appends need no
//! fsync.

use crate::target::Target;
use fec::{BlockId, Manifest};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

const MAGIC: &[u8; 4] = b"FTNJ";
const HEADER_LEN: usize = 4 + 32;
const RECORD_LEN: usize = 12;

/// Why a journal could not be used.
#[derive(Debug, Error)]
pub enum JournalError {
    /// The journal belongs to another object.
    #[error("journal {0} is for another object; remove it to start over")]
    OtherObject(PathBuf),
    /// Not a journal.
    #[error("{0} is not a fountain journal")]
    NotAJournal(PathBuf),
    /// I/O on the journal or target failed.
    #[error("journal I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// An open journal.
pub struct Journal {
    file: File,
    path: PathBuf,
    record: Vec<u8>,
}

impl Journal {
    /// Opens the journal at `path` for `manifest`, creating it if absent, and returns it with the
    /// blocks that are verifiably on `target`.
    pub fn open(path: &Path, manifest: &Manifest, target: &Target) -> Result<(Self, Vec<BlockId>), JournalError> {
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let root = manifest.root().as_bytes();
        let mut stored = Vec::new();
        if bytes.is_empty() {
            file.write_all(MAGIC)?;
            file.write_all(root)?;
        } else {
            if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
                return Err(JournalError::NotAJournal(path.to_owned()));
            }
            if &bytes[4..HEADER_LEN] != root {
                return Err(JournalError::OtherObject(path.to_owned()));
            }
            let mut buf = Vec::new();
            let mut listed = vec![false; manifest.layout().block_count() as usize];
            for record in bytes[HEADER_LEN..].chunks_exact(RECORD_LEN) {
                let block = u32::from_be_bytes(record[..4].try_into().expect("4 bytes"));
                let Some(hash) = manifest.block_hash(block) else { continue };
                if record[4..] != hash.as_bytes()[..8] || std::mem::replace(&mut listed[block as usize], true) {
                    continue;
                }
                target.read_block(block, &mut buf)?;
                if blake3::hash(&buf) == *hash {
                    stored.push(block);
                }
            }
        }
        Ok((Self { file, path: path.to_owned(), record: Vec::with_capacity(RECORD_LEN) }, stored))
    }

    /// Records that `block` (with hash `hash`) is on the target.
    pub fn record(&mut self, block: BlockId, hash: &blake3::Hash) -> std::io::Result<()> {
        self.record.clear();
        self.record.extend_from_slice(&block.to_be_bytes());
        self.record.extend_from_slice(&hash.as_bytes()[..8]);
        self.file.write_all(&self.record)
    }

    /// The transfer is complete: the journal is no longer needed.
    pub fn remove(self) -> std::io::Result<()> {
        std::fs::remove_file(&self.path)
    }
}
