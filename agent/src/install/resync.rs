//! Keeps an md RAID resync at its slowest while the install runs.
//!
//! New mirrors skip the initial resync (`--assume-clean`, see `plan::step`), but a parity array
//! (RAID 5, 6) needs it, and an array the layout kept may still be resyncing from its last boot.
//! A new array without `--assume-clean` copies every block of one member onto the other, and the kernel lets that resync run
//! at up to `speed_limit_max` (200 MB/s) unless it sees other I/O. During an install that copy of
//! not yet written (meaningless) blocks competes with the unpack and the initramfs build for the disks
//! and, in a slow guest, the CPU: on TCG VMs `update-initramfs` took ~20 min beside a 2.7 GB resync.
//! What the install writes reaches both members anyway (RAID1 mirrors every write); the resync only
//! has to catch up the rest, so the agent caps it at the kernel's guaranteed minimum
//! (`speed_limit_min`) for the install. The cap lives in the agent's kernel only: `mdadm --stop`
//! before the reboot records how far the resync got, and the installed system's kernel, with its
//! own defaults, resumes it from there.
use std::path::Path;

use crate::run::say;

/// The kernel's resync ceiling, KB/s per device.
pub const SPEED_LIMIT_MAX: &str = "/proc/sys/dev/raid/speed_limit_max";
/// The rate the kernel keeps a resync at even under other I/O, KB/s per device.
pub const SPEED_LIMIT_MIN: &str = "/proc/sys/dev/raid/speed_limit_min";

/// Lowers the resync ceiling in `max` to the floor in `min` (both `/proc/sys/dev/raid` files) and
/// returns the rate now set, or `None` when the files cannot be read (no md in this kernel: nothing
/// to hold). Best effort: a resync at full speed only makes the install slower.
pub fn hold(max: &Path, min: &Path) -> Option<u64> {
    let read = |f: &Path| std::fs::read_to_string(f).ok().and_then(|t| t.trim().parse::<u64>().ok());
    let (ceiling, floor) = (read(max)?, read(min)?);
    if ceiling <= floor {
        return Some(ceiling);
    }
    match std::fs::write(max, floor.to_string()) {
        Ok(()) => Some(floor),
        Err(e) => {
            say(&format!("note: could not hold the RAID resync at {floor} KB/s: {e}"));
            Some(ceiling)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_comes_down_to_the_floor_and_never_goes_up() {
        let dir = tempfile::tempdir().unwrap();
        let (max, min) = (dir.path().join("max"), dir.path().join("min"));
        std::fs::write(&max, "200000\n").unwrap();
        std::fs::write(&min, "1000\n").unwrap();
        assert_eq!(hold(&max, &min), Some(1000));
        assert_eq!(std::fs::read_to_string(&max).unwrap(), "1000");
        std::fs::write(&max, "500\n").unwrap();
        assert_eq!(hold(&max, &min), Some(500));
        assert_eq!(std::fs::read_to_string(&max).unwrap(), "500\n");
        assert_eq!(hold(&dir.path().join("none"), &min), None);
    }
}
