//! Taking down what is on the chosen disks before they are rewritten: mounts, volume groups and arrays
//! that use them, then every old signature. Anything that also lives on a protected disk is refused,
//! since taking it down would write to that disk.
use std::collections::BTreeSet;

use super::PlanError;
use super::current::Current;
use super::step::Step;

/// Steps that leave the `chosen` disks blank, or an error when that would touch a `kept` disk.
pub fn teardown(current: &Current, chosen: &[String], kept: &[String]) -> Result<Vec<Step>, PlanError> {
    let on = |dev: &str, disks: &[String]| current.disks_under(dev).into_iter().find(|d| disks.iter().any(|c| c == d)).map(str::to_string);
    let mut steps = Vec::new();
    let mut wiped = BTreeSet::new();

    let vgs: Vec<_> = current.vgs.iter().filter(|vg| vg.pvs.iter().any(|pv| on(pv, chosen).is_some())).collect();
    let arrays: Vec<_> = current.arrays.iter().filter(|a| a.members.iter().any(|m| on(m, chosen).is_some())).collect();
    for vg in &vgs {
        if let Some(disk) = vg.pvs.iter().find_map(|pv| on(pv, kept)) {
            return Err(PlanError::SharedWithProtected { what: format!("volume group {}", vg.name), disk });
        }
    }
    for a in &arrays {
        if let Some(disk) = a.members.iter().find_map(|m| on(m, kept)) {
            return Err(PlanError::SharedWithProtected { what: format!("RAID array {}", a.name), disk });
        }
    }

    // Unmount what lives on these disks, deepest first.
    let lv_devices: BTreeSet<&str> = vgs.iter().flat_map(|vg| vg.lvs.iter().filter_map(|l| l.device.as_deref())).collect();
    let mut mounted: Vec<&String> =
        current.mounts.iter().filter(|(_, dev)| lv_devices.contains(dev.as_str()) || on(dev, chosen).is_some()).map(|(m, _)| m).collect();
    mounted.sort_by_key(|m| std::cmp::Reverse(m.len()));
    steps.extend(mounted.into_iter().map(|m| Step::Unmount { target: m.clone() }));

    for vg in &vgs {
        steps.push(Step::DeactivateVg { vg: vg.name.clone() });
        steps.push(Step::RemoveVg { vg: vg.name.clone() });
        for pv in &vg.pvs {
            if wiped.insert(pv.clone()) {
                steps.push(Step::Wipe { device: pv.clone() });
            }
        }
    }
    for a in &arrays {
        if let Some(dev) = &a.device {
            if wiped.insert(dev.clone()) {
                steps.push(Step::Wipe { device: dev.clone() });
            }
            steps.push(Step::StopArray { device: dev.clone() });
        }
    }
    for disk in chosen {
        for p in current.disk(disk).map(|d| d.partitions.as_slice()).unwrap_or_default() {
            if wiped.insert(p.path.clone()) {
                steps.push(Step::Wipe { device: p.path.clone() });
            }
        }
        steps.push(Step::Wipe { device: disk.clone() });
        steps.push(Step::ZapTable { disk: disk.clone() });
    }
    Ok(steps)
}
