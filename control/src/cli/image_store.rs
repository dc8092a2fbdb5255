//! `fountain image stored|diff|verify|gc|unstore|serve`: the appliance's image store, through the API.
use std::process::ExitCode;

use ::image::store::{Diff, Problem, VerifyReport, parse_label};

use super::ClientArgs;
use super::table::Table;
use crate::api::image_store::{ServeStored, StoreGc, StoredVersion};
use crate::image::ImageVersion;

/// Image store subcommands (flattened into `fountain image`).
#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// List the versions in the image store, with the space each holds alone.
    Stored {
        /// Only this image.
        name: Option<String>,
    },
    /// Compare two stored versions: metadata, packages, bytes shared.
    Diff {
        /// NAME@VERSION.
        a: String,
        /// NAME@VERSION.
        b: String,
    },
    /// Re-hash every chunk in the store and check every version's chunks are there.
    Verify,
    /// Drop chunks no stored version holds, leftovers of interrupted writes, and served copies no
    /// image version refers to.
    Gc,
    /// Remove a version from the image store (its chunks go at the next gc; a served copy stays).
    Unstore {
        /// NAME@VERSION.
        version: String,
    },
    /// Serve a stored version to nodes: materialise its artifact and publish it as the image's next
    /// version.
    Serve {
        /// NAME@VERSION in the store.
        version: String,
        /// Publish without making it the default version.
        #[arg(long)]
        no_default: bool,
    },
}

/// Runs an image store subcommand; the exit status is 1 when `verify` finds problems.
pub fn run(args: &ClientArgs, command: StoreCommand) -> anyhow::Result<ExitCode> {
    let client = args.client()?;
    match command {
        StoreCommand::Stored { name } => {
            let path = match &name {
                Some(n) => format!("/api/v1/store/versions?name={n}"),
                None => "/api/v1/store/versions".into(),
            };
            let versions: Vec<StoredVersion> = client.get(&path)?;
            args.print(&versions, |vs| {
                let mut t = Table::new(&["VERSION", "FAMILY", "RELEASE", "ROLE", "PACKAGES", "BYTES", "ALONE BYTES"]);
                for v in vs {
                    t.row(vec![
                        v.label.clone(),
                        v.meta.family.as_str().to_owned(),
                        v.meta.release.clone(),
                        v.meta.role.clone().unwrap_or_else(|| "-".into()),
                        v.meta.packages.len().to_string(),
                        v.artifact_bytes.to_string(),
                        v.exclusive_bytes.to_string(),
                    ]);
                }
                t
            })?;
        }
        StoreCommand::Diff { a, b } => {
            let d: Diff = client.get(&format!("/api/v1/store/diff?a={a}&b={b}"))?;
            args.print(&d, diff_table)?;
        }
        StoreCommand::Verify => {
            let r: VerifyReport = client.send("POST", "/api/v1/store/verify", &serde_json::json!({}))?;
            args.print(&r, verify_table)?;
            if !r.is_clean() {
                return Ok(ExitCode::from(1));
            }
        }
        StoreCommand::Gc => {
            let r: StoreGc = client.send("POST", "/api/v1/store/gc", &serde_json::json!({}))?;
            args.print(&r, |r| {
                Table::fields(vec![
                    ("chunks removed", r.store.chunks_removed.to_string()),
                    ("bytes freed", r.store.bytes_freed.to_string()),
                    ("temp files removed", r.store.temp_files_removed.to_string()),
                    ("served copies removed", r.served.served_copies_removed.to_string()),
                    ("served bytes freed", r.served.served_bytes_freed.to_string()),
                ])
            })?;
        }
        StoreCommand::Unstore { version } => {
            let (name, v) = parse_label(&version)?;
            client.delete(&format!("/api/v1/store/versions/{name}/{v}"))?;
            if !args.json {
                println!("removed {version} from the store; `fountain image gc` frees its chunks");
            }
        }
        StoreCommand::Serve { version, no_default } => {
            let v: ImageVersion = client.send("POST", "/api/v1/store/serve", &ServeStored { version, make_default: !no_default })?;
            args.print(&v, |v| {
                Table::fields(vec![("image", v.image.clone()), ("version", v.version.to_string()), ("artifact", v.artifact.clone()), ("bytes", v.artifact_bytes.to_string())])
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn diff_table(d: &Diff) -> Table {
    let mut t = Table::new(&["", "A", "B"]);
    t.row(vec!["version".into(), d.a.clone(), d.b.clone()]);
    t.row(vec!["bytes".into(), d.a_bytes.to_string(), d.b_bytes.to_string()]);
    t.row(vec!["shared bytes".into(), d.shared_bytes.to_string(), d.shared_bytes.to_string()]);
    for m in &d.meta {
        t.row(vec![m.field.clone(), m.a.to_string(), m.b.to_string()]);
    }
    for p in &d.packages_removed {
        t.row(vec!["package".into(), p.clone(), "-".into()]);
    }
    for p in &d.packages_added {
        t.row(vec!["package".into(), "-".into(), p.clone()]);
    }
    for p in &d.packages_changed {
        t.row(vec![format!("package {}", p.name), p.a.clone(), p.b.clone()]);
    }
    t
}

fn verify_table(r: &VerifyReport) -> Table {
    let mut rows = vec![("versions", r.versions.to_string()), ("chunks", r.chunks.to_string()), ("bytes", r.bytes.to_string())];
    let problems: Vec<String> = r.problems.iter().map(Problem::to_string).collect();
    rows.push(("problems", if problems.is_empty() { "none".into() } else { problems.join("; ") }));
    Table::fields(rows)
}
