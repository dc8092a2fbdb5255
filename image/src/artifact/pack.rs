//! Packing a root directory into a squashfs artifact, reproducibly: mksquashfs sorts every directory
//! by name and writes in that order (single-threaded reading of the tree; compression on every core is
//! still deterministic), and the filesystem's own timestamp is fixed, so the same tree gives the same
//! bytes, which is also what lets the store share chunks between versions.
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{ArtifactError, acls, tool};

/// The squashfs compressor and level the store's artifacts use (chosen by the benchmark: see
/// docs/decisions.md, "Images").
pub const DEFAULT_COMPRESSOR: &str = "zstd";
/// zstd level: 15 is 7% smaller than 3 and decompresses as fast; 19 saves another 0.5% for ~1.4× the
/// build time (debootstrap minbase root, see decisions.md).
pub const DEFAULT_COMPRESSION_LEVEL: u32 = 15;
/// squashfs block size: 128 KiB, mksquashfs's default; larger blocks compress better but make a
/// stateless node's random reads costlier.
pub const DEFAULT_BLOCK_BYTES: u32 = 128 * 1024;

/// How to pack. `Default` is what the store publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackOptions {
    /// Compressor name as mksquashfs spells it (`zstd`, `xz`, `lz4`, `gzip`).
    pub compressor: String,
    /// Compression level, for compressors that take one (`-Xcompression-level`).
    pub level: Option<u32>,
    /// Data block size in bytes.
    pub block_bytes: u32,
    /// Set every file's modification time to this (seconds since the epoch). `None` keeps each
    /// file's own: files installed from packages carry the package's times, so two builds agree
    /// without it, and a fixed time would make Python's bytecode caches look stale.
    pub all_mtime_unix_s: Option<u64>,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            compressor: DEFAULT_COMPRESSOR.into(),
            level: Some(DEFAULT_COMPRESSION_LEVEL),
            block_bytes: DEFAULT_BLOCK_BYTES,
            all_mtime_unix_s: None,
        }
    }
}

/// A packed artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// Where it is.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
}

/// The filesystem creation time written into every artifact: fixed, so it never makes two packs of
/// one tree differ.
const MKFS_TIME_UNIX_S: u64 = 0;

/// Packs `root` into a squashfs artifact at `out` with the store's settings. `out` appears only
/// complete (written beside it, then renamed); on failure nothing is left there.
pub fn pack(root: &Path, out: &Path) -> Result<Packed, ArtifactError> {
    pack_with(root, out, &PackOptions::default())
}

/// [`pack`] with chosen settings (the benchmark compares several).
pub fn pack_with(root: &Path, out: &Path, options: &PackOptions) -> Result<Packed, ArtifactError> {
    if !root.is_dir() {
        return Err(ArtifactError::NotADirectory(root.to_path_buf()));
    }
    let tmp = partial_path(out);
    let _ = std::fs::remove_file(&tmp);
    let io = |what, path: &Path, source| ArtifactError::Io { what, path: path.to_path_buf(), source };
    let mut cmd = Command::new("mksquashfs");
    cmd.arg(root).arg(&tmp);
    // The ACLs squashfs cannot hold go in as one more file, written by a pseudo definition (time 0,
    // root-only), so the root itself is never written to.
    let acl_dump = with_suffix(out, ".posix-acls");
    if let Some(dump) = acls::dump(root)? {
        std::fs::write(&acl_dump, dump).map_err(|e| io("writing", &acl_dump, e))?;
        let quoted = acl_dump.to_string_lossy().replace('\'', "'\\''");
        cmd.arg("-p").arg(format!("{} F 0 400 0 0 cat '{quoted}'", acls::ACL_FILE));
    }
    cmd.args(["-noappend", "-reproducible", "-no-progress", "-quiet", "-exit-on-error", "-xattrs"]);
    cmd.args(["-comp", &options.compressor, "-b", &options.block_bytes.to_string()]);
    if let Some(level) = options.level {
        cmd.args(["-Xcompression-level", &level.to_string()]);
    }
    cmd.args(["-mkfs-time", &MKFS_TIME_UNIX_S.to_string()]);
    if let Some(t) = options.all_mtime_unix_s {
        cmd.args(["-all-time", &t.to_string()]);
    }
    // SOURCE_DATE_EPOCH would override nothing we set, but clear it so the result never depends on
    // the caller's environment.
    cmd.env_remove("SOURCE_DATE_EPOCH");
    let packed = tool::run("mksquashfs", &mut cmd);
    let _ = std::fs::remove_file(&acl_dump);
    if let Err(e) = packed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let file = std::fs::File::open(&tmp).map_err(|e| io("opening", &tmp, e))?;
    file.sync_all().map_err(|e| io("syncing", &tmp, e))?;
    let bytes = file.metadata().map_err(|e| io("reading the size of", &tmp, e))?.len();
    std::fs::rename(&tmp, out).map_err(|e| io("renaming into place", out, e))?;
    Ok(Packed { path: out.to_path_buf(), bytes })
}

/// Where an artifact is written before it is complete: beside it, so the rename stays on one
/// filesystem.
fn partial_path(out: &Path) -> PathBuf {
    with_suffix(out, ".partial")
}

/// `out` with `suffix` added to its file name.
fn with_suffix(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    out.with_file_name(name)
}
