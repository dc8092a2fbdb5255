//! Test support shared by the workspace's integration tests, so that each crate's crash tests do not
//! carry their own copy: the test binary re-run as a child process that a test kills with SIGKILL
//! at a chosen point, and a bounded wait for that point.
use std::ffi::OsStr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
