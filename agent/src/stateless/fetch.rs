//! The artifact into RAM over HTTP ranges through `receiver::fetch_mirrors`: every block checked
//! against the manifest before it is written, the servers tried in the control plane's order, and a
//! server that fails mid-download left for the next with every verified block kept. The manifest
//! itself is first checked against the blake3 the control plane recorded at publication, so an image
//! server cannot swap the image under a node.
use std::path::Path;

use control::image::ImageVersion;
use receiver::Target;
use receiver::fetch::FetchConfig;
use receiver::fetch_mirrors::Assignment;

/// Why the image could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No server to ask.
    #[error("no stateless server to load the image from")]
    NoServer,
    /// No server gave a manifest, or every server failed during the download.
    #[error("{image}@{version}: {source}")]
    Fetch {
        /// Image name.
        image: String,
        /// Version.
        version: u32,
        /// The last server's failure.
        source: receiver::fetch::FetchError,
    },
    /// The manifest is not the one the control plane published.
    #[error("{image}@{version}: the manifest from {server} hashes to {got}, the control plane published {published}")]
    Manifest {
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
    /// The tmpfs file could not be opened.
    #[error("opening {path}: {source}")]
    Target {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// What the download did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fetched {
    /// Bytes verified and written.
    pub bytes: u64,
    /// Servers left during the download.
    pub failovers: usize,
}

/// Downloads `image` into `target_file` from `servers` (in order), as `node` with `credential`.
pub fn download(servers: &[String], node: &str, credential: &str, image: &ImageVersion, target_file: &Path, say: &mut dyn FnMut(&str)) -> Result<Fetched, FetchError> {
    if servers.is_empty() {
        return Err(FetchError::NoServer);
    }
    let failed = |source| FetchError::Fetch { image: image.image.clone(), version: image.version, source };
    let config = FetchConfig::default();
    let assignment = Assignment { image: image.image.clone(), version: image.version, servers: servers.to_vec() };
    let mirrors = assignment.mirrors(node, credential, &config);
    let (object, first) = mirrors.object(&image.image, Some(image.version)).map_err(failed)?;
    let server = mirrors.servers()[first].base_url().to_string();
    let got = blake3::hash(&object.manifest.encode()).to_hex().to_string();
    if got != image.manifest_blake3 {
        return Err(FetchError::Manifest { image: image.image.clone(), version: image.version, server, got, published: image.manifest_blake3.clone() });
    }
    let target = Target::open(target_file, *object.manifest.layout()).map_err(|source| FetchError::Target { path: target_file.display().to_string(), source })?;
    let blocks: Vec<_> = object.manifest.layout().blocks().collect();
    say(&format!("loading {}@{} ({} blocks) from {server}, then {} other server(s) if it fails", image.image, image.version, blocks.len(), servers.len() - 1));
    let stats = mirrors.fetch(&object, &target, None, &blocks, first, |_| {}).map_err(failed)?;
    for f in &stats.failovers {
        say(&format!("left server {} after {} verified blocks: {}", f.server, f.delivered, f.error));
    }
    Ok(Fetched { bytes: stats.fetch.bytes, failovers: stats.failovers.len() })
}
