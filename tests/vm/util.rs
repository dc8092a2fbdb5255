//! Shared setup: the skip check, the boot files (built once per content), one lab per test, one test
//! at a time; and what the install tests share: the Debian image published as `deb`, layouts, reading
//! the agent's console lines and the phase times it reported.
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use control::store::agent_status::Phase;
use vmtest::{Lab, Vm};

/// A test's lab, holding the lock that keeps VM tests from running at once.
pub struct Setup {
    /// The lab (dropped before the lock is released).
    pub lab: Lab,
    _one: MutexGuard<'static, ()>,
}

/// The lab for one test, or `None` (with the reason printed) where VMs cannot run.
pub fn setup() -> Option<Setup> {
    static ONE: Mutex<()> = Mutex::new(());
    let one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(reason) = vmtest::unavailable_reason() {
        eprintln!("SKIPPED: VM test needs qemu and a test network: {reason}");
        return None;
    }
    let fountain = Path::new(env!("CARGO_BIN_EXE_fountain"));
    let boot = vmtest::boot_files(fountain, &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vmtest")).expect("building the boot files");
    let lab = Lab::start(fountain, &boot).expect("starting the lab");
    Some(Setup { lab, _one: one })
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
