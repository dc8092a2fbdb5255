//! Where the sender's symbols come from: blocks read from the object, checked against the
//! manifest, with their encoders kept for repair.

use bytes::{Bytes, BytesMut};
use fec::{BlockEncoder, BlockId, Manifest};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use thiserror::Error;

/// Why a symbol could not be produced.
#[derive(Debug, Error)]
pub enum SourceError {
    /// Reading the object failed.
    #[error("reading block {block}: {source}")]
    Read {
        /// The block.
        block: BlockId,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The object no longer matches its manifest: it changed after it was hashed.
    #[error("block {0} no longer matches the manifest: the source changed during the transfer")]
    Changed(BlockId),
}

/// Reads blocks of one object and keeps the encoders of the most recent ones.
pub struct BlockSource {
    file: File,
    manifest: Manifest,
    capacity: usize,
    encoders: HashMap<BlockId, BlockEncoder>,
    order: VecDeque<BlockId>,
}

impl BlockSource {
    /// A source over `file`, described by `manifest`, caching up to `capacity` encoders.
    pub fn new(file: File, manifest: Manifest, capacity: usize) -> Self {
        Self { file, manifest, capacity: capacity.max(1), encoders: HashMap::new(), order: VecDeque::new() }
    }

    /// Symbol `esi` of `block`.
    pub fn symbol(&mut self, block: BlockId, esi: u32) -> Result<Bytes, SourceError> {
        let encoder = self.encoder(block)?;
        Ok(encoder.symbols(esi, 1).pop().expect("one symbol below the ESI limit"))
    }

    fn encoder(&mut self, block: BlockId) -> Result<&BlockEncoder, SourceError> {
        if !self.encoders.contains_key(&block) {
            let layout = self.manifest.layout();
            let mut buf = BytesMut::zeroed(layout.block_len(block));
            self.file
                .read_exact_at(&mut buf, layout.block_offset(block))
                .map_err(|source| SourceError::Read { block, source })?;
            if Some(&blake3::hash(&buf)) != self.manifest.block_hash(block) {
                return Err(SourceError::Changed(block));
            }
            if self.order.len() == self.capacity
                && let Some(old) = self.order.pop_front()
            {
                self.encoders.remove(&old);
            }
            self.encoders.insert(block, BlockEncoder::new(layout, block, buf.freeze()));
            self.order.push_back(block);
        }
        Ok(&self.encoders[&block])
    }
}
