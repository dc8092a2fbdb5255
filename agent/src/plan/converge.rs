//! Whether the disks already hold what the layout asks for; the first difference found says why not.
use std::collections::BTreeSet;

use control::layout::FsType;
use control::layout::capacity::{LVM_EXTENT_BYTES, LvSize};

use super::current::Current;
use super::desired::Desired;

/// How far a `rest` or percentage LV may differ from the planner's estimate and still count as made
/// by this layout (LVM's own metadata placement can differ from the estimate by an extent or so).
const LV_ESTIMATE_TOLERANCE_PCT: u64 = 2;

/// blkid's name for a filesystem type.
fn blkid_type(fs: FsType) -> &'static str {
    match fs {
        FsType::Ext4 => "ext4",
        FsType::Xfs => "xfs",
        FsType::Vfat => "vfat",
        FsType::Swap => "swap",
    }
}

/// `Ok` when `current` already is the end state `desired`, else the first difference.
pub fn differences(desired: &Desired, current: &Current) -> Result<(), String> {
    for t in &desired.tables {
        let Some(disk) = current.disk(&t.disk).filter(|d| d.gpt) else { return Err(format!("{} has no GPT", t.disk)) };
        if disk.partitions.len() != t.partitions.len() {
            return Err(format!("{} has {} partitions, the layout {}", t.disk, disk.partitions.len(), t.partitions.len()));
        }
        for (want, have) in t.partitions.iter().zip(&disk.partitions) {
            let same = want.number == have.number
                && want.start == have.start
                && want.size == have.size
                && want.type_code.eq_ignore_ascii_case(&have.type_code)
                && want.name == have.name;
            if !same {
                return Err(format!("partition {} of {} differs from the layout's {:?}", have.number, t.disk, want.name));
            }
        }
    }
    let canon = |paths: &[String]| paths.iter().map(|p| current.canonical(p).to_string()).collect::<BTreeSet<_>>();
    for a in &desired.arrays {
        let Some(have) = current.arrays.iter().find(|c| c.name == a.id && c.device.is_some()) else {
            return Err(format!("RAID array {} is not running", a.id));
        };
        let want: BTreeSet<String> = canon(&a.members).union(&canon(&a.spares)).cloned().collect();
        if have.level != a.level || canon(&have.members) != want {
            return Err(format!("RAID array {} has other members or another level", a.id));
        }
    }
    for vg in &desired.vgs {
        let Some(have) = current.vgs.iter().find(|c| c.name == vg.name) else { return Err(format!("volume group {} does not exist", vg.name)) };
        if canon(&have.pvs) != canon(&vg.pvs) {
            return Err(format!("volume group {} has other physical volumes", vg.name));
        }
    }
    for lv in &desired.lvs {
        let have = current.vgs.iter().find(|c| c.name == lv.vg).and_then(|vg| vg.lvs.iter().find(|l| l.name == lv.name));
        let Some(have) = have.filter(|l| l.device.is_some()) else { return Err(format!("logical volume {}/{} is not active", lv.vg, lv.name)) };
        let want = lv.extents * LVM_EXTENT_BYTES;
        let close = have.size * 100 >= want * (100 - LV_ESTIMATE_TOLERANCE_PCT) && have.size * 100 <= want * (100 + LV_ESTIMATE_TOLERANCE_PCT);
        let ok = match lv.size {
            LvSize::Bytes(_) => have.size == want,
            LvSize::Percent(_) | LvSize::Rest => close,
        };
        if !ok {
            return Err(format!("logical volume {}/{} is {} bytes, the layout {want}", lv.vg, lv.name, have.size));
        }
    }
    for fs in &desired.filesystems {
        let dev = current.canonical(&fs.device);
        if current.filesystems.get(dev).map(|f| f.fs_type.as_str()) != Some(blkid_type(fs.fs)) {
            return Err(format!("{} holds no {}", fs.device, blkid_type(fs.fs)));
        }
    }
    Ok(())
}
