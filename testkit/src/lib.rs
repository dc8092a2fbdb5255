//! Test support shared by the workspace's integration tests, so that each crate's crash tests do not
//! carry their own copy: the test binary re-run as a child process that a test kills with SIGKILL
//! at a chosen point, a bounded wait for that point, and the check of the image store afterwards.
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use image::store::{Store, Version};

/// How often [`wait_for`] looks again: short, so that a kill lands close to the point waited for.
const POLL: Duration = Duration::from_millis(1);

/// Starts this test binary again, running only the ignored test `name` (its path in the binary,
/// `module::test`) with `envs` set and its output discarded. The child test does the work to be
/// interrupted; the caller kills it once [`wait_for`] sees the point it wants.
pub fn start_child<K: AsRef<OsStr>, V: AsRef<OsStr>>(name: &str, envs: impl IntoIterator<Item = (K, V)>) -> Child {
    Command::new(std::env::current_exe().expect("the test binary's path"))
        .args(["--exact", name, "--ignored", "--nocapture", "--test-threads", "1"])
        .envs(envs)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the child test")
}

/// Waits until `ready` holds, failing the test with `timed out waiting for {what}` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}

/// Checks an image store after a kill: it verifies clean, and every version of `name` it lists
/// materialises to `out` whole (as many bytes as the version records); `each` checks more of each
/// version once it is in `out`. `round` labels the failure messages. Returns the versions listed.
pub fn check_store(store: &Path, name: &str, out: &Path, round: usize, mut each: impl FnMut(&Version)) -> Vec<Version> {
    let store = Store::open(store).expect("opening the store");
    let report = store.verify().expect("verifying the store");
    assert!(report.is_clean(), "round {round}: {report:?}");
    let listed = store.versions(Some(name)).expect("listing the store");
    for v in &listed {
        let whole = store.materialise(name, v.version, out).expect("materialising a listed version");
        assert_eq!(std::fs::metadata(out).unwrap().len(), whole.artifact_bytes, "round {round}: {}", v.label());
        each(v);
    }
    listed
}
