//! What is on a node's disks now, as the probe read it: the planner compares this with the layout to
//! decide whether anything needs to change, and to know what must be taken down before rewriting.
//!
//! Device paths are canonical (symlinks resolved by the probe: `/dev/md127`, `/dev/dm-0`); `aliases`
//! maps the names the planner uses (`/dev/md/md0`, `/dev/vg0/root`) to them.
use std::collections::BTreeMap;

/// The probed state of the node's block devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Current {
    /// Partition tables of the inventory's disks (disks not listed are treated as blank).
    pub disks: Vec<CurrentDisk>,
    /// MD arrays found in superblocks, running or not.
    pub arrays: Vec<CurrentArray>,
    /// LVM volume groups.
    pub vgs: Vec<CurrentVg>,
    /// Device -> the filesystem or signature on it.
    pub filesystems: BTreeMap<String, CurrentFs>,
    /// Mount point -> device mounted there.
    pub mounts: BTreeMap<String, String>,
    /// Other names of devices -> the canonical path.
    pub aliases: BTreeMap<String, String>,
}

/// A disk's partition table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentDisk {
    /// Device path.
    pub path: String,
    /// Whether it holds a valid GPT (an MBR or nothing reads as `false`).
    pub gpt: bool,
    /// Partitions in the table.
    pub partitions: Vec<CurrentPartition>,
}

/// One partition of a table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentPartition {
    /// Partition number.
    pub number: u32,
    /// Device path.
    pub path: String,
    /// Offset from the start of the disk, bytes.
    pub start: u64,
    /// Length, bytes.
    pub size: u64,
    /// sgdisk's type code (`EF00`, `FD00`).
    pub type_code: String,
    /// GPT partition name.
    pub name: String,
}

/// One MD array.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentArray {
    /// Running device, `None` when it exists only in its members' superblocks.
    pub device: Option<String>,
    /// Array name without the `host:` prefix mdadm adds.
    pub name: String,
    /// RAID level (0, 1, 5, 6, 10).
    pub level: u8,
    /// Member devices, spares included.
    pub members: Vec<String>,
}

/// One LVM volume group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentVg {
    /// Name.
    pub name: String,
    /// Physical volume devices.
    pub pvs: Vec<String>,
    /// Logical volumes.
    pub lvs: Vec<CurrentLv>,
}

/// One logical volume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentLv {
    /// Name inside its group.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Device path (canonical) when active.
    pub device: Option<String>,
}

/// A signature found on a device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentFs {
    /// blkid's TYPE (`ext4`, `xfs`, `vfat`, `swap`, `linux_raid_member`, `LVM2_member`).
    pub fs_type: String,
    /// Filesystem UUID.
    pub uuid: String,
    /// Filesystem label.
    pub label: String,
}

impl Current {
    /// The canonical name of `path`.
    pub fn canonical<'a>(&'a self, path: &'a str) -> &'a str {
        self.aliases.get(path).map_or(path, String::as_str)
    }

    /// The partition table of the disk at `path`, if the probe read one.
    pub fn disk(&self, path: &str) -> Option<&CurrentDisk> {
        self.disks.iter().find(|d| d.path == path)
    }

    /// The disk that device `dev` (a disk or one of its partitions) lies on.
    pub fn disk_of(&self, dev: &str) -> Option<&str> {
        let dev = self.canonical(dev);
        self.disks.iter().find(|d| d.path == dev || d.partitions.iter().any(|p| p.path == dev)).map(|d| d.path.as_str())
    }

    /// Disks under a device: itself for a disk or partition, the members' disks for an array.
    pub fn disks_under(&self, dev: &str) -> Vec<&str> {
        let dev = self.canonical(dev);
        if let Some(a) = self.arrays.iter().find(|a| a.device.as_deref() == Some(dev)) {
            return a.members.iter().filter_map(|m| self.disk_of(m)).collect();
        }
        self.disk_of(dev).into_iter().collect()
    }
}
