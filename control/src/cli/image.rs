//! `fountain image add|list|versions|rollback`.
use std::process::ExitCode;

use super::ClientArgs;
use super::table::{Table, or_dash};
use crate::api::images::ImageDetail;
use crate::image::{Image, ImageVersion, NewVersion, Rollback, RollbackDone};
use crate::transfer::{ReceiverState, SessionState, SessionStatus};

/// Image subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Publish a new version of an image (creating the image on first use). The files must already be
    /// in the server's data directory under images/; the server checks that the manifest is this
    /// artifact's (size and root hash) before publishing.
    Add {
        /// Image name.
        name: String,
        /// Artifact path relative to <data>/images.
        #[arg(long)]
        artifact: String,
        /// Manifest path relative to <data>/images (a manifest or a ticket from `fountain send`);
        /// without it the server hashes the artifact and writes <artifact>.manifest next to it.
        #[arg(long)]
        manifest: Option<String>,
        /// Publish without making it the default version.
        #[arg(long)]
        no_default: bool,
    },
    /// List images.
    List,
    /// Remove an image, or one version of it, that no node is assigned (the files stay).
    Delete {
        /// Image name.
        name: String,
        /// Only this version.
        #[arg(long)]
        version: Option<u32>,
    },
    /// List the versions of an image.
    Versions {
        /// Image name.
        name: String,
    },
    /// Show transfer sessions: gathering, running and finished, with each node's state.
    Transfers,
    /// Build an image from distribution media with a role (on the appliance).
    Build(super::image_build::BuildArgs),
    /// Point the image's default (or one node) at an earlier version.
    Rollback {
        /// Image name.
        name: String,
        /// Version to go back to (default: the one before the current).
        #[arg(long)]
        to: Option<u32>,
        /// Pin only this node.
        #[arg(long)]
        node: Option<String>,
    },
    /// The image store: stored versions, diff, verify, gc, serve.
    #[command(flatten)]
    Store(super::image_store::StoreCommand),
}

/// Runs an image subcommand.
pub fn run(args: &ClientArgs, command: ImageCommand) -> anyhow::Result<ExitCode> {
    let command = match command {
        ImageCommand::Build(build) => return super::image_build::run(build),
        other => other,
    };
    let client = args.client()?;
    match command {
        ImageCommand::Add { name, artifact, manifest, no_default } => {
            let body = NewVersion { artifact, manifest, make_default: !no_default };
            let v: ImageVersion = client.send("POST", &format!("/api/v1/images/{name}/versions"), &body)?;
            args.print(&v, |v| versions_table(std::slice::from_ref(v)))?;
        }
        ImageCommand::Delete { name, version } => {
            let path = version.map_or_else(|| format!("/api/v1/images/{name}"), |v| format!("/api/v1/images/{name}/versions/{v}"));
            client.delete(&path)?;
            eprintln!("removed {name}{}", version.map(|v| format!("@{v}")).unwrap_or_default());
        }
        ImageCommand::List => {
            let images: Vec<Image> = client.get("/api/v1/images")?;
            args.print(&images, |images| {
                let mut t = Table::new(&["NAME", "DEFAULT", "LATEST"]);
                for i in images {
                    t.row(vec![i.name.clone(), or_dash(i.default_version), or_dash(i.latest_version)]);
                }
                t
            })?;
        }
        ImageCommand::Versions { name } => {
            let detail: ImageDetail = client.get(&format!("/api/v1/images/{name}"))?;
            args.print(&detail, |d| versions_table(&d.versions))?;
        }
        ImageCommand::Transfers => {
            let sessions: Vec<SessionStatus> = client.get("/api/v1/transfers")?;
            args.print(&sessions, |sessions| {
                let mut t = Table::new(&["SESSION", "IMAGE", "DELIVERY", "STATE", "NODE", "NODE STATE"]);
                for s in sessions {
                    for (node, r) in &s.receivers {
                        let image = format!("{}@{}", s.image, s.version);
                        t.row(vec![s.id.to_string(), image, or_dash(s.delivery), session_state(&s.state), node.clone(), receiver_state(r)]);
                    }
                }
                t
            })?;
        }
        ImageCommand::Build(_) => unreachable!("handled before the client is made"),
        ImageCommand::Rollback { name, to, node } => {
            let done: RollbackDone = client.send("POST", &format!("/api/v1/images/{name}/rollback"), &Rollback { to, node })?;
            args.print(&done, |d| {
                Table::fields(vec![("image", d.image.clone()), ("node", or_dash(d.node.as_ref())), ("from", or_dash(d.from)), ("to", d.to.to_string())])
            })?;
        }
        ImageCommand::Store(command) => return super::image_store::run(args, command),
    }
    Ok(ExitCode::SUCCESS)
}

fn versions_table(versions: &[ImageVersion]) -> Table {
    let mut t = Table::new(&["IMAGE", "VERSION", "ARTIFACT", "BYTES", "MANIFEST BLAKE3"]);
    for v in versions {
        t.row(vec![v.image.clone(), v.version.to_string(), v.artifact.clone(), v.artifact_bytes.to_string(), v.manifest_blake3[..16].to_string()]);
    }
    t
}

fn session_state(s: &SessionState) -> String {
    match s {
        SessionState::Gathering => "gathering".into(),
        SessionState::Running => "running".into(),
        SessionState::Finished => "finished".into(),
        SessionState::Failed { reason } => format!("failed: {reason}"),
    }
}

fn receiver_state(r: &ReceiverState) -> String {
    match r {
        ReceiverState::Assigned => "assigned".into(),
        ReceiverState::Registered => "registered".into(),
        ReceiverState::Receiving { blocks_done, blocks_total } => format!("receiving {blocks_done}/{blocks_total}"),
        ReceiverState::Done => "done".into(),
        ReceiverState::Failed { reason } => format!("failed: {reason}"),
    }
}
