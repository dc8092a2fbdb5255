//! `fountain layout add|show|list|validate|delete`.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::ClientArgs;
use super::table::Table;
use crate::layout;

/// Layout subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum LayoutCommand {
    /// Upload a layout (checked by the server before it is stored).
    Add {
        /// Layout name.
        name: String,
        /// YAML file.
        file: PathBuf,
        /// Overwrite an existing layout of that name.
        #[arg(long)]
        replace: bool,
    },
    /// Print a stored layout.
    Show {
        /// Layout name.
        name: String,
    },
    /// List stored layouts.
    List,
    /// Remove a layout no node is assigned.
    Delete {
        /// Layout name.
        name: String,
    },
    /// Check a layout file locally, without a server; exits 1 and lists every problem when invalid.
    Validate {
        /// YAML file.
        file: PathBuf,
    },
}

fn read(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

/// Runs a layout subcommand.
pub fn run(args: &ClientArgs, command: LayoutCommand) -> anyhow::Result<ExitCode> {
    match command {
        LayoutCommand::Add { name, file, replace } => {
            args.client()?.send_text("PUT", &format!("/api/v1/layouts/{name}?replace={replace}"), &read(&file)?)?;
            eprintln!("layout {name} stored");
        }
        LayoutCommand::Delete { name } => {
            args.client()?.delete(&format!("/api/v1/layouts/{name}"))?;
            eprintln!("layout {name} removed");
        }
        LayoutCommand::Show { name } => print!("{}", args.client()?.get_text(&format!("/api/v1/layouts/{name}"))?),
        LayoutCommand::List => {
            let names: Vec<String> = args.client()?.get("/api/v1/layouts")?;
            args.print(&names, |names| {
                let mut t = Table::new(&["NAME"]);
                names.iter().for_each(|n| t.row(vec![n.clone()]));
                t
            })?;
        }
        LayoutCommand::Validate { file } => {
            let problems: Vec<String> = match layout::parse(&read(&file)?) {
                Ok(_) => Vec::new(),
                Err(errors) => errors.iter().map(ToString::to_string).collect(),
            };
            if args.json {
                println!("{}", serde_json::json!({ "valid": problems.is_empty(), "errors": problems }));
            } else if problems.is_empty() {
                println!("{}: valid", file.display());
            } else {
                println!("{}: invalid", file.display());
                problems.iter().for_each(|p| println!("  - {p}"));
            }
            return Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
    }
    Ok(ExitCode::SUCCESS)
}
