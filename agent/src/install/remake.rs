//! Emptying a converged layout's filesystems by making them again.
//!
//! A re-image onto disks that already hold the layout must leave nothing of the old version. Removing
//! the old system file by file ([`super::unpack::clear`]) unlinks every one of its ~17,000 files, which
//! under a slow guest took tens of seconds per re-image; `mkfs` writes a few metadata blocks. Every
//! filesystem the layout mounts under the target is the installed system's (the layout has no kept
//! data filesystems: protected disks are never mounted there), so making each one again, with the
//! options the layout step uses ([`Step::Mkfs`]), empties exactly what the clear emptied. Swap is left
//! as it is. This is only done when the image is not on the target itself (it is in RAM): the scratch
//! copy on the target root would go with it.
use std::path::{Path, PathBuf};
use std::process::Command;

use super::InstallError;
use crate::plan::{FstabEntry, Step};

/// Unmounts the filesystems in `filesystems` (the plan's fstab entries, in mount order) from under
/// `target`, makes each again and mounts them back in order.
pub fn remake(target: &Path, filesystems: &[FstabEntry]) -> Result<(), InstallError> {
    let mounted: Vec<(&FstabEntry, PathBuf)> = filesystems.iter().filter_map(|e| e.mount.as_ref().map(|m| (e, target.join(m.trim_start_matches('/'))))).collect();
    for (_, at) in mounted.iter().rev() {
        run(&Step::Unmount { target: at.display().to_string() })?;
    }
    for (e, _) in &mounted {
        let size = image::command::run(&format!("reading the size of {}", e.device), Command::new("blockdev").args(["--getsize64", &e.device]))?;
        let size = String::from_utf8_lossy(&size).trim().parse().unwrap_or(0);
        run(&Step::Mkfs { device: e.device.clone(), fs: e.fs, size })?;
    }
    for (e, at) in &mounted {
        std::fs::create_dir_all(at).map_err(|err| InstallError::io(format!("making the mount point {}", at.display()), err))?;
        run(&Step::Mount { device: e.device.clone(), fs: e.fs, target: at.display().to_string() })?;
    }
    Ok(())
}

/// Runs a step's command, named by the step.
fn run(step: &Step) -> Result<(), InstallError> {
    let argv = step.argv();
    image::command::run(&step.to_string(), Command::new(&argv[0]).args(&argv[1..]))?;
    Ok(())
}
