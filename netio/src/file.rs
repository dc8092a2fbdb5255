//! Write-behind for an output file: start a range's writeback, wait for it, drop it from the
//! page cache.
//!
//! The standard library has no `sync_file_range` or `posix_fadvise`; without them a receiver
//! writing a multi-GB image leaves gigabytes of dirty pages for the kernel to throttle in bursts
//! (`balance_dirty_pages`), which stalls the writer long enough for the socket buffer to overflow.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Starts writeback of `len` bytes at `offset` without waiting for it. `Ok(false)`: the file
/// cannot take `sync_file_range` (a pipe or character device, a filesystem without it), so the
/// caller should write plainly; an error is a real one (EIO, ENOSPC).
pub fn start_writeback(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    match sync_range(file, offset, len, libc::SYNC_FILE_RANGE_WRITE) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ESPIPE | libc::ENOSYS | libc::EOPNOTSUPP)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Waits until `len` bytes at `offset` are written to the device (starting writeback of any
/// still dirty).
pub fn wait_writeback(file: &File, offset: u64, len: u64) -> io::Result<()> {
    sync_range(
        file,
        offset,
        len,
        libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER,
    )
}

/// Tells the kernel `len` bytes at `offset` will not be read soon, so clean pages can leave
/// the page cache now rather than push out pages something else needs.
pub fn drop_cached(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let (offset, len) = (to_off::<libc::off_t>(offset)?, to_off::<libc::off_t>(len)?);
    // SAFETY: posix_fadvise only reads its integer arguments; the fd is open for as long as
    // `file` is borrowed.
    let err = unsafe { libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_DONTNEED) };
    if err == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(err)) }
}

fn sync_range(file: &File, offset: u64, len: u64, flags: libc::c_uint) -> io::Result<()> {
    let (offset, len) = (to_off::<libc::off64_t>(offset)?, to_off::<libc::off64_t>(len)?);
    // SAFETY: sync_file_range only reads its integer arguments; the fd is open for as long as
    // `file` is borrowed.
    if unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A file offset or length as the syscall's signed type (an object past its range is refused,
/// not wrapped).
fn to_off<T: TryFrom<u64>>(n: u64) -> io::Result<T> {
    T::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}
