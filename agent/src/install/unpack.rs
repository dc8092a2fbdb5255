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
/// filesystems under it are emptied, not removed, and so is every folder that leads to one
/// (`/boot` on the root filesystem holding the ESP's mount point `/boot/efi`).
pub fn clear(dir: &Path, keep: &Path) -> io::Result<()> {
    clear_under(dir, keep, fs::symlink_metadata(dir)?.dev()).map(drop)
}

/// [`clear`] below `dir`, whose filesystem is `dev`; returns whether anything was kept.
fn clear_under(dir: &Path, keep: &Path, dev: u64) -> io::Result<bool> {
    let mut kept = false;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path == keep || path.file_name().is_some_and(|n| n == "lost+found") {
            kept = true;
            continue;
        }
        let meta = fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            let inner_kept = clear_under(&path, keep, meta.dev())?;
            if meta.dev() == dev && !inner_kept {
                fs::remove_dir(&path)?;
            } else {
                kept = true;
            }
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(kept)
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

    /// A folder of the target's own filesystem that holds another one's mount point (`/boot` holding
    /// `/boot/efi`) is emptied but stays; run as root (CI) the mount is a real tmpfs, else the
    /// kept lost+found of a folder stands in for it.
    #[test]
    fn a_folder_leading_to_another_filesystem_stays() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let efi = r.join("boot/efi");
        fs::create_dir_all(&efi).unwrap();
        let mounted = std::process::Command::new("mount").args(["-t", "tmpfs", "tmpfs"]).arg(&efi).output().is_ok_and(|o| o.status.success());
        if !mounted {
            fs::create_dir(efi.join("lost+found")).unwrap();
        }
        fs::create_dir_all(efi.join("EFI/BOOT")).unwrap();
        for f in ["boot/vmlinuz", "boot/efi/EFI/BOOT/BOOTX64.EFI", "etc"] {
            fs::write(r.join(f), b"x").unwrap();
        }
        let cleared = clear(r, &r.join(SCRATCH_DIR));
        let left: Vec<String> = fs::read_dir(&efi).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        if mounted {
            std::process::Command::new("umount").arg(&efi).status().unwrap();
        }
        cleared.unwrap();
        assert_eq!(fs::read_dir(r).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>(), ["boot"]);
        assert_eq!(fs::read_dir(r.join("boot")).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>(), ["efi"]);
        assert_eq!(left, if mounted { Vec::<String>::new() } else { vec!["lost+found".to_string()] });
    }
}
