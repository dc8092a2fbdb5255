//! Distribution ISOs on the appliance, the media images are built from: each stored once under its
//! blake3 (`ISOS/HASH.iso`) with what was detected about it (`ISOS/HASH.json`, see [`detect`]).
//! An ISO is listed exactly when its JSON exists, and the JSON is written (temp + fsync + rename)
//! only after the ISO file itself is complete, renamed and durable, so an upload killed at any point
//! lists nothing; its leftovers (`ISOS/tmp/*`, an `.iso` without JSON) are removed by
//! [`IsoStore::clean`], which the server runs at start.
//!
//! Uploads stream: [`IsoStore::begin`] returns an [`Upload`] that takes the bytes as they come,
//! hashing as it writes and refusing past its size limit.
pub mod detect;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable;
pub use detect::Detected;

/// The largest ISO accepted unless configured otherwise: a DVD image with room to spare.
pub const DEFAULT_MAX_ISO_BYTES: u64 = 16 << 30;

/// One stored ISO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsoInfo {
    /// blake3 of the ISO, hex: its id.
    pub id: String,
    /// Its size.
    pub bytes: u64,
    /// The file name it was added under.
    pub name: String,
    /// What its own metadata says it is.
    pub detected: Detected,
    /// When it was added, seconds since the epoch.
    pub added_unix_s: u64,
}

/// What can go wrong adding an ISO. None leaves anything listed.
#[derive(Debug, thiserror::Error)]
pub enum IsoError {
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What we were doing.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// More bytes than the limit.
    #[error("the ISO is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The bytes received do not hash to what the sender said.
    #[error("the ISO's blake3 is {actual}, not {expected} as announced: damaged in transit, not stored")]
    HashMismatch {
        /// What the sender said.
        expected: String,
        /// What arrived.
        actual: String,
    },
    /// No `.treeinfo`, `.discinfo` or `.disk/info` that names a distribution and release.
    #[error("{name} is not a distribution ISO fountain can read: no .treeinfo, .discinfo or .disk/info naming a distribution and release")]
    NotDetected {
        /// Its name.
        name: String,
    },
    /// A name that is not a plain file name.
    #[error("invalid ISO name {0:?}: a file name of printable characters, without '/'")]
    BadName(String),
    /// No such ISO.
    #[error("no ISO {0}")]
    NotFound(String),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> IsoError + 'a {
    move |source| IsoError::Io { what, path: path.to_path_buf(), source }
}

/// The ISO folder.
#[derive(Debug, Clone)]
pub struct IsoStore {
    dir: PathBuf,
}

impl IsoStore {
    /// Opens the folder at `dir`, creating it if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<IsoStore, IsoError> {
        let dir = dir.into();
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(io("creating", &tmp))?;
        Ok(IsoStore { dir })
    }

    /// The stored ISO file of `id`.
    pub fn path(&self, id: &str) -> Result<PathBuf, IsoError> {
        self.get(id)?;
        Ok(self.dir.join(format!("{id}.iso")))
    }

    /// One ISO's record.
    pub fn get(&self, id: &str) -> Result<IsoInfo, IsoError> {
        if !is_hex_id(id) {
            return Err(IsoError::NotFound(id.to_string()));
        }
        let json = self.dir.join(format!("{id}.json"));
        let bytes = std::fs::read(&json).map_err(|_| IsoError::NotFound(id.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| IsoError::Io { what: "parsing", path: json, source: std::io::Error::other(e) })
    }

    /// Every listed ISO, by name.
    pub fn list(&self) -> Result<Vec<IsoInfo>, IsoError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(io("listing", &self.dir))? {
            let p = e.map_err(io("listing", &self.dir))?.path();
            if let Some(id) = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json")) {
                out.push(self.get(id)?);
            }
        }
        out.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok(out)
    }

    /// Removes what killed uploads left: temporary files, and ISO files never listed. Run when no
    /// upload is in flight (the server's start).
    pub fn clean(&self) -> Result<usize, IsoError> {
        let mut removed = 0;
        let tmp = self.dir.join("tmp");
        for e in std::fs::read_dir(&tmp).map_err(io("listing", &tmp))? {
            let p = e.map_err(io("listing", &tmp))?.path();
            std::fs::remove_file(&p).map_err(io("removing", &p))?;
            removed += 1;
        }
        for e in std::fs::read_dir(&self.dir).map_err(io("listing", &self.dir))? {
            let p = e.map_err(io("listing", &self.dir))?.path();
            if p.extension().is_some_and(|x| x == "iso") && !p.with_extension("json").exists() {
                std::fs::remove_file(&p).map_err(io("removing", &p))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Starts an upload of an ISO called `name`, refused past `limit_bytes`.
    pub fn begin(&self, name: &str, limit_bytes: u64) -> Result<Upload, IsoError> {
        if name.is_empty() || name.len() > 255 || name.contains('/') || !name.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err(IsoError::BadName(name.to_string()));
        }
        let tmp = durable::tmp_path(&self.dir.join("tmp"), "upload");
        let file = File::create(&tmp).map_err(io("creating", &tmp))?;
        Ok(Upload { store: self.clone(), name: name.to_string(), tmp, file: Some(file), hasher: blake3::Hasher::new(), bytes: 0, limit_bytes })
    }

    /// Adds the ISO at `path` (copied, hashed as it is read).
    pub fn add_file(&self, path: &Path, limit_bytes: u64) -> Result<(IsoInfo, bool), IsoError> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("upload.iso");
        let mut upload = self.begin(name, limit_bytes)?;
        let mut f = File::open(path).map_err(io("opening", path))?;
        let mut buf = vec![0; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(io("reading", path))?;
            if n == 0 {
                break;
            }
            upload.write(&buf[..n])?;
        }
        upload.finish(None)
    }
}

fn is_hex_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// An ISO being received. Dropped unfinished, it removes its temporary file.
#[derive(Debug)]
pub struct Upload {
    store: IsoStore,
    name: String,
    tmp: PathBuf,
    file: Option<File>,
    hasher: blake3::Hasher,
    bytes: u64,
    limit_bytes: u64,
}

impl Upload {
    /// Takes the next bytes.
    pub fn write(&mut self, data: &[u8]) -> Result<(), IsoError> {
        self.bytes += data.len() as u64;
        if self.bytes > self.limit_bytes {
            return Err(IsoError::TooLarge { limit: self.limit_bytes });
        }
        self.hasher.update(data);
        self.file.as_mut().expect("an upload writes until finished").write_all(data).map_err(io("writing", &self.tmp))
    }

    /// Bytes taken so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Completes the upload: checks the hash against `expected_blake3` when given, stores the ISO
    /// under its hash (once: an ISO already there is kept, and `false` says so), detects what it is,
    /// and lists it.
    pub fn finish(mut self, expected_blake3: Option<&str>) -> Result<(IsoInfo, bool), IsoError> {
        let id = self.hasher.finalize().to_hex().to_string();
        if let Some(expected) = expected_blake3
            && !expected.eq_ignore_ascii_case(&id)
        {
            return Err(IsoError::HashMismatch { expected: expected.to_string(), actual: id });
        }
        if let Ok(existing) = self.store.get(&id) {
            return Ok((existing, false));
        }
        let file = self.file.take().expect("finish runs once");
        file.sync_all().map_err(io("syncing", &self.tmp))?;
        drop(file);
        let dir = self.store.dir.clone();
        let iso = dir.join(format!("{id}.iso"));
        std::fs::rename(&self.tmp, &iso).map_err(io("renaming into place", &iso))?;
        durable::sync_dir(&dir).map_err(io("syncing", &dir))?;
        let scratch = tempfile_dir(&dir.join("tmp"))?;
        let detected = detect::METADATA_FILES
            .iter()
            .find_map(|f| detect::extract(&iso, f, &scratch).and_then(|text| detect::parse(f, &text)));
        let _ = std::fs::remove_dir_all(&scratch);
        let Some(detected) = detected else {
            std::fs::remove_file(&iso).map_err(io("removing", &iso))?;
            return Err(IsoError::NotDetected { name: self.name.clone() });
        };
        let info = IsoInfo { id: id.clone(), bytes: self.bytes, name: self.name.clone(), detected, added_unix_s: crate::now_unix_s() };
        let json = dir.join(format!("{id}.json"));
        let tmp = durable::tmp_path(&dir.join("tmp"), "info");
        durable::write_tmp(&tmp, &serde_json::to_vec_pretty(&info).expect("an ISO record serialises")).map_err(io("writing", &tmp))?;
        std::fs::rename(&tmp, &json).map_err(io("renaming into place", &json))?;
        durable::sync_dir(&dir).map_err(io("syncing", &dir))?;
        Ok((info, true))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A fresh scratch directory under `dir` for the extracted metadata files.
fn tempfile_dir(dir: &Path) -> Result<PathBuf, IsoError> {
    let p = durable::tmp_path(dir, "detect");
    std::fs::create_dir(&p).map_err(io("creating", &p))?;
    Ok(p)
}
