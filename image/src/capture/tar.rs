//! One filesystem as a stream: GNU tar on both ends, in POSIX (pax) format, which carries what an OS
//! tree needs and a simpler stream would lose: xattrs of every namespace (file capabilities
//! included), POSIX ACLs, SELinux labels, hard links, sparse files (holes found with SEEK_HOLE and
//! recreated on unpack), numeric owners. The sending side stays on the one filesystem; the receiving
//! side refuses members that climb out of the target and extracts symlinks last, so that an archive
//! cannot write through a link it planted.
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

use super::plan::Filesystem;

/// Options common to both ends.
const COMMON: &[&str] = &["--format=posix", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls", "--selinux"];

/// How many of tar's last message lines an error or warning keeps.
const MESSAGE_LINES: usize = 20;

/// Why streaming a filesystem failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// tar could not be started, or the stream broke.
    #[error("{what}: {source}")]
    Io {
        /// The step.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// tar failed.
    #[error("{what}: tar failed ({status}): {stderr}")]
    Tar {
        /// The step.
        what: String,
        /// tar's exit status.
        status: ExitStatus,
        /// The end of tar's messages.
        stderr: String,
    },
}

/// One filesystem being read by tar: read the archive from it, then [`Sending::finish`].
pub struct Sending {
    what: String,
    mount_point: std::path::PathBuf,
    child: Child,
    stdout: std::process::ChildStdout,
    messages: JoinHandle<String>,
}

/// Starts streaming `fs` as a tar archive.
pub fn start_send(fs: &Filesystem) -> Result<Sending, StreamError> {
    let what = format!("reading {}", fs.mount_point.display());
    let mut cmd = Command::new("tar");
    cmd.args(["--create", "--file=-", "--one-file-system", "--sparse", "--ignore-failed-read"]).args(COMMON);
    cmd.arg("--directory").arg(&fs.path);
    // These two apply to the --exclude options after them.
    cmd.args(["--anchored", "--no-wildcards-match-slash"]);
    // Patterns are anchored at the start of member names, which are "./..." here.
    for dir in &fs.exclude_contents {
        cmd.arg(format!("--exclude=./{}/*", escape_glob(dir)));
    }
    for path in &fs.exclude {
        cmd.arg(format!("--exclude=./{}", escape_glob(path)));
    }
    cmd.arg(".");
    let (mut child, messages) = spawn(&what, cmd.stdout(Stdio::piped()))?;
    let stdout = child.stdout.take().expect("piped");
    Ok(Sending { what, mount_point: fs.mount_point.clone(), child, stdout, messages })
}

impl Read for Sending {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.stdout.read(buf)
    }
}

impl Sending {
    /// Waits for tar once the archive has been read (or abandoned). Files that changed while being
    /// read (a live node) are kept as read, with tar's warning logged.
    pub fn finish(self) -> Result<(), StreamError> {
        drop(self.stdout);
        let (status, stderr) = finish(&self.what, self.child, self.messages)?;
        // tar exits 1 when a file changed while it was read: expected on a running node.
        match status.code() {
            Some(0) => Ok(()),
            Some(1) => {
                tracing::warn!(mount = %self.mount_point.display(), "files changed while captured: {stderr}");
                Ok(())
            }
            _ => Err(StreamError::Tar { what: self.what, status, stderr }),
        }
    }
}

/// Streams `fs` as a tar archive into `out`; returns the bytes written.
pub fn send(fs: &Filesystem, out: &mut dyn Write) -> Result<u64, StreamError> {
    let mut sending = start_send(fs)?;
    let copied = std::io::copy(&mut sending, out);
    let what = sending.what.clone();
    sending.finish()?;
    copied.map_err(|source| StreamError::Io { what, source })
}

/// Unpacks a tar stream made by [`send`] into `dest` (which must exist), owners and modes as recorded.
pub fn receive(dest: &Path, input: &mut dyn Read) -> Result<(), StreamError> {
    let what = format!("unpacking into {}", dest.display());
    let mut cmd = Command::new("tar");
    cmd.args(["--extract", "--file=-", "--same-owner", "--preserve-permissions"]).args(COMMON);
    cmd.arg("--directory").arg(dest);
    let (mut child, messages) = spawn(&what, cmd.stdin(Stdio::piped()))?;
    let mut stdin = child.stdin.take().expect("piped");
    let copied = std::io::copy(input, &mut stdin);
    drop(stdin);
    let (status, stderr) = finish(&what, child, messages)?;
    copied.map_err(|source| StreamError::Io { what: what.clone(), source })?;
    if status.success() { Ok(()) } else { Err(StreamError::Tar { what, status, stderr }) }
}

/// Starts tar with its messages read on a thread of their own, so that a tar with much to say cannot
/// block on a full pipe while the stream is being copied.
fn spawn(what: &str, cmd: &mut Command) -> Result<(Child, JoinHandle<String>), StreamError> {
    let mut child = cmd.stderr(Stdio::piped()).spawn().map_err(|source| StreamError::Io { what: what.to_owned(), source })?;
    let mut stderr = child.stderr.take().expect("piped");
    let messages = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    Ok((child, messages))
}

/// Waits for tar; returns its status and the last lines of its messages.
fn finish(what: &str, mut child: Child, messages: JoinHandle<String>) -> Result<(ExitStatus, String), StreamError> {
    let status = child.wait().map_err(|source| StreamError::Io { what: what.to_owned(), source })?;
    let text = messages.join().unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    Ok((status, lines[lines.len().saturating_sub(MESSAGE_LINES)..].join("\n")))
}

/// tar exclude patterns are globs: a path with `*`, `?` or `[` in its name must match only itself.
fn escape_glob(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        if "*?[]\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
