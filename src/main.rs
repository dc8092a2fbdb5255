//! The `fountain` binary.
use clap::Parser;
use std::process::ExitCode;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    #[command(flatten)]
    Control(control::cli::Command),
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Control(cmd) => control::cli::run(cmd),
    }
}
