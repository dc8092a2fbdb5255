//! Capacity through the whole stack: where each partition lies, what each RAID level makes of its
//! members, what LVM leaves of its physical volumes, and how big each logical volume is once sizes,
//! percentages and `rest` are resolved.
//!
//! One implementation serves both callers. The upload check passes the smallest disk each match rule
//! allows (and nothing where the rule sets no lower bound), so a layout is refused when some disk it
//! accepts could not hold it; the agent's planner passes the real sizes from the node's inventory and
//! uses the positions and sizes it gets back. Every size here is therefore "the size on the smallest
//! hardware the layout accepts": `None` where nothing bounds it (treated as large enough), `exact` where
//! it is the same on every such hardware (fixed sizes, and everything in the planner).
//!
//! Alignment follows what the tools do, so that the sizes the planner computes are the sizes the disks
//! end up with: partitions start and end on 1 MiB boundaries, GPT keeps 1 MiB at each end, mdadm keeps
//! a data offset per member, LVM keeps 1 MiB per physical volume and allocates 4 MiB extents.
use std::collections::BTreeMap;

use super::size::{Human, Size, parse_bytes, parse_size};
use super::{FsType, Layout, LayoutError};

/// Partition alignment, as sgdisk and parted use by default.
pub const ALIGN_BYTES: u64 = 1 << 20;
/// Kept free before the first partition: the protective MBR, the GPT header and entries, alignment.
pub const GPT_START_BYTES: u64 = ALIGN_BYTES;
/// Kept free after the last partition for the backup GPT (rounded up to the alignment).
pub const GPT_END_BYTES: u64 = ALIGN_BYTES;
/// LVM's default physical extent.
pub const LVM_EXTENT_BYTES: u64 = 4 << 20;
/// What `pvcreate` keeps at the start of a physical volume (label and metadata area, 1 MiB by default).
pub const LVM_PV_OVERHEAD_BYTES: u64 = 1 << 20;
/// mdadm 1.2 keeps at most this much headroom before the data on each member (for reshapes).
const MD_HEADROOM_MAX_BYTES: u64 = 128 << 20;
/// ... and at least this much.
const MD_HEADROOM_MIN_BYTES: u64 = 1 << 20;
/// Superblock, write-intent bitmap and rounding on top of the headroom, rounded up to be safe.
const MD_SUPERBLOCK_BYTES: u64 = 1 << 20;
/// Members whose sizes differ by more than this factor are refused: most of the larger one is lost.
const RAID_MISMATCH_REFUSE_FACTOR: u64 = 2;
/// Members whose smallest is under this percentage of the largest get a warning in the plan.
const RAID_MISMATCH_WARN_PCT: u64 = 90;
/// mkfs.xfs refuses smaller devices ("Filesystem must be larger than 300MB").
pub const XFS_MIN_BYTES: u64 = 300 << 20;

/// What is known about the size of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes on the smallest hardware the layout accepts; `None` where nothing bounds it.
    pub bytes: Option<u64>,
    /// Whether `bytes` holds on every hardware the layout accepts, not only the smallest.
    pub exact: bool,
}

impl Space {
    /// A size known for certain (a fixed partition, or a disk the agent has measured).
    pub fn exact(bytes: u64) -> Self {
        Space { bytes: Some(bytes), exact: true }
    }

    /// Nothing known: the match rules set no lower bound.
    pub const UNKNOWN: Space = Space { bytes: None, exact: false };

    fn map(self, f: impl FnOnce(u64) -> u64) -> Self {
        Space { bytes: self.bytes.map(f), exact: self.exact }
    }
}

/// The size a logical volume asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LvSize {
    /// Exactly this many bytes (rounded up to whole extents).
    Bytes(u64),
    /// This percentage of the volume group's extents (`-l N%VG`).
    Percent(u8),
    /// What the volume group has left (`-l 100%FREE`).
    Rest,
}

/// Parses an LV size: `50G`, `20%` (of the volume group) or `rest`.
pub fn parse_lv_size(s: &str) -> Result<LvSize, String> {
    if let Some(pct) = s.trim().strip_suffix('%') {
        return match pct.trim().parse::<u8>() {
            Ok(p @ 1..=100) => Ok(LvSize::Percent(p)),
            _ => Err("a percentage must be a whole number from 1 to 100, like 20%".into()),
        };
    }
    Ok(match parse_size(s)? {
        Size::Bytes(n) => LvSize::Bytes(n),
        Size::Rest => LvSize::Rest,
    })
}

/// Where one partition lies on its disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionSpan {
    /// GPT partition number, from 1 in layout order.
    pub number: u32,
    /// Offset from the start of the disk, bytes, aligned.
    pub start: u64,
    /// Length, bytes, aligned; unknown for `rest` on a disk of unknown size.
    pub size: Space,
}

/// Sizes resolved through the stack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capacity {
    /// Partition id -> its place on its disk.
    pub partitions: BTreeMap<String, PartitionSpan>,
    /// Device id (disk, partition, RAID array) -> its size; an array's is its usable size.
    pub devices: BTreeMap<String, Space>,
    /// Volume group name -> its extents (after LVM's metadata on each physical volume).
    pub vg_extents: BTreeMap<String, Option<u64>>,
    /// (volume group, logical volume) -> its size in extents.
    pub lv_extents: BTreeMap<(String, String), Option<u64>>,
    /// Things that work but are probably not meant (RAID members of somewhat different sizes).
    pub warnings: Vec<String>,
}

/// Resolves every size in `layout` given what is known of each disk's size (by disk id; absent means
/// unknown), and returns every capacity problem found.
pub fn resolve(layout: &Layout, disks: &BTreeMap<String, Space>) -> (Capacity, Vec<LayoutError>) {
    let mut r = Resolver::default();
    for disk in &layout.disks {
        r.place_partitions(disk, disks.get(&disk.id).copied().unwrap_or(Space::UNKNOWN));
    }
    for raid in &layout.raid {
        r.raid(raid);
    }
    for vg in &layout.lvm {
        r.volume_group(vg);
    }
    r.filesystems(layout);
    (r.cap, r.errors)
}

const fn align_up(n: u64) -> u64 {
    n.div_ceil(ALIGN_BYTES).saturating_mul(ALIGN_BYTES)
}

const fn align_down(n: u64) -> u64 {
    n / ALIGN_BYTES * ALIGN_BYTES
}

/// What one member loses to mdadm 1.2's superblock and data offset: the headroom is about 1/1024 of
/// the member, between 1 and 128 MiB (mdadm's `super1.c`), plus superblock and bitmap.
pub fn md_overhead_bytes(member: u64) -> u64 {
    let mut headroom = MD_HEADROOM_MAX_BYTES;
    while headroom.saturating_mul(1024) > member && headroom > MD_HEADROOM_MIN_BYTES {
        headroom /= 2;
    }
    headroom + MD_SUPERBLOCK_BYTES
}

/// Usable bytes of an array of `n` members whose smallest keeps `member` bytes of data each.
pub fn raid_usable_bytes(level: u8, n: u64, member: u64) -> Option<u64> {
    let data_members = match level {
        0 => n,
        1 => 1.min(n),
        5 => n.saturating_sub(1),
        6 => n.saturating_sub(2),
        10 => return Some(n * member / 2),
        _ => return None,
    };
    Some(data_members * member)
}

/// Extents LVM makes of one physical volume.
pub fn pv_extents(bytes: u64) -> u64 {
    bytes.saturating_sub(LVM_PV_OVERHEAD_BYTES) / LVM_EXTENT_BYTES
}

/// Wording for a size that is only the smallest possible rather than the real one.
pub(super) fn may_be(exact: &bool) -> &'static str {
    if *exact { "" } else { "may " }
}

#[derive(Default)]
struct Resolver {
    cap: Capacity,
    errors: Vec<LayoutError>,
}

impl Resolver {
    /// Filesystems their tools refuse to make on devices this small.
    fn filesystems(&mut self, layout: &Layout) {
        let mut targets: Vec<(String, Option<FsType>, Space)> = Vec::new();
        let space = |id: &str| self.cap.devices.get(id).copied().unwrap_or(Space::UNKNOWN);
        for p in layout.disks.iter().flat_map(|d| &d.partitions) {
            targets.push((format!("partition {:?}", p.id), p.fs, space(&p.id)));
        }
        for r in &layout.raid {
            targets.push((format!("raid {:?}", r.id), r.fs, space(&r.id)));
        }
        for vg in &layout.lvm {
            let exact = vg.pvs.iter().all(|pv| space(pv).exact);
            for lv in &vg.lvs {
                let extents = self.cap.lv_extents.get(&(vg.vg.clone(), lv.name.clone())).copied().flatten();
                targets.push((format!("lv {}/{}", vg.vg, lv.name), lv.fs, Space { bytes: extents.map(|e| e * LVM_EXTENT_BYTES), exact }));
            }
        }
        for (place, fs, space) in targets {
            if let (Some(FsType::Xfs), Some(bytes)) = (fs, space.bytes)
                && bytes < XFS_MIN_BYTES
            {
                self.errors.push(LayoutError::FsTooSmall { place, fs: "xfs", size: Human(bytes), min: Human(XFS_MIN_BYTES), exact: space.exact });
            }
        }
    }

    fn place_partitions(&mut self, disk: &super::Disk, space: Space) {
        self.cap.devices.insert(disk.id.clone(), space);
        let usable_end = space.bytes.map(|b| align_down(b.saturating_sub(GPT_END_BYTES)));
        let mut cursor = GPT_START_BYTES;
        let mut previous: Option<&str> = None;
        let mut rest: Option<(&str, u64)> = None;
        let last = disk.partitions.len().saturating_sub(1);
        for (i, p) in disk.partitions.iter().enumerate() {
            let place = format!("disk {:?} partition {:?}", disk.id, p.id);
            let start = match p.start.as_deref().map(parse_bytes) {
                None => cursor,
                Some(Ok(start)) if start < GPT_START_BYTES => {
                    let reason = format!("the first {} hold the partition table", Human(GPT_START_BYTES));
                    self.errors.push(LayoutError::BadSize { place: place.clone(), value: p.start.clone().unwrap_or_default(), reason });
                    cursor
                }
                Some(Ok(start)) => align_up(start),
                Some(Err(reason)) => {
                    self.errors.push(LayoutError::BadSize { place: place.clone(), value: p.start.clone().unwrap_or_default(), reason });
                    cursor
                }
            };
            if start < cursor
                && let Some(first) = previous
            {
                self.errors.push(LayoutError::Overlap {
                    disk: disk.id.clone(),
                    first: first.to_string(),
                    second: p.id.clone(),
                    start: Human(start),
                    end: Human(cursor),
                });
            }
            let size = match parse_size(&p.size) {
                Ok(Size::Bytes(n)) => {
                    cursor = start.saturating_add(align_up(n));
                    Space::exact(align_up(n))
                }
                Ok(Size::Rest) if i != last => {
                    self.errors.push(LayoutError::RestNotLast(place));
                    Space::UNKNOWN
                }
                Ok(Size::Rest) => {
                    cursor = start.max(cursor);
                    rest = Some((&p.id, cursor));
                    Space { bytes: usable_end.map(|end| end.saturating_sub(cursor)), exact: space.exact }
                }
                Err(reason) => {
                    self.errors.push(LayoutError::BadSize { place, value: p.size.clone(), reason });
                    Space::UNKNOWN
                }
            };
            let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
            self.cap.partitions.insert(p.id.clone(), PartitionSpan { number, start, size });
            self.cap.devices.insert(p.id.clone(), size);
            previous = Some(&p.id);
        }
        // A `rest` partition needs at least one aligned unit of its own.
        let need_end = if rest.is_some() { cursor + ALIGN_BYTES } else { cursor };
        if let (Some(have), Some(end)) = (space.bytes, usable_end)
            && need_end > end
        {
            self.errors.push(LayoutError::TooBig { disk: disk.id.clone(), need: Human(need_end + GPT_END_BYTES), have: Human(have), exact: space.exact });
        }
    }

    fn raid(&mut self, raid: &super::Raid) {
        let members: Vec<(&str, Space)> =
            raid.members.iter().map(|m| (m.as_str(), self.cap.devices.get(m).copied().unwrap_or(Space::UNKNOWN))).collect();
        let exact = members.iter().all(|(_, s)| s.exact);
        let known: Vec<(&str, u64)> = members.iter().filter_map(|(m, s)| s.bytes.map(|b| (*m, b))).collect();
        let smallest = known.iter().min_by_key(|(_, b)| *b).copied();
        let largest = known.iter().max_by_key(|(_, b)| *b).copied();
        if let (Some((small_id, small)), Some((large_id, large))) = (smallest, largest)
            && exact
            && known.len() == members.len()
        {
            let wasted = Human(large - small);
            if small.saturating_mul(RAID_MISMATCH_REFUSE_FACTOR) < large {
                self.errors.push(LayoutError::RaidMismatch {
                    id: raid.id.clone(),
                    small: small_id.to_string(),
                    small_size: Human(small),
                    large: large_id.to_string(),
                    large_size: Human(large),
                });
            } else if small.saturating_mul(100) < large.saturating_mul(RAID_MISMATCH_WARN_PCT) {
                self.cap.warnings.push(format!(
                    "raid {:?}: member {small_id:?} is {} but {large_id:?} is {}: {wasted} of {large_id:?} stays unused",
                    raid.id,
                    Human(small),
                    Human(large)
                ));
            }
        }
        // Every member keeps the smallest member's data size, less mdadm's overhead.
        let member_data = smallest.map(|(_, b)| align_down(b.saturating_sub(md_overhead_bytes(b))));
        if let (Some(0), Some((m, b))) = (member_data, smallest) {
            self.errors.push(LayoutError::RaidMemberTooSmall { id: raid.id.clone(), member: m.to_string(), size: Human(b), exact });
        }
        for spare in &raid.spares {
            if let (Some(have), Some((_, need))) = (self.cap.devices.get(spare).and_then(|s| s.bytes), smallest)
                && have < need
            {
                self.errors.push(LayoutError::SpareTooSmall { id: raid.id.clone(), spare: spare.clone(), have: Human(have), need: Human(need) });
            }
        }
        let n = raid.members.len() as u64;
        let usable = Space { bytes: member_data.and_then(|m| raid_usable_bytes(raid.level, n, m)), exact };
        self.cap.devices.insert(raid.id.clone(), usable);
    }

    fn volume_group(&mut self, vg: &super::VolumeGroup) {
        let mut extents = Some(0u64);
        let mut exact = true;
        for pv in &vg.pvs {
            let space = self.cap.devices.get(pv).copied().unwrap_or(Space::UNKNOWN);
            exact &= space.exact;
            if let Some(bytes) = space.bytes
                && pv_extents(bytes) == 0
            {
                self.errors.push(LayoutError::PvTooSmall {
                    vg: vg.vg.clone(),
                    pv: pv.clone(),
                    size: Human(bytes),
                    need: Human(LVM_PV_OVERHEAD_BYTES + LVM_EXTENT_BYTES),
                    exact: space.exact,
                });
            }
            extents = extents.zip(space.map(pv_extents).bytes).map(|(a, b)| a + b);
        }
        self.cap.vg_extents.insert(vg.vg.clone(), extents);

        let mut sizes = Vec::with_capacity(vg.lvs.len());
        let last = vg.lvs.len().saturating_sub(1);
        for (i, lv) in vg.lvs.iter().enumerate() {
            let place = format!("lv {}/{}", vg.vg, lv.name);
            match parse_lv_size(&lv.size) {
                Ok(LvSize::Rest) if i != last => self.errors.push(LayoutError::RestNotLast(place)),
                Ok(size) => sizes.push((lv.name.as_str(), size)),
                Err(reason) => self.errors.push(LayoutError::BadSize { place, value: lv.size.clone(), reason }),
            }
        }
        let pct: u64 = sizes.iter().map(|(_, s)| if let LvSize::Percent(p) = s { u64::from(*p) } else { 0 }).sum();
        if pct > 100 {
            self.errors.push(LayoutError::PercentOver { vg: vg.vg.clone(), pct });
        }
        let mut used = 0u64;
        for (name, size) in &sizes {
            let ext = match size {
                LvSize::Bytes(b) => Some(b.div_ceil(LVM_EXTENT_BYTES)),
                LvSize::Percent(p) => extents.map(|e| e * u64::from(*p) / 100),
                LvSize::Rest => extents.map(|e| e.saturating_sub(used)),
            };
            if matches!(size, LvSize::Rest) && ext == Some(0) && extents == Some(used) {
                self.errors.push(LayoutError::NoRoomForRest { place: format!("lv {}/{}", vg.vg, name) });
            }
            used = used.saturating_add(ext.unwrap_or(0));
            self.cap.lv_extents.insert((vg.vg.clone(), name.to_string()), ext);
        }
        if let Some(have) = extents
            && used > have
        {
            self.errors.push(LayoutError::VgTooSmall {
                vg: vg.vg.clone(),
                need: Human(used * LVM_EXTENT_BYTES),
                have: Human(have * LVM_EXTENT_BYTES),
                exact,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = 1 << 30;
    const M: u64 = 1 << 20;

    fn layout(yaml: &str) -> Layout {
        serde_norway::from_str(yaml).unwrap()
    }

    fn exact(sizes: &[(&str, u64)]) -> BTreeMap<String, Space> {
        sizes.iter().map(|(id, b)| (id.to_string(), Space::exact(*b))).collect()
    }

    #[test]
    fn raid_levels_give_their_usable_size() {
        assert_eq!(raid_usable_bytes(0, 3, 10), Some(30));
        assert_eq!(raid_usable_bytes(1, 3, 10), Some(10));
        assert_eq!(raid_usable_bytes(5, 4, 10), Some(30));
        assert_eq!(raid_usable_bytes(6, 5, 10), Some(30));
        assert_eq!(raid_usable_bytes(10, 4, 10), Some(20));
        assert_eq!(raid_usable_bytes(4, 4, 10), None);
        assert_eq!(md_overhead_bytes(200 * G), 128 * M + M, "large members keep mdadm's full 128 MiB headroom");
        assert_eq!(md_overhead_bytes(100 * G), 64 * M + M);
        assert_eq!(md_overhead_bytes(8 * G), 8 * M + M, "about 1/1024 of a small member");
        assert_eq!(md_overhead_bytes(10 * M), 2 * M, "never under 1 MiB");
    }

    #[test]
    fn sizes_resolve_through_partitions_raid_vg_and_lvs() {
        let l = layout(
            "bootloader: bios
disks:
  - { id: a, match: { size: '>=10G' }, partitions: [ { id: g, size: 1M }, { id: a2, size: rest } ] }
  - { id: b, match: { size: '>=10G' }, partitions: [ { id: h, size: 1M }, { id: b2, size: rest } ] }
raid: [ { id: md0, level: 1, members: [a2, b2] } ]
lvm:
  - vg: vg0
    pvs: [md0]
    lvs: [ { name: root, size: 2G }, { name: var, size: 25% }, { name: data, size: rest } ]
",
        );
        let (cap, errors) = resolve(&l, &exact(&[("a", 10 * G), ("b", 10 * G)]));
        assert!(errors.is_empty(), "{errors:?}");
        // 10 GiB less 1 MiB GPT at each end less the 1 MiB grub partition.
        let a2 = 10 * G - 3 * M;
        assert_eq!(cap.partitions["a2"], PartitionSpan { number: 2, start: 2 * M, size: Space::exact(a2) });
        let member = a2 - md_overhead_bytes(a2);
        assert_eq!(cap.devices["md0"], Space::exact(member));
        let vg = (member - M) / LVM_EXTENT_BYTES;
        assert_eq!(cap.vg_extents["vg0"], Some(vg));
        let lv = |n: &str| cap.lv_extents[&("vg0".to_string(), n.to_string())].unwrap();
        assert_eq!(lv("root"), 512);
        assert_eq!(lv("var"), vg / 4);
        assert_eq!(lv("data"), vg - 512 - vg / 4);
    }

    #[test]
    fn a_huge_lv_on_a_tiny_pv_is_refused() {
        let l = layout(
            "bootloader: bios
disks: [ { id: a, match: { path: /dev/sda }, partitions: [ { id: g, size: 1M }, { id: p, size: 1M }, { id: r, size: rest } ] } ]
lvm: [ { vg: vg0, pvs: [p], lvs: [ { name: root, size: 2T } ] } ]
",
        );
        let (_, errors) = resolve(&l, &BTreeMap::new());
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "vg \"vg0\": physical volume \"p\" is 1 MiB, too small for LVM (it needs at least 5 MiB)",
                "vg \"vg0\": logical volumes need 2 TiB but its physical volumes hold only 0 B (after LVM metadata)",
            ]
        );
    }

    #[test]
    fn raid_members_of_very_different_sizes_are_refused_and_slightly_different_warned() {
        let yaml = |a: &str, b: &str| {
            layout(&format!(
                "bootloader: bios
disks: [ {{ id: d, match: {{ path: /dev/sda }}, partitions: [ {{ id: g, size: 1M }}, {{ id: a, size: {a} }}, {{ id: b, size: {b} }} ] }} ]
raid: [ {{ id: md0, level: 1, members: [a, b] }} ]
"
            ))
        };
        let (_, errors) = resolve(&yaml("1G", "100G"), &BTreeMap::new());
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["raid \"md0\": member \"a\" is 1 GiB but \"b\" is 100 GiB: an array uses only its smallest member's size on each member, so refuse mismatched members (make them about equal)"]
        );
        let (cap, errors) = resolve(&yaml("80G", "100G"), &BTreeMap::new());
        assert!(errors.is_empty());
        assert_eq!(cap.warnings, ["raid \"md0\": member \"a\" is 80 GiB but \"b\" is 100 GiB: 20 GiB of \"b\" stays unused"]);
        let (cap, _) = resolve(&yaml("95G", "100G"), &BTreeMap::new());
        assert!(cap.warnings.is_empty(), "within 10%: no warning");
    }

    #[test]
    fn unknown_disk_sizes_skip_only_the_checks_that_need_them() {
        let l = layout(
            "bootloader: bios
disks:
  - { id: a, match: { path: /dev/sda }, partitions: [ { id: g, size: 1M }, { id: a2, size: rest } ] }
lvm: [ { vg: vg0, pvs: [a2], lvs: [ { name: root, size: 60% }, { name: var, size: 50% } ] } ]
",
        );
        let (cap, errors) = resolve(&l, &BTreeMap::new());
        assert_eq!(cap.vg_extents["vg0"], None);
        assert_eq!(errors, [LayoutError::PercentOver { vg: "vg0".into(), pct: 110 }]);
        let (_, errors) = resolve(&l, &BTreeMap::from([("a".to_string(), Space { bytes: Some(G), exact: false })]));
        assert!(errors.contains(&LayoutError::PercentOver { vg: "vg0".into(), pct: 110 }));
        assert!(
            errors.iter().any(|e| e.to_string().contains("its physical volumes may hold only")),
            "a size from a match bound is worded as a bound: {errors:?}"
        );
    }

    #[test]
    fn xfs_on_a_device_under_300_mib_is_refused() {
        let l = layout(
            "bootloader: bios
disks: [ { id: a, match: { size: '>=1G' }, partitions: [ { id: g, size: 1M }, { id: r, size: 200M, fs: xfs, mount: / }, { id: x, size: rest, fs: xfs, mount: /x } ] } ]
",
        );
        let (_, errors) = resolve(&l, &BTreeMap::from([("a".to_string(), Space { bytes: Some(400 * M), exact: false })]));
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "partition \"r\": xfs needs at least 300 MiB but the device is 200 MiB",
                "partition \"x\": xfs needs at least 300 MiB but the device may be 197 MiB",
            ]
        );
    }

    #[test]
    fn rest_with_nothing_left_is_refused() {
        let l = layout(
            "bootloader: bios
disks: [ { id: a, match: { size: 100M }, partitions: [ { id: g, size: 1M }, { id: r, size: 98M } , { id: x, size: rest } ] } ]
",
        );
        let (_, errors) = resolve(&l, &exact(&[("a", 100 * M)]));
        assert_eq!(errors.iter().map(ToString::to_string).collect::<Vec<_>>(), ["disk \"a\": partitions need 102 MiB but the disk is only 100 MiB"]);
        assert_eq!(parse_lv_size("0%").unwrap_err(), "a percentage must be a whole number from 1 to 100, like 20%");
        assert_eq!(parse_lv_size("100%").unwrap(), LvSize::Percent(100));
    }
}
