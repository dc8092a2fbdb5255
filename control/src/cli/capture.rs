//! `fountain capture`: streams this node's local filesystems, one at a time, to the control plane,
//! which scrubs the node's identity from them and describes the result.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::ClientArgs;
use super::table::Table;
use crate::capture::{capture_node, discover};

/// Arguments of `fountain capture`.
#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    /// Image the capture becomes a version of.
    #[arg(long)]
    image: String,
    /// This node's name (default: its host name).
    #[arg(long)]
    node: Option<String>,
    /// Leave this path (as the node sees it) out; repeatable.
    #[arg(long = "exclude")]
    excludes: Vec<PathBuf>,
    /// Read this node's disk layout (lsblk: partitions, MD arrays, LVM) and send it with the capture.
    #[arg(long)]
    layout: bool,
    /// Send this layout YAML instead of reading the node's.
    #[arg(long, conflicts_with = "layout")]
    layout_file: Option<PathBuf>,
    /// The node's root (another folder when capturing a system mounted there).
    #[arg(long, default_value = "/")]
    root: PathBuf,
}

/// Runs `fountain capture`.
pub fn run(client_args: &ClientArgs, args: CaptureArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client()?;
    let layout = match (&args.layout_file, args.layout) {
        (Some(p), _) => Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?),
        (None, true) => Some(serde_norway::to_string(&discover::discover()?)?),
        (None, false) => None,
    };
    let node = match args.node {
        Some(n) => n,
        None => std::fs::read_to_string("/proc/sys/kernel/hostname").context("reading the host name")?.trim().to_owned(),
    };
    let plan = ::image::capture::plan_node(&args.root, &args.excludes).context("reading this node's mounts")?;
    for fs in &plan {
        eprintln!("capturing {} ({})", fs.mount_point.display(), fs.fs_type);
    }
    let done = capture_node(&client, &args.image, &node, &plan, layout)?;
    client_args.print(&done, |d| {
        Table::fields(vec![
            ("capture", d.id.clone()),
            ("image", d.image.clone()),
            ("version", d.version.to_string()),
            ("bytes", d.artifact_bytes.to_string()),
            ("new in the store", d.new_bytes.to_string()),
            ("release", d.meta.release.clone()),
            ("kernels", d.meta.kernels.join(" ")),
            ("packages", d.meta.packages.len().to_string()),
            ("layout", if d.layout.is_some() { "checked".into() } else { "-".into() }),
        ])
    })?;
    Ok(ExitCode::SUCCESS)
}
