//! Whether the image fits in RAM, checked before the first byte is fetched: a stateless node holds
//! the whole artifact in a tmpfs, and the booted system needs room of its own on top (its overlay's
//! writes, its processes), so an image that leaves too little is refused with the figures.

/// RAM kept free for the booted system beside the image: its first writes to the overlay and the
/// processes of a minimal multi-user boot.
pub const RUNNING_RESERVE_BYTES: u64 = 256 << 20;

/// The image does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{image} needs {need_mib} MiB of RAM ({artifact_mib} MiB image + {reserve_mib} MiB for the running system) but this node has {available_mib} MiB available: give the node more RAM, use a smaller image, or boot it stateful",
    need_mib = (artifact_bytes + RUNNING_RESERVE_BYTES).div_ceil(1 << 20),
    artifact_mib = artifact_bytes.div_ceil(1 << 20),
    reserve_mib = RUNNING_RESERVE_BYTES >> 20,
    available_mib = available_bytes >> 20
)]
pub struct NotEnoughRam {
    /// `image@version`.
    pub image: String,
    /// Artifact size.
    pub artifact_bytes: u64,
    /// `MemAvailable` when checked.
    pub available_bytes: u64,
}

/// `MemAvailable` from the text of `/proc/meminfo`, in bytes.
pub fn available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kib: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kib * 1024)
}

/// Refuses an artifact of `artifact_bytes` when `available_bytes` cannot hold it and the reserve.
pub fn check(image: &str, artifact_bytes: u64, available_bytes: u64) -> Result<(), NotEnoughRam> {
    if artifact_bytes.saturating_add(RUNNING_RESERVE_BYTES) <= available_bytes {
        Ok(())
    } else {
        Err(NotEnoughRam { image: image.to_string(), artifact_bytes, available_bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_available() {
        let meminfo = "MemTotal:        1004584 kB\nMemFree:          712840 kB\nMemAvailable:     801236 kB\nBuffers:               0 kB\n";
        assert_eq!(available(meminfo), Some(801_236 * 1024));
        assert_eq!(available("MemTotal: 1 kB\n"), None);
        assert_eq!(available("MemAvailable: lots\n"), None);
    }

    #[test]
    fn an_image_fits_with_the_reserve_or_is_refused_with_the_figures() {
        let gib = 1u64 << 30;
        assert!(check("deb@1", 400 << 20, gib).is_ok());
        assert!(check("deb@1", gib - RUNNING_RESERVE_BYTES, gib).is_ok(), "exactly fits");
        // Any size is only a question of RAM: an 8 GiB image on a 16 GiB node boots.
        assert!(check("big@2", 8 * gib, 16 * gib).is_ok());
        let err = check("big@2", 8 * gib, 6 * gib).unwrap_err();
        assert_eq!(
            err.to_string(),
            "big@2 needs 8448 MiB of RAM (8192 MiB image + 256 MiB for the running system) but this node has 6144 MiB available: give the node more RAM, use a smaller image, or boot it stateful"
        );
        assert!(check("deb@1", u64::MAX, u64::MAX - 1).is_err(), "no overflow");
    }
}
