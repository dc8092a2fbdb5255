//! Disk layouts: a YAML description of disks, GPT partitions, MD RAID, LVM and filesystems, modelled on
//! curtin's storage config and kickstart, and checked as a whole on upload so that a node never starts
//! partitioning from a layout that cannot work.
//!
//! ```yaml
//! bootloader: uefi            # or bios
//! disks:
//!   - id: a
//!     match: { size: ">=400G" }      # and/or path, by_path, model: "SAMSUNG*", serial
//!     partitions:
//!       - { id: esp, size: 512M, flags: [esp], fs: vfat, mount: /boot/efi }
//!       - { id: a2, size: rest }
//!   - id: b
//!     match: { size: ">=400G" }
//!     partitions:
//!       - { id: esp-b, size: 512M, flags: [esp], fs: vfat }   # unmounted: a spare ESP, grub goes here too
//!       - { id: b2, size: rest }
//! raid:
//!   - { id: md0, level: 1, members: [a2, b2] }
//! lvm:
//!   - vg: vg0
//!     pvs: [md0]
//!     lvs:
//!       - { name: root, size: 50G, fs: xfs, mount: / }
//!       - { name: swap, size: 8G, fs: swap }
//!       - { name: data, size: 50%, fs: ext4, mount: /data }   # of the VG; `rest` takes what is left
//!   # - { id: keep, match: { serial: "WD-123*" }, protected: true }   # under disks: never touched
//! ```
//!
//! Sizes are checked through the whole stack ([`capacity`]) both here, against the smallest disks the
//! match rules allow, and by the agent's planner against the node's real disks.
pub mod capacity;
mod check;
mod disk_match;
mod error;
mod protected;
pub mod size;

use serde::{Deserialize, Serialize};

pub use error::LayoutError;
pub use protected::Protected;

/// A whole disk layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// Where the bootloader goes.
    pub bootloader: Bootloader,
    /// Disks to partition.
    pub disks: Vec<Disk>,
    /// MD RAID arrays.
    #[serde(default)]
    pub raid: Vec<Raid>,
    /// LVM volume groups.
    #[serde(default)]
    pub lvm: Vec<VolumeGroup>,
}

/// Firmware the bootloader is installed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bootloader {
    /// Legacy BIOS: GRUB on GPT needs a `bios_grub` partition.
    Bios,
    /// UEFI: needs an EFI system partition (vfat, flag `esp`) mounted at `/boot/efi`; an ESP on
    /// each other disk (unmounted) gets grub too, so a mirror boots from whichever disk is left.
    Uefi,
}

/// One disk, found on the node by its match rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// Name other entries use to refer to it.
    pub id: String,
    /// How the agent finds the disk.
    #[serde(rename = "match")]
    pub matcher: DiskMatch,
    /// GPT partitions in order.
    #[serde(default)]
    pub partitions: Vec<Partition>,
    /// Every disk these rules match is kept out of the layout and never written (a data disk, the
    /// disk of another OS). Such an entry has no partitions and nothing uses it; the disk need not exist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protected: bool,
}

/// Rules that pick a disk; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskMatch {
    /// Device path (`/dev/sda`, `/dev/disk/by-path/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Stable path under `/dev/disk/by-path/` (the full path or the name in that folder), `*` as wildcard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_path: Option<String>,
    /// Model, `*` as wildcard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Serial number, `*` as wildcard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Size bound: `>=400G`, `<=2T` or an exact size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
}

/// GPT partition flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionFlag {
    /// EFI system partition.
    Esp,
    /// GRUB's BIOS boot partition.
    BiosGrub,
    /// Legacy boot flag.
    Boot,
}

/// Filesystems the agent can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsType {
    /// ext4
    Ext4,
    /// XFS
    Xfs,
    /// FAT (EFI system partitions)
    Vfat,
    /// Swap space (never mounted)
    Swap,
}

impl FsType {
    /// The name mount, fstab and the layout YAML all use for the type.
    pub fn as_str(self) -> &'static str {
        match self {
            FsType::Ext4 => "ext4",
            FsType::Xfs => "xfs",
            FsType::Vfat => "vfat",
            FsType::Swap => "swap",
        }
    }
}

/// One GPT partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// Name other entries use to refer to it.
    pub id: String,
    /// Size (`512M`) or `rest`.
    pub size: String,
    /// Offset from the start of the disk; after the previous partition when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// GPT flags.
    #[serde(default)]
    pub flags: Vec<PartitionFlag>,
    /// Filesystem to make.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs: Option<FsType>,
    /// Where to mount it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
}

/// One MD RAID array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raid {
    /// Name other entries use to refer to it.
    pub id: String,
    /// RAID level: 0, 1, 5, 6 or 10.
    pub level: u8,
    /// Partitions or whole disks that make the array.
    pub members: Vec<String>,
    /// Hot spares.
    #[serde(default)]
    pub spares: Vec<String>,
    /// Filesystem to make.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs: Option<FsType>,
    /// Where to mount it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
}

/// One LVM volume group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeGroup {
    /// Volume group name.
    pub vg: String,
    /// Physical volumes: partitions, arrays or whole disks.
    pub pvs: Vec<String>,
    /// Logical volumes in order.
    #[serde(default)]
    pub lvs: Vec<LogicalVolume>,
}

/// One LVM logical volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogicalVolume {
    /// Name inside its volume group.
    pub name: String,
    /// Size (`50G`), a percentage of the volume group (`20%`) or `rest`.
    pub size: String,
    /// Filesystem to make.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs: Option<FsType>,
    /// Where to mount it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
}

/// Largest layout document accepted, bytes: a real one is a few KiB.
pub const LAYOUT_MAX_BYTES: usize = 256 * 1024;

/// Parses and checks a layout; on failure, every problem found, not only the first.
pub fn parse(yaml: &str) -> Result<Layout, Vec<LayoutError>> {
    if yaml.len() > LAYOUT_MAX_BYTES {
        return Err(vec![LayoutError::Syntax(format!("layout is larger than {LAYOUT_MAX_BYTES} bytes"))]);
    }
    let layout: Layout = serde_norway::from_str(yaml).map_err(|e| vec![LayoutError::Syntax(e.to_string())])?;
    let errors = validate(&layout);
    if errors.is_empty() { Ok(layout) } else { Err(errors) }
}

/// Every problem in a layout already parsed (the agent checks what it is given before planning).
pub fn validate(layout: &Layout) -> Vec<LayoutError> {
    check::check(layout)
}
