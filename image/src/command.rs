//! Running the system tools that images are made with (debootstrap, apt, dnf, rpm, tar, useradd),
//! each named by what it was doing so that a failed build says which step failed and why.
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// How much of a failed tool's output an error keeps: the end, where the reason usually is.
const STDERR_TAIL_BYTES: usize = 4000;

/// A tool that could not be started or that failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program could not be started (not installed, not executable).
    #[error("{what}: cannot run {program}: {source}")]
    Spawn {
        /// The step.
        what: String,
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The program exited with an error.
    #[error("{what}: {program} failed ({status}):\n{output}")]
    Failed {
        /// The step.
        what: String,
        /// The program.
        program: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The end of its standard error (or output, when stderr was empty).
        output: String,
    },
}

/// Runs `cmd` to completion with no input and returns its standard output; `what` names the step.
pub fn run(what: &str, cmd: &mut Command) -> Result<Vec<u8>, CommandError> {
    run_with_input(what, cmd, None)
}

/// Runs `cmd` with `input` on its standard input (closed when `None`) and returns its standard output.
pub fn run_with_input(what: &str, cmd: &mut Command, input: Option<&[u8]>) -> Result<Vec<u8>, CommandError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    tracing::debug!(what, ?cmd, "running");
    let spawn_error = |source| CommandError::Spawn { what: what.to_owned(), program: program.clone(), source };
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(spawn_error)?;
    if let Some(bytes) = input {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin was piped");
        // A tool that exits without reading all of its input reports its own error below.
        let _ = stdin.write_all(bytes);
    }
    let out = child.wait_with_output().map_err(spawn_error)?;
    check(what, &program, out)
}

fn check(what: &str, program: &str, out: Output) -> Result<Vec<u8>, CommandError> {
    if out.status.success() {
        return Ok(out.stdout);
    }
    let text = if out.stderr.iter().all(u8::is_ascii_whitespace) { &out.stdout } else { &out.stderr };
    let start = text.len().saturating_sub(STDERR_TAIL_BYTES);
    Err(CommandError::Failed {
        what: what.to_owned(),
        program: program.to_owned(),
        status: out.status,
        output: String::from_utf8_lossy(&text[start..]).trim_end().to_owned(),
    })
}

/// A command that runs `argv` chrooted into `root`, with /proc, /sys and /dev mounted inside it for
/// the length of the command only: the mounts live in a private mount namespace of their own, so they
/// vanish with the command even when the build is killed, and never show on the host.
pub fn in_chroot(root: &Path, argv: &[&str]) -> Command {
    const SETUP: &str = r#"r="$1"; shift
mkdir -p "$r/proc" "$r/sys" "$r/dev"
mount -t proc proc "$r/proc" && mount -t sysfs sysfs "$r/sys" && mount --rbind /dev "$r/dev" || exit 125
exec chroot "$r" "$@""#;
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c", SETUP, "sh"]);
    cmd.arg(root).args(argv);
    cmd
}
