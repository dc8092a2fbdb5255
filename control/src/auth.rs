//! Tokens: one admin token for the operator API, and one token per node for the agent's calls.
//!
//! Node tokens are not stored: each is a keyed blake3 of the node's name and a generation number under
//! a key kept in the data directory. The boot script can hand a node its token without a write per
//! boot, a token is only good for the node it was minted for (so one node can never read another's
//! config), and bumping the generation (done after every re-image) revokes the old one. Tokens are
//! compared in constant time and [`Secret`] never prints its value.
use std::fmt;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rand::RngCore;
use subtle::ConstantTimeEq;

/// File in the data directory holding the admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// File in the data directory holding the image servers' token: it reads published versions (to pull
/// copies) and nothing else, so an image server never holds the operator's power.
pub const SERVER_TOKEN_FILE: &str = "server.token";
/// File in the data directory holding the key node tokens are derived from.
pub const NODE_KEY_FILE: &str = "node-token.key";
/// Random bytes in a generated token or key.
const SECRET_BYTES: usize = 32;
/// Domain separation for node tokens, so the key can never produce a value meaningful elsewhere.
const NODE_TOKEN_CONTEXT: &[u8] = b"fountain node token v1\0";

/// A secret string: compared in constant time, never shown by `Debug`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// A fresh random secret, hex encoded.
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::thread_rng().fill_bytes(&mut bytes);
        Secret(hex(&bytes))
    }

    /// The value, for the one place that must send it (a boot script, the CLI's header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` equals this secret, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The server's token material.
pub struct Auth {
    admin: Secret,
    server: Secret,
    node_key: [u8; 32],
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Auth(<redacted>)")
    }
}

impl Auth {
    /// Reads the admin token and node key from the data directory, creating them (mode 0600) on
    /// first start.
    pub fn load_or_create(data_dir: &Path) -> io::Result<Auth> {
        let admin = read_or_create(&data_dir.join(ADMIN_TOKEN_FILE))?;
        let server = read_or_create(&data_dir.join(SERVER_TOKEN_FILE))?;
        let key_hex = read_or_create(&data_dir.join(NODE_KEY_FILE))?;
        let node_key = blake3::derive_key("fountain node token key v1", key_hex.expose().as_bytes());
        Ok(Auth { admin, server, node_key })
    }

    /// Whether `presented` is the admin token.
    pub fn is_admin(&self, presented: &str) -> bool {
        self.admin.matches(presented)
    }

    /// Whether `presented` is the image servers' token.
    pub fn is_server(&self, presented: &str) -> bool {
        self.server.matches(presented)
    }

    /// The token of `node` at token generation `generation`.
    pub fn node_token(&self, node: &str, generation: u64) -> Secret {
        let mut h = blake3::Hasher::new_keyed(&self.node_key);
        h.update(NODE_TOKEN_CONTEXT);
        h.update(&(node.len() as u64).to_le_bytes());
        h.update(node.as_bytes());
        h.update(&generation.to_le_bytes());
        Secret(h.finalize().to_hex().to_string())
    }

    /// Whether `presented` is the current token of `node`.
    pub fn is_node(&self, node: &str, generation: u64, presented: &str) -> bool {
        self.node_token(node, generation).matches(presented)
    }
}

fn read_or_create(path: &Path) -> io::Result<Secret> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok(Secret(s.trim().to_string())),
        Ok(_) => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{} is empty", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let secret = Secret::generate();
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    writeln!(f, "{}", secret.expose())?;
    f.sync_all()?;
    Ok(secret)
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_tokens_are_per_node_and_per_generation() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Auth::load_or_create(dir.path()).unwrap();
        let t = auth.node_token("n1", 0);
        assert!(auth.is_node("n1", 0, t.expose()));
        assert!(!auth.is_node("n2", 0, t.expose()));
        assert!(!auth.is_node("n1", 1, t.expose()));
        let again = Auth::load_or_create(dir.path()).unwrap();
        assert!(again.is_node("n1", 0, t.expose()), "key survives a restart");
        assert_eq!(format!("{t:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn admin_token_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        Auth::load_or_create(dir.path()).unwrap();
        for file in [ADMIN_TOKEN_FILE, SERVER_TOKEN_FILE] {
            let mode = std::fs::metadata(dir.path().join(file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        let auth = Auth::load_or_create(dir.path()).unwrap();
        let server = std::fs::read_to_string(dir.path().join(SERVER_TOKEN_FILE)).unwrap();
        assert!(auth.is_server(server.trim()) && !auth.is_admin(server.trim()), "the server token is not the admin's");
    }
}
