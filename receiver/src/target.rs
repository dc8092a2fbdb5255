//! Where verified blocks land: a regular file or a block device.

use fec::{BlockId, ObjectLayout};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::Path;

/// The output of a transfer. Each verified block is written at its offset.
pub struct Target {
    file: File,
    layout: ObjectLayout,
}

impl Target {
    /// Opens (creating if needed) `path` for an object of `layout`. A regular file is sized to
    /// the object; a block device must be at least that large.
    pub fn open(path: &Path, layout: ObjectLayout) -> std::io::Result<Self> {
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let meta = file.metadata()?;
        if meta.file_type().is_block_device() {
            let size = file.seek(SeekFrom::End(0))?;
            if size < layout.object_size() {
                return Err(std::io::Error::other(format!(
                    "{} holds {size} bytes, the object needs {}",
                    path.display(),
                    layout.object_size()
                )));
            }
        } else if meta.len() != layout.object_size() {
            file.set_len(layout.object_size())?;
        }
        Ok(Self { file, layout })
    }

    /// Writes a verified block at its offset.
    pub fn write_block(&self, block: BlockId, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all_at(data, self.layout.block_offset(block))
    }

    /// Reads `block` back (to re-verify journaled blocks on resume).
    pub fn read_block(&self, block: BlockId, buf: &mut Vec<u8>) -> std::io::Result<()> {
        buf.resize(self.layout.block_len(block), 0);
        self.file.read_exact_at(buf, self.layout.block_offset(block))
    }

    /// Flushes everything to stable storage.
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_all()
    }
}
