//! A version's record in the store: its metadata and the chunks its artifact is made of, in order.
//! One JSON file per version (`versions/NAME/NNNNNNNN.json`); a version exists exactly when its file
//! does, and the file is written last, after every chunk it names is durable.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::meta::ImageMeta;

/// One chunk of an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// blake3 of the chunk, hex.
    pub id: String,
    /// Its length.
    pub len: u32,
}

/// One published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Version {
    /// Image name.
    pub name: String,
    /// Version number: 1, 2, … per name, in publication order.
    pub version: u32,
    /// blake3 of the whole artifact, hex: checked again whenever the artifact is materialised.
    pub artifact_blake3: String,
    /// Artifact size.
    pub artifact_bytes: u64,
    /// When it was published, seconds since the epoch.
    pub published_unix_s: u64,
    /// What the builder said about it (`size_bytes` is the artifact's size).
    pub meta: ImageMeta,
    /// The artifact's chunks in order.
    pub chunks: Vec<ChunkRef>,
}

impl Version {
    /// `name@version`, as the CLI prints and takes it.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// Longest image name: a DNS label, as the control plane allows.
pub const NAME_MAX_CHARS: usize = 63;

/// Checks an image name: it becomes a directory name, so only letters, digits, `-`, `_`, `.`,
/// starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX_CHARS
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok { Ok(()) } else { Err(StoreError::BadName(name.to_string())) }
}

/// The file of `name`'s version `version` under the versions directory.
pub fn file_name(versions_dir: &Path, name: &str, version: u32) -> PathBuf {
    versions_dir.join(name).join(format!("{version:08}.json"))
}

/// Reads a version file.
pub fn read(path: &Path) -> Result<Version, StoreError> {
    let bytes = std::fs::read(path).map_err(|e| StoreError::io("reading", path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| StoreError::BadVersionFile { path: path.to_path_buf(), reason: e.to_string() })
}

/// Parses `NNNNNNNN.json`; anything else in a name's directory is not a version.
pub fn number_of(file_name: &str) -> Option<u32> {
    let stem = file_name.strip_suffix(".json")?;
    if stem.len() == 8 && stem.bytes().all(|b| b.is_ascii_digit()) { stem.parse().ok() } else { None }
}

/// Parses `NAME@VERSION`.
pub fn parse_label(label: &str) -> Result<(String, u32), StoreError> {
    let bad = || StoreError::BadLabel(label.to_string());
    let (name, v) = label.rsplit_once('@').ok_or_else(bad)?;
    check_name(name)?;
    Ok((name.to_string(), v.parse().map_err(|_| bad())?))
}
