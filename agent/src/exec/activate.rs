//! Bringing up what an earlier run left on the chosen disks (an initramfs assembles nothing by
//! itself), so that the probe sees it and a finished layout converges instead of being rebuilt. Only
//! arrays and volume groups that lie wholly on the chosen disks are touched; failures are logged and
//! left to the planner, which then rebuilds.
use super::run_logged;
use super::runner::{Logged, Runner};
use crate::plan::Current;

/// Assembles stopped arrays and activates volume groups lying wholly on `chosen` disks; true when it
/// ran anything (the caller probes again).
pub fn activate(current: &Current, chosen: &[String], runner: &mut dyn Runner, log: &mut Vec<Logged>) -> bool {
    let only_chosen = |devs: &[String]| {
        !devs.is_empty() && devs.iter().all(|d| current.disks_under(d).first().is_some_and(|disk| chosen.iter().any(|c| c == disk)))
    };
    let mut ran = false;
    for a in current.arrays.iter().filter(|a| a.device.is_none() && only_chosen(&a.members)) {
        let mut argv = vec!["mdadm".to_string(), "--assemble".into(), "--run".into(), format!("/dev/md/{}", a.name)];
        argv.extend(a.members.iter().cloned());
        ran |= run_logged(runner, &argv, log).is_ok();
    }
    for vg in current.vgs.iter().filter(|vg| vg.lvs.iter().any(|l| l.device.is_none()) && only_chosen(&vg.pvs)) {
        let argv = ["vgchange", "--activate", "y", vg.name.as_str()].map(String::from);
        ran |= run_logged(runner, &argv, log).is_ok();
    }
    ran
}
