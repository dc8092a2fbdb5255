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

/// Regenerates every installed kernel's initramfs.
pub fn initramfs_command(family: Family) -> Vec<String> {
    let argv: &[&str] = match family {
        Family::Debian => &["update-initramfs", "-u", "-k", "all"],
        Family::El => &["dracut", "-f", "--regenerate-all"],
    };
    argv.iter().map(|s| s.to_string()).collect()
}

/// Installs grub on each of `disks` (BIOS: into each disk's boot sector and bios_grub partition, so
/// any RAID1 member boots alone) or onto the mounted ESP (UEFI, at the removable-media path, which
/// firmware finds without a boot entry), then writes grub's config.
pub fn bootloader_commands(family: Family, firmware: Bootloader, disks: &[String]) -> Vec<Vec<String>> {
    let (install, mkconfig): (&str, &[&str]) = match family {
        Family::Debian => ("grub-install", &["update-grub"]),
        Family::El => ("grub2-install", &["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]),
    };
    let mut commands: Vec<Vec<String>> = match firmware {
        Bootloader::Bios => disks.iter().map(|d| vec![install.to_string(), "--target=i386-pc".into(), d.clone()]).collect(),
        Bootloader::Uefi => vec![vec![install.to_string(), "--target=x86_64-efi".into(), "--efi-directory=/boot/efi".into(), "--removable".into(), "--no-nvram".into()]],
    };
    commands.push(mkconfig.iter().map(|s| s.to_string()).collect());
    commands
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
        assert_eq!(uefi.len(), 2);
        assert_eq!(initramfs_command(Family::Debian).join(" "), "update-initramfs -u -k all");
        assert_eq!(initramfs_command(Family::El).join(" "), "dracut -f --regenerate-all");
    }
}
