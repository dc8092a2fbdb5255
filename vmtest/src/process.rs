//! Child processes that die with their guard, and setup commands with a time limit.
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Every setup command (`ip`, CLI calls) is given this long.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a waiting helper looks again.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// A process killed (and reaped) when dropped.
#[derive(Debug)]
pub struct Guard {
    name: String,
    child: Option<Child>,
}

impl Guard {
    /// Spawns `command`; `name` is for messages.
    pub fn spawn(name: &str, command: &mut Command) -> anyhow::Result<Guard> {
        let child = command.spawn().with_context(|| format!("starting {name}"))?;
        Ok(Guard { name: name.to_string(), child: Some(child) })
    }

    /// Fails if the process has exited (with how).
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!("{} exited: {status}", self.name);
        }
        Ok(())
    }

    /// Waits up to `limit` for the process to exit by itself; kills it after that.
    pub fn wait_exit(&mut self, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let child = self.child.as_mut().context("process already reaped")?;
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                bail!("{} did not exit within {limit:?}; killed", self.name);
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `command` to completion within the time limit; returns its stdout, or fails with its stderr.
pub fn output(command: &mut Command) -> anyhow::Result<String> {
    output_within(command, COMMAND_TIMEOUT)
}

/// [`output`] with its own time limit, for the few commands that take minutes (an image build).
pub fn output_within(command: &mut Command, limit: Duration) -> anyhow::Result<String> {
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().with_context(|| format!("starting {command:?}"))?;
    let (mut out, mut err) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{command:?} took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (out, err) = (reader.join().unwrap_or_default(), err_reader.join().unwrap_or_default());
    if !status.success() {
        bail!("{command:?} failed ({status}): {}{}", err.trim(), out.trim());
    }
    Ok(out)
}
