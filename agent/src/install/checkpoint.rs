//! Keeping a download on the target durable while it runs, so a reset (a power cut, a watchdog)
//! resumes from most of it. The receive journal is a hint that the resume checks block by block and
//! is never fsynced, and the kernel keeps written pages in its cache for up to ~30 s (ext4 commits its
//! metadata every 5 s): without this a reset a few seconds into a fast transfer leaves nothing to
//! resume. Once a second the image and then its journal are fsynced, the image first so that the
//! journal's durable records name blocks already on the disk (the resume checks each one anyway).
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the files are made durable: what a reset costs at most, in transfer time.
pub const EVERY: Duration = Duration::from_secs(1);

/// fsyncs its files every [`EVERY`] until dropped.
#[derive(Debug)]
pub struct Checkpoint {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpoint {
    /// Starts checkpointing `files`, in this order (a file not created yet is skipped that round).
    pub fn start(files: Vec<PathBuf>, every: Duration) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                sync(&files);
            }
        });
        Checkpoint { stop: Some(stop), thread: Some(thread) }
    }
}

/// fsyncs each of `files` that exists (through a read-only handle: fsync writes the file's pages and
/// metadata whatever the handle's mode). Errors only cost a longer re-fetch after a reset.
fn sync(files: &[PathBuf]) {
    for f in files {
        if let Ok(file) = std::fs::File::open(f) {
            let _ = file.sync_all();
        }
    }
}

impl Drop for Checkpoint {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_until_dropped_and_skips_files_not_there_yet() {
        let dir = tempfile::tempdir().unwrap();
        let (image, journal) = (dir.path().join("image"), dir.path().join("image.journal"));
        std::fs::write(&image, b"blocks").unwrap();
        let started = std::time::Instant::now();
        let checkpoint = Checkpoint::start(vec![image.clone(), journal], Duration::from_millis(10));
        drop(checkpoint);
        assert!(started.elapsed() < Duration::from_secs(5), "dropping stops the thread at once");
        assert_eq!(std::fs::read(&image).unwrap(), b"blocks", "the files are only synced, never written");
    }
}
