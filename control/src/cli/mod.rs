//! Control-plane subcommands of the `fountain` binary: `serve`, and `node`, `image`, `layout`,
//! `server`, which talk to a running server through its API. Tables for people by default, `--json`
//! for scripts.
mod capture;
mod image;
mod image_build;
mod image_server;
mod image_store;
mod iso;
mod layout;
mod node;
mod serve;
mod server;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::auth::{ADMIN_TOKEN_FILE, Secret};
use crate::client::Client;

/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "fountain-data";
/// Default listen address, and the address the CLI talks to.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Control-plane subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the control plane (HTTP API, boot scripts, transfer sessions).
    Serve(serve::ServeArgs),
    /// Run an image server: carry verified copies of published versions for stateless boots.
    ImageServer(image_server::ImageServerArgs),
    /// Manage nodes: add, set, list, show, reimage, delete.
    Node {
        /// How to reach the server.
        #[command(flatten)]
        client: ClientArgs,
        /// What to do.
        #[command(subcommand)]
        command: node::NodeCommand,
    },
    /// Manage images: add versions, list, roll back, delete, watch transfers.
    Image {
        /// How to reach the server.
        #[command(flatten)]
        client: ClientArgs,
        /// What to do.
        #[command(subcommand)]
        command: image::ImageCommand,
    },
    /// Distribution ISOs on the appliance: add (streamed upload), list.
    Iso {
        /// How to reach the server.
        #[command(flatten)]
        client: ClientArgs,
        /// What to do.
        #[command(subcommand)]
        command: iso::IsoCommand,
    },
    /// Manage disk layouts: add, show, validate, delete.
    Layout {
        /// How to reach the server.
        #[command(flatten)]
        client: ClientArgs,
        /// What to do.
        #[command(subcommand)]
        command: layout::LayoutCommand,
    },
    /// Capture this running node as a new version of an image (run on the node).
    Capture {
        /// How to reach the server.
        #[command(flatten)]
        client: ClientArgs,
        /// What to capture.
        #[command(flatten)]
        args: capture::CaptureArgs,
    },
    /// Manage stateless servers: add, list, set, delete.
    Server {
        /// How to reach the server.
        #[command(flatten)]
        client: ClientArgs,
        /// What to do.
        #[command(subcommand)]
        command: server::ServerCommand,
    },
}

/// How to reach the control plane.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Control-plane URL.
    #[arg(long, global = true, env = "FOUNTAIN_SERVER", default_value_t = format!("http://{DEFAULT_LISTEN}"))]
    server: String,
    /// File holding the admin token (FOUNTAIN_TOKEN, when set, wins).
    #[arg(long, global = true, env = "FOUNTAIN_TOKEN_FILE", default_value_os_t = PathBuf::from(DEFAULT_DATA_DIR).join(ADMIN_TOKEN_FILE))]
    token_file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

impl ClientArgs {
    fn client(&self) -> anyhow::Result<Client> {
        let token = match std::env::var("FOUNTAIN_TOKEN") {
            Ok(t) if !t.is_empty() => t,
            _ => std::fs::read_to_string(&self.token_file)
                .with_context(|| format!("reading the admin token from {} (set --token-file or FOUNTAIN_TOKEN)", self.token_file.display()))?
                .trim()
                .to_string(),
        };
        Ok(Client::new(&self.server, Secret::new(token)))
    }

    /// Prints `value` as JSON, or as the table `table` makes of it.
    fn print<T: serde::Serialize>(&self, value: &T, table: impl FnOnce(&T) -> table::Table) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            print!("{}", table(value));
        }
        Ok(())
    }
}

/// Runs one control-plane subcommand.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve::run(args),
        Command::ImageServer(args) => image_server::run(args),
        Command::Node { client, command } => node::run(&client, command),
        Command::Image { client, command } => image::run(&client, command),
        Command::Iso { client, command } => iso::run(&client, command),
        Command::Layout { client, command } => layout::run(&client, command),
        Command::Server { client, command } => server::run(&client, command),
        Command::Capture { client, args } => capture::run(&client, args),
    }
}
