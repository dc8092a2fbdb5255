//! Pulling a carried version from the control plane: the nodes' own verified, journaled range fetch,
//! with the server token, into the image server's data directory. A copy that is already complete is
//! taken as it is; one cut short resumes from its journal.
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fec::Manifest;
use receiver::fetch::{FetchConfig, ImageServer, missing_blocks};
use receiver::fetch_mirrors::Mirrors;
use receiver::{Journal, Target};

use super::ImageServerConfig;
use super::copies::{Copies, CopyPaths, CopyState, Ready};

/// Pulls before a version is given up on (the upstream may be restarting).
const PULL_TRIES: u32 = 10;
/// Wait between pulls.
const PULL_RETRY: Duration = Duration::from_secs(3);

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// Image names become file names here, so only plain ones are carried.
    #[error("image name {0:?} cannot be carried: use letters, digits, '.', '_' and '-'")]
    BadName(String),
    /// The fetch failed.
    #[error(transparent)]
    Fetch(#[from] receiver::fetch::FetchError),
    /// The journal could not be used.
    #[error(transparent)]
    Journal(#[from] receiver::JournalError),
    /// A local file could not be read or written.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The complete copy on disk is not what its manifest describes.
    #[error("{0}")]
    Damaged(String),
}

/// Pulls `image@version` until it is complete (or out of tries) and records the outcome in `copies`.
pub fn pull(config: &ImageServerConfig, copies: &Copies, image: &str, version: u32) {
    copies.set(image, version, CopyState::Pulling { stored: 0, blocks: 0 });
    let mut last = String::new();
    for attempt in 1..=PULL_TRIES {
        match pull_once(config, copies, image, version) {
            Ok(ready) => {
                tracing::info!(image, version, bytes = ready.len, "copy complete and verified; serving it");
                copies.set(image, version, CopyState::Ready(Arc::new(ready)));
                return;
            }
            Err(e @ (PullError::BadName(_) | PullError::Damaged(_))) => {
                last = e.to_string();
                break;
            }
            Err(e) => {
                tracing::warn!(image, version, attempt, error = %e, "pull failed; trying again");
                last = e.to_string();
                std::thread::sleep(PULL_RETRY);
            }
        }
    }
    tracing::error!(image, version, error = %last, "giving up on this version");
    copies.set(image, version, CopyState::Failed(last));
}

fn pull_once(config: &ImageServerConfig, copies: &Copies, image: &str, version: u32) -> Result<Ready, PullError> {
    if image.is_empty() || image.starts_with('.') || !image.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        return Err(PullError::BadName(image.to_string()));
    }
    let paths = CopyPaths::new(&config.data_dir, image, version);
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e| PullError::Io(p, e)
    };
    if paths.manifest.is_file() {
        return complete(&paths);
    }
    let fetch = FetchConfig { parallel_requests: config.parallel_requests.max(1), ..FetchConfig::default() };
    let upstream = ImageServer::operator(&config.upstream, &config.token, &fetch);
    let object = upstream.object(image, Some(version))?;
    let layout = *object.manifest.layout();
    let target = Target::open(&paths.object, layout).map_err(io(&paths.object))?;
    let (mut journal, stored) = Journal::open(&paths.journal, &object.manifest, &target)?;
    let missing = missing_blocks(&object.manifest, &stored);
    let blocks = layout.block_count();
    let mut done = blocks - missing.len() as u32;
    copies.set(image, version, CopyState::Pulling { stored: done, blocks });
    Mirrors::new(vec![upstream], fetch).fetch(&object, &target, Some(&mut journal), &missing, 0, |_| {
        done += 1;
        if done.is_multiple_of(64) {
            copies.set(image, version, CopyState::Pulling { stored: done, blocks });
        }
    })?;
    journal.remove().map_err(io(&paths.journal))?;
    let encoded = object.manifest.encode();
    let partial = paths.manifest.with_extension("manifest.partial");
    let mut f = std::fs::File::create(&partial).map_err(io(&partial))?;
    f.write_all(&encoded).and_then(|()| f.sync_all()).map_err(io(&partial))?;
    std::fs::rename(&partial, &paths.manifest).map_err(io(&paths.manifest))?;
    Ok(Ready { object: paths.object, len: layout.object_size(), etag: format!("\"{}\"", blake3::hash(&encoded).to_hex()), manifest: encoded })
}

/// A copy completed by an earlier run: its manifest, and an object of the size it describes.
fn complete(paths: &CopyPaths) -> Result<Ready, PullError> {
    let encoded = std::fs::read(&paths.manifest).map_err(|e| PullError::Io(paths.manifest.display().to_string(), e))?;
    let manifest = Manifest::decode(&encoded).map_err(|e| PullError::Damaged(format!("{}: {e}", paths.manifest.display())))?;
    let len = std::fs::metadata(&paths.object).map_err(|e| PullError::Io(paths.object.display().to_string(), e))?.len();
    if len != manifest.layout().object_size() {
        return Err(PullError::Damaged(format!("{} holds {len} bytes, its manifest describes {}", paths.object.display(), manifest.layout().object_size())));
    }
    Ok(Ready { object: paths.object.clone(), len, etag: format!("\"{}\"", blake3::hash(&encoded).to_hex()), manifest: encoded })
}
