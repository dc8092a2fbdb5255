//! A blocking client for the API, used by the CLI.
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::Secret;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused the request.
    #[error("{message} (HTTP {status}){}", details.iter().map(|d| format!("\n  - {d}")).collect::<String>())]
    Api {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
        /// Itemised problems (layout errors).
        details: Vec<String>,
    },
    /// The server could not be reached.
    #[error("cannot reach the control plane at {url}: {reason}")]
    Transport {
        /// Server URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server's answer did not parse.
    #[error("unexpected response from the control plane: {0}")]
    Decode(String),
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    details: Vec<String>,
}

/// Talks to one control plane with one token.
pub struct Client {
    base: String,
    token: Secret,
    agent: ureq::Agent,
}

impl Client {
    /// A client for the server at `base` (`http://host:port`).
    pub fn new(base: &str, token: Secret) -> Self {
        Client { base: base.trim_end_matches('/').to_string(), token, agent: ureq::AgentBuilder::new().build() }
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        self.agent.request(method, &format!("{}{path}", self.base)).set("Authorization", &format!("Bearer {}", self.token.expose()))
    }

    fn finish(&self, r: Result<ureq::Response, ureq::Error>) -> Result<ureq::Response, ClientError> {
        match r {
            Ok(resp) => Ok(resp),
            Err(ureq::Error::Status(status, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                let (message, details) = match serde_json::from_str::<ErrorBody>(&text) {
                    Ok(b) => (b.error, b.details),
                    Err(_) => (text, Vec::new()),
                };
                Err(ClientError::Api { status, message, details })
            }
            Err(e) => Err(ClientError::Transport { url: self.base.clone(), reason: e.to_string() }),
        }
    }

    fn json<T: DeserializeOwned>(resp: ureq::Response) -> Result<T, ClientError> {
        resp.into_json().map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET path` as JSON.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        Self::json(self.finish(self.request("GET", path).call())?)
    }

    /// `GET path` as text.
    pub fn get_text(&self, path: &str) -> Result<String, ClientError> {
        self.finish(self.request("GET", path).call())?.into_string().map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `method path` with a JSON body, JSON back.
    pub fn send<B: Serialize, T: DeserializeOwned>(&self, method: &str, path: &str, body: &B) -> Result<T, ClientError> {
        Self::json(self.finish(self.request(method, path).send_json(body))?)
    }

    /// `method path` with a streamed body (sent chunked, as it is read); the reply body is ignored.
    pub fn send_stream(&self, method: &str, path: &str, content_type: &str, body: impl std::io::Read) -> Result<(), ClientError> {
        self.finish(self.request(method, path).set("Content-Type", content_type).send(body)).map(drop)
    }

    /// `DELETE path`; the reply body is ignored.
    pub fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.finish(self.request("DELETE", path).call()).map(drop)
    }

    /// `POST path` with `body` streamed as it is read (`len` bytes), JSON back.
    pub fn post_stream<T: DeserializeOwned>(&self, path: &str, body: impl std::io::Read, len: u64) -> Result<T, ClientError> {
        let req = self.request("POST", path).set("Content-Type", "application/octet-stream").set("Content-Length", &len.to_string());
        Self::json(self.finish(req.send(body))?)
    }

    /// `method path` with a text body; the reply body is ignored.
    pub fn send_text(&self, method: &str, path: &str, body: &str) -> Result<(), ClientError> {
        self.finish(self.request(method, path).set("Content-Type", "application/yaml").send_string(body)).map(drop)
    }
}
