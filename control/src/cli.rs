//! Control-plane subcommands of the `fountain` binary.
use std::process::ExitCode;

/// Control-plane subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the control-plane service.
    Serve,
}

/// Runs one control-plane subcommand.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => anyhow::bail!("not built yet"),
    }
}
