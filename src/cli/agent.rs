//! `fountain agent`: the node agent, run by the agent initramfs's `/init`.
use std::path::PathBuf;
use std::process::ExitCode;

use agent::run::{self, Sources};

/// Where the agent reads its orders and hardware.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Kernel command line to read the `fountain.*` arguments from.
    #[arg(long, default_value = "/proc/cmdline")]
    cmdline: PathBuf,
}

/// Runs the agent; its errors are already on the console and, where it could, sent to the control plane.
pub fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let src = Sources { cmdline: &args.cmdline, sys: "/sys".as_ref(), proc: "/proc".as_ref() };
    match run::run(&src) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            run::say(&format!("failed: {e}"));
            Ok(ExitCode::FAILURE)
        }
    }
}
