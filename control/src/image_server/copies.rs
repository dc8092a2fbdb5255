//! The copies an image server holds: where each lives and whether it is complete.
//!
//! A copy is `<image>@<version>.img` beside its `.manifest`; the manifest file is written only after
//! every block of the object was verified and stored, so its presence is what marks a copy complete
//! (and an interrupted pull leaves only the object and its journal, from which it resumes).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::sync::lock;

/// A complete, verified copy.
#[derive(Debug)]
pub struct Ready {
    /// The object file.
    pub object: PathBuf,
    /// The encoded manifest every block was checked against.
    pub manifest: Vec<u8>,
    /// Object size.
    pub len: u64,
    /// Strong entity tag: the manifest's blake3.
    pub etag: String,
}

/// Where a carried version stands.
#[derive(Debug, Clone)]
pub enum CopyState {
    /// Being pulled: `stored` of `blocks` verified so far.
    Pulling {
        /// Blocks stored.
        stored: u32,
        /// Blocks in the object (0 until the manifest arrived).
        blocks: u32,
    },
    /// Served.
    Ready(Arc<Ready>),
    /// The pull gave up; why.
    Failed(String),
}

/// One carried version as reported at `/healthz`.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// Image name.
    pub image: String,
    /// Version.
    pub version: u32,
    /// `pulling`, `ready` or `failed`.
    pub state: &'static str,
    /// Blocks stored.
    pub stored: u32,
    /// Blocks in the object.
    pub blocks: u32,
    /// Why the pull failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// File paths of one copy.
#[derive(Debug, Clone)]
pub struct CopyPaths {
    /// The object.
    pub object: PathBuf,
    /// The manifest, present only once the copy is complete.
    pub manifest: PathBuf,
    /// The pull's journal of stored blocks.
    pub journal: PathBuf,
}

impl CopyPaths {
    /// The paths of `image@version` under `dir`.
    pub fn new(dir: &Path, image: &str, version: u32) -> Self {
        let stem = format!("{image}@{version}");
        CopyPaths {
            object: dir.join(format!("{stem}.img")),
            manifest: dir.join(format!("{stem}.manifest")),
            journal: dir.join(format!("{stem}.journal")),
        }
    }
}

/// Every carried version and its state.
#[derive(Debug, Default)]
pub struct Copies {
    states: Mutex<HashMap<(String, u32), CopyState>>,
}

impl Copies {
    /// Sets the state of `image@version`.
    pub fn set(&self, image: &str, version: u32, state: CopyState) {
        lock(&self.states).insert((image.to_string(), version), state);
    }

    /// The complete copy of `image@version`, if there is one.
    pub fn ready(&self, image: &str, version: u32) -> Option<Arc<Ready>> {
        match lock(&self.states).get(&(image.to_string(), version)) {
            Some(CopyState::Ready(r)) => Some(r.clone()),
            _ => None,
        }
    }

    /// Whether every carried version is complete.
    pub fn all_ready(&self) -> bool {
        lock(&self.states).values().all(|s| matches!(s, CopyState::Ready(_)))
    }

    /// Every carried version's state, sorted.
    pub fn report(&self) -> Vec<CopyReport> {
        let mut out: Vec<CopyReport> = lock(&self.states)
            .iter()
            .map(|((image, version), s)| {
                let (state, stored, blocks, error) = match s {
                    CopyState::Pulling { stored, blocks } => ("pulling", *stored, *blocks, None),
                    CopyState::Ready(r) => {
                        let blocks = fec::Manifest::decode(&r.manifest).map(|m| m.layout().block_count()).unwrap_or(0);
                        ("ready", blocks, blocks, None)
                    }
                    CopyState::Failed(e) => ("failed", 0, 0, Some(e.clone())),
                };
                CopyReport { image: image.clone(), version: *version, state, stored, blocks, error }
            })
            .collect();
        out.sort_by(|a, b| (&a.image, a.version).cmp(&(&b.image, b.version)));
        out
    }
}
