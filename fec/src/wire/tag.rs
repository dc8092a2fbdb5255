//! Per-packet authentication tags: a keyed blake3 of the packet, truncated.
//!
//! The key travels with the manifest over the authenticated control channel, never over
//! multicast, so a host on the multicast network that lacks it cannot forge symbols.

/// Bytes of tag appended to a tagged packet.
pub const TAG_LEN: usize = 16;

/// A session's packet-authentication key.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// Wraps raw key bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The tag of `packet` (everything before the tag).
    pub fn tag(&self, packet: &[u8]) -> [u8; TAG_LEN] {
        let full = blake3::keyed_hash(&self.0, packet);
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&full.as_bytes()[..TAG_LEN]);
        tag
    }

    /// Checks `tag` against `packet` in constant time.
    pub fn verify(&self, packet: &[u8], tag: &[u8]) -> bool {
        let expected = self.tag(packet);
        tag.len() == TAG_LEN && expected.iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}
