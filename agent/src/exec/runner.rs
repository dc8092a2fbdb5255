//! How commands are run: [`SystemRunner`] spawns them; unit tests substitute a recording runner to
//! check command sequences without disks.
use std::process::Command;

/// What a finished command returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exited with status 0.
    pub success: bool,
    /// Exit status, `None` when killed by a signal.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CommandOutput {
    /// A successful run that printed `stdout`.
    pub fn ok(stdout: &str) -> Self {
        CommandOutput { success: true, code: Some(0), stdout: stdout.to_string(), stderr: String::new() }
    }

    /// A failed run with exit status `code` that printed `stderr`.
    pub fn failed(code: i32, stderr: &str) -> Self {
        CommandOutput { success: false, code: Some(code), stdout: String::new(), stderr: stderr.to_string() }
    }

    /// Standard output followed by standard error.
    pub fn combined(&self) -> String {
        match (self.stdout.is_empty(), self.stderr.is_empty()) {
            (_, true) => self.stdout.clone(),
            (true, false) => self.stderr.clone(),
            (false, false) => format!("{}\n{}", self.stdout.trim_end(), self.stderr),
        }
    }

    /// "exit status 1" or "killed by a signal".
    pub fn status_text(&self) -> String {
        self.code.map_or_else(|| "killed by a signal".to_string(), |c| format!("exit status {c}"))
    }
}

/// One command run, as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// The command line.
    pub command: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// Its output (stdout then stderr), or why it could not start.
    pub output: String,
}

/// Runs a command to completion.
pub trait Runner {
    /// Runs `argv` (program first); `Err` only when it could not be started.
    fn run(&mut self, argv: &[String]) -> std::io::Result<CommandOutput>;
}

/// Runs commands on this machine, logging each command and its output.
#[derive(Debug, Default)]
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&mut self, argv: &[String]) -> std::io::Result<CommandOutput> {
        let (program, args) = argv.split_first().ok_or_else(|| std::io::Error::other("empty command"))?;
        tracing::info!(command = %argv.join(" "), "running");
        let out = Command::new(program).args(args).output()?;
        let out = CommandOutput {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        tracing::info!(command = %argv.join(" "), status = %out.status_text(), output = %out.combined().trim_end(), "finished");
        Ok(out)
    }
}
