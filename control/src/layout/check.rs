//! The rules a layout must follow beyond its schema; each broken rule adds one [`LayoutError`].
use std::collections::BTreeMap;

use super::capacity::{self, Space};
use super::size::{Bound, parse_bound};
use super::{Bootloader, FsType, Layout, LayoutError, PartitionFlag};
use crate::names::{check_abs_path, check_name};

/// Fewest members each supported RAID level needs.
fn raid_min_members(level: u8) -> Option<usize> {
    match level {
        0 | 1 => Some(2),
        5 => Some(3),
        6 | 10 => Some(4),
        _ => None,
    }
}

/// What kind of device an id names, which decides what may use it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Disk { partitioned: bool, protected: bool },
    Partition,
    Raid,
    Vg,
}

/// Checks every rule and returns all problems found.
pub(super) fn check(layout: &Layout) -> Vec<LayoutError> {
    let mut c = Checker::default();
    if layout.disks.is_empty() {
        c.errors.push(LayoutError::NoDisks);
    }
    c.collect_ids(layout);
    let sizes = layout.disks.iter().map(|d| (d.id.clone(), c.check_match(d))).collect();
    c.errors.extend(capacity::resolve(layout, &sizes).1);
    c.check_raid_and_lvm(layout);
    c.check_filesystems(layout);
    c.errors
}

/// Something that can carry a filesystem: a partition, an array or a logical volume.
struct FsTarget<'a> {
    /// How messages name it.
    place: String,
    /// Its device id, when RAID or LVM could consume it.
    id: Option<&'a str>,
    fs: Option<FsType>,
    mount: Option<&'a str>,
}

#[derive(Default)]
struct Checker {
    errors: Vec<LayoutError>,
    kinds: BTreeMap<String, Kind>,
    /// Device id -> who consumes it (a RAID array or a VG), for "used twice" and "filesystem on a member".
    consumers: BTreeMap<String, String>,
}

impl Checker {
    fn add_id(&mut self, id: &str, kind: Kind) {
        if let Err(e) = check_name("device id", id) {
            self.errors.push(LayoutError::BadName(e));
        }
        if self.kinds.insert(id.to_string(), kind).is_some() {
            self.errors.push(LayoutError::DuplicateId(id.to_string()));
        }
    }

    fn collect_ids(&mut self, layout: &Layout) {
        for disk in &layout.disks {
            self.add_id(&disk.id, Kind::Disk { partitioned: !disk.partitions.is_empty(), protected: disk.protected });
            for p in &disk.partitions {
                self.add_id(&p.id, Kind::Partition);
            }
        }
        for r in &layout.raid {
            self.add_id(&r.id, Kind::Raid);
        }
        for vg in &layout.lvm {
            self.add_id(&vg.vg, Kind::Vg);
            let mut lvs = BTreeMap::new();
            for lv in &vg.lvs {
                if let Err(e) = check_name("logical volume", &lv.name) {
                    self.errors.push(LayoutError::BadName(e));
                }
                if lvs.insert(&lv.name, ()).is_some() {
                    self.errors.push(LayoutError::DuplicateId(format!("{}/{}", vg.vg, lv.name)));
                }
            }
        }
    }

    /// Checks the match rules and returns what they say about the disk's size: the smallest disk they
    /// allow, exactly known only when they name one size.
    fn check_match(&mut self, disk: &super::Disk) -> Space {
        let m = &disk.matcher;
        if m.path.is_none() && m.by_path.is_none() && m.model.is_none() && m.serial.is_none() && m.size.is_none() {
            self.errors.push(LayoutError::EmptyMatch(disk.id.clone()));
        }
        if disk.protected && !disk.partitions.is_empty() {
            self.errors.push(LayoutError::ProtectedUsed(disk.id.clone()));
        }
        match m.size.as_deref().map(parse_bound) {
            None | Some(Ok(Bound::AtMost(_))) => Space::UNKNOWN,
            Some(Ok(Bound::AtLeast(n))) => Space { bytes: Some(n), exact: false },
            Some(Ok(Bound::Exactly(n))) => Space::exact(n),
            Some(Err(reason)) => {
                self.errors.push(LayoutError::BadSize { place: format!("disk {:?} match", disk.id), value: m.size.clone().unwrap_or_default(), reason });
                Space::UNKNOWN
            }
        }
    }

    /// Records `user` as the one consumer of `id`, checking that `id` exists and may be consumed.
    fn consume(&mut self, user: &str, id: &str, may_use: impl Fn(Kind) -> bool) {
        match self.kinds.get(id).copied() {
            None => self.errors.push(LayoutError::UnknownRef { user: user.to_string(), id: id.to_string() }),
            Some(Kind::Disk { protected: true, .. }) => self.errors.push(LayoutError::ProtectedUsed(id.to_string())),
            Some(Kind::Disk { partitioned: true, .. }) => self.errors.push(LayoutError::PartitionedDiskUsedWhole(id.to_string())),
            Some(kind) if !may_use(kind) => self.errors.push(LayoutError::UnknownRef { user: user.to_string(), id: id.to_string() }),
            Some(_) => {
                if let Some(first) = self.consumers.insert(id.to_string(), user.to_string()) {
                    self.errors.push(LayoutError::UsedTwice { id: id.to_string(), first, second: user.to_string() });
                }
            }
        }
    }

    fn check_raid_and_lvm(&mut self, layout: &Layout) {
        for r in &layout.raid {
            let user = format!("raid {:?}", r.id);
            match raid_min_members(r.level) {
                None => self.errors.push(LayoutError::RaidLevel { id: r.id.clone(), level: r.level }),
                Some(need) if r.members.len() < need => {
                    self.errors.push(LayoutError::RaidMembers { id: r.id.clone(), level: r.level, have: r.members.len(), need })
                }
                Some(_) => {}
            }
            for m in r.members.iter().chain(&r.spares) {
                self.consume(&user, m, |k| matches!(k, Kind::Disk { .. } | Kind::Partition));
            }
        }
        for vg in &layout.lvm {
            let user = format!("vg {:?}", vg.vg);
            if vg.pvs.is_empty() {
                self.errors.push(LayoutError::EmptyVg(vg.vg.clone()));
            }
            for pv in &vg.pvs {
                self.consume(&user, pv, |k| k != Kind::Vg);
            }
        }
    }

    /// Filesystems: only on unconsumed devices, mount points absolute and unique, exactly one root,
    /// and the boot partition the bootloader needs.
    fn check_filesystems(&mut self, layout: &Layout) {
        let mut targets: Vec<FsTarget<'_>> = Vec::new();
        for d in &layout.disks {
            for p in &d.partitions {
                targets.push(FsTarget { place: format!("partition {:?}", p.id), id: Some(&p.id), fs: p.fs, mount: p.mount.as_deref() });
            }
        }
        for r in &layout.raid {
            targets.push(FsTarget { place: format!("raid {:?}", r.id), id: Some(&r.id), fs: r.fs, mount: r.mount.as_deref() });
        }
        for vg in &layout.lvm {
            for lv in &vg.lvs {
                targets.push(FsTarget { place: format!("lv {}/{}", vg.vg, lv.name), id: None, fs: lv.fs, mount: lv.mount.as_deref() });
            }
        }
        let mut mounts: BTreeMap<&str, String> = BTreeMap::new();
        for FsTarget { place, id, fs, mount } in &targets {
            if let Some(user) = id.and_then(|id| self.consumers.get(id)) {
                if fs.is_some() || mount.is_some() {
                    self.errors.push(LayoutError::FsOnConsumed { device: place.clone(), user: user.clone() });
                }
                continue;
            }
            let Some(mount) = mount else { continue };
            match fs {
                None => self.errors.push(LayoutError::MountWithoutFs(place.clone())),
                Some(FsType::Swap) => self.errors.push(LayoutError::SwapMounted(place.clone())),
                Some(_) => {}
            }
            if check_abs_path("mount point", mount).is_err() {
                self.errors.push(LayoutError::BadMount { place: place.clone(), mount: mount.to_string() });
            } else if let Some(first) = mounts.insert(mount, place.clone()) {
                self.errors.push(LayoutError::DuplicateMount { mount: mount.to_string(), first, second: place.clone() });
            }
        }
        if !layout.disks.is_empty() && !mounts.contains_key("/") {
            self.errors.push(LayoutError::NoRoot);
        }
        let partitions = || layout.disks.iter().flat_map(|d| &d.partitions);
        match layout.bootloader {
            // grub-install's --efi-directory; other disks' ESPs (a mirror's) may stay unmounted.
            Bootloader::Uefi if !partitions().any(|p| p.flags.contains(&PartitionFlag::Esp) && p.fs == Some(FsType::Vfat) && p.mount.as_deref() == Some("/boot/efi")) => {
                self.errors.push(LayoutError::MissingEsp)
            }
            Bootloader::Bios if !partitions().any(|p| p.flags.contains(&PartitionFlag::BiosGrub)) => {
                self.errors.push(LayoutError::MissingBiosGrub)
            }
            _ => {}
        }
    }
}
