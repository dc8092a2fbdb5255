//! A tool's process inside a namespace, timed by GNU time so its CPU seconds (children included) are
//! known however it ends.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// GNU time, which writes the user and system seconds of the command it ran to a file.
const TIME: &str = "/usr/bin/time";
/// How often a wait checks on its processes.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A process started with `ip netns exec NS /usr/bin/time -o ... PROGRAM ...`; killed on drop.
#[derive(Debug)]
pub struct NetnsProcess {
    child: Child,
    name: String,
    rusage: PathBuf,
    exit: Option<ExitStatus>,
}

impl NetnsProcess {
    /// Starts `program args` in `netns`; stdout and stderr go to `log_dir/name.log`.
    pub fn spawn(netns: &str, program: &Path, args: &[String], name: &str, log_dir: &Path) -> anyhow::Result<Self> {
        let log = std::fs::File::create(log_dir.join(format!("{name}.log")))?;
        let rusage = log_dir.join(format!("{name}.rusage"));
        let child = Command::new("ip")
            .args(["netns", "exec", netns, TIME, "-f", "%U %S", "-o"])
            .arg(&rusage)
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group, so a kill reaches the tool under `time` as well.
            .process_group(0)
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting {name} ({}): {e}", program.display()))?;
        Ok(Self { child, name: name.to_owned(), rusage, exit: None })
    }

    /// The label it was started with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its exit status once it has ended.
    pub fn try_exit(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait()?;
        }
        Ok(self.exit)
    }

    /// Asks the tool to stop with SIGTERM, then kills its process group if it has not ended within
    /// `grace`. Only the tool (the child of `time`) is signalled, so `time` lives on to write its usage.
    pub fn stop(&mut self, grace: Duration) {
        if self.exit.is_some() {
            return;
        }
        signal_children(self.child.id(), "-TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.try_exit(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        kill_group(self.child.id());
        let _ = self.child.wait().map(|s| self.exit = Some(s));
    }

    /// Kills the tool at once (SIGKILL to its process group): a crash, not a shutdown.
    pub fn kill(&mut self) {
        if self.exit.is_none() && !matches!(self.try_exit(), Ok(Some(_))) {
            kill_group(self.child.id());
            let _ = self.child.wait().map(|s| self.exit = Some(s));
        }
    }

    /// User + system CPU seconds of the tool, once it has ended.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let text = std::fs::read_to_string(&self.rusage).ok()?;
        // GNU time may precede the figures with "Command exited with non-zero status N".
        let mut fields = text.lines().last()?.split_whitespace().map(str::parse::<f64>);
        Some(fields.next()?.ok()? + fields.next()?.ok()?)
    }
}

impl Drop for NetnsProcess {
    fn drop(&mut self) {
        if self.exit.is_none() && !matches!(self.try_exit(), Ok(Some(_))) {
            kill_group(self.child.id());
            let _ = self.child.wait();
        }
    }
}

/// Waits until every process has ended or `deadline` passes; `Ok(false)` on the deadline.
pub fn wait_all(processes: &mut [NetnsProcess], deadline: Instant) -> anyhow::Result<bool> {
    loop {
        let mut running = 0;
        for p in processes.iter_mut() {
            running += usize::from(p.try_exit()?.is_none());
        }
        if running == 0 {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Sends `signal` to the children of `pid` (the tool `time` runs).
fn signal_children(pid: u32, signal: &str) {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for child in children.split_whitespace() {
        let _ = Command::new("kill").args([signal, child]).stderr(Stdio::null()).status();
    }
}

fn kill_group(pgid: u32) {
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).stderr(Stdio::null()).status();
}
