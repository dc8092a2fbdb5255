//! The staging folders of captures in progress, under `captures/` in the data directory: one per
//! capture id, holding the request (`capture.json`), one `received-N` marker per filesystem that
//! arrived whole, the root being assembled (`root/`) and, while it is published, the artifact.
//!
//! A capture whose node went away, or whose server was killed, leaves its folder behind: a root of
//! gigabytes that nothing will finish. [`clean`] removes such folders: all of them when the server
//! starts (no request can be using one then), and those idle longer than [`IDLE_LIMIT`] whenever a
//! new capture starts. A request working on a capture holds an exclusive lock on its `capture.json`
//! ([`Staging::lock`]), so neither a second request for the same capture nor the cleaner can touch a
//! folder in use.
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::NewCapture;

/// Folder under the data directory that holds captures in progress, one folder per capture id.
pub const CAPTURES_DIR: &str = "captures";

/// The request of a capture, in its folder; also the file its users lock.
const REQUEST_FILE: &str = "capture.json";

/// How long a capture may go without a filesystem arriving before it counts as abandoned. A node
/// streams its filesystems back to back, so a day of silence means it is not coming back.
pub const IDLE_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// Why a staging folder could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    /// No capture has this id (or its folder was cleaned).
    #[error("capture {0} not found")]
    NotFound(String),
    /// Another request holds the capture.
    #[error("capture {0} is busy: another request is streaming or finishing it")]
    Busy(String),
    /// The folder could not be written or read.
    #[error("capture {id}: {what}: {source}")]
    Io {
        /// Capture id.
        id: String,
        /// The step.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

/// One capture's staging folder.
#[derive(Debug, Clone)]
pub struct Staging {
    /// Capture id.
    pub id: String,
    /// Its folder.
    pub dir: PathBuf,
    /// What the node asked for.
    pub request: NewCapture,
}

/// Proof that a request holds a capture: the lock is released when this is dropped.
#[derive(Debug)]
pub struct Held {
    _lock: File,
}

impl Staging {
    /// Creates the folder of a new capture with a fresh id.
    pub fn create(data_dir: &Path, request: NewCapture) -> Result<Staging, StagingError> {
        let id = format!("{:032x}", rand::random::<u128>());
        let dir = data_dir.join(CAPTURES_DIR).join(&id);
        let io = |what, source| StagingError::Io { id: id.clone(), what, source };
        std::fs::create_dir_all(dir.join("root")).map_err(|e| io("creating its folder", e))?;
        let json = serde_json::to_vec_pretty(&request).expect("a request serialises");
        std::fs::write(dir.join(REQUEST_FILE), json).map_err(|e| io("writing its request", e))?;
        Ok(Staging { id, dir, request })
    }

    /// The capture `id`, when its folder exists.
    pub fn open(data_dir: &Path, id: &str) -> Result<Staging, StagingError> {
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StagingError::NotFound(id.to_owned()));
        }
        let dir = data_dir.join(CAPTURES_DIR).join(id);
        let text = std::fs::read(dir.join(REQUEST_FILE)).map_err(|_| StagingError::NotFound(id.to_owned()))?;
        let request = serde_json::from_slice(&text)
            .map_err(|e| StagingError::Io { id: id.to_owned(), what: "reading its request", source: e.into() })?;
        Ok(Staging { id: id.to_owned(), dir, request })
    }

    /// Takes the capture for one request, or says it is busy. The folder may have been cleaned
    /// between [`Staging::open`] and this: then it is not found.
    pub fn lock(&self) -> Result<Held, StagingError> {
        let file = File::open(self.dir.join(REQUEST_FILE)).map_err(|_| StagingError::NotFound(self.id.clone()))?;
        match file.try_lock() {
            Ok(()) if self.dir.join(REQUEST_FILE).exists() => Ok(Held { _lock: file }),
            Ok(()) => Err(StagingError::NotFound(self.id.clone())),
            Err(std::fs::TryLockError::WouldBlock) => Err(StagingError::Busy(self.id.clone())),
            Err(std::fs::TryLockError::Error(source)) => Err(StagingError::Io { id: self.id.clone(), what: "locking", source }),
        }
    }

    /// The root being assembled.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Where filesystem `index`'s marker goes once it arrived whole.
    pub fn received(&self, index: usize) -> PathBuf {
        self.dir.join(format!("received-{index}"))
    }

    /// The mount points of the filesystems that have not arrived yet.
    pub fn missing(&self) -> Vec<&str> {
        (0..self.request.filesystems.len()).filter(|&i| !self.received(i).exists()).map(|i| self.request.filesystems[i].as_str()).collect()
    }
}

/// Removes the staging folders of captures nobody holds whose last activity (the request written or
/// a filesystem received) is older than `idle`; returns how many went. `Duration::ZERO` removes every
/// folder not in use, as at server start. Failures are logged and skipped: cleaning only frees space.
pub fn clean(data_dir: &Path, idle: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(data_dir.join(CAPTURES_DIR)) else { return 0 };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let dir = entry.path();
        // Held while we look and remove: a request that opened the capture now finds it gone.
        let lock = File::open(dir.join(REQUEST_FILE)).ok();
        if let Some(file) = &lock
            && file.try_lock().is_err()
        {
            continue;
        }
        let idle_for = now.duration_since(last_activity(&dir)).unwrap_or_default();
        if idle_for < idle {
            continue;
        }
        // The request first, so that a request arriving now finds no capture rather than half of one.
        let _ = std::fs::remove_file(dir.join(REQUEST_FILE));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                tracing::info!(dir = %dir.display(), idle_s = idle_for.as_secs(), "removed an abandoned capture");
                removed += 1;
            }
            Err(e) => tracing::warn!(dir = %dir.display(), "removing an abandoned capture: {e}"),
        }
    }
    removed
}

/// The newest modification time of a capture folder and the request and markers in it (not of the
/// root, whose files carry the node's own times).
fn last_activity(dir: &Path) -> SystemTime {
    let mtime = |p: &Path| p.symlink_metadata().and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
    let files = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| !p.is_dir());
    files.map(|p| mtime(&p)).chain([mtime(dir)]).max().unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> NewCapture {
        NewCapture { image: "img".into(), node: "n1".into(), filesystems: vec!["/".into()] }
    }

    /// Backdates a capture's folder and everything directly in it by `age`.
    fn age(staging: &Staging, age: Duration) {
        let then = SystemTime::now() - age;
        for p in std::fs::read_dir(&staging.dir).unwrap().flatten().map(|e| e.path()).chain([staging.dir.clone()]) {
            File::open(&p).unwrap().set_modified(then).unwrap();
        }
    }

    #[test]
    fn idle_captures_go_busy_and_recent_ones_stay() {
        let data = tempfile::tempdir().unwrap();
        let old = Staging::create(data.path(), request()).unwrap();
        let recent = Staging::create(data.path(), request()).unwrap();
        let busy = Staging::create(data.path(), request()).unwrap();
        std::fs::write(old.root().join("big"), b"files of the node").unwrap();
        std::fs::write(recent.received(0), b"").unwrap();
        age(&old, IDLE_LIMIT + Duration::from_secs(60));
        age(&recent, IDLE_LIMIT + Duration::from_secs(60));
        std::fs::write(recent.received(0), b"").unwrap();
        age(&busy, IDLE_LIMIT * 2);
        let held = busy.lock().unwrap();
        assert!(matches!(busy.lock(), Err(StagingError::Busy(_))), "a held capture was taken twice");

        assert_eq!(clean(data.path(), IDLE_LIMIT), 1);
        assert!(!old.dir.exists(), "an abandoned capture stayed");
        assert!(matches!(Staging::open(data.path(), &old.id), Err(StagingError::NotFound(_))));
        assert!(recent.dir.exists() && busy.dir.exists());

        // At server start nothing is in use: everything not held goes, whatever its age.
        assert_eq!(clean(data.path(), Duration::ZERO), 1);
        assert!(!recent.dir.exists() && busy.dir.exists());
        drop(held);
        assert_eq!(clean(data.path(), Duration::ZERO), 1);
        assert!(std::fs::read_dir(data.path().join(CAPTURES_DIR)).unwrap().next().is_none());
    }

    #[test]
    fn a_folder_killed_before_its_request_was_written_is_cleaned() {
        let data = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(data.path().join(CAPTURES_DIR).join("0".repeat(32)).join("root")).unwrap();
        assert_eq!(clean(data.path(), Duration::ZERO), 1);
        assert_eq!(clean(data.path(), Duration::ZERO), 0);
    }

    #[test]
    fn a_capture_locked_after_it_was_cleaned_is_not_found() {
        let data = tempfile::tempdir().unwrap();
        let s = Staging::create(data.path(), request()).unwrap();
        let opened = Staging::open(data.path(), &s.id).unwrap();
        assert_eq!(clean(data.path(), Duration::ZERO), 1);
        assert!(matches!(opened.lock(), Err(StagingError::NotFound(_))));
        assert!(matches!(Staging::open(data.path(), "not-an-id"), Err(StagingError::NotFound(_))));
    }
}
