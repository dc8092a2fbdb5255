//! Plain HTTP range fetch of an object from the control plane: the last resort, for networks that
//! do not route multicast and for blocks neither the sender nor the peers could provide.
//!
//! Missing blocks are asked for in runs of consecutive blocks, one `Range` request per run and a
//! few runs at once. Each block is checked against the manifest's blake3 as it streams in and only
//! then written, so a server, proxy or disk that corrupts bytes costs a retry of that block, never a
//! corrupt target. Blocking I/O on plain threads, like the UDP driver: the receiver has no async
//! runtime, and a handful of connections needs none.

use crate::journal::Journal;
use crate::target::Target;
use crossbeam_channel::{Receiver, Sender};
use fec::{BlockId, Manifest, ObjectLayout};
use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use thiserror::Error;

/// Where the control plane's per-node routes live.
const AGENT_ROUTES: &str = "/api/v1/agent/nodes";
/// Where the operator's image routes live (what image servers pull their copies from).
const OPERATOR_ROUTES: &str = "/api/v1/images";
/// Response header in which the server names the version it served (`default` resolved).
const VERSION_HEADER: &str = "fountain-image-version";
/// Largest manifest accepted, bytes (one hash per block: a few MiB for the largest images).
const MANIFEST_MAX_BYTES: u64 = 64 << 20;
/// Most characters of a refusal's body kept in an error.
const REFUSAL_MAX_CHARS: usize = 300;

/// How a fetch runs.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Range requests in flight at once.
    pub parallel_requests: usize,
    /// Most bytes one request asks for. Longer runs are split, so that a fetch of a whole object
    /// still keeps every connection busy and a dropped connection costs at most this much again.
    pub max_request_bytes: u64,
    /// Tries per block before the fetch gives up on it; a hash mismatch and a failed or cut
    /// request each count as one.
    pub attempts: u32,
    /// Wait before the n-th retry of a run: n times this, so a briefly overloaded server recovers.
    pub retry_backoff: Duration,
    /// Limit on connecting and on each read from the server.
    pub timeout: Duration,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            parallel_requests: 4,
            max_request_bytes: 32 << 20,
            attempts: 3,
            retry_backoff: Duration::from_millis(100),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Why a fetch stopped without every block asked for.
#[derive(Debug, Error)]
pub enum FetchError {
    /// Every download of the block hashed differently from the manifest; nothing of it was written.
    #[error("block {block}: {attempts} download(s) did not match the manifest's hash; nothing of it was written")]
    Corrupt {
        /// The block.
        block: BlockId,
        /// Downloads tried.
        attempts: u32,
    },
    /// The block could not be downloaded, however often it was asked for.
    #[error("block {block}: {attempts} request(s) failed, the last with: {reason}")]
    Transport {
        /// First block of the run that failed.
        block: BlockId,
        /// Requests tried.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// The server refused the request: retrying would not help (wrong token, unknown image).
    #[error("{url}: refused with HTTP {status}: {message}")]
    Refused {
        /// The URL asked for.
        url: String,
        /// HTTP status.
        status: u16,
        /// The server's answer.
        message: String,
    },
    /// The server could not be reached.
    #[error("{url}: {reason}")]
    Unreachable {
        /// The URL asked for.
        url: String,
        /// Why.
        reason: String,
    },
    /// The manifest the server sent is not usable.
    #[error("manifest from {url}: {reason}")]
    Manifest {
        /// The URL it came from.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A block asked for is not in the object.
    #[error("block {block} is not in the object ({blocks} blocks)")]
    NoSuchBlock {
        /// The block.
        block: BlockId,
        /// Blocks in the object.
        blocks: u32,
    },
    /// Writing the target or the journal failed.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
}

/// An image version on the server, with the manifest its blocks are checked against.
pub struct ImageObject {
    /// Image name.
    pub image: String,
    /// Version number (never "default": every range must come from the same version).
    pub version: u32,
    /// Its manifest.
    pub manifest: Manifest,
}

/// What a fetch moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// Blocks verified and written.
    pub blocks: u32,
    /// Their bytes.
    pub bytes: u64,
    /// Range requests sent, retries included.
    pub requests: u32,
    /// Of those, retries after a mismatch or a failed request.
    pub retries: u32,
}

/// A server holding image versions (the control plane or an image server), reached with one
/// node's token, or with the operator's token by an image server pulling its copies.
pub struct ImageServer {
    agent: ureq::Agent,
    base: String,
    /// `{base}/.../images`: where `{image}/versions/{version}/{manifest|object}` hang.
    images: String,
    token: String,
}

impl fmt::Debug for ImageServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageServer").field("images", &self.images).finish_non_exhaustive()
    }
}

impl ImageServer {
    /// The server at `base_url` (`http://host:port`), as node `node` with its token.
    pub fn new(base_url: &str, node: &str, token: &str, config: &FetchConfig) -> Self {
        let base = base_url.trim_end_matches('/');
        Self::with_routes(base, format!("{base}{AGENT_ROUTES}/{node}/images"), token, config)
    }

    /// The control plane at `base_url` as its operator (the admin token): how an image server pulls
    /// the versions it carries.
    pub fn operator(base_url: &str, admin_token: &str, config: &FetchConfig) -> Self {
        let base = base_url.trim_end_matches('/');
        Self::with_routes(base, format!("{base}{OPERATOR_ROUTES}"), admin_token, config)
    }

    fn with_routes(base: &str, images: String, token: &str, config: &FetchConfig) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(config.timeout)
            .timeout_read(config.timeout)
            .max_idle_connections_per_host(config.parallel_requests)
            .build();
        Self { agent, base: base.to_string(), images, token: token.to_string() }
    }

    /// The base URL, for messages.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, image: &str, version: &str, what: &str) -> String {
        format!("{}/{image}/versions/{version}/{what}", self.images)
    }

    fn get(&self, url: &str) -> ureq::Request {
        self.agent.get(url).set("Authorization", &format!("Bearer {}", self.token))
    }

    /// The manifest of `image` at `version` (the image's default when `None`), with the version
    /// number the server resolved, which every range request then names.
    pub fn object(&self, image: &str, version: Option<u32>) -> Result<ImageObject, FetchError> {
        let url = self.url(image, &version.map_or_else(|| "default".to_string(), |v| v.to_string()), "manifest");
        let response = self.get(&url).call().map_err(|e| refusal(&url, e))?;
        let bad = |reason: String| FetchError::Manifest { url: url.clone(), reason };
        let served: u32 = response
            .header(VERSION_HEADER)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(format!("no {VERSION_HEADER} header")))?;
        if version.is_some_and(|v| v != served) {
            return Err(bad(format!("asked for version {version:?}, got {served}")));
        }
        let mut bytes = Vec::new();
        response.into_reader().take(MANIFEST_MAX_BYTES + 1).read_to_end(&mut bytes).map_err(|e| bad(e.to_string()))?;
        if bytes.len() as u64 > MANIFEST_MAX_BYTES {
            return Err(bad(format!("larger than {MANIFEST_MAX_BYTES} bytes")));
        }
        let manifest = Manifest::decode(&bytes).map_err(|e| bad(e.to_string()))?;
        Ok(ImageObject { image: image.to_string(), version: served, manifest })
    }

    /// Downloads `blocks` of `object` into `target`, each verified before it is written and recorded
    /// in `journal` once written; calls `on_block` after each. Blocks may come in any order and
    /// repeat; the fetch ends when all are on the target, or at the first block that cannot be had.
    pub fn fetch(
        &self,
        object: &ImageObject,
        target: &Target,
        mut journal: Option<&mut Journal>,
        blocks: &[BlockId],
        config: &FetchConfig,
        mut on_block: impl FnMut(BlockId),
    ) -> Result<FetchStats, FetchError> {
        let layout = object.manifest.layout();
        if let Some(&block) = blocks.iter().find(|&&b| !layout.contains(b)) {
            return Err(FetchError::NoSuchBlock { block, blocks: layout.block_count() });
        }
        let runs = runs(layout, blocks, config.max_request_bytes);
        let mut stats = FetchStats::default();
        if runs.is_empty() {
            return Ok(stats);
        }
        let url = self.url(&object.image, &object.version.to_string(), "object");
        let (work_tx, work_rx) = crossbeam_channel::unbounded::<Run>();
        let (report_tx, report_rx) = crossbeam_channel::unbounded::<Report>();
        let cancel = AtomicBool::new(false);
        std::thread::scope(|scope| {
            for _ in 0..config.parallel_requests.clamp(1, runs.len()) {
                let worker = Worker { server: self, url: &url, object, target, config, cancel: &cancel, reports: report_tx.clone() };
                let work_rx = work_rx.clone();
                scope.spawn(move || worker.run(work_rx));
            }
            drop(report_tx);
            let mut outstanding = runs.len();
            for run in runs {
                work_tx.send(run).expect("workers wait for work");
            }
            let result = (|| -> Result<(), FetchError> {
                while outstanding > 0 {
                    match report_rx.recv().expect("workers report until their work is done") {
                        Report::Stored(block) => {
                            let hash = object.manifest.block_hash(block).expect("a verified block is in the manifest");
                            if let Some(journal) = journal.as_deref_mut() {
                                journal.record(block, hash)?;
                            }
                            stats.blocks += 1;
                            stats.bytes += layout.block_len(block) as u64;
                            on_block(block);
                        }
                        Report::Done { failures } => {
                            stats.requests += 1;
                            outstanding -= 1;
                            for failure in failures {
                                work_tx.send(retry(failure, config.attempts)?).expect("workers wait for work");
                                stats.retries += 1;
                                outstanding += 1;
                            }
                        }
                    }
                }
                Ok(())
            })();
            cancel.store(true, Ordering::Relaxed);
            drop(work_tx);
            result
        })?;
        target.sync()?;
        Ok(stats)
    }
}

/// The blocks of an object not in `stored`: what a resumed fetch still needs.
pub fn missing_blocks(manifest: &Manifest, stored: &[BlockId]) -> Vec<BlockId> {
    let mut have = vec![false; manifest.layout().block_count() as usize];
    for &block in stored {
        if let Some(h) = have.get_mut(block as usize) {
            *h = true;
        }
    }
    manifest.layout().blocks().filter(|&b| !have[b as usize]).collect()
}

/// Consecutive blocks `first..=last` asked for in one request, after `failed` earlier tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    first: BlockId,
    last: BlockId,
    failed: u32,
}

/// Groups `blocks` into runs of consecutive blocks of at most `max_bytes` (at least one block each).
fn runs(layout: &ObjectLayout, blocks: &[BlockId], max_bytes: u64) -> Vec<Run> {
    let mut sorted = blocks.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<Run> = Vec::new();
    for block in sorted {
        match runs.last_mut() {
            Some(run) if run.last + 1 == block && layout.block_offset(block) + layout.block_len(block) as u64 - layout.block_offset(run.first) <= max_bytes => {
                run.last = block
            }
            _ => runs.push(Run { first: block, last: block, failed: 0 }),
        }
    }
    runs
}

/// What went wrong with (part of) a run.
#[derive(Debug)]
enum Failure {
    /// `block` hashed wrong.
    Corrupt { run: Run },
    /// The request failed or was cut off; `run` is what was not received.
    Transport { run: Run, reason: String },
    /// The server said no; retrying will not change its mind.
    Refused(FetchError),
    /// The target could not be written.
    Io(io::Error),
}

/// The run to ask for again, or the error once its blocks are out of tries.
fn retry(failure: Failure, attempts: u32) -> Result<Run, FetchError> {
    match failure {
        Failure::Corrupt { run } if run.failed >= attempts => Err(FetchError::Corrupt { block: run.first, attempts: run.failed }),
        Failure::Transport { run, reason } if run.failed >= attempts => Err(FetchError::Transport { block: run.first, attempts: run.failed, reason }),
        Failure::Corrupt { run } | Failure::Transport { run, .. } => Ok(run),
        Failure::Refused(e) => Err(e),
        Failure::Io(e) => Err(e.into()),
    }
}

/// A worker's news for the thread that owns the journal.
enum Report {
    /// The block is verified and on the target.
    Stored(BlockId),
    /// A run is finished with; what of it must be tried again.
    Done { failures: Vec<Failure> },
}

/// One connection's worth of fetching: takes runs, streams them in, verifies and writes blocks.
struct Worker<'a> {
    server: &'a ImageServer,
    url: &'a str,
    object: &'a ImageObject,
    target: &'a Target,
    config: &'a FetchConfig,
    cancel: &'a AtomicBool,
    reports: Sender<Report>,
}

impl Worker<'_> {
    fn run(self, work: Receiver<Run>) {
        for run in work {
            if self.cancel.load(Ordering::Relaxed) {
                return;
            }
            if run.failed > 0 {
                std::thread::sleep(self.config.retry_backoff * run.failed);
            }
            let failures = self.fetch_run(run);
            if self.reports.send(Report::Done { failures }).is_err() {
                return;
            }
        }
    }

    /// Fetches one run; returns what of it failed.
    fn fetch_run(&self, run: Run) -> Vec<Failure> {
        let layout = self.object.manifest.layout();
        let start = layout.block_offset(run.first);
        let end = layout.block_offset(run.last) + layout.block_len(run.last) as u64;
        let again = |first: BlockId, reason: String| Failure::Transport { run: Run { first, last: run.last, failed: run.failed + 1 }, reason };
        let response = match self.server.get(self.url).set("Range", &format!("bytes={start}-{}", end - 1)).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(status, r)) if !retryable(status) => return vec![Failure::Refused(refusal(self.url, ureq::Error::Status(status, r)))],
            Err(e) => return vec![again(run.first, e.to_string())],
        };
        let expected = format!("bytes {start}-{}/{}", end - 1, layout.object_size());
        let content_range = response.header("content-range").unwrap_or("none");
        if response.status() != 206 || content_range != expected {
            return vec![again(run.first, format!("asked for {expected}, got HTTP {} with range {content_range}", response.status()))];
        }
        let mut body = response.into_reader();
        let mut buf = Vec::with_capacity(layout.full_block_bytes() as usize);
        let mut failures = Vec::new();
        for block in run.first..=run.last {
            if self.cancel.load(Ordering::Relaxed) {
                return failures;
            }
            buf.resize(layout.block_len(block), 0);
            if let Err(e) = body.read_exact(&mut buf) {
                failures.push(again(block, format!("reading the response: {e}")));
                return failures;
            }
            if blake3::hash(&buf) != *self.object.manifest.block_hash(block).expect("runs hold blocks of the object") {
                tracing::warn!(block, url = self.url, "fetched block does not match the manifest; asking again");
                failures.push(Failure::Corrupt { run: Run { first: block, last: block, failed: run.failed + 1 } });
                continue;
            }
            if let Err(e) = self.target.write_block(block, &buf) {
                failures.push(Failure::Io(e));
                return failures;
            }
            if self.reports.send(Report::Stored(block)).is_err() {
                return failures;
            }
        }
        // Reach the end of the body so the connection goes back to the pool for the next run.
        let _ = io::copy(&mut body, &mut io::sink());
        failures
    }
}

/// Whether a refusal with `status` may go away on its own (timeouts, overload, server errors).
fn retryable(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

/// A failed request as an error, with the server's explanation when it gave one.
fn refusal(url: &str, e: ureq::Error) -> FetchError {
    match e {
        ureq::Error::Status(status, response) => {
            let mut message = String::new();
            let _ = response.into_reader().take(REFUSAL_MAX_CHARS as u64).read_to_string(&mut message);
            FetchError::Refused { url: url.to_string(), status, message: message.trim().to_string() }
        }
        e => FetchError::Unreachable { url: url.to_string(), reason: e.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_group_consecutive_blocks_up_to_the_byte_limit() {
        let layout = ObjectLayout::new(10 * 1024 - 100, 64, 16).unwrap();
        let block = layout.full_block_bytes();
        let r = |first, last| Run { first, last, failed: 0 };
        assert_eq!(runs(&layout, &[5, 1, 2, 2, 3, 9, 7, 8], u64::MAX), vec![r(1, 3), r(5, 5), r(7, 9)]);
        assert_eq!(runs(&layout, &[0, 1, 2, 3, 4], 2 * block), vec![r(0, 1), r(2, 3), r(4, 4)]);
        assert_eq!(runs(&layout, &[0, 1], 1), vec![r(0, 0), r(1, 1)], "a block larger than the limit is still one request");
        assert!(runs(&layout, &[], u64::MAX).is_empty());
    }

    #[test]
    fn missing_blocks_are_the_complement_of_the_stored_ones() {
        let layout = ObjectLayout::new(10 * 1024, 64, 16).unwrap();
        let manifest = Manifest::hash_object(layout, &vec![3u8; 10 * 1024][..]).unwrap();
        assert_eq!(missing_blocks(&manifest, &[0, 2, 4, 6, 8, 99]), vec![1, 3, 5, 7, 9]);
        assert_eq!(missing_blocks(&manifest, &[]).len(), 10);
    }

    #[test]
    fn retries_end_after_the_configured_attempts_naming_the_block() {
        let run = |failed| Run { first: 4, last: 4, failed };
        assert_eq!(retry(Failure::Corrupt { run: run(2) }, 3).unwrap(), run(2));
        assert!(matches!(retry(Failure::Corrupt { run: run(3) }, 3), Err(FetchError::Corrupt { block: 4, attempts: 3 })));
        let cut = Failure::Transport { run: run(3), reason: "reset".into() };
        assert!(matches!(retry(cut, 3), Err(FetchError::Transport { block: 4, attempts: 3, .. })));
    }
}
