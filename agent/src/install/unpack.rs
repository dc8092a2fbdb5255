//! Unpacking the image onto the mounted target filesystems.
//!
//! The target is emptied first (every filesystem mounted under it, lost+found and the scratch folder
//! kept), so a re-image onto disks whose layout converged installs the new version and nothing of the
//! old one. The unpack itself is unsquashfs ([`image::artifact::unpack`]), which restores owners,
//! modes, times, xattrs (capabilities, SELinux labels) and hard links, and leaves holes sparse; a
//! mount of the squashfs and a copy would need the squashfs and loop modules in the initramfs and a
//! cp that keeps all of that, which busybox's does not.
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::InstallError;
use super::place::SCRATCH_DIR;
use crate::plan::FstabEntry;

/// What the unpack did.
#[derive(Debug, Clone, Copy)]
pub struct Unpacked {
    /// Artifact bytes read.
    pub artifact_bytes: u64,
    /// Time taken to empty the target.
    pub emptied: Duration,
    /// Time taken by unsquashfs.
    pub elapsed: Duration,
}

/// How the target is emptied before the unpack.
#[derive(Debug, Clone, Copy)]
pub enum Empty<'a> {
    /// File by file ([`clear`]), keeping lost+found and the scratch folder.
    Files,
    /// By making the filesystems of these fstab entries again ([`super::remake`]): for a converged
    /// layout with the image in RAM.
    Remake(&'a [FstabEntry]),
}

/// Empties `target` as `empty` says and unpacks `artifact` onto it.
pub fn unpack(artifact: &Path, target: &Path, empty: Empty<'_>) -> Result<Unpacked, InstallError> {
    let started = Instant::now();
    match empty {
        Empty::Files => clear(target, &target.join(SCRATCH_DIR)).map_err(|e| InstallError::io(format!("emptying {}", target.display()), e))?,
        Empty::Remake(filesystems) => super::remake::remake(target, filesystems)?,
    }
    let emptied = started.elapsed();
    let artifact_bytes = fs::metadata(artifact).map_err(|e| InstallError::io(format!("reading {}", artifact.display()), e))?.len();
    let started = Instant::now();
    image::artifact::unpack(artifact, target)?;
    Ok(Unpacked { artifact_bytes, emptied, elapsed: started.elapsed() })
}

/// Removes everything under `dir` but `keep` and `lost+found` folders; the mount points of other
/// filesystems under it are emptied, not removed.
pub fn clear(dir: &Path, keep: &Path) -> io::Result<()> {
    let dev = fs::symlink_metadata(dir)?.dev();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path == keep || path.file_name().is_some_and(|n| n == "lost+found") {
            continue;
        }
        let meta = fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            clear(&path, keep)?;
            if meta.dev() == dev {
                fs::remove_dir(&path)?;
            }
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearing_keeps_the_scratch_folder_and_lost_and_found_only() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in ["etc/ssh", "var/lib", "lost+found", SCRATCH_DIR] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        for f in ["etc/ssh/key", "var/lib/x", "old", &format!("{SCRATCH_DIR}/image.squashfs")] {
            fs::write(r.join(f), b"x").unwrap();
        }
        std::os::unix::fs::symlink("/nowhere", r.join("link")).unwrap();
        clear(r, &r.join(SCRATCH_DIR)).unwrap();
        let mut left: Vec<String> = fs::read_dir(r).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, [SCRATCH_DIR, "lost+found"]);
        assert!(r.join(SCRATCH_DIR).join("image.squashfs").exists());
    }
}
