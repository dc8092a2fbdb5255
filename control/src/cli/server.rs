//! `fountain server add|list|set|delete`.
use std::process::ExitCode;

use super::ClientArgs;
use super::table::Table;
use crate::stateless::{NewServer, ServerPatch, StatelessServer};

/// Stateless-server subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ServerCommand {
    /// Add a stateless server.
    Add {
        /// Base URL the agent loads images from.
        url: String,
        /// Relative capacity.
        #[arg(long, default_value_t = 1)]
        weight: u32,
        /// Start with this health instead of probing the server first.
        #[arg(long)]
        healthy: Option<bool>,
    },
    /// List stateless servers with their loads.
    List,
    /// Remove a server; its nodes get another at their next boot.
    Delete {
        /// Server id (see `server list`).
        id: i64,
    },
    /// Change a server's weight or health.
    Set {
        /// Server id (see `server list`).
        id: i64,
        /// New weight.
        #[arg(long)]
        weight: Option<u32>,
        /// New health.
        #[arg(long)]
        healthy: Option<bool>,
    },
}

/// Runs a server subcommand.
pub fn run(args: &ClientArgs, command: ServerCommand) -> anyhow::Result<ExitCode> {
    let client = args.client()?;
    let servers: Vec<StatelessServer> = match command {
        ServerCommand::Add { url, weight, healthy } => vec![client.send("POST", "/api/v1/servers", &NewServer { url, weight, healthy })?],
        ServerCommand::Delete { id } => {
            client.delete(&format!("/api/v1/servers/{id}"))?;
            eprintln!("server {id} removed");
            return Ok(ExitCode::SUCCESS);
        }
        ServerCommand::List => client.get("/api/v1/servers")?,
        ServerCommand::Set { id, weight, healthy } => vec![client.send("PATCH", &format!("/api/v1/servers/{id}"), &ServerPatch { weight, healthy })?],
    };
    args.print(&servers, |servers| {
        let mut t = Table::new(&["ID", "URL", "WEIGHT", "HEALTHY", "LOAD"]);
        for s in servers {
            t.row(vec![s.id.to_string(), s.url.clone(), s.weight.to_string(), s.healthy.to_string(), s.load.to_string()]);
        }
        t
    })?;
    Ok(ExitCode::SUCCESS)
}
