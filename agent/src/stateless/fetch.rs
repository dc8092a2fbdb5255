//! The artifact into RAM over HTTP ranges, every block checked against the manifest before it is
//! written (`receiver::fetch`). The servers are tried in order; when one fails, the next is asked
//! only for the blocks still missing, so nothing verified is fetched twice. The manifest itself is
//! checked against the blake3 the control plane recorded at publication, so an image server cannot
//! swap the image under a node.
use std::path::Path;

use control::image::ImageVersion;
use fec::BlockId;
use receiver::fetch::{FetchConfig, ImageServer, missing_blocks};
use receiver::Target;

/// Why the image could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No server to ask.
    #[error("no stateless server to load the image from")]
    NoServer,
    /// Every server failed; the last one's reason.
    #[error("{image}@{version}: every server failed ({tried}); the last, {server}: {reason}")]
    AllFailed {
        /// Image name.
        image: String,
        /// Version.
        version: u32,
        /// Servers tried.
        tried: usize,
        /// The last server.
        server: String,
        /// Its failure.
        reason: String,
    },
}

/// What the download did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fetched {
    /// Bytes verified and written.
    pub bytes: u64,
    /// Servers that failed before the one that finished.
    pub failovers: usize,
}

/// Downloads `image` into `target_file` from `servers` in order, as `node` with `credential`.
pub fn download(servers: &[String], node: &str, credential: &str, image: &ImageVersion, target_file: &Path, say: &mut dyn FnMut(&str)) -> Result<Fetched, FetchError> {
    if servers.is_empty() {
        return Err(FetchError::NoServer);
    }
    let config = FetchConfig::default();
    let mut have: Vec<BlockId> = Vec::new();
    let mut fetched = Fetched::default();
    let mut last = (String::new(), String::new());
    for (i, url) in servers.iter().enumerate() {
        let server = ImageServer::new(url, node, credential, &config);
        let attempt = (|| -> Result<(), String> {
            let object = server.object(&image.image, Some(image.version)).map_err(|e| e.to_string())?;
            let hash = blake3::hash(&object.manifest.encode()).to_hex();
            if hash.as_str() != image.manifest_blake3 {
                return Err(format!("its manifest hashes to {hash}, the control plane published {}", image.manifest_blake3));
            }
            let target = Target::open(target_file, *object.manifest.layout()).map_err(|e| format!("opening {}: {e}", target_file.display()))?;
            let missing = missing_blocks(&object.manifest, &have);
            say(&format!("loading {}@{} from {url}: {} of {} blocks", image.image, image.version, missing.len(), object.manifest.layout().block_count()));
            let stats = server.fetch(&object, &target, None, &missing, &config, |b| have.push(b)).map_err(|e| e.to_string())?;
            fetched.bytes += stats.bytes;
            Ok(())
        })();
        match attempt {
            Ok(()) => return Ok(fetched),
            Err(reason) => {
                say(&format!("server {url} failed: {reason}; {} blocks verified so far are kept", have.len()));
                fetched.failovers = i + 1;
                last = (url.clone(), reason);
            }
        }
    }
    Err(FetchError::AllFailed { image: image.image.clone(), version: image.version, tried: servers.len(), server: last.0, reason: last.1 })
}

/// The order servers are tried in: the one the boot script named (the control plane's choice for
/// this boot) first, then the other healthy ones the exchange listed.
pub fn order(chosen: Option<&str>, listed: &[String]) -> Vec<String> {
    let mut out: Vec<String> = chosen.map(|c| c.trim_end_matches('/').to_string()).into_iter().collect();
    for url in listed {
        let url = url.trim_end_matches('/').to_string();
        if !out.contains(&url) {
            out.push(url);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chosen_server_first_then_the_others_once() {
        let listed = ["http://a:1".to_string(), "http://b:1/".into(), "http://c:1".into()];
        assert_eq!(order(Some("http://b:1"), &listed), ["http://b:1", "http://a:1", "http://c:1"]);
        assert_eq!(order(None, &listed), ["http://a:1", "http://b:1", "http://c:1"]);
        assert_eq!(order(Some("http://z:1"), &[]), ["http://z:1"]);
    }
}
