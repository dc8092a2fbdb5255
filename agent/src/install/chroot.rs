//! The commands the installed system runs on itself, chrooted into the target: regenerating its
//! initramfs (so its own kernel finds root on RAID and LVM with its own mdadm.conf) and installing
//! its bootloader. Which commands is decided per family and firmware without I/O; each runs through
//! [`image::command::in_chroot`] (/proc, /sys and /dev mounted for that command only) and is printed
//! with its output.
use std::path::Path;

use control::layout::Bootloader;
use image::meta::Family;

use super::InstallError;
use crate::run::say;

/// Regenerates every installed kernel's initramfs, host-only: with the drivers this machine's root,
/// /usr and resume devices need (and the RAID and LVM modules their hooks add), not every storage
/// driver the kernel has. Debian's generic (`MODULES=most`) build copies ~800 modules with ~13,500
/// program runs: ~18 min per node under TCG, the slowest phase of the install, against ~1,500 runs
/// and a quarter of the size host-only. The agent runs on the machine being installed, so the
/// chrooted build sees that machine's devices in /sys; `dracut` on EL is host-only by default
/// (`--hostonly` says so whatever the image's dracut.conf says).
pub fn initramfs_command(family: Family) -> Vec<String> {
    let argv: &[&str] = match family {
        Family::Debian => &["update-initramfs", "-u", "-k", "all"],
        Family::El => &["dracut", "-f", "--regenerate-all", "--hostonly"],
    };
    argv.iter().map(|s| s.to_string()).collect()
}

/// The initramfs-tools setting that makes [`initramfs_command`]'s build host-only on Debian, and
/// where it goes for that one build: update-initramfs takes no such option, and the file is removed
/// after the build, so a later update-initramfs on the node (a kernel update) builds what the image
/// says (generic by default), which also boots should the node's disk controller change.
///
/// The same file sets the compression level to 1: a minbase Debian image has no `zstd`, so its
/// `COMPRESS=zstd` falls back to gzip at level 6, which took 2.05 s of a 5.6 s build natively (37%;
/// gzip is pure computation and scales like the rest under TCG), against 0.68 s at level 1 for a
/// file 10% larger (10.9 MB against 9.9 MB). Size matters little for an initramfs read once from a
/// local disk at boot; the node's own later builds use the image's level again.
pub fn host_only_setting(family: Family) -> Option<(&'static str, &'static str)> {
    match family {
        Family::Debian => Some(("/etc/initramfs-tools/conf.d/zz-fountain-install", "# The fountain agent's install-time build only (removed after it).\nMODULES=dep\nCOMPRESSLEVEL=1\n")),
        Family::El => None,
    }
}

/// Where the installed system mounts its EFI system partition (the layout check asks for one there).
pub const ESP_MOUNT: &str = "/boot/efi";

/// Installs grub on each of `disks` (BIOS: into each disk's boot sector and bios_grub partition, so
/// any RAID1 member boots alone) or onto the ESP mounted at [`ESP_MOUNT`] (UEFI; the other disks'
/// ESPs get theirs from [`uefi_install`] too, see `spare_esp`), then writes grub's config.
pub fn bootloader_commands(family: Family, firmware: Bootloader, disks: &[String]) -> Vec<Vec<String>> {
    let mut commands: Vec<Vec<String>> = match firmware {
        Bootloader::Bios => disks.iter().map(|d| vec![grub_install(family).to_string(), "--target=i386-pc".into(), d.clone()]).collect(),
        Bootloader::Uefi => vec![uefi_install(family, ESP_MOUNT)],
    };
    let mkconfig: &[&str] = match family {
        Family::Debian => &["update-grub"],
        Family::El => &["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"],
    };
    commands.push(mkconfig.iter().map(|s| s.to_string()).collect());
    commands
}

/// grub onto the ESP mounted at `efi_dir` inside the target, at the removable-media path
/// (`EFI/BOOT/BOOTX64.EFI`), which firmware finds without a boot entry: the agent writes no NVRAM
/// entry, so a node whose firmware forgets its entries (or a disk moved to another node) still boots.
pub fn uefi_install(family: Family, efi_dir: &str) -> Vec<String> {
    [grub_install(family), "--target=x86_64-efi", &format!("--efi-directory={efi_dir}"), "--removable", "--no-nvram"].map(String::from).to_vec()
}

fn grub_install(family: Family) -> &'static str {
    match family {
        Family::Debian => "grub-install",
        Family::El => "grub2-install",
    }
}

/// Runs `argv` chrooted into `root`, printing it and its output.
pub fn run(root: &Path, argv: &[String]) -> Result<(), InstallError> {
    let line = argv.join(" ");
    say(&format!("in the target: {line}"));
    let args: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut cmd = image::command::in_chroot(root, &args);
    cmd.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").env("LC_ALL", "C").env("DEBIAN_FRONTEND", "noninteractive");
    let out = image::command::run(&format!("running {line} in the target"), &mut cmd)?;
    let out = String::from_utf8_lossy(&out);
    if !out.trim().is_empty() {
        tracing::info!("{line}:\n{}", out.trim_end());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bios_grub_goes_on_every_disk_under_boot_then_the_config() {
        let disks = vec!["/dev/vda".to_string(), "/dev/vdb".to_string()];
        let debian = bootloader_commands(Family::Debian, Bootloader::Bios, &disks);
        let joined: Vec<String> = debian.iter().map(|c| c.join(" ")).collect();
        assert_eq!(joined, ["grub-install --target=i386-pc /dev/vda", "grub-install --target=i386-pc /dev/vdb", "update-grub"]);
        let el = bootloader_commands(Family::El, Bootloader::Bios, &disks[..1]);
        assert_eq!(el.iter().map(|c| c.join(" ")).collect::<Vec<_>>(), ["grub2-install --target=i386-pc /dev/vda", "grub2-mkconfig -o /boot/grub2/grub.cfg"]);
        let uefi = bootloader_commands(Family::Debian, Bootloader::Uefi, &disks);
        assert_eq!(uefi[0].join(" "), "grub-install --target=x86_64-efi --efi-directory=/boot/efi --removable --no-nvram");
        assert_eq!(uefi_install(Family::El, "/boot/efi.spare").join(" "), "grub2-install --target=x86_64-efi --efi-directory=/boot/efi.spare --removable --no-nvram");
        assert_eq!(uefi.len(), 2);
        assert_eq!(initramfs_command(Family::Debian).join(" "), "update-initramfs -u -k all");
        assert_eq!(initramfs_command(Family::El).join(" "), "dracut -f --regenerate-all --hostonly");
        assert!(host_only_setting(Family::Debian).is_some_and(|(path, text)| path.starts_with("/etc/initramfs-tools/conf.d/") && text.lines().any(|l| l == "MODULES=dep") && text.lines().any(|l| l == "COMPRESSLEVEL=1")));
        assert_eq!(host_only_setting(Family::El), None);
    }
}
