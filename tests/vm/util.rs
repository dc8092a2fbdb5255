//! Shared setup: the skip check, the boot files (built once per content), one lab per test, VM
//! slots shared by the tests; and what the install tests share: the Debian image published as `deb`,
//! layouts, reading the agent's console lines and the phase times it reported.
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use control::store::agent_status::Phase;
use vmtest::{Lab, Vm};

/// TCG guests running at once across the VM tests. Each guest is one single-threaded vCPU, so on the
/// 2-core CI host two guests keep both cores busy; a test with one VM would leave a core idle if the
/// tests ran one at a time.
const VM_SLOTS: u32 = 2;

/// Free VM slots and how many tests wait for more than one.
struct Slots {
    state: Mutex<(u32, u32)>,
    freed: Condvar,
}

static SLOTS: Slots = Slots { state: Mutex::new((VM_SLOTS, 0)), freed: Condvar::new() };

/// `n` VM slots a test holds until it ends.
struct Held(Cell<u32>);

impl Held {
    /// Waits until `n` slots are free and takes them. While a test that needs more than one waits,
    /// one-VM tests do not start, so the slots drain for it instead of being taken one by one.
    fn take(n: u32) -> Held {
        let n = n.min(VM_SLOTS);
        let mut state = SLOTS.state.lock().unwrap_or_else(|e| e.into_inner());
        if n > 1 {
            state.1 += 1;
        }
        while state.0 < n || (n == 1 && state.1 > 0) {
            state = SLOTS.freed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.0 -= n;
        if n > 1 {
            state.1 -= 1;
        }
        Held(Cell::new(n))
    }

    /// Gives `n` of the held slots back now.
    fn give_back(&self, n: u32) {
        let n = n.min(self.0.get());
        self.0.set(self.0.get() - n);
        SLOTS.state.lock().unwrap_or_else(|e| e.into_inner()).0 += n;
        SLOTS.freed.notify_all();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.give_back(self.0.get());
    }
}

/// A test's lab, holding the VM slots the test needs.
pub struct Setup {
    /// The lab (dropped before the slots are released).
    pub lab: Lab,
    name: String,
    started: Instant,
    slots: Held,
}

impl Drop for Setup {
    /// Prints the test's wall time from the moment it held its slots, so one run of the suite says
    /// where its time went.
    fn drop(&mut self) {
        eprintln!("vm test {}: {:.1} s wall", self.name, self.started.elapsed().as_secs_f64());
    }
}

impl Setup {
    /// Gives back all but one of the test's VM slots, for a test whose remaining steps run one VM at
    /// a time: a one-VM test can then run beside them instead of a core idling.
    pub fn keep_one_slot(&self) {
        self.slots.give_back(self.slots.0.get().saturating_sub(1));
    }
}

/// The lab for a test that runs one VM at a time, or `None` (with the reason printed) where VMs
/// cannot run.
pub fn setup() -> Option<Setup> {
    setup_for(1)
}

/// The lab for a test that runs `vms` VMs at once, or `None` (with the reason printed) where VMs
/// cannot run. Waits for that many VM slots.
pub fn setup_for(vms: u32) -> Option<Setup> {
    let slots = Held::take(vms);
    if let Some(reason) = vmtest::unavailable_reason() {
        eprintln!("SKIPPED: VM test needs qemu and a test network: {reason}");
        return None;
    }
    let started = Instant::now();
    let name = std::thread::current().name().unwrap_or("?").to_string();
    let fountain = Path::new(env!("CARGO_BIN_EXE_fountain"));
    let boot = vmtest::boot_files(fountain, &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vmtest")).expect("building the boot files");
    let lab = Lab::start(fountain, &boot).expect("starting the lab");
    Some(Setup { lab, name, started, slots })
}

/// A sparse raw disk image of `bytes` in the lab's folder.
pub fn blank_disk(lab: &Lab, name: &str, bytes: u64) -> PathBuf {
    let path = lab.dir().join(format!("{name}.img"));
    std::fs::File::create(&path).and_then(|f| f.set_len(bytes)).expect("creating a disk image");
    path
}

/// Builds (or takes from the cache) the VM tests' Debian image and publishes it in `lab` as `deb`.
pub fn publish_debian(lab: &Lab) {
    lab.publish_artifact("deb", &debian_artifact()).unwrap();
}

/// The VM tests' Debian image artifact, built once per content and cached under the target folder.
fn debian_artifact() -> PathBuf {
    vmtest::debian_image(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vmtest")).expect("building the test image").artifact
}

/// Publishes the next version of `deb` in `lab`: the Debian image plus one empty file `/{marker}`,
/// appended by `mksquashfs` to a copy of the cached artifact in the lab (the cache stays as it is),
/// then published as any version is, by `image add`. Returns the version the control plane gave it.
pub fn publish_debian_plus(lab: &Lab, marker: &str) -> u64 {
    let cached = debian_artifact();
    let file = format!("deb-{marker}.sqfs");
    let artifact = lab.data_dir().join("images").join(&file);
    std::fs::copy(&cached, &artifact).expect("copying the test image");
    let added = lab.dir().join(marker);
    std::fs::write(&added, b"").unwrap();
    lab.exec("mksquashfs", &[added.to_str().unwrap(), artifact.to_str().unwrap(), "-no-progress", "-quiet", "-no-recovery"]).expect("appending to the image");
    let published = lab.fountain_json(&["image", "add", "deb", "--artifact", &file]).unwrap();
    published["version"].as_u64().unwrap_or_else(|| panic!("{published}"))
}

/// Adds layout `name` from `yaml`.
pub fn add_layout(lab: &Lab, name: &str, yaml: &str) {
    let layout = lab.dir().join(format!("{name}.yaml"));
    std::fs::write(&layout, yaml).unwrap();
    lab.fountain(&["layout", "add", name, layout.to_str().unwrap()]).unwrap();
}

/// The count just before `what` in an agent's console line: "(0 blocks from the journal, 172 from the
/// session" or "7440 rejected" (the word "blocks" between them is skipped).
pub fn count_before(line: &str, what: &str) -> u64 {
    let before = line.split(what).next().unwrap_or_default();
    before.rsplit([' ', '(', ';', ',']).find(|w| !w.is_empty() && *w != "blocks").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no count before{what} in {line:?}"))
}

/// The phases `node` reported for its last re-image, checked to be all seven, as "name 1.2 s, ...".
pub fn phase_times(lab: &Lab, node: &str) -> String {
    let shown = lab.fountain_json(&["node", "show", node]).unwrap();
    let phases = shown["reimages"][0]["phases"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = phases.iter().filter_map(|p| p["phase"].as_str()).collect();
    let all: Vec<String> = Phase::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(names, all, "{shown}");
    let times: Vec<String> = phases.iter().map(|p| format!("{} {:.1} s", p["phase"].as_str().unwrap_or("?"), p["millis"].as_f64().unwrap_or(0.0) / 1000.0)).collect();
    times.join(", ")
}

/// Waits for the installed system's console line naming image `label` (`deb@1`) and host `host`, and
/// checks that this boot came from the disk, not through the agent again.
pub fn wait_installed_banner(vm: &mut Vm, label: &str, host: &str, timeout: Duration) {
    let line = vm.wait_for(&format!("fountain: {label} on "), timeout).unwrap();
    assert!(line.trim_end().ends_with(&format!("fountain: {label} on {host}")), "{line}");
    assert!(!vm.console.text().contains("fountain-agent:"), "the boot ran the agent again instead of the disk");
}
