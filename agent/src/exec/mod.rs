//! The thin executor: runs a plan's steps as commands, one at a time, logging each with its output,
//! and the probe that reads the disks' state for the planner. On a failed step it clears the partition
//! tables of the disks it was changing, so that a node is left unbootable rather than half-installed
//! (coreos-installer's habit), and returns the first error; cleanup problems are added to it, never
//! put in its place.
mod activate;
mod probe;
mod runner;

pub use activate::activate;
pub use probe::probe;
pub use runner::{CommandOutput, Logged, Runner, SystemRunner};

use crate::plan::{Plan, PlanError, Step};

/// Output kept in an error, from the end (where tools print why they failed).
const ERROR_OUTPUT_MAX_BYTES: usize = 4096;

/// Why laying out the disks failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Refused before any write.
    #[error("{0}")]
    Plan(#[from] PlanError),
    /// Reading the disks' state failed (nothing was written).
    #[error("probing the disks: `{command}` failed: {output}")]
    Probe {
        /// The command.
        command: String,
        /// What it printed, or why it could not start.
        output: String,
    },
    /// A step failed; the partition tables of the disks being changed were then cleared.
    #[error("{0}")]
    Step(Box<StepFailure>),
}

/// A failed step, what it printed, and what the cleanup after it did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("step {number} ({step}) failed: `{command}`: {output}; {}", cleanup_summary(.cleared, .cleanup_errors))]
pub struct StepFailure {
    /// Step number, from 1.
    pub number: usize,
    /// What the step does.
    pub step: String,
    /// The command.
    pub command: String,
    /// Its exit status and output (the end of it), or why it could not start.
    pub output: String,
    /// Disks whose partition tables were cleared afterwards.
    pub cleared: Vec<String>,
    /// Cleanup commands that failed too.
    pub cleanup_errors: Vec<String>,
}

fn cleanup_summary(cleared: &[String], errors: &[String]) -> String {
    let mut s = if cleared.is_empty() { "no disk had been changed".to_string() } else { format!("partition tables cleared on {}", cleared.join(", ")) };
    if !errors.is_empty() {
        s += &format!("; cleanup also failed: {}", errors.join("; "));
    }
    s
}

/// The end of `s`, at most `max` bytes, on a character boundary.
fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Runs one command through `runner`, recording it in `log`; `Err` only when it could not start.
pub(crate) fn run_logged(runner: &mut dyn Runner, argv: &[String], log: &mut Vec<Logged>) -> Result<CommandOutput, String> {
    let command = argv.join(" ");
    match runner.run(argv) {
        Ok(out) => {
            log.push(Logged { command, ok: out.success, output: out.combined() });
            Ok(out)
        }
        Err(e) => {
            let why = format!("could not run it: {e}");
            log.push(Logged { command, ok: false, output: why.clone() });
            Err(why)
        }
    }
}

/// Like [`run_logged`], but a failed command is an `Err` too, with its status and output.
fn run_checked(runner: &mut dyn Runner, argv: &[String], log: &mut Vec<Logged>) -> Result<CommandOutput, String> {
    let out = run_logged(runner, argv, log)?;
    if out.success { Ok(out) } else { Err(failure(&out)) }
}

/// A failed command's status and the end of its output.
pub(crate) fn failure(out: &CommandOutput) -> String {
    format!("{}: {}", out.status_text(), tail(out.combined().trim(), ERROR_OUTPUT_MAX_BYTES))
}

/// Runs every step of `plan` in order. On a failure after anything was written, clears the partition
/// tables of the plan's disks (only ever those: protected disks are never in a plan).
pub fn execute(plan: &Plan, runner: &mut dyn Runner, log: &mut Vec<Logged>) -> Result<(), ApplyError> {
    let mut written = false;
    for (i, step) in plan.steps.iter().enumerate() {
        written |= step.destructive();
        let argv = step.argv();
        if let Err(output) = run_checked(runner, &argv, log) {
            let (cleared, cleanup_errors) = if written { clear_tables(plan, runner, log) } else { (Vec::new(), Vec::new()) };
            return Err(ApplyError::Step(Box::new(StepFailure { number: i + 1, step: step.to_string(), command: argv.join(" "), output, cleared, cleanup_errors })));
        }
    }
    Ok(())
}

/// Destroys the partition tables of the plan's disks; returns the disks cleared and the failures.
fn clear_tables(plan: &Plan, runner: &mut dyn Runner, log: &mut Vec<Logged>) -> (Vec<String>, Vec<String>) {
    let mut cleared = Vec::new();
    let mut errors = Vec::new();
    for disk in &plan.disk_paths {
        let argv = Step::ZapTable { disk: disk.clone() }.argv();
        match run_checked(runner, &argv, log) {
            Ok(_) => cleared.push(disk.clone()),
            Err(why) => errors.push(format!("`{}`: {why}", argv.join(" "))),
        }
    }
    (cleared, errors)
}

#[cfg(test)]
mod tests;
