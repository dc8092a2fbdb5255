//! Shared setup: the skip check, the boot files (built once per content), one lab per test, one test
//! at a time.
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use vmtest::Lab;

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
