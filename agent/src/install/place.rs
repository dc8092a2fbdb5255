//! Where the image is received before it is unpacked: in RAM when it fits with room to spare, else in
//! a scratch folder on the target's root filesystem.
//!
//! RAM first because the image then never touches the disks the unpack writes (half the disk writes,
//! and no room taken on the installed root); the price is that a node reset during the transfer
//! starts it again. A copy on the target survives a reset: its journal lets the next boot resume, so
//! an earlier boot's scratch folder is always resumed rather than abandoned for RAM.
use std::path::{Path, PathBuf};

/// RAM kept free besides the image: unsquashfs's caches (256 MiB of data and 256 MiB of fragments
/// by default), the agent, and the page cache the unpack writes through. With 256 MiB a 1 GiB VM
/// took a 239 MiB image into RAM and unsquashfs was killed for memory.
pub const RAM_MARGIN_BYTES: u64 = 768 << 20;
/// Room kept free on the target besides the image, for the start of the unpack.
pub const TARGET_MARGIN_BYTES: u64 = 64 << 20;
/// The image's folder in RAM (the initramfs's root filesystem is in RAM).
pub const RAM_DIR: &str = "/tmp/fountain-image";
/// The image's folder on the target, relative to its root; removed once the image is unpacked.
pub const SCRATCH_DIR: &str = ".fountain-scratch";
/// The image's file name in either folder.
pub const IMAGE_FILE: &str = "image.squashfs";

/// Where the image goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The initramfs's RAM.
    Ram,
    /// A scratch folder on the target root filesystem.
    Target,
}

impl Place {
    /// The folder for this place under target root `target`.
    pub fn dir(self, target: &Path) -> PathBuf {
        match self {
            Place::Ram => PathBuf::from(RAM_DIR),
            Place::Target => target.join(SCRATCH_DIR),
        }
    }
}

/// Why the image has nowhere to go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the image ({image_bytes} bytes) fits neither in RAM ({mem_available_bytes} bytes available) nor on the target root ({target_free_bytes} bytes free)")]
pub struct NoRoom {
    /// Image size.
    pub image_bytes: u64,
    /// RAM available.
    pub mem_available_bytes: u64,
    /// Free space on the target root.
    pub target_free_bytes: u64,
}

/// Picks the place for an image of `image_bytes`, given the RAM available, the free space on the
/// target root and whether an earlier boot left a journal there.
pub fn choose(image_bytes: u64, mem_available_bytes: u64, target_free_bytes: u64, journal_on_target: bool) -> Result<Place, NoRoom> {
    if journal_on_target {
        return Ok(Place::Target);
    }
    if image_bytes.saturating_add(RAM_MARGIN_BYTES) <= mem_available_bytes {
        return Ok(Place::Ram);
    }
    if image_bytes.saturating_add(TARGET_MARGIN_BYTES) <= target_free_bytes {
        return Ok(Place::Target);
    }
    Err(NoRoom { image_bytes, mem_available_bytes, target_free_bytes })
}

/// `MemAvailable` of `/proc/meminfo`, in bytes (0 when absent).
pub fn mem_available(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// The available bytes `df -Pk PATH` prints for its one filesystem (0 when it cannot be read).
pub fn df_available(df_output: &str) -> u64 {
    df_output.lines().nth(1).and_then(|l| l.split_whitespace().nth(3)).and_then(|kib| kib.parse::<u64>().ok()).map_or(0, |kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 1 << 20;

    #[test]
    fn ram_when_it_fits_with_margin_else_the_target_and_an_earlier_journal_wins() {
        assert_eq!(choose(300 * M, 1100 * M, 10_000 * M, false), Ok(Place::Ram));
        assert_eq!(choose(300 * M, 300 * M + RAM_MARGIN_BYTES, 0, false), Ok(Place::Ram));
        assert_eq!(choose(300 * M, 300 * M + RAM_MARGIN_BYTES - 1, 10_000 * M, false), Ok(Place::Target));
        assert_eq!(choose(300 * M, 8000 * M, 10_000 * M, true), Ok(Place::Target));
        assert_eq!(choose(239 * M, 958 * M, 2000 * M, false), Ok(Place::Target), "a 1 GiB VM");
        let err = choose(300 * M, 100 * M, 300 * M, false).unwrap_err();
        assert_eq!(err.target_free_bytes, 300 * M);
        assert!(err.to_string().contains("fits neither in RAM"), "{err}");
    }

    #[test]
    fn reads_meminfo_and_df() {
        let meminfo = "MemTotal:        1004300 kB\nMemFree:          900000 kB\nMemAvailable:     812345 kB\n";
        assert_eq!(mem_available(meminfo), 812_345 * 1024);
        assert_eq!(mem_available("MemTotal: 1 kB\n"), 0);
        let df = "Filesystem           1024-blocks    Used Available Capacity Mounted on\n/dev/mapper/vg0-root   2086912   47356   2039556   2% /target\n";
        assert_eq!(df_available(df), 2_039_556 * 1024);
        assert_eq!(df_available("garbage"), 0);
        assert_eq!(Place::Target.dir(Path::new("/target")), Path::new("/target/.fountain-scratch"));
    }
}
