//! Writing rendered config into a root without ever leaving it: paths with `..` or not absolute are
//! refused; symlinks already in the root are followed the way the installed system will see them
//! (an absolute link points into the root, never at the agent's own filesystem, via
//! [`image::rootfs::resolve`]); the last component is replaced by a rename and never followed; every
//! directory written into is checked to lie under the root once created.
//!
//! Each file is written under a temporary name, synced and renamed, so a crash leaves the old file or
//! the new one. Only the agent writes into the root while it runs, so nothing moves under it between
//! the check and the write.
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use image::rootfs::{self, RootPathError};

use super::{fstab, FileToWrite, LinkToMake, Rendered};

/// Where fstab lives inside the root.
const FSTAB: &str = "/etc/fstab";

/// Why rendered config could not be written into a root.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A path that is not absolute, has `..`, or names the root itself.
    #[error("{0:?}: refused, expected an absolute path inside the root without '..'")]
    Escape(String),
    /// A directory that, once resolved and created, is not under the root.
    #[error("{path}: its directory {dir} is outside the root")]
    Outside {
        /// The path inside the root.
        path: String,
        /// Where it resolved to.
        dir: PathBuf,
    },
    /// Following the root's symlinks failed (a loop, an unreadable link).
    #[error(transparent)]
    Resolve(#[from] RootPathError),
    /// A filesystem call failed.
    #[error("{doing} {path}: {source}")]
    Io {
        /// What was being done.
        doing: &'static str,
        /// The path inside the root.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Writes `rendered` into the root at `root`: files, then symlinks, then its block of `/etc/fstab`
/// (replacing the block an earlier apply left, so re-applying converges). Kernel arguments are not
/// written here; the bootloader step takes them.
pub fn apply(root: &Path, rendered: &Rendered) -> Result<(), WriteError> {
    let root = root.canonicalize().map_err(io("opening the root", "/"))?;
    write_files(&root, &rendered.files, &rendered.links)?;
    let fstab_host = rootfs::resolve(&root, Path::new(FSTAB))?;
    let existing = match fs::read_to_string(&fstab_host) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io("reading", FSTAB)(e)),
    };
    let merged = fstab::merge(&existing, &rendered.fstab);
    if merged != existing {
        let (dir, name) = place(&root, FSTAB, 0o755)?;
        replace(&dir, &name, FSTAB, |tmp| {
            let mut file = OpenOptions::new().write(true).create_new(true).mode(0o644).open(tmp)?;
            file.write_all(merged.as_bytes())?;
            file.sync_all()
        })?;
    }
    Ok(())
}

/// Writes `files`, then `links`, into the root at `root` with the same checks as [`apply`], and
/// leaves `/etc/fstab` alone (an [`apply`] without fstab lines would remove the config's block);
/// returns where each landed on the host, in that order, so a caller can take one away again.
pub fn write_files(root: &Path, files: &[FileToWrite], links: &[LinkToMake]) -> Result<Vec<PathBuf>, WriteError> {
    let root = root.canonicalize().map_err(io("opening the root", "/"))?;
    let mut written = Vec::with_capacity(files.len() + links.len());
    for f in files {
        let (dir, name) = place(&root, &f.path, dir_mode(f.mode))?;
        replace(&dir, &name, &f.path, |tmp| {
            let mut file = OpenOptions::new().write(true).create_new(true).mode(f.mode).open(tmp)?;
            file.write_all(&f.contents)?;
            // The umask may have cleared bits of the mode.
            file.set_permissions(fs::Permissions::from_mode(f.mode))?;
            file.sync_all()
        })?;
        written.push(dir.join(name));
    }
    for l in links {
        let (dir, name) = place(&root, &l.path, 0o755)?;
        replace(&dir, &name, &l.path, |tmp| std::os::unix::fs::symlink(&l.target, tmp))?;
        written.push(dir.join(name));
    }
    Ok(written)
}

/// The host directory that will hold `path` (created if missing, with `mode`) and the file name.
fn place(root: &Path, path: &str, mode: u32) -> Result<(PathBuf, String), WriteError> {
    let escape = || WriteError::Escape(path.to_owned());
    if !path.starts_with('/') {
        return Err(escape());
    }
    let mut parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if parts.contains(&"..") {
        return Err(escape());
    }
    let name = parts.pop().ok_or_else(escape)?.to_owned();
    let dir = rootfs::resolve(root, Path::new(&format!("/{}", parts.join("/"))))?;
    DirBuilder::new().recursive(true).mode(mode).create(&dir).map_err(io("creating the directory of", path))?;
    let dir = dir.canonicalize().map_err(io("opening the directory of", path))?;
    if !dir.starts_with(root) {
        return Err(WriteError::Outside { path: path.to_owned(), dir });
    }
    Ok((dir, name))
}

/// Makes `name` in `dir` with `make` under a temporary name, then renames it into place (replacing a
/// file or symlink there without following it) and syncs the directory.
fn replace(dir: &Path, name: &str, path: &str, make: impl FnOnce(&Path) -> std::io::Result<()>) -> Result<(), WriteError> {
    let tmp = dir.join(format!(".{name}.fountain-tmp"));
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("removing a leftover temporary file for", path)(e)),
    }
    make(&tmp).map_err(io("writing", path))?;
    fs::rename(&tmp, dir.join(name)).map_err(io("renaming into place", path))?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("syncing the directory of", path))
}

/// Mode for a missing parent directory of a file with `mode`: the file's bits, search wherever read is
/// allowed, and full access for the owner (a 0600 key gets a 0700 `.ssh`, a 0644 file a 0755 dir).
fn dir_mode(mode: u32) -> u32 {
    0o700 | (mode & 0o077) | ((mode & 0o044) >> 2)
}

fn io<'p>(doing: &'static str, path: &'p str) -> impl FnOnce(std::io::Error) -> WriteError + 'p {
    move |source| WriteError::Io { doing, path: path.to_owned(), source }
}
