//! One step of a plan: a single command with a sentence saying what it does.
use std::fmt;

use control::layout::FsType;
use control::layout::capacity::LvSize;

/// FAT32 wants at least 65525 clusters; below this an ESP gets mkfs.vfat's own choice (FAT16/12).
const FAT32_MIN_BYTES: u64 = 64 << 20;

/// One action on the node's disks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Unmount something left mounted from an earlier run.
    Unmount {
        /// Mount point.
        target: String,
    },
    /// Deactivate a volume group that is about to be removed.
    DeactivateVg {
        /// Volume group.
        vg: String,
    },
    /// Remove an old volume group.
    RemoveVg {
        /// Volume group.
        vg: String,
    },
    /// Stop an old MD array.
    StopArray {
        /// Array device.
        device: String,
    },
    /// Erase every signature (filesystem, MD superblock, LVM label, partition table) on a device.
    Wipe {
        /// Device.
        device: String,
    },
    /// Destroy both GPT copies and the MBR.
    ZapTable {
        /// Disk.
        disk: String,
    },
    /// Write a new, empty GPT.
    NewTable {
        /// Disk.
        disk: String,
    },
    /// Add one partition.
    NewPartition {
        /// Disk.
        disk: String,
        /// Partition number.
        number: u32,
        /// Offset, bytes (aligned to 1 MiB).
        start: u64,
        /// Length, bytes (aligned to 1 MiB).
        size: u64,
        /// sgdisk type code.
        type_code: &'static str,
        /// GPT name.
        name: String,
        /// Set the legacy BIOS bootable attribute.
        legacy_boot: bool,
    },
    /// Create an MD array.
    CreateArray {
        /// Array device.
        device: String,
        /// Array name.
        name: String,
        /// RAID level.
        level: u8,
        /// Members.
        members: Vec<String>,
        /// Spares.
        spares: Vec<String>,
    },
    /// Make a device an LVM physical volume.
    CreatePv {
        /// Device.
        device: String,
    },
    /// Create a volume group.
    CreateVg {
        /// Name.
        vg: String,
        /// Physical volumes.
        pvs: Vec<String>,
    },
    /// Create a logical volume.
    CreateLv {
        /// Volume group.
        vg: String,
        /// Name.
        name: String,
        /// Size as the layout gives it.
        size: LvSize,
        /// Extents it gets (what a fixed size is created with).
        extents: u64,
    },
    /// Make a filesystem or swap area.
    Mkfs {
        /// Device.
        device: String,
        /// Type.
        fs: FsType,
        /// Device size, bytes.
        size: u64,
    },
    /// Create a mount point.
    Mkdir {
        /// Directory.
        path: String,
    },
    /// Mount a filesystem under the target root.
    Mount {
        /// Device.
        device: String,
        /// Type.
        fs: FsType,
        /// Mount point.
        target: String,
    },
}

impl Step {
    /// Whether the step changes what is on a disk (everything but creating and mounting directories).
    pub fn destructive(&self) -> bool {
        !matches!(self, Step::Mkdir { .. } | Step::Mount { .. })
    }

    /// The command that carries the step out.
    pub fn argv(&self) -> Vec<String> {
        let v = |args: &[&str]| args.iter().map(ToString::to_string).collect::<Vec<String>>();
        match self {
            Step::Unmount { target } => v(&["umount", target]),
            Step::DeactivateVg { vg } => v(&["vgchange", "--activate", "n", vg]),
            Step::RemoveVg { vg } => v(&["vgremove", "--force", "--force", "--yes", vg]),
            Step::StopArray { device } => v(&["mdadm", "--stop", device]),
            Step::Wipe { device } => v(&["wipefs", "--all", "--force", device]),
            Step::ZapTable { disk } => v(&["sgdisk", "--zap-all", disk]),
            Step::NewTable { disk } => v(&["sgdisk", "--clear", disk]),
            Step::NewPartition { disk, number, start, size, type_code, name, legacy_boot } => {
                let mut a = vec![
                    "sgdisk".to_string(),
                    format!("--new={number}:{}K:+{}K", start / 1024, size / 1024),
                    format!("--typecode={number}:{type_code}"),
                    format!("--change-name={number}:{name}"),
                ];
                if *legacy_boot {
                    a.push(format!("--attributes={number}:set:2"));
                }
                a.push(disk.clone());
                a
            }
            Step::CreateArray { device, name, level, members, spares } => {
                let mut a = v(&["mdadm", "--create", device, "--run", "--metadata=1.2"]);
                if MIRRORED_LEVELS.contains(level) {
                    a.push("--assume-clean".to_string());
                }
                a.push(format!("--name={name}"));
                a.push(format!("--level={level}"));
                a.push(format!("--raid-devices={}", members.len()));
                if !spares.is_empty() {
                    a.push(format!("--spare-devices={}", spares.len()));
                }
                a.extend(members.iter().chain(spares).cloned());
                a
            }
            Step::CreatePv { device } => v(&["pvcreate", "--force", "--force", "--yes", device]),
            Step::CreateVg { vg, pvs } => {
                let mut a = v(&["vgcreate", "--yes", vg]);
                a.extend(pvs.iter().cloned());
                a
            }
            Step::CreateLv { vg, name, size, extents } => {
                let amount = match size {
                    LvSize::Bytes(_) => extents.to_string(),
                    LvSize::Percent(p) => format!("{p}%VG"),
                    LvSize::Rest => "100%FREE".to_string(),
                };
                v(&["lvcreate", "--yes", "--wipesignatures", "y", "--zero", "y", "--extents", &amount, "--name", name, vg])
            }
            Step::Mkfs { device, fs, size } => match fs {
                FsType::Ext4 => v(&["mkfs.ext4", "-F", "-q", device]),
                FsType::Xfs => v(&["mkfs.xfs", "-f", "-q", device]),
                FsType::Vfat if *size >= FAT32_MIN_BYTES => v(&["mkfs.vfat", "-F", "32", device]),
                FsType::Vfat => v(&["mkfs.vfat", device]),
                FsType::Swap => v(&["mkswap", device]),
            },
            Step::Mkdir { path } => v(&["mkdir", "-p", path]),
            Step::Mount { device, fs, target } => v(&["mount", "-t", fs.as_str(), device, target]),
        }
    }
}

/// RAID levels whose new arrays skip the initial resync (`--assume-clean`). A mirror writes every
/// block to every member, and what the layout puts on an array (LVM, a filesystem, swap) reads only
/// blocks it wrote first, so the copy of never-written blocks from one member to the other protects
/// nothing; it only takes disk bandwidth (hours on large disks) and, in a TCG guest, most of the
/// CPU through the install and the first boots. The one visible trace: a `check` of the array counts
/// mismatches in blocks nothing wrote yet (a `repair` clears them). Parity levels (4, 5, 6) need the
/// resync: their parity must match the data before a member is lost. See docs/decisions.md.
const MIRRORED_LEVELS: &[u8] = &[1, 10];

/// What the step does, in a sentence.
impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use control::layout::size::Human;
        match self {
            Step::Unmount { target } => write!(f, "unmount {target}"),
            Step::DeactivateVg { vg } => write!(f, "deactivate old volume group {vg}"),
            Step::RemoveVg { vg } => write!(f, "remove old volume group {vg}"),
            Step::StopArray { device } => write!(f, "stop old RAID array {device}"),
            Step::Wipe { device } => write!(f, "wipe old signatures on {device}"),
            Step::ZapTable { disk } => write!(f, "destroy the partition table of {disk}"),
            Step::NewTable { disk } => write!(f, "new GPT on {disk}"),
            Step::NewPartition { disk, number, start, size, type_code, name, .. } => {
                write!(f, "partition {number} of {disk}: {name}, {} at {}, type {type_code}", Human(*size), Human(*start))
            }
            Step::CreateArray { device, level, members, spares, .. } => {
                write!(f, "RAID {level} {device} of {}", members.join(", "))?;
                if !spares.is_empty() {
                    write!(f, " (spares {})", spares.join(", "))?;
                }
                Ok(())
            }
            Step::CreatePv { device } => write!(f, "LVM physical volume {device}"),
            Step::CreateVg { vg, pvs } => write!(f, "volume group {vg} on {}", pvs.join(", ")),
            Step::CreateLv { vg, name, size, extents } => {
                let what = match size {
                    LvSize::Bytes(_) => String::new(),
                    LvSize::Percent(p) => format!(" ({p}% of the group)"),
                    LvSize::Rest => " (the rest of the group)".to_string(),
                };
                write!(f, "logical volume {vg}/{name}: {}{what}", Human(extents * control::layout::capacity::LVM_EXTENT_BYTES))
            }
            Step::Mkfs { device, fs, .. } => write!(f, "{} on {device}", fs.as_str()),
            Step::Mkdir { path } => write!(f, "create mount point {path}"),
            Step::Mount { device, target, .. } => write!(f, "mount {device} on {target}"),
        }
    }
}
