//! The lab's network namespace, named `fvm<pid>-<n>` so that a later run can tell a dead owner's
//! leftovers and delete them (with the taps and bridge inside, and whatever still runs there).
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::process::output;

const PREFIX: &str = "fvm";

/// A namespace deleted (after killing what runs in it) on drop.
#[derive(Debug)]
pub struct Netns {
    /// Its name, for `ip netns exec` and `ip -n`.
    pub name: String,
}

impl Netns {
    /// Creates a fresh namespace with `lo` up, first removing those of dead earlier runs.
    pub fn create() -> anyhow::Result<Netns> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        remove_stale();
        let name = format!("{PREFIX}{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        delete(&name);
        output(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n <ns> args...`
    pub fn ip(&self, args: &[&str]) -> anyhow::Result<String> {
        output(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        delete(&self.name);
    }
}

/// Creates and deletes a namespace with a tap in it: what the lab needs from the kernel.
pub fn probe() -> anyhow::Result<()> {
    let ns = Netns::create()?;
    ns.ip(&["tuntap", "add", "dev", "probe0", "mode", "tap"])?;
    Ok(())
}

/// Kills every process left in namespace `name` (only ours can be there) and deletes it.
fn delete(name: &str) {
    if let Ok(pids) = output(Command::new("ip").args(["netns", "pids", name])) {
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
    let _ = output(Command::new("ip").args(["netns", "del", name]));
}

/// Deletes `fvm<pid>-*` namespaces whose pid is gone (a run killed before its guards ran).
fn remove_stale() {
    let Ok(list) = output(Command::new("ip").args(["netns", "list"])) else { return };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some((pid, _)) = name.strip_prefix(PREFIX).and_then(|r| r.split_once('-')) else { continue };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new("/proc").join(pid).exists() {
            delete(name);
        }
    }
}
