//! Stateless servers: the HTTP servers stateless nodes load their image from.
use serde::{Deserialize, Serialize};

/// Longest server URL accepted.
pub const URL_MAX_CHARS: usize = 2048;

/// A stateless server as stored and listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatelessServer {
    /// Store id.
    pub id: i64,
    /// Base URL the agent loads images from.
    pub url: String,
    /// Relative capacity: power-of-two-choices compares load per unit of weight.
    pub weight: u32,
    /// Only healthy servers are ever chosen.
    pub healthy: bool,
    /// Stateless nodes currently assigned to it.
    pub load: u64,
}

/// Body of `POST /api/v1/servers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewServer {
    /// Base URL.
    pub url: String,
    /// Weight, 1 by default.
    #[serde(default = "one")]
    pub weight: u32,
    /// Health to start with; when absent the server is probed once before it is stored and starts
    /// with that probe's answer, so a server nobody has checked is never handed to a node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
}

/// Body of `PATCH /api/v1/servers/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerPatch {
    /// New weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// New health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
}

fn one() -> u32 {
    1
}

/// Checks a server URL: http(s), and nothing that would break out of a kernel argument.
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    let ok = url.len() <= URL_MAX_CHARS
        && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && url.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/[]%@+~".contains(&b));
    if !ok {
        return Err(format!("invalid server URL {:?}: expected http://host[:port][/path] without spaces, quotes or '$'", url.chars().take(80).collect::<String>()));
    }
    let authority = rest.unwrap_or_default().split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err("server URLs with credentials (user@ or user:password@) are refused: every stateless node's boot script shows the URL".into());
    }
    Ok(())
}

/// Checks a weight.
pub fn check_weight(weight: u32) -> Result<(), String> {
    if (1..=1_000_000).contains(&weight) { Ok(()) } else { Err(format!("invalid weight {weight}: use 1 to 1000000")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("http://10.0.0.1:8080/images").is_ok());
        for bad in ["ftp://x", "http://", "http://a b", "http://x/${y}", "http:///x"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        for creds in ["http://user:secret@10.0.0.1/images", "https://user@host"] {
            assert!(check_url(creds).unwrap_err().contains("credentials"), "{creds}");
        }
        assert!(check_url("http://10.0.0.1/a@b").is_ok(), "an @ in the path is no credential");
    }
}
