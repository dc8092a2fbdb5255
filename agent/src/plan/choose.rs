//! Which of the node's disks each layout disk lands on: distinct disks, none protected, and among the
//! assignments the match rules allow, the first (in layout and inventory order) on which the layout
//! fits; when none fits, the capacity problems of the first.
use std::collections::BTreeMap;

use control::inventory::{Inventory, InventoryDisk};
use control::layout::capacity::{self, Capacity, Space};
use control::layout::size::Human;
use control::layout::{Layout, Protected};

use super::PlanError;

/// Complete assignments tried before giving up (a layout has a handful of disks; this bounds the
/// search on a machine with many identical disks).
const ASSIGNMENTS_TRIED_MAX: usize = 10_000;

/// A node disk kept out of the layout and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The disk.
    pub disk: InventoryDisk,
    /// What protects it: the node's list or a layout rule.
    pub why: String,
}

/// The disks chosen for a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Layout disk id -> node disk, in layout order (protected layout entries excluded).
    pub assigned: Vec<(String, InventoryDisk)>,
    /// Node disks that nothing may touch.
    pub protected: Vec<Kept>,
    /// Sizes resolved on the chosen disks.
    pub capacity: Capacity,
}

/// How a node disk is shown in plans and errors.
pub fn describe(d: &InventoryDisk) -> String {
    let mut s = format!("{} ({}", d.path, Human(d.size_bytes));
    if !d.model.is_empty() {
        s += &format!(", model {:?}", d.model);
    }
    if !d.serial.is_empty() {
        s += &format!(", serial {:?}", d.serial);
    }
    s + ")"
}

/// The match rules of a layout disk, as written.
fn rules(d: &control::layout::Disk) -> String {
    serde_json::to_string(&d.matcher).unwrap_or_default()
}

/// Chooses a node disk for every layout disk, or says why it cannot.
pub fn choose(layout: &Layout, inventory: &Inventory, protected: &Protected) -> Result<Choice, PlanError> {
    let mut kept = Vec::new();
    let mut free = Vec::new();
    for disk in &inventory.disks {
        let why = protected.entry_for(disk).map(|e| format!("the node's protected list ({e:?})")).or_else(|| {
            layout.disks.iter().find(|l| l.protected && l.matcher.matches(disk)).map(|l| format!("layout disk {:?} (protected: true)", l.id))
        });
        match why {
            Some(why) => kept.push(Kept { disk: disk.clone(), why }),
            None => free.push(disk),
        }
    }
    let wanted: Vec<&control::layout::Disk> = layout.disks.iter().filter(|d| !d.protected).collect();
    let candidates: Vec<Vec<usize>> =
        wanted.iter().map(|w| free.iter().enumerate().filter(|(_, d)| w.matcher.matches(d)).map(|(i, _)| i).collect()).collect();
    let available = || {
        let mut list: Vec<String> = free.iter().map(|d| describe(d)).collect();
        list.extend(kept.iter().map(|k| format!("{} kept out by {}", describe(&k.disk), k.why)));
        if list.is_empty() { "none".to_string() } else { list.join(", ") }
    };
    if let Some((w, _)) = wanted.iter().zip(&candidates).find(|(_, c)| c.is_empty()) {
        return Err(PlanError::NoMatch { id: w.id.clone(), rules: rules(w), disks: available() });
    }

    let mut search = Search { candidates: &candidates, used: vec![false; free.len()], picks: Vec::new(), tried: 0, first: None };
    let fits = |picks: &[usize]| {
        let sizes: BTreeMap<String, Space> = wanted.iter().zip(picks).map(|(w, &i)| (w.id.clone(), Space::exact(free[i].size_bytes))).collect();
        capacity::resolve(layout, &sizes)
    };
    let found = search.run(&mut |picks| fits(picks).1.is_empty());
    let assignment = |picks: &[usize]| -> Vec<(String, InventoryDisk)> { wanted.iter().zip(picks).map(|(w, &i)| (w.id.clone(), free[i].clone())).collect() };
    match (found, search.first) {
        (Some(picks), _) => Ok(Choice { capacity: fits(&picks).0, assigned: assignment(&picks), protected: kept }),
        (None, Some(first)) => {
            let problems = fits(&first).1.iter().map(ToString::to_string).collect();
            let assigned = assignment(&first).iter().map(|(id, d)| format!("{id:?} -> {}", describe(d))).collect::<Vec<_>>().join(", ");
            Err(PlanError::DoesNotFit { assigned, problems })
        }
        (None, None) => Err(PlanError::NotEnoughDisks {
            ids: wanted.iter().map(|w| w.id.clone()).collect::<Vec<_>>().join(", "),
            need: wanted.len(),
            disks: available(),
        }),
    }
}

/// Backtracking over distinct assignments, layout disks in order, candidates in inventory order.
struct Search<'a> {
    candidates: &'a [Vec<usize>],
    used: Vec<bool>,
    picks: Vec<usize>,
    tried: usize,
    /// The first complete assignment, for the error when none fits.
    first: Option<Vec<usize>>,
}

impl Search<'_> {
    fn run(&mut self, fits: &mut dyn FnMut(&[usize]) -> bool) -> Option<Vec<usize>> {
        let depth = self.picks.len();
        if depth == self.candidates.len() {
            self.tried += 1;
            if self.first.is_none() {
                self.first = Some(self.picks.clone());
            }
            return fits(&self.picks).then(|| self.picks.clone());
        }
        for &c in &self.candidates[depth] {
            if self.used[c] || self.tried >= ASSIGNMENTS_TRIED_MAX {
                continue;
            }
            self.used[c] = true;
            self.picks.push(c);
            let found = self.run(fits);
            self.picks.pop();
            self.used[c] = false;
            if found.is_some() {
                return found;
            }
        }
        None
    }
}
