//! `fountain agent`: the node agent, run by the agent initramfs's `/init`.
use std::path::PathBuf;
use std::process::ExitCode;

use agent::layout::Mode;
use agent::run::{self, Sources};

/// Where the agent reads its orders and hardware.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Kernel command line to read the `fountain.*` arguments from.
    #[arg(long, default_value = "/proc/cmdline")]
    cmdline: PathBuf,
    /// Re-image mode: print the plan for this node's disks and stop, writing nothing (run it from the
    /// initramfs shell to see what a layout would do to this machine).
    #[arg(long)]
    dry_run: bool,
}

/// Runs the agent; its errors are already on the console and, where it could, sent to the control plane.
pub fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let src = Sources { cmdline: &args.cmdline, sys: "/sys".as_ref(), proc: "/proc".as_ref() };
    let mode = if args.dry_run { Mode::DryRun } else { Mode::Apply };
    match run::run(&src, mode) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            run::say(&format!("failed: {e}"));
            Ok(ExitCode::FAILURE)
        }
    }
}
