//! Fetching one image version from several servers that all hold it (image servers and the control
//! plane), moving to the next when one fails mid-download.
//!
//! Every block is verified against the one manifest before it is written and is recorded as it
//! lands, so a server that dies, refuses, or serves bad bytes costs only the blocks that were in
//! flight on it: the next server is asked for exactly the blocks not yet stored, and a verified block
//! is never fetched twice. This is the one download both `fountain fetch` and the agent's stateless
//! boot run.

use crate::fetch::{FetchConfig, FetchError, FetchStats, ImageObject, ImageServer};
use crate::journal::Journal;
use crate::target::Target;
use fec::BlockId;
use std::io::Read;

/// The control plane's route that gives a stateless node its servers.
const SERVERS_ROUTE: &str = "/api/v1/agent/nodes";
/// Largest answer of that route accepted, bytes.
const ASSIGNMENT_MAX_BYTES: u64 = 1 << 20;

/// What the control plane tells a stateless node: its image version and the servers to fetch it
/// from, the chosen one first (the body of `POST /api/v1/agent/nodes/{name}/servers`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Assignment {
    /// Image name.
    pub image: String,
    /// Version.
    pub version: u32,
    /// Base URLs, chosen first, the control plane last.
    pub servers: Vec<String>,
}

impl Assignment {
    /// Asks the control plane at `control_url` which servers node `node` loads its image from (the
    /// control plane chooses by its policy and counts the node on the one it chose).
    pub fn ask(control_url: &str, node: &str, token: &str, config: &FetchConfig) -> Result<Self, FetchError> {
        let url = format!("{}{SERVERS_ROUTE}/{node}/servers", control_url.trim_end_matches('/'));
        let agent = ureq::AgentBuilder::new().timeout_connect(config.timeout).timeout_read(config.timeout).build();
        let unreachable = |reason: String| FetchError::Unreachable { url: url.clone(), reason };
        let response = match agent.post(&url).set("Authorization", &format!("Bearer {token}")).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(status, r)) => {
                let mut message = String::new();
                let _ = r.into_reader().take(300).read_to_string(&mut message);
                return Err(FetchError::Refused { url, status, message: message.trim().to_string() });
            }
            Err(e) => return Err(unreachable(e.to_string())),
        };
        let mut body = Vec::new();
        response.into_reader().take(ASSIGNMENT_MAX_BYTES).read_to_end(&mut body).map_err(|e| unreachable(e.to_string()))?;
        let assignment: Assignment = serde_json::from_slice(&body).map_err(|e| unreachable(format!("unreadable answer: {e}")))?;
        if assignment.servers.is_empty() {
            return Err(unreachable("the control plane named no server".into()));
        }
        Ok(assignment)
    }

    /// The servers as mirrors, reached as `node` with its token.
    pub fn mirrors(&self, node: &str, token: &str, config: &FetchConfig) -> Mirrors {
        Mirrors::new(self.servers.iter().map(|url| ImageServer::new(url, node, token, config)).collect(), config.clone())
    }
}

/// A server given up on during a fetch, and why.
#[derive(Debug)]
pub struct Failover {
    /// Base URL of the server left.
    pub server: String,
    /// What it did.
    pub error: FetchError,
    /// Blocks it had delivered (verified and stored) before that.
    pub delivered: u32,
}

/// What a fetch across mirrors moved and which servers it left.
#[derive(Debug, Default)]
pub struct MirrorStats {
    /// Blocks, bytes, requests and retries over all servers.
    pub fetch: FetchStats,
    /// Servers left, in order.
    pub failovers: Vec<Failover>,
    /// Index (into the mirror list) of the server that delivered the last block.
    pub finished_on: usize,
}

/// Servers holding the same image version, in the order they are tried: the chosen one first.
#[derive(Debug)]
pub struct Mirrors {
    servers: Vec<ImageServer>,
    config: FetchConfig,
}

impl Mirrors {
    /// `servers` in preference order (at least one), each fetched from as `config` says.
    pub fn new(servers: Vec<ImageServer>, config: FetchConfig) -> Self {
        assert!(!servers.is_empty(), "a fetch needs at least one server");
        Mirrors { servers, config }
    }

    /// The servers in preference order.
    pub fn servers(&self) -> &[ImageServer] {
        &self.servers
    }

    /// The manifest of `image` at `version` from the first server that gives one, with that
    /// server's index; the last server's error when none does.
    pub fn object(&self, image: &str, version: Option<u32>) -> Result<(ImageObject, usize), FetchError> {
        let mut last = None;
        for (i, server) in self.servers.iter().enumerate() {
            match server.object(image, version) {
                Ok(object) => return Ok((object, i)),
                Err(e) => {
                    tracing::warn!(server = server.base_url(), error = %e, "no manifest from this server; trying the next");
                    last = Some(e);
                }
            }
        }
        Err(last.expect("at least one server"))
    }

    /// Downloads `blocks` of `object` into `target`, starting with server `first` and moving down
    /// the list (wrapping around) when a server fails; each block verified before it is written,
    /// recorded in `journal` and reported to `on_block`. Fails only when every server has failed,
    /// with the last one's error, or at once when the target cannot be written.
    pub fn fetch(
        &self,
        object: &ImageObject,
        target: &Target,
        mut journal: Option<&mut Journal>,
        blocks: &[BlockId],
        first: usize,
        mut on_block: impl FnMut(BlockId),
    ) -> Result<MirrorStats, FetchError> {
        let mut stats = MirrorStats::default();
        let mut remaining = blocks.to_vec();
        let mut stored = vec![false; object.manifest.layout().block_count() as usize];
        let n = self.servers.len();
        for step in 0..n {
            let i = (first + step) % n;
            let server = &self.servers[i];
            let mut delivered = 0u32;
            let result = server.fetch(object, target, journal.as_deref_mut(), &remaining, &self.config, |b| {
                if let Some(s) = stored.get_mut(b as usize) {
                    *s = true;
                }
                delivered += 1;
                on_block(b);
            });
            match result {
                Ok(s) => {
                    add(&mut stats.fetch, s);
                    stats.finished_on = i;
                    return Ok(stats);
                }
                Err(error @ (FetchError::Io(_) | FetchError::NoSuchBlock { .. })) => return Err(error),
                Err(error) => {
                    tracing::warn!(server = server.base_url(), %error, delivered, "server failed; moving to the next with the blocks not yet stored");
                    stats.fetch.blocks += delivered;
                    stats.fetch.bytes += remaining.iter().filter(|&&b| stored[b as usize]).map(|&b| object.manifest.layout().block_len(b) as u64).sum::<u64>();
                    remaining.retain(|&b| !stored[b as usize]);
                    stats.failovers.push(Failover { server: server.base_url().to_string(), error, delivered });
                }
            }
        }
        let last = stats.failovers.pop().expect("every server failed, so each left a failure");
        Err(last.error)
    }
}

fn add(total: &mut FetchStats, s: FetchStats) {
    total.blocks += s.blocks;
    total.bytes += s.bytes;
    total.requests += s.requests;
    total.retries += s.retries;
}
