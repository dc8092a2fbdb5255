//! The artifact into RAM the way every node gets its image ([`receiver::download`], through the
//! install's route): the node registers in the window for its version, so nodes booting the same
//! version together share one multicast session (helped by their peers), with HTTP from the image
//! servers for whatever the session ends without; a node alone downloads over HTTP ranges from the
//! server chosen for it. Over HTTP every block is checked against the manifest before it is written,
//! the servers are tried in the control plane's order, and a server that fails mid-download is left
//! for the next with every verified block kept. The manifest itself is first checked against the
//! blake3 the control plane recorded at publication, so an image server cannot swap the image under
//! a node (and the session's ticket must name the same manifest root).
use std::path::Path;

use control::api::stateless_boot::StatelessBoot;
use control::transfer::Delivery;
use receiver::download::{DownloadError, HttpImage};
use receiver::fetch::FetchConfig;
use receiver::fetch_mirrors::Assignment;

use crate::error::AgentError;
use crate::delivery;
use crate::report::Reporter;

/// Why the image could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No server to ask.
    #[error("no stateless server to load the image from")]
    NoServer,
    /// No server gave a manifest.
    #[error(transparent)]
    Manifest(#[from] DownloadError),
    /// The manifest is not the one the control plane published.
    #[error("{image}@{version}: the manifest from {server} hashes to {got}, the control plane published {published}")]
    OtherManifest {
        /// Image name.
        image: String,
        /// Version.
        version: u32,
        /// The server that sent it.
        server: String,
        /// Its blake3.
        got: String,
        /// The published blake3.
        published: String,
    },
}

/// What the download did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// How the image came.
    pub delivery: Delivery,
    /// Bytes of the image.
    pub bytes: u64,
    /// Blocks from the multicast session or from peers.
    pub session_blocks: u32,
    /// Blocks over HTTP.
    pub http_blocks: u32,
    /// Servers left (before or during the download).
    pub failovers: usize,
}

/// Downloads the image `grant` names into `target_file` (its journal at `journal`), as the node the
/// reporter speaks for with the grant's credential.
pub fn download(reporter: &Reporter, grant: &StatelessBoot, target_file: &Path, journal: &Path, say: &mut dyn FnMut(&str)) -> Result<Fetched, AgentError> {
    let image = &grant.image;
    if grant.servers.is_empty() {
        return Err(super::StatelessError::Fetch(FetchError::NoServer).into());
    }
    let config = FetchConfig::default();
    let assignment = Assignment { image: image.image.clone(), version: image.version, servers: grant.servers.clone() };
    let mirrors = assignment.mirrors(&grant.node.name, &grant.credential, &config);
    let http = HttpImage::from_mirrors(mirrors, &image.image, Some(image.version)).map_err(|e| super::StatelessError::Fetch(e.into()))?;
    let server = http.servers()[http.skipped()].base_url().to_string();
    let got = blake3::hash(&http.object.manifest.encode()).to_hex().to_string();
    if got != image.manifest_blake3 {
        let e = FetchError::OtherManifest { image: image.image.clone(), version: image.version, server, got, published: image.manifest_blake3.clone() };
        return Err(super::StatelessError::Fetch(e).into());
    }
    let skipped = http.skipped();
    let registered = reporter.register()?;
    let session = registered.session;
    let route = delivery::route(reporter, &registered)?;
    let delivery = route.delivery();
    let blocks = http.object.manifest.layout().block_count();
    match delivery {
        Delivery::Multicast => say(&format!("loading {}@{} ({blocks} blocks) by multicast in session {session}, HTTP from {server} for what it misses", image.image, image.version)),
        Delivery::Unicast => say(&format!("loading {}@{} ({blocks} blocks) from {server}, then {} other server(s) if it fails", image.image, image.version, grant.servers.len() - 1 - skipped)),
    }
    let downloaded = route.download(reporter, http, target_file, journal)?;
    for f in &downloaded.http.failovers {
        say(&format!("left server {} after {} verified blocks: {}", f.server, f.delivered, f.error));
    }
    Ok(Fetched {
        delivery,
        bytes: downloaded.bytes,
        session_blocks: downloaded.session_blocks,
        http_blocks: downloaded.http_blocks,
        failovers: skipped + downloaded.http.failovers.len(),
    })
}
