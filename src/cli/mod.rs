//! Command-line parsing and dispatch.

pub mod agent;
pub mod boot;
pub mod demo;
pub mod fetch;
pub mod progress;
pub mod recv;
pub mod send;
pub mod sim;
pub mod units;

use std::process::ExitCode;

/// fountain: RaptorQ-coded multicast distribution of OS images, and the control plane around it.
#[derive(Debug, clap::Parser)]
#[command(version, about)]
pub struct Cli {
    /// How log lines are written to stderr: text (coloured only on a terminal) or one JSON object
    /// per line. `FOUNTAIN_LOG` sets the level (default warn; `FOUNTAIN_LOG=info` for the control
    /// plane's state changes).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Send a file to every receiver of a multicast group.
    Send(send::SendArgs),
    /// Receive a file (or block device image) from a sender.
    Recv(recv::RecvArgs),
    /// Fetch an image version from the control plane over plain HTTP, verifying every block.
    Fetch(fetch::FetchArgs),
    /// Run one sender and N receivers on loopback with injected loss, and verify the copies.
    Demo(demo::DemoArgs),
    /// Run a netsim plan: fountain and baselines on a simulated network of many nodes.
    Sim(sim::SimArgs),
    /// Agent boot files: build the kernel and initramfs nodes PXE-boot into.
    Boot(boot::BootArgs),
    /// The node agent (runs in the agent initramfs): report hardware, lay out disks.
    Agent(agent::AgentArgs),
    #[command(flatten)]
    Control(control::cli::Command),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Send(args) => send::run(args),
        Command::Recv(args) => recv::run(args),
        Command::Fetch(args) => fetch::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Boot(args) => boot::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Control(command) => control::cli::run(command),
    }
}
