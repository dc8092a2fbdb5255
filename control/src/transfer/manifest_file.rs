//! Reading an image version's manifest file: the one reader the publish check, the sender launch and
//! the manifest route share, so all three accept and refuse the same files.
//!
//! The file holds a bare manifest or a session ticket as `fountain send` writes it (its manifest is
//! taken, the rest ignored); both are decoded and fully checked by the engine's own decoders in `fec`.
use std::io::Read;
use std::path::Path;

use fec::{Manifest, ManifestError, SessionTicket};

/// Largest manifest read, bytes: one hash per block, a few MiB for the largest images.
pub const MANIFEST_MAX_BYTES: u64 = 64 << 20;

/// Why a manifest file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestFileError {
    /// The file could not be read.
    #[error("reading {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        error: std::io::Error,
    },
    /// Larger than any real manifest.
    #[error("{0} is larger than {MANIFEST_MAX_BYTES} bytes: not a fountain manifest")]
    TooLarge(String),
    /// Its blake3 is not the one recorded when the version was published.
    #[error("{0} changed since the image version was published")]
    Changed(String),
    /// Neither a manifest nor a session ticket.
    #[error("{path} is not a fountain manifest: {error}")]
    NotAManifest {
        /// The file.
        path: String,
        /// What the manifest decoder said.
        error: ManifestError,
    },
}

/// A manifest as read from its file, with the blake3 of the file's bytes (hex).
#[derive(Debug)]
pub struct ManifestFile {
    /// The decoded manifest.
    pub manifest: Manifest,
    /// blake3 of the file, hex: what a published version records.
    pub blake3: String,
}

/// Reads and decodes the manifest at `path`; with `expected_blake3`, refuses a file whose bytes
/// changed since that hash was recorded.
pub fn read(path: &Path, expected_blake3: Option<&str>) -> Result<ManifestFile, ManifestFileError> {
    let name = || path.display().to_string();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MANIFEST_MAX_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|error| ManifestFileError::Io { path: name(), error })?;
    if bytes.len() as u64 > MANIFEST_MAX_BYTES {
        return Err(ManifestFileError::TooLarge(name()));
    }
    let blake3 = blake3::hash(&bytes).to_hex().to_string();
    if expected_blake3.is_some_and(|expected| expected != blake3) {
        return Err(ManifestFileError::Changed(name()));
    }
    let manifest = Manifest::decode(&bytes)
        .or_else(|e| SessionTicket::decode(&bytes).map(|t| t.manifest).map_err(|_| e))
        .map_err(|error| ManifestFileError::NotAManifest { path: name(), error })?;
    Ok(ManifestFile { manifest, blake3 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_manifests_and_tickets_are_read_anything_else_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = Manifest::hash_object(fec::ObjectLayout::new(50, 64, 4).unwrap(), &[1u8; 50][..]).unwrap();
        let ticket = SessionTicket { session_id: 3, group: "239.255.0.1:4000".parse().unwrap(), key: None, manifest: manifest.clone() };
        for (name, bytes) in [("bare", manifest.encode()), ("ticket", ticket.encode())] {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            let read = read(&path, None).unwrap();
            assert_eq!((read.manifest, read.blake3.clone()), (manifest.clone(), blake3::hash(&bytes).to_hex().to_string()));
            assert!(super::read(&path, Some(&read.blake3)).is_ok());
            assert!(matches!(super::read(&path, Some(&"00".repeat(32))), Err(ManifestFileError::Changed(_))));
        }
        let junk = dir.path().join("root.img");
        std::fs::write(&junk, [0u8; 100]).unwrap();
        let err = read(&junk, None).unwrap_err();
        assert!(err.to_string().ends_with("root.img is not a fountain manifest: not a fountain manifest (bad magic)"), "{err}");
        assert!(matches!(read(&dir.path().join("nope"), None), Err(ManifestFileError::Io { .. })));
    }
}
