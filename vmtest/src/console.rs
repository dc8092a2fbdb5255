//! A VM's serial console: qemu writes everything to a log file and listens on a unix socket, so a
//! test waits for lines in the file (with a bounded timeout) and types commands into the socket.
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::process::POLL;

/// Bytes of the console shown when a wait fails.
const TAIL_BYTES: usize = 3000;

/// How long qemu gets to create its console socket.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// One VM's console.
#[derive(Debug)]
pub struct Console {
    log: PathBuf,
    stream: UnixStream,
    commands: u32,
}

impl Console {
    /// Connects to the console socket of a qemu started with `server=on,wait=on` (so no output is
    /// lost before this) and copies everything it prints to `log` on a thread. The socket is the one
    /// copy: qemu's own `logfile=` repeats bytes whose socket write it retried.
    pub(crate) fn attach(log: PathBuf, socket: &Path, alive: &mut dyn FnMut() -> anyhow::Result<()>) -> anyhow::Result<Self> {
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(e) if start.elapsed() > CONNECT_TIMEOUT => bail!("connecting to the console {}: {e}", socket.display()),
                Err(_) => {
                    alive()?;
                    std::thread::sleep(POLL);
                }
            }
        };
        let mut reader = stream.try_clone().context("cloning the console socket")?;
        let mut file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        std::thread::spawn(move || std::io::copy(&mut reader, &mut file));
        Ok(Console { log, stream, commands: 0 })
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the console printed so far, `\r` removed.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).replace('\r', "")
    }

    fn tail(&self) -> String {
        let text = self.text();
        let start = text.len().saturating_sub(TAIL_BYTES);
        let start = (start..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
        text[start..].to_string()
    }

    /// Waits until `found` accepts the console text from byte `from` on, calling `alive` between looks
    /// (it fails when the VM is gone); gives up after `timeout` with the console's tail in the error.
    pub fn wait_until<T>(&self, from: usize, what: &str, timeout: Duration, alive: &mut dyn FnMut() -> anyhow::Result<()>, found: impl Fn(&str) -> Option<T>) -> anyhow::Result<T> {
        let start = Instant::now();
        loop {
            let text = self.text();
            if let Some(t) = text.get(from..).and_then(&found) {
                return Ok(t);
            }
            if let Err(e) = alive() {
                bail!("{e} while waiting for {what}; console ({}) ends:\n{}", self.log.display(), self.tail());
            }
            if start.elapsed() > timeout {
                bail!("no {what} on the console within {timeout:?}; console ({}) ends:\n{}", self.log.display(), self.tail());
            }
            std::thread::sleep(POLL);
        }
    }

    /// Types `command` into the shell on the console and returns (exit status, output) once it ends.
    ///
    /// The first command also turns the kernel's console messages down to emergencies first
    /// (`dmesg -n 1`; they still reach the kernel's log). The kernel writes to the same serial
    /// line whenever it has something to say, and what it says while a command prints becomes
    /// part of that command's output: e1000's link-up line once landed in a `dpkg -l` listing
    /// that a test compared between two VMs.
    pub fn run(&mut self, command: &str, timeout: Duration, alive: &mut dyn FnMut() -> anyhow::Result<()>) -> anyhow::Result<(i32, String)> {
        let quiet_kernel = if self.commands == 0 { "dmesg -n 1 2>/dev/null; " } else { "" };
        self.commands += 1;
        let n = self.commands;
        let from = self.text().len();
        // The shell echoes what is typed: split the marker there so that only its output matches.
        let line = format!("{quiet_kernel}{command}; echo \"__E\"\"ND{n}_$?\"\n");
        self.stream.write_all(line.as_bytes()).context("typing into the console")?;
        let marker = format!("__END{n}_");
        let output = self.wait_until(from, &format!("the end of `{command}`"), timeout, alive, |text| {
            let at = text.find(&marker)?;
            let status: String = text[at + marker.len()..].chars().take_while(char::is_ascii_digit).collect();
            let status = status.parse::<i32>().ok()?;
            // Output starts after the (last) echo of the command line: typed before the shell is up,
            // it shows once from the tty and once more after the prompt.
            let body = &text[..at];
            let echoed = format!("__E\"\"ND{n}_");
            let body = body.rfind(&echoed).map_or(body, |e| &body[e..]);
            let body = body.find('\n').map_or("", |i| &body[i + 1..]);
            Some((status, body.to_string()))
        })?;
        Ok(output)
    }
}
