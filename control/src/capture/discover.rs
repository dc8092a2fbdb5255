//! A running node's disk layout, read back from `lsblk` into the layout schema, so that a captured node
//! can be rebuilt onto the same disks: GPT partitions with their flags, filesystems and mount points,
//! MD arrays (level and members) and LVM volume groups.
//!
//! What lsblk cannot tell is left at the schema's defaults: MD spares (they show as members), partition
//! start offsets (partitions follow each other), and sizes are rounded down to MiB. The last partition
//! of a disk takes the `rest`, so the layout also fits a larger replacement disk.
use std::collections::BTreeMap;

use serde::Deserialize;

use crate::layout::{Bootloader, Disk, DiskMatch, FsType, Layout, LogicalVolume, Partition, PartitionFlag, Raid, VolumeGroup};

/// GPT type of an EFI system partition.
const ESP_GUID: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
/// GPT type of GRUB's BIOS boot partition.
const BIOS_BOOT_GUID: &str = "21686148-6e6f-744e-6564-6f6e744e6565";
/// lsblk columns read.
const LSBLK_COLUMNS: &str = "NAME,PATH,TYPE,SIZE,FSTYPE,MOUNTPOINT,PARTTYPE";

/// Why the layout could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// lsblk could not be run or failed.
    #[error("lsblk: {0}")]
    Lsblk(String),
    /// lsblk's output is not what `--json --bytes` gives.
    #[error("lsblk output: {0}")]
    Parse(String),
    /// A device type the layout schema has no place for (RAID level, device-mapper target).
    #[error("{name}: {kind} devices cannot be described by a layout")]
    Unsupported {
        /// Device name.
        name: String,
        /// lsblk's TYPE.
        kind: String,
    },
}

/// One device as `lsblk --json --bytes` gives it, children nested (a device with several parents, an
/// MD array or an LV, appears under each of them).
#[derive(Debug, Deserialize)]
struct Device {
    name: String,
    path: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    size: u64,
    fstype: Option<String>,
    mountpoint: Option<String>,
    parttype: Option<String>,
    #[serde(default)]
    children: Vec<Device>,
}

#[derive(Debug, Deserialize)]
struct Lsblk {
    blockdevices: Vec<Device>,
}

/// Reads this machine's layout with lsblk.
pub fn discover() -> Result<Layout, DiscoverError> {
    let out = std::process::Command::new("lsblk")
        .args(["--json", "--bytes", "--output", LSBLK_COLUMNS])
        .output()
        .map_err(|e| DiscoverError::Lsblk(e.to_string()))?;
    if !out.status.success() {
        return Err(DiscoverError::Lsblk(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    from_lsblk(&String::from_utf8_lossy(&out.stdout))
}

/// The layout that `lsblk --json --bytes --output NAME,PATH,TYPE,SIZE,FSTYPE,MOUNTPOINT,PARTTYPE`
/// printed. Whole disks without partitions or holders (empty disks, zram, loop and optical devices) are
/// left out.
pub fn from_lsblk(json: &str) -> Result<Layout, DiscoverError> {
    let lsblk: Lsblk = serde_json::from_str(json).map_err(|e| DiscoverError::Parse(e.to_string()))?;
    let mut layout = Layout { bootloader: Bootloader::Bios, disks: Vec::new(), raid: Vec::new(), lvm: Vec::new() };
    // Arrays and VGs by name, members gathered from every parent they appear under.
    let mut raids: BTreeMap<String, Raid> = BTreeMap::new();
    let mut vgs: BTreeMap<String, VolumeGroup> = BTreeMap::new();
    for disk in lsblk.blockdevices.iter().filter(|d| d.kind == "disk" && !d.children.is_empty()) {
        if disk.name.starts_with("zram") {
            continue;
        }
        let mut partitions = Vec::new();
        for part in disk.children.iter().filter(|c| c.kind == "part") {
            let flags = match part.parttype.as_deref().map(str::to_ascii_lowercase).as_deref() {
                Some(ESP_GUID) => vec![PartitionFlag::Esp],
                Some(BIOS_BOOT_GUID) => vec![PartitionFlag::BiosGrub],
                _ => Vec::new(),
            };
            if flags.contains(&PartitionFlag::Esp) {
                layout.bootloader = Bootloader::Uefi;
            }
            partitions.push(Partition {
                id: part.name.clone(),
                size: mib(part.size),
                start: None,
                flags,
                fs: fs_type(part),
                mount: mount(part),
            });
            holders(part, &mut raids, &mut vgs)?;
        }
        // Holders directly on the disk (an array or PV over the whole disk).
        holders(disk, &mut raids, &mut vgs)?;
        if let Some(last) = partitions.last_mut() {
            last.size = "rest".into();
        }
        let matcher = DiskMatch { path: disk.path.clone().or_else(|| Some(format!("/dev/{}", disk.name))), ..DiskMatch::default() };
        layout.disks.push(Disk { id: disk.name.clone(), matcher, partitions, protected: false });
    }
    layout.raid = raids.into_values().collect();
    layout.lvm = vgs.into_values().collect();
    Ok(layout)
}

/// Records the MD arrays and LVM volumes held by `parent`.
fn holders(parent: &Device, raids: &mut BTreeMap<String, Raid>, vgs: &mut BTreeMap<String, VolumeGroup>) -> Result<(), DiscoverError> {
    for child in &parent.children {
        if let Some(level) = child.kind.strip_prefix("raid") {
            let level = level.parse().map_err(|_| DiscoverError::Unsupported { name: child.name.clone(), kind: child.kind.clone() })?;
            let raid = raids.entry(child.name.clone()).or_insert_with(|| Raid {
                id: child.name.clone(),
                level,
                members: Vec::new(),
                spares: Vec::new(),
                fs: fs_type(child),
                mount: mount(child),
            });
            raid.members.push(parent.name.clone());
            holders(child, raids, vgs)?;
        } else if child.kind == "lvm" {
            let (vg_name, lv_name) = split_dm_name(&child.name)
                .ok_or_else(|| DiscoverError::Unsupported { name: child.name.clone(), kind: child.kind.clone() })?;
            let vg = vgs.entry(vg_name.clone()).or_insert_with(|| VolumeGroup { vg: vg_name, pvs: Vec::new(), lvs: Vec::new() });
            if !vg.pvs.contains(&parent.name) {
                vg.pvs.push(parent.name.clone());
            }
            if !vg.lvs.iter().any(|lv| lv.name == lv_name) {
                vg.lvs.push(LogicalVolume { name: lv_name, size: mib(child.size), fs: fs_type(child), mount: mount(child) });
            }
        } else if child.kind != "part" {
            return Err(DiscoverError::Unsupported { name: child.name.clone(), kind: child.kind.clone() });
        }
    }
    Ok(())
}

/// Device-mapper names of LVs are `VG-LV` with dashes inside either name doubled.
fn split_dm_name(name: &str) -> Option<(String, String)> {
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'-' {
            if bytes.get(i + 1) == Some(&b'-') {
                i += 2;
                continue;
            }
            let (vg, lv) = (&name[..i], &name[i + 1..]);
            return (!vg.is_empty() && !lv.is_empty()).then(|| (vg.replace("--", "-"), lv.replace("--", "-")));
        }
        i += 1;
    }
    None
}

fn mib(bytes: u64) -> String {
    format!("{}M", bytes >> 20)
}

fn fs_type(dev: &Device) -> Option<FsType> {
    match dev.fstype.as_deref()? {
        "ext4" => Some(FsType::Ext4),
        "xfs" => Some(FsType::Xfs),
        "vfat" => Some(FsType::Vfat),
        "swap" => Some(FsType::Swap),
        _ => None,
    }
}

fn mount(dev: &Device) -> Option<String> {
    dev.mountpoint.clone().filter(|m| m.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two disks: ESP + RAID member each; md0 (RAID 1) holds a PV of vg0 with root and swap.
    const TWO_DISKS: &str = r#"{"blockdevices": [
      {"name": "zram0", "path": "/dev/zram0", "type": "disk", "size": 0, "fstype": null, "mountpoint": null, "parttype": null},
      {"name": "sda", "path": "/dev/sda", "type": "disk", "size": 21474836480, "fstype": null, "mountpoint": null, "parttype": null,
       "children": [
         {"name": "sda1", "path": "/dev/sda1", "type": "part", "size": 536870912, "fstype": "vfat", "mountpoint": "/boot/efi", "parttype": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"},
         {"name": "sda2", "path": "/dev/sda2", "type": "part", "size": 20936916992, "fstype": "linux_raid_member", "mountpoint": null, "parttype": "a19d880f-05fc-4d3b-a006-743f0f84911e",
          "children": [{"name": "md0", "path": "/dev/md0", "type": "raid1", "size": 20919091200, "fstype": "LVM2_member", "mountpoint": null, "parttype": null,
            "children": [
              {"name": "vg--sys-root", "path": "/dev/mapper/vg--sys-root", "type": "lvm", "size": 10737418240, "fstype": "xfs", "mountpoint": "/", "parttype": null},
              {"name": "vg--sys-swap", "path": "/dev/mapper/vg--sys-swap", "type": "lvm", "size": 2147483648, "fstype": "swap", "mountpoint": "[SWAP]", "parttype": null}]}]}]},
      {"name": "sdb", "path": "/dev/sdb", "type": "disk", "size": 21474836480, "fstype": null, "mountpoint": null, "parttype": null,
       "children": [
         {"name": "sdb1", "path": "/dev/sdb1", "type": "part", "size": 536870912, "fstype": "vfat", "mountpoint": null, "parttype": "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"},
         {"name": "sdb2", "path": "/dev/sdb2", "type": "part", "size": 20936916992, "fstype": "linux_raid_member", "mountpoint": null, "parttype": "a19d880f-05fc-4d3b-a006-743f0f84911e",
          "children": [{"name": "md0", "path": "/dev/md0", "type": "raid1", "size": 20919091200, "fstype": "LVM2_member", "mountpoint": null, "parttype": null,
            "children": [
              {"name": "vg--sys-root", "path": "/dev/mapper/vg--sys-root", "type": "lvm", "size": 10737418240, "fstype": "xfs", "mountpoint": "/", "parttype": null},
              {"name": "vg--sys-swap", "path": "/dev/mapper/vg--sys-swap", "type": "lvm", "size": 2147483648, "fstype": "swap", "mountpoint": "[SWAP]", "parttype": null}]}]}]}
    ]}"#;

    #[test]
    fn raid_and_lvm_are_read_back_and_the_result_checks() {
        let layout = from_lsblk(TWO_DISKS).unwrap();
        assert_eq!(layout.bootloader, Bootloader::Uefi);
        assert_eq!(layout.disks.len(), 2, "zram is not a disk of the layout");
        let sda = &layout.disks[0];
        assert_eq!(sda.matcher.path.as_deref(), Some("/dev/sda"));
        assert_eq!((sda.partitions[0].size.as_str(), sda.partitions[0].fs, sda.partitions[0].mount.as_deref()), ("512M", Some(FsType::Vfat), Some("/boot/efi")));
        assert_eq!(sda.partitions[0].flags, [PartitionFlag::Esp]);
        assert_eq!(sda.partitions[1].size, "rest");
        assert_eq!(layout.raid.len(), 1);
        assert_eq!((layout.raid[0].level, layout.raid[0].members.clone()), (1, vec!["sda2".to_owned(), "sdb2".to_owned()]));
        assert_eq!(layout.lvm.len(), 1);
        let vg = &layout.lvm[0];
        assert_eq!((vg.vg.as_str(), vg.pvs.clone()), ("vg-sys", vec!["md0".to_owned()]));
        let lvs: Vec<(&str, &str, Option<FsType>, Option<&str>)> =
            vg.lvs.iter().map(|l| (l.name.as_str(), l.size.as_str(), l.fs, l.mount.as_deref())).collect();
        assert_eq!(lvs, [("root", "10240M", Some(FsType::Xfs), Some("/")), ("swap", "2048M", Some(FsType::Swap), None)]);
        // What the control plane will do with it: the same checks as an uploaded layout.
        let yaml = serde_norway::to_string(&layout).unwrap();
        crate::layout::parse(&yaml).unwrap_or_else(|e| panic!("{e:?}\n{yaml}"));
    }

    #[test]
    fn dm_names_split_on_the_single_dash() {
        assert_eq!(split_dm_name("vg0-root"), Some(("vg0".into(), "root".into())));
        assert_eq!(split_dm_name("my--vg-lv--a"), Some(("my-vg".into(), "lv-a".into())));
        assert_eq!(split_dm_name("nodash"), None);
    }

    #[test]
    fn unknown_holders_are_refused() {
        let crypt = r#"{"blockdevices": [{"name": "sda", "path": "/dev/sda", "type": "disk", "size": 1073741824, "fstype": null, "mountpoint": null, "parttype": null,
            "children": [{"name": "luks", "path": "/dev/mapper/luks", "type": "crypt", "size": 1073741824, "fstype": "ext4", "mountpoint": "/", "parttype": null}]}]}"#;
        assert!(matches!(from_lsblk(crypt), Err(DiscoverError::Unsupported { kind, .. }) if kind == "crypt"));
        assert!(matches!(from_lsblk("not json"), Err(DiscoverError::Parse(_))));
    }
}
