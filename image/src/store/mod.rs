//! The image store on the appliance: every version of every image, its artifact cut into
//! content-defined chunks (`chunker`), each chunk stored once by its blake3 (`chunks`) however many
//! versions hold it, and one version file per version naming its chunks and metadata (`version`).
//!
//! ```text
//! STORE/chunks/HH/HASH              chunk bytes (HASH = blake3, hex)
//! STORE/versions/NAME/NNNNNNNN.json a version: metadata + its chunks in order
//! STORE/tmp/                        files being written (cleared by gc)
//! STORE/lock                        publishers and readers share it; gc holds it alone
//! ```
//!
//! Crash safety: chunks and version files are written to `tmp/`, synced and renamed into place; a
//! version file is written only after every chunk it names is durable, and claims its number with
//! `link`, which fails rather than replace an existing version. A publish killed at any point leaves
//! only unreferenced chunks and temporary files, which `gc` removes; it never leaves a version listed.
//!
//! Entry point for the image builders: [`Store::publish`]`(name, artifact_path, &meta) ->
//! Result<Published, StoreError>`.
mod chunker;
mod chunks;
mod gc;
mod report;
mod verify;
mod version;

pub use chunker::{AVG_CHUNK_BYTES, MAX_CHUNK_BYTES, MIN_CHUNK_BYTES};
pub use gc::GcReport;
pub use report::{Diff, MetaChange, PackageChange, Usage, usage};
pub use verify::{Problem, VerifyReport};
pub use version::{ChunkRef, Version, check_name, parse_label};

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use crate::durable;
use crate::meta::ImageMeta;
use chunks::Chunks;

/// What can go wrong in the store. None of these leaves it invalid.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
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
    /// An image name that cannot be a directory name.
    #[error("invalid image name {0:?}: use 1 to 63 letters, digits, '-', '_' or '.', starting with a letter or digit")]
    BadName(String),
    /// Not `NAME@VERSION`.
    #[error("invalid version {0:?}: expected NAME@VERSION")]
    BadLabel(String),
    /// No such version.
    #[error("no version {0} in the store")]
    NoSuchVersion(String),
    /// A version file that does not parse (written by something else: ours are renamed in whole).
    #[error("version file {path} is unreadable: {reason}")]
    BadVersionFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A chunk whose bytes no longer hash to its name.
    #[error("chunk {0} is corrupt (its bytes do not match its hash)")]
    CorruptChunk(String),
    /// A materialised artifact whose whole hash is not the version's.
    #[error("{0}: the artifact assembled from its chunks does not match its recorded blake3")]
    ArtifactMismatch(String),
}

impl StoreError {
    fn io(what: &'static str, path: &Path, source: std::io::Error) -> Self {
        StoreError::Io { what, path: path.to_path_buf(), source }
    }
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The version now listed.
    pub version: Version,
    /// Chunks this version added to the store (the rest were already there).
    pub new_chunks: usize,
    /// Bytes this version added to the store: its growth.
    pub new_bytes: u64,
}

/// An open store.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    chunks: Chunks,
}

/// Which lock an operation holds on `STORE/lock`.
enum LockKind {
    /// Publish, read, verify: many at once.
    Shared,
    /// gc: alone, so no chunk it judges unreferenced is about to be named by a publish in flight.
    Exclusive,
}

impl Store {
    /// Opens the store at `root`, creating it if needed.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        for d in [root.join("chunks"), root.join("versions"), root.join("tmp")] {
            std::fs::create_dir_all(&d).map_err(|e| StoreError::io("creating", &d, e))?;
        }
        let chunks = Chunks::new(root.join("chunks"), root.join("tmp"));
        Ok(Store { root, chunks })
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self, kind: LockKind) -> Result<File, StoreError> {
        let path = self.root.join("lock");
        let f = File::options().create(true).truncate(false).write(true).open(&path).map_err(|e| StoreError::io("opening", &path, e))?;
        match kind {
            LockKind::Shared => f.lock_shared(),
            LockKind::Exclusive => f.lock(),
        }
        .map_err(|e| StoreError::io("locking", &path, e))?;
        Ok(f)
    }

    fn versions_dir(&self) -> PathBuf {
        self.root.join("versions")
    }

    /// Publishes the artifact at `artifact` as the next version of `name`. `meta.size_bytes` is set
    /// to the artifact's size. The version is listed only once all of it is durable.
    pub fn publish(&self, name: &str, artifact: &Path, meta: &ImageMeta) -> Result<Published, StoreError> {
        check_name(name)?;
        let _lock = self.lock(LockKind::Shared)?;
        let file = File::open(artifact).map_err(|e| StoreError::io("opening", artifact, e))?;
        let mut whole = blake3::Hasher::new();
        let (mut refs, mut new_chunks, mut new_bytes, mut total) = (Vec::new(), 0, 0u64, 0u64);
        for c in chunker::chunks(BufReader::with_capacity(1 << 20, file)) {
            let c = c.map_err(|e| StoreError::io("reading", artifact, e))?;
            whole.update(&c.data);
            total += c.data.len() as u64;
            if self.chunks.put(&c.id, &c.data)? {
                new_chunks += 1;
                new_bytes += c.data.len() as u64;
            }
            refs.push(ChunkRef { id: c.id.to_hex().to_string(), len: c.data.len() as u32 });
        }
        self.chunks.sync_dirs(refs.iter().map(|r| r.id.as_str()))?;
        let mut meta = meta.clone();
        meta.size_bytes = total;
        let mut version = Version {
            name: name.to_string(),
            version: 0,
            artifact_blake3: whole.finalize().to_hex().to_string(),
            artifact_bytes: total,
            published_unix_s: crate::now_unix_s(),
            meta,
            chunks: refs,
        };
        self.claim_next_version(&mut version)?;
        Ok(Published { version, new_chunks, new_bytes })
    }

    /// Writes the version file under the next free number: written and synced in `tmp/`, then
    /// hard-linked to its name (link fails if a concurrent publish took the number: try the next).
    fn claim_next_version(&self, version: &mut Version) -> Result<(), StoreError> {
        let dir = self.versions_dir().join(&version.name);
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io("creating", &dir, e))?;
        durable::sync_parent(&dir).map_err(|e| StoreError::io("syncing", &dir, e))?;
        version.version = self.numbers(&version.name)?.last().copied().unwrap_or(0) + 1;
        let tmp = durable::tmp_path(&self.root.join("tmp"), "version");
        loop {
            let json = serde_json::to_vec_pretty(&*version).expect("a version serialises");
            durable::write_tmp(&tmp, &json).map_err(|e| StoreError::io("writing", &tmp, e))?;
            let dest = version::file_name(&self.versions_dir(), &version.name, version.version);
            match std::fs::hard_link(&tmp, &dest) {
                Ok(()) => {
                    durable::sync_dir(&dir).map_err(|e| StoreError::io("syncing", &dir, e))?;
                    let _ = std::fs::remove_file(&tmp);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => version.version += 1,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(StoreError::io("linking", &dest, e));
                }
            }
        }
    }

    /// The version numbers of `name`, ascending.
    fn numbers(&self, name: &str) -> Result<Vec<u32>, StoreError> {
        let dir = self.versions_dir().join(name);
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let mut out: Vec<u32> = chunks::read_dir(&dir)?
            .iter()
            .filter_map(|p| p.file_name()?.to_str().and_then(version::number_of))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// Image names with at least one version file, sorted.
    pub fn names(&self) -> Result<Vec<String>, StoreError> {
        Ok(chunks::read_dir(&self.versions_dir())?
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .filter(|n| check_name(n).is_ok() && self.numbers(n).is_ok_and(|v| !v.is_empty()))
            .collect())
    }

    /// One version.
    pub fn get(&self, name: &str, version: u32) -> Result<Version, StoreError> {
        check_name(name)?;
        let path = version::file_name(&self.versions_dir(), name, version);
        if !path.exists() {
            return Err(StoreError::NoSuchVersion(format!("{name}@{version}")));
        }
        version::read(&path)
    }

    /// Every version of `name` (every image when `None`), by name then number.
    pub fn versions(&self, name: Option<&str>) -> Result<Vec<Version>, StoreError> {
        let names = match name {
            Some(n) => {
                check_name(n)?;
                vec![n.to_string()]
            }
            None => self.names()?,
        };
        let mut out = Vec::new();
        for n in names {
            for v in self.numbers(&n)? {
                out.push(self.get(&n, v)?);
            }
        }
        Ok(out)
    }

    /// Removes a version from the listing. Its chunks stay until `gc` finds them unreferenced.
    pub fn remove(&self, name: &str, version: u32) -> Result<(), StoreError> {
        self.get(name, version)?;
        let path = version::file_name(&self.versions_dir(), name, version);
        std::fs::remove_file(&path).map_err(|e| StoreError::io("removing", &path, e))?;
        durable::sync_parent(&path).map_err(|e| StoreError::io("syncing", &path, e))
    }

    /// Writes `name@version`'s artifact to `out`: every chunk checked against its hash and the whole
    /// against the version's, written beside `out`, synced, renamed into place. On any mismatch
    /// nothing is left at `out`.
    pub fn materialise(&self, name: &str, version: u32, out: &Path) -> Result<Version, StoreError> {
        let _lock = self.lock(LockKind::Shared)?;
        let v = self.get(name, version)?;
        let mut partial = out.as_os_str().to_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let result = (|| {
            let mut f = std::io::BufWriter::with_capacity(1 << 20, File::create(&partial).map_err(|e| StoreError::io("creating", &partial, e))?);
            let mut whole = blake3::Hasher::new();
            for c in &v.chunks {
                let data = self.chunks.read(&c.id)?;
                whole.update(&data);
                f.write_all(&data).map_err(|e| StoreError::io("writing", &partial, e))?;
            }
            if whole.finalize().to_hex().as_str() != v.artifact_blake3 {
                return Err(StoreError::ArtifactMismatch(v.label()));
            }
            let f = f.into_inner().map_err(|e| StoreError::io("writing", &partial, e.into_error()))?;
            f.sync_all().map_err(|e| StoreError::io("syncing", &partial, e))?;
            std::fs::rename(&partial, out).map_err(|e| StoreError::io("renaming into place", out, e))?;
            durable::sync_parent(out).map_err(|e| StoreError::io("syncing", out, e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result.map(|()| v)
    }
}
