//! The other disks' EFI system partitions. The installed system mounts one ESP, at `/boot/efi`; a
//! layout that puts an ESP on each disk of a mirror (unmounted but for that one) wants grub on every
//! one, so that firmware finds a bootloader on whichever disk is left when one fails, as BIOS nodes
//! get grub in every RAID1 member's boot sector. Each spare is mounted inside the target only while
//! grub-install writes it: the installed system's fstab does not name it, so a later grub update on
//! the node refreshes `/boot/efi` only (Debian's own single-ESP default); re-imaging refreshes all.
use std::path::Path;
use std::process::Command;

use image::meta::Family;

use super::{InstallError, chroot};

/// Where a spare ESP is mounted inside the target while grub is installed onto it.
const SPARE_MOUNT: &str = "/boot/efi.spare";

/// Installs grub onto each of `devices` (vfat ESPs), one at a time.
pub fn install(target: &Path, family: Family, devices: &[String]) -> Result<(), InstallError> {
    if devices.is_empty() {
        return Ok(());
    }
    let dir = target.join(SPARE_MOUNT.trim_start_matches('/'));
    std::fs::create_dir_all(&dir).map_err(|e| InstallError::io(format!("creating {}", dir.display()), e))?;
    for device in devices {
        image::command::run(&format!("mounting the spare ESP {device}"), Command::new("mount").args(["-t", "vfat", device]).arg(&dir))?;
        let installed = chroot::run(target, &chroot::uefi_install(family, SPARE_MOUNT));
        let unmounted = image::command::run(&format!("unmounting the spare ESP {device}"), Command::new("umount").arg(&dir));
        installed?;
        unmounted?;
    }
    std::fs::remove_dir(&dir).map_err(|e| InstallError::io(format!("removing {}", dir.display()), e))
}
