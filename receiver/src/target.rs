//! Where verified blocks land: a regular file or a block device.

use fec::{BlockId, ObjectLayout};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// How far writes may run ahead of the device.
///
/// Without a bound, a multi-GB image fills the page cache with dirty pages until the kernel's
/// dirty limit throttles `pwrite` in bursts of seconds; the decode workers stall, the receive
/// loop stops draining its socket, and the datagrams the kernel drops become repair and partial
/// blocks held in memory. Starting each block's writeback as it is written, and waiting for the
/// oldest once `window_bytes` are outstanding, keeps the writer at the device's pace instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBehind {
    /// Bytes written whose writeback may still be outstanding; past it a write waits for the
    /// oldest range to reach the device and drops it from the page cache.
    pub window_bytes: u64,
}

impl Default for WriteBehind {
    /// 64 MiB: dozens of blocks, enough to keep a disk's queue full and far below any dirty
    /// limit.
    fn default() -> Self {
        Self { window_bytes: 64 << 20 }
    }
}

/// The output of a transfer. Each verified block is written at its offset.
pub struct Target {
    file: File,
    layout: ObjectLayout,
    write_behind: WriteBehind,
    /// Ranges whose writeback was started and not yet waited for, oldest first.
    outstanding: Mutex<Outstanding>,
    /// Set once the file refuses `sync_file_range` (some filesystems): from then on writes are
    /// plain and the kernel paces them as it would without write-behind.
    unpaced: AtomicBool,
}

/// Written ranges (offset, length) still on their way to the device, and their total bytes.
#[derive(Default)]
struct Outstanding {
    ranges: VecDeque<(u64, u64)>,
    bytes: u64,
}

impl Target {
    /// Opens (creating if needed) `path` for an object of `layout` with the default
    /// [`WriteBehind`]. A regular file is sized to the object; a block device must be at least
    /// that large.
    pub fn open(path: &Path, layout: ObjectLayout) -> std::io::Result<Self> {
        Self::open_with(path, layout, WriteBehind::default())
    }

    /// [`Target::open`] with an explicit write-behind window.
    pub fn open_with(path: &Path, layout: ObjectLayout, write_behind: WriteBehind) -> std::io::Result<Self> {
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
        Ok(Self { file, layout, write_behind, outstanding: Mutex::default(), unpaced: AtomicBool::new(false) })
    }

    /// Writes a verified block at its offset, then starts its writeback; if that puts more than
    /// the write-behind window in flight, waits for the oldest ranges (see [`WriteBehind`]).
    /// Safe to call from several threads at once.
    pub fn write_block(&self, block: BlockId, data: &[u8]) -> std::io::Result<()> {
        let offset = self.layout.block_offset(block);
        self.file.write_all_at(data, offset)?;
        self.write_behind(offset, data.len() as u64)
    }

    fn write_behind(&self, offset: u64, len: u64) -> std::io::Result<()> {
        if self.unpaced.load(Ordering::Relaxed) {
            return Ok(());
        }
        if !netio::start_writeback(&self.file, offset, len)? {
            self.unpaced.store(true, Ordering::Relaxed);
            return Ok(());
        }
        self.lock_outstanding().push(offset, len);
        loop {
            // Each due range is taken under the lock but waited for outside it (the guard ends
            // with this statement), so other workers keep writing meanwhile.
            let due = self.lock_outstanding().take_over(self.write_behind.window_bytes);
            let Some((offset, len)) = due else { break };
            netio::wait_writeback(&self.file, offset, len)?;
            // Advice only: a filesystem that cannot drop the pages keeps them cached, as it
            // would without write-behind; nothing is lost.
            let _ = netio::drop_cached(&self.file, offset, len);
        }
        Ok(())
    }

    fn lock_outstanding(&self) -> std::sync::MutexGuard<'_, Outstanding> {
        // The bookkeeping is consistent after every statement, so a panicked holder left
        // nothing half-done.
        self.outstanding.lock().unwrap_or_else(PoisonError::into_inner)
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

impl Outstanding {
    fn push(&mut self, offset: u64, len: u64) {
        self.ranges.push_back((offset, len));
        self.bytes += len;
    }

    /// The oldest range, removed, while more than `window` bytes are outstanding.
    fn take_over(&mut self, window: u64) -> Option<(u64, u64)> {
        if self.bytes <= window {
            return None;
        }
        let (offset, len) = self.ranges.pop_front()?;
        self.bytes -= len;
        Some((offset, len))
    }
}
