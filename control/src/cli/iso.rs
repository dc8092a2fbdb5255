//! `fountain iso add|list`: distribution ISOs on the appliance, uploaded through the API.
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ::image::iso::IsoInfo;

use super::ClientArgs;
use super::table::Table;
use crate::api::isos::IsoAdded;

/// ISO subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum IsoCommand {
    /// Upload an ISO (hashed here first; the server checks the hash as it stores it, once).
    Add {
        /// The ISO file.
        path: PathBuf,
    },
    /// List stored ISOs with their detected distribution and release.
    List,
}

/// Runs an ISO subcommand.
pub fn run(args: &ClientArgs, command: IsoCommand) -> anyhow::Result<ExitCode> {
    let client = args.client()?;
    match command {
        IsoCommand::Add { path } => {
            let name = path.file_name().and_then(|n| n.to_str()).context("the ISO path has no file name")?.to_string();
            let (hash, len) = hash_file(&path)?;
            let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
            let query = format!("/api/v1/isos?name={}&blake3={hash}", percent_encode(&name));
            let added: IsoAdded = client.post_stream(&query, file, len)?;
            if !added.new && !args.json {
                eprintln!("{name} was already stored; nothing was written");
            }
            args.print(&added, |a| isos_table(std::slice::from_ref(&a.iso)))?;
        }
        IsoCommand::List => {
            let isos: Vec<IsoInfo> = client.get("/api/v1/isos")?;
            args.print(&isos, |i| isos_table(i))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn hash_file(path: &std::path::Path) -> anyhow::Result<(String, u64)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            return Ok((h.finalize().to_hex().to_string(), len));
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
}

/// Escapes everything but unreserved characters, for a file name in a query string.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn isos_table(isos: &[IsoInfo]) -> Table {
    let mut t = Table::new(&["ID", "NAME", "DISTRIBUTION", "RELEASE", "ARCH", "BYTES"]);
    for i in isos {
        t.row(vec![
            i.id[..16].to_string(),
            i.name.clone(),
            i.detected.distribution.clone(),
            i.detected.release.clone(),
            i.detected.arch.clone().unwrap_or_else(|| "-".into()),
            i.bytes.to_string(),
        ]);
    }
    t
}
