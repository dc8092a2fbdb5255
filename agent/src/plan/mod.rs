//! The planner: turns (layout, inventory, protected disks, probed state) into an ordered list of
//! steps, with no I/O, so that everything about a node's disks is decided, and a layout that cannot
//! work is refused, before the first write (Ignition's habit; see STYLE.md).
//!
//! A plan either converges (the disks already hold the layout: only mounts) or rebuilds the chosen
//! disks from scratch: take down what is on them, wipe every old signature, then GPT, MD, LVM,
//! filesystems and mounts under the target root.
mod choose;
mod converge;
pub mod current;
mod desired;
mod step;
mod teardown;

use std::fmt;

use control::inventory::Inventory;
use control::layout::{Layout, LayoutError, Protected};

pub use choose::{Kept, describe};
pub use current::Current;
pub use desired::partition_path;
pub use step::Step;

/// Why a layout cannot be planned on this node; nothing has been written when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The layout breaks its own rules (it should have been refused on upload).
    #[error("the layout is invalid: {}", join(.0))]
    Invalid(Vec<LayoutError>),
    /// No node disk satisfies one layout disk's rules.
    #[error("layout disk {id:?} (match {rules}) matches none of this node's disks: {disks}")]
    NoMatch {
        /// Layout disk id.
        id: String,
        /// Its match rules.
        rules: String,
        /// The node's disks.
        disks: String,
    },
    /// Every layout disk matches some disk, but they cannot each get their own.
    #[error("layout disks {ids} need {need} different disks, but this node's disks cannot provide them: {disks}")]
    NotEnoughDisks {
        /// Layout disk ids.
        ids: String,
        /// How many.
        need: usize,
        /// The node's disks.
        disks: String,
    },
    /// The disks match but the layout does not fit on them.
    #[error("the layout does not fit this node's disks ({assigned}): {}", .problems.join("; "))]
    DoesNotFit {
        /// Layout disk -> node disk.
        assigned: String,
        /// What does not fit.
        problems: Vec<String>,
    },
    /// An old array or volume group on a chosen disk also uses a protected disk.
    #[error("{what} on the chosen disks also uses protected disk {disk}: taking it down would write to that disk")]
    SharedWithProtected {
        /// The array or volume group.
        what: String,
        /// The protected disk.
        disk: String,
    },
}

fn join(errors: &[LayoutError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// What will be done to a node's disks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Root the filesystems are mounted under.
    pub target: String,
    /// Layout disk id -> the node disk chosen for it, described.
    pub disks: Vec<(String, String)>,
    /// Disk paths the plan may write to (the chosen disks).
    pub disk_paths: Vec<String>,
    /// Node disks kept out and why.
    pub protected: Vec<Kept>,
    /// `None` when the disks already hold the layout; otherwise why they must be rebuilt.
    pub rebuild: Option<String>,
    /// Things that work but are probably not meant.
    pub warnings: Vec<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// What the installed system mounts, for its fstab: filesystems in mount order, then swap.
    pub fstab: Vec<FstabEntry>,
    /// Disks under the filesystem holding `/boot` (or `/`): where the bootloader goes.
    pub boot_disks: Vec<String>,
    /// EFI system partitions the installed system does not mount: the other disks' copies of the
    /// one at `/boot/efi`, so that firmware finds a bootloader on whichever disk of a mirror is left.
    pub spare_esps: Vec<String>,
}

/// One filesystem or swap area the installed system uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabEntry {
    /// Device path as the agent sees it now (its UUID goes in the fstab).
    pub device: String,
    /// Type.
    pub fs: control::layout::FsType,
    /// Mount point inside the installed system; `None` for swap.
    pub mount: Option<String>,
}

impl Plan {
    /// Whether any step changes a disk.
    pub fn destructive(&self) -> bool {
        self.steps.iter().any(Step::destructive)
    }
}

/// The node disks `layout` would be laid out on (the disks the executor may assemble and write).
pub fn chosen_disks(layout: &Layout, inventory: &Inventory, protected: &Protected) -> Result<Vec<String>, PlanError> {
    Ok(choose::choose(layout, inventory, protected)?.assigned.into_iter().map(|(_, d)| d.path).collect())
}

/// Plans `layout` on the node described by `inventory`, never choosing a disk in `protected` (nor one
/// a protected layout entry matches), given the state `current` the probe read; filesystems are
/// mounted under `target`.
pub fn plan(layout: &Layout, inventory: &Inventory, protected: &Protected, current: &Current, target: &str) -> Result<Plan, PlanError> {
    let errors = control::layout::validate(layout);
    if !errors.is_empty() {
        return Err(PlanError::Invalid(errors));
    }
    let choice = choose::choose(layout, inventory, protected)?;
    let want = desired::desired(layout, &choice, target);
    let disk_paths: Vec<String> = choice.assigned.iter().map(|(_, d)| d.path.clone()).collect();
    let kept: Vec<String> = choice.protected.iter().map(|k| k.disk.path.clone()).collect();
    let rebuild = converge::differences(&want, current).err();

    let mut steps = Vec::new();
    let mut fstab = Vec::new();
    if rebuild.is_some() {
        steps.extend(teardown::teardown(current, &disk_paths, &kept)?);
        steps.extend(build(&want));
    }
    for m in &want.mounts {
        // On a converged disk the device may run under another name (`/dev/md127`).
        let device = if rebuild.is_some() { m.device.clone() } else { current.canonical(&m.device).to_string() };
        fstab.push(FstabEntry { device: device.clone(), fs: m.fs, mount: Some(m.mount.clone()) });
        if rebuild.is_none() && current.mounts.get(&m.target).is_some_and(|d| *d == device) {
            continue;
        }
        steps.push(Step::Mkdir { path: m.target.clone() });
        steps.push(Step::Mount { device, fs: m.fs, target: m.target.clone() });
    }
    let swaps = want.filesystems.iter().filter(|f| f.fs == control::layout::FsType::Swap);
    fstab.extend(swaps.map(|f| FstabEntry { device: f.device.clone(), fs: f.fs, mount: None }));
    let boot_disks = want.mounts.iter().find(|m| m.mount == "/boot").or_else(|| want.mounts.iter().find(|m| m.mount == "/")).map(|m| want.disks_under(&m.device)).unwrap_or_default();
    let esps = want.tables.iter().flat_map(|t| &t.partitions).filter(|p| p.type_code == desired::ESP_TYPE);
    let spare_esps = esps.filter(|p| !want.mounts.iter().any(|m| m.device == p.path)).map(|p| p.path.clone()).collect();
    Ok(Plan {
        target: target.to_string(),
        disks: choice.assigned.iter().map(|(id, d)| (id.clone(), describe(d))).collect(),
        disk_paths,
        protected: choice.protected,
        rebuild,
        warnings: choice.capacity.warnings,
        steps,
        fstab,
        boot_disks,
        spare_esps,
    })
}

/// The steps that build the desired state on blank disks.
fn build(want: &desired::Desired) -> Vec<Step> {
    let mut steps = Vec::new();
    for t in &want.tables {
        steps.push(Step::NewTable { disk: t.disk.clone() });
        for p in &t.partitions {
            steps.push(Step::NewPartition {
                disk: t.disk.clone(),
                number: p.number,
                start: p.start,
                size: p.size,
                type_code: p.type_code,
                name: p.name.clone(),
                legacy_boot: p.legacy_boot,
            });
        }
    }
    // New partitions can land where old signatures still are (an earlier run that failed after its
    // table was written): wipe them before anything reads them.
    for p in want.tables.iter().flat_map(|t| &t.partitions) {
        steps.push(Step::Wipe { device: p.path.clone() });
    }
    for a in &want.arrays {
        steps.push(Step::CreateArray {
            device: a.device.clone(),
            name: a.id.clone(),
            level: a.level,
            members: a.members.clone(),
            spares: a.spares.clone(),
        });
    }
    for vg in &want.vgs {
        steps.extend(vg.pvs.iter().map(|pv| Step::CreatePv { device: pv.clone() }));
        steps.push(Step::CreateVg { vg: vg.name.clone(), pvs: vg.pvs.clone() });
    }
    for lv in &want.lvs {
        steps.push(Step::CreateLv { vg: lv.vg.clone(), name: lv.name.clone(), size: lv.size, extents: lv.extents });
    }
    for fs in &want.filesystems {
        steps.push(Step::Mkfs { device: fs.device.clone(), fs: fs.fs, size: fs.size });
    }
    steps
}

/// The dry-run view: disks, what is kept out, why the disks are rebuilt (or not), and each step
/// with the command it runs.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "disks:")?;
        for (id, disk) in &self.disks {
            writeln!(f, "  {id} -> {disk}")?;
        }
        for k in &self.protected {
            writeln!(f, "  protected: {} (by {})", describe(&k.disk), k.why)?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        match &self.rebuild {
            Some(why) => writeln!(f, "rebuild: {why}")?,
            None => writeln!(f, "the disks already hold this layout: nothing to change")?,
        }
        writeln!(f, "steps (target {}):", self.target)?;
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "{:>3}. {s}\n       $ {}", i + 1, s.argv().join(" "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
