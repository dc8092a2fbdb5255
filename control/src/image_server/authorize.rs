//! Checking a node's token without holding the key tokens are made with: the upstream is asked for
//! the node's manifest of the version with the node's own token, which succeeds only for a current
//! token of a node allowed that version. A yes is remembered for a while, so a node's hundreds of
//! range requests cost the control plane one small request.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;
use crate::sync::lock;

/// How long a yes is remembered.
const GRANT_TTL: Duration = Duration::from_secs(120);
/// Most grants remembered; past this the memory starts over.
const MAX_GRANTS: usize = 100_000;
/// Limit on each check at the upstream.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Remembered grants, by a hash of node, token, image and version (the token itself is not kept).
#[derive(Debug)]
pub struct Authorizer {
    upstream: String,
    agent: ureq::Agent,
    granted: Mutex<HashMap<blake3::Hash, Instant>>,
}

impl Authorizer {
    /// Checks against the control plane at `upstream`.
    pub fn new(upstream: &str) -> Self {
        let agent = ureq::AgentBuilder::new().timeout(CHECK_TIMEOUT).redirects(0).build();
        Authorizer { upstream: upstream.trim_end_matches('/').to_string(), agent, granted: Mutex::new(HashMap::new()) }
    }

    /// Whether `node` with `token` may read `image@version`; blocking (one request on a miss).
    pub fn check(&self, node: &str, token: &str, image: &str, version: u32) -> Result<(), ApiError> {
        let mut h = blake3::Hasher::new();
        for part in [node, token, image, &version.to_string()] {
            h.update(part.as_bytes()).update(&[0]);
        }
        let key = h.finalize();
        if lock(&self.granted).get(&key).is_some_and(|at| at.elapsed() < GRANT_TTL) {
            return Ok(());
        }
        let url = format!("{}/api/v1/agent/nodes/{node}/images/{image}/versions/{version}/manifest", self.upstream);
        match self.agent.head(&url).set("Authorization", &format!("Bearer {token}")).call() {
            Ok(_) => {
                let mut granted = lock(&self.granted);
                if granted.len() >= MAX_GRANTS {
                    granted.clear();
                }
                granted.insert(key, Instant::now());
                Ok(())
            }
            Err(ureq::Error::Status(401, _)) => Err(ApiError::Unauthorized),
            Err(ureq::Error::Status(403, _)) => Err(ApiError::Forbidden),
            Err(ureq::Error::Status(404, _)) => Err(ApiError::NotFound(format!("{image}@{version} for node {node}"))),
            Err(e) => Err(ApiError::Unavailable(format!("cannot check the node's token at the control plane: {e}"))),
        }
    }
}
