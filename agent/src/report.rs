//! The agent's side of the agent API: one node's config, its progress and errors, and a discovered
//! machine's inventory. Calls are retried a bounded number of times, since the first ones race the
//! network coming up and the control plane restarting.
use std::time::Duration;

use control::api::agent::{AgentConfig, Progress, Registered, Report};
use control::auth::Secret;
use control::client::{Client, ClientError};
use control::inventory::Inventory;
use control::mac::Mac;
use control::node::Node;
use control::store::agent_status::AgentReport;

use crate::error::AgentError;

/// Attempts per call when the control plane cannot be reached.
const ATTEMPTS: u32 = 10;
/// Pause between attempts.
const RETRY_PAUSE: Duration = Duration::from_secs(2);

/// Talks to the control plane for one boot.
pub struct Reporter {
    client: Client,
    server: String,
    node: Option<String>,
}

impl Reporter {
    /// A reporter for node `node` with its token.
    pub fn node(server: &str, node: &str, token: Secret) -> Self {
        Reporter { client: Client::new(server, token), server: server.to_string(), node: Some(node.to_string()) }
    }

    /// A reporter for a discovered machine (the discovery route takes no token).
    pub fn discovery(server: &str) -> Self {
        Reporter { client: Client::new(server, Secret::new(String::new())), server: server.to_string(), node: None }
    }

    pub(crate) fn retry<T>(&self, doing: &str, mut call: impl FnMut(&Client) -> Result<T, ClientError>) -> Result<T, AgentError> {
        let mut attempt = 1;
        loop {
            match call(&self.client) {
                Err(ClientError::Transport { .. }) if attempt < ATTEMPTS => {
                    attempt += 1;
                    std::thread::sleep(RETRY_PAUSE);
                }
                other => return other.map_err(|source| AgentError::Api { doing: doing.to_string(), source }),
            }
        }
    }

    fn node_name(&self) -> &str {
        self.node.as_deref().unwrap_or_default()
    }

    /// The node's config: layout, image, transfer grant.
    pub fn config(&self) -> Result<AgentConfig, AgentError> {
        let path = format!("/api/v1/agent/nodes/{}/config", self.node_name());
        self.retry("fetching the node's config", |c| c.get(&path))
    }

    /// Sends a progress message, an error or an inventory to the node's status.
    pub fn status(&self, report: &AgentReport) -> Result<(), AgentError> {
        let path = format!("/api/v1/agent/nodes/{}/status", self.node_name());
        self.retry("reporting status", |c| c.send::<_, serde_json::Value>("POST", &path, report)).map(drop)
    }

    /// Registers for the node's transfer session.
    pub fn register(&self) -> Result<Registered, AgentError> {
        let path = format!("/api/v1/agent/nodes/{}/register", self.node_name());
        self.retry("registering for the transfer", |c| c.send("POST", &path, &serde_json::json!({})))
    }

    /// Reports how far the transfer is, once: a later report says more, so a lost one is not retried
    /// (the receive loop must not wait on it).
    pub fn progress_once(&self, progress: &Progress) -> Result<(), ClientError> {
        let path = format!("/api/v1/agent/nodes/{}/progress", self.node_name());
        self.client.send::<_, serde_json::Value>("POST", &path, progress).map(drop)
    }

    /// Reports how the re-image ended (success flips the node's next boot to local).
    pub fn report(&self, report: &Report) -> Result<Node, AgentError> {
        let path = format!("/api/v1/agent/nodes/{}/report", self.node_name());
        self.retry("reporting the outcome", |c| c.send("POST", &path, report))
    }

    /// The control plane's URL, for downloads over HTTP.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Reports a discovered machine's inventory.
    pub fn discovered(&self, mac: Mac, inventory: &Inventory) -> Result<(), AgentError> {
        let path = format!("/api/v1/agent/discovered/{mac}/inventory");
        self.retry("reporting the inventory", |c| c.send::<_, serde_json::Value>("POST", &path, inventory)).map(drop)
    }
}
