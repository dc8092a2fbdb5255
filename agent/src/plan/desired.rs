//! The end state a layout asks for on the chosen disks, with every device named by its path and every
//! size resolved: what the steps create, and what the probed state is compared with.
use std::collections::BTreeMap;

use control::layout::capacity::{LVM_EXTENT_BYTES, LvSize, parse_lv_size};
use control::layout::{FsType, Layout, PartitionFlag};

use super::choose::Choice;

/// The GPT type code of an EFI system partition (sgdisk's short form).
pub const ESP_TYPE: &str = "EF00";

/// One GPT on one disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredTable {
    /// Disk path.
    pub disk: String,
    /// Its partitions in order.
    pub partitions: Vec<DesiredPartition>,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredPartition {
    /// Partition number.
    pub number: u32,
    /// Device path.
    pub path: String,
    /// Offset, bytes.
    pub start: u64,
    /// Length, bytes.
    pub size: u64,
    /// sgdisk type code.
    pub type_code: &'static str,
    /// GPT name: the layout id.
    pub name: String,
    /// Legacy BIOS bootable attribute.
    pub legacy_boot: bool,
}

/// One MD array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredArray {
    /// Layout id, also the array's name.
    pub id: String,
    /// Device path (`/dev/md/<id>`).
    pub device: String,
    /// RAID level.
    pub level: u8,
    /// Member devices.
    pub members: Vec<String>,
    /// Spare devices.
    pub spares: Vec<String>,
}

/// One volume group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredVg {
    /// Name.
    pub name: String,
    /// Physical volume devices.
    pub pvs: Vec<String>,
}

/// One logical volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredLv {
    /// Volume group.
    pub vg: String,
    /// Name.
    pub name: String,
    /// Size as the layout gives it.
    pub size: LvSize,
    /// Extents it gets on these disks.
    pub extents: u64,
    /// Device path (`/dev/<vg>/<lv>`).
    pub device: String,
}

/// One filesystem (or swap area).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredFs {
    /// Device path.
    pub device: String,
    /// Type.
    pub fs: FsType,
    /// Device size, bytes (decides FAT32 or not).
    pub size: u64,
}

/// One mount under the target root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredMount {
    /// Device path.
    pub device: String,
    /// Filesystem type.
    pub fs: FsType,
    /// Mount point inside the installed system (`/boot`).
    pub mount: String,
    /// Where it is mounted now (`/target/boot`).
    pub target: String,
}

/// Everything a layout asks for on the chosen disks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    /// Disks that get a GPT.
    pub tables: Vec<DesiredTable>,
    /// Disks used whole by RAID or LVM (no table).
    pub whole: Vec<String>,
    /// MD arrays, in layout order.
    pub arrays: Vec<DesiredArray>,
    /// Volume groups, in layout order.
    pub vgs: Vec<DesiredVg>,
    /// Logical volumes, in layout order.
    pub lvs: Vec<DesiredLv>,
    /// Filesystems.
    pub filesystems: Vec<DesiredFs>,
    /// Mounts, parents before children.
    pub mounts: Vec<DesiredMount>,
}

impl Desired {
    /// The disks `device` lies on, in layout order: through arrays to their members and spares, volume
    /// groups to their physical volumes, partitions to their disk.
    pub fn disks_under(&self, device: &str) -> Vec<String> {
        let mut disks = Vec::new();
        self.collect_disks(device, &mut disks);
        disks
    }

    fn collect_disks(&self, device: &str, disks: &mut Vec<String>) {
        let add = |disk: &str, disks: &mut Vec<String>| {
            if !disks.iter().any(|d| d == disk) {
                disks.push(disk.to_string());
            }
        };
        if let Some(a) = self.arrays.iter().find(|a| a.device == device) {
            for m in a.members.iter().chain(&a.spares) {
                self.collect_disks(m, disks);
            }
        } else if let Some(lv) = self.lvs.iter().find(|l| l.device == device) {
            for pv in self.vgs.iter().filter(|v| v.name == lv.vg).flat_map(|v| &v.pvs) {
                self.collect_disks(pv, disks);
            }
        } else if let Some(t) = self.tables.iter().find(|t| t.partitions.iter().any(|p| p.path == device)) {
            add(&t.disk, disks);
        } else if self.whole.iter().any(|d| d == device) || self.tables.iter().any(|t| t.disk == device) {
            add(device, disks);
        }
    }
}

/// The device node of partition `number` of `disk`: a `p` goes between when the disk's name ends in a
/// digit (`nvme0n1p1`, `loop0p1`, `sda1`).
pub fn partition_path(disk: &str, number: u32) -> String {
    if disk.ends_with(|c: char| c.is_ascii_digit()) { format!("{disk}p{number}") } else { format!("{disk}{number}") }
}

/// Joins a mount point onto the target root.
fn under(target: &str, mount: &str) -> String {
    let rel = mount.trim_start_matches('/');
    if rel.is_empty() { target.to_string() } else { format!("{}/{rel}", target.trim_end_matches('/')) }
}

/// Builds the end state of `layout` on the disks in `choice`.
pub fn desired(layout: &Layout, choice: &Choice, target: &str) -> Desired {
    let mut d = Desired::default();
    let mut path: BTreeMap<&str, String> = BTreeMap::new();
    let mut size: BTreeMap<&str, u64> = BTreeMap::new();
    let raid_members: Vec<&String> = layout.raid.iter().flat_map(|r| r.members.iter().chain(&r.spares)).collect();
    let pv_ids: Vec<&String> = layout.lvm.iter().flat_map(|v| &v.pvs).collect();
    let mut fs_of: Vec<(&str, Option<FsType>, Option<&str>)> = Vec::new();

    for (id, disk) in &choice.assigned {
        let Some(ldisk) = layout.disks.iter().find(|l| &l.id == id) else { continue };
        path.insert(&ldisk.id, disk.path.clone());
        size.insert(&ldisk.id, disk.size_bytes);
        if ldisk.partitions.is_empty() {
            d.whole.push(disk.path.clone());
            continue;
        }
        let mut partitions = Vec::new();
        for p in &ldisk.partitions {
            let Some(span) = choice.capacity.partitions.get(&p.id) else { continue };
            let bytes = span.size.bytes.unwrap_or(0);
            let type_code = if p.flags.contains(&PartitionFlag::Esp) {
                ESP_TYPE
            } else if p.flags.contains(&PartitionFlag::BiosGrub) {
                "EF02"
            } else if raid_members.contains(&&p.id) {
                "FD00"
            } else if pv_ids.contains(&&p.id) {
                "8E00"
            } else if p.fs == Some(FsType::Swap) {
                "8200"
            } else {
                "8300"
            };
            let ppath = partition_path(&disk.path, span.number);
            path.insert(&p.id, ppath.clone());
            size.insert(&p.id, bytes);
            fs_of.push((&p.id, p.fs, p.mount.as_deref()));
            partitions.push(DesiredPartition {
                number: span.number,
                path: ppath,
                start: span.start,
                size: bytes,
                type_code,
                name: p.id.clone(),
                legacy_boot: p.flags.contains(&PartitionFlag::Boot),
            });
        }
        d.tables.push(DesiredTable { disk: disk.path.clone(), partitions });
    }
    for r in &layout.raid {
        let device = format!("/dev/md/{}", r.id);
        let paths = |ids: &[String]| ids.iter().filter_map(|m| path.get(m.as_str()).cloned()).collect();
        d.arrays.push(DesiredArray { id: r.id.clone(), device: device.clone(), level: r.level, members: paths(&r.members), spares: paths(&r.spares) });
        path.insert(&r.id, device);
        size.insert(&r.id, choice.capacity.devices.get(&r.id).and_then(|s| s.bytes).unwrap_or(0));
        fs_of.push((&r.id, r.fs, r.mount.as_deref()));
    }
    let mut lv_fs = Vec::new();
    for vg in &layout.lvm {
        d.vgs.push(DesiredVg { name: vg.vg.clone(), pvs: vg.pvs.iter().filter_map(|p| path.get(p.as_str()).cloned()).collect() });
        for lv in &vg.lvs {
            let extents = choice.capacity.lv_extents.get(&(vg.vg.clone(), lv.name.clone())).copied().flatten().unwrap_or(0);
            let device = format!("/dev/{}/{}", vg.vg, lv.name);
            d.lvs.push(DesiredLv {
                vg: vg.vg.clone(),
                name: lv.name.clone(),
                size: parse_lv_size(&lv.size).unwrap_or(LvSize::Rest),
                extents,
                device: device.clone(),
            });
            lv_fs.push((device, extents * LVM_EXTENT_BYTES, lv.fs, lv.mount.as_deref()));
        }
    }
    let all = fs_of
        .into_iter()
        .filter_map(|(id, fs, mount)| Some((path.get(id)?.clone(), size.get(id).copied().unwrap_or(0), fs, mount)))
        .chain(lv_fs);
    for (device, bytes, fs, mount) in all {
        let Some(fs) = fs else { continue };
        d.filesystems.push(DesiredFs { device: device.clone(), fs, size: bytes });
        if let Some(mount) = mount {
            d.mounts.push(DesiredMount { device, fs, mount: mount.to_string(), target: under(target, mount) });
        }
    }
    // Parents before children: fewer path components first, then by name for a stable order.
    d.mounts.sort_by(|a, b| {
        let depth = |m: &str| m.split('/').filter(|c| !c.is_empty()).count();
        depth(&a.mount).cmp(&depth(&b.mount)).then_with(|| a.mount.cmp(&b.mount))
    });
    d
}
