//! The agent's one call for disks: probe, plan, print, and (unless it is a dry run) execute.
use control::inventory::Inventory;
use control::layout::{Layout, Protected};

use crate::exec::{self, ApplyError, Logged, Runner};
use crate::plan::{self, Plan};

/// Where the installed system's filesystems are mounted by default.
pub const TARGET_ROOT: &str = "/target";

/// Whether to change the disks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Probe and plan only. Existing arrays and volume groups lying wholly on the chosen disks are still
    /// assembled and activated so that the plan says truly whether anything would change: no data is
    /// written, though mdadm updates the event count in those arrays' superblocks.
    DryRun,
    /// Probe, plan and run the plan.
    Apply,
}

/// What was planned and run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The plan (print it for the dry-run view).
    pub plan: Plan,
    /// Every command run, probes included, with its output.
    pub log: Vec<Logged>,
}

/// Lays out the node's disks as `layout` says, never touching a disk in `protected` (or one a protected
/// layout entry matches), with filesystems mounted under `target`. A layout that does not fit is
/// refused before any write; a failed step leaves the chosen disks without partition tables.
pub fn apply(
    layout: &Layout,
    inventory: &Inventory,
    protected: &Protected,
    target: &str,
    mode: Mode,
    runner: &mut dyn Runner,
) -> Result<Report, ApplyError> {
    let mut log = Vec::new();
    let chosen = plan::chosen_disks(layout, inventory, protected)?;
    let mut current = exec::probe(inventory, runner, &mut log)?;
    // Arrays must run before the volume groups on them can be seen: at most two rounds.
    for _ in 0..2 {
        if !exec::activate(&current, &chosen, runner, &mut log) {
            break;
        }
        current = exec::probe(inventory, runner, &mut log)?;
    }
    let plan = plan::plan(layout, inventory, protected, &current, target)?;
    tracing::info!("disk layout plan:\n{plan}");
    if mode == Mode::Apply {
        exec::execute(&plan, runner, &mut log)?;
    }
    Ok(Report { plan, log })
}
