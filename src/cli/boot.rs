//! `fountain boot build`: the agent kernel and initramfs the control plane serves to booting nodes.
use std::path::PathBuf;
use std::process::ExitCode;

use agent::bootfiles::{self, BuildConfig};
use anyhow::Context;

/// Boot-file commands.
#[derive(Debug, clap::Args)]
pub struct BootArgs {
    #[command(subcommand)]
    command: BootCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BootCommand {
    /// Build `vmlinuz` and `initrd.img` from the host kernel, its tools and this binary.
    Build {
        /// Output folder (the control plane serves `<data dir>/boot`).
        #[arg(long, default_value = "fountain-data/boot")]
        out: PathBuf,
        /// zstd level of the initramfs (1-19).
        #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u32).range(1..=19))]
        zstd_level: u32,
    },
}

/// Runs a boot-file command.
pub fn run(args: BootArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        BootCommand::Build { out, zstd_level } => {
            let agent_binary = std::env::current_exe().context("finding this binary")?;
            // Reproducible builds take their timestamp from SOURCE_DATE_EPOCH, by convention.
            let mtime = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
            let config = BuildConfig { root: PathBuf::from("/"), agent_binary, out_dir: out, zstd_level, mtime };
            let r = bootfiles::build(&config)?;
            println!(
                "boot files for kernel {}: {} ({:.1} MiB), {} ({:.1} MiB, {:.1} MiB unpacked, {} entries, {} modules) in {:.1} s",
                r.kernel_version,
                r.kernel_path.display(),
                r.kernel_bytes as f64 / 1048576.0,
                r.initrd_path.display(),
                r.initrd_bytes as f64 / 1048576.0,
                r.initrd_raw_bytes as f64 / 1048576.0,
                r.entries,
                r.modules,
                r.elapsed.as_secs_f64(),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
