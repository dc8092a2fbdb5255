//! Boot files built once per content: the key hashes the `fountain` binary (which holds the builder,
//! the init script and the module list) and the host kernels it would pick from, so a rebuilt binary
//! or a new kernel gets fresh files and every other run reuses them.
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;

use crate::process::output;

/// Builds (or finds) the boot files for `fountain` under `cache_root`; returns the folder holding
/// `vmlinuz` and `initrd.img`.
pub fn boot_files(fountain: &Path, cache_root: &Path) -> anyhow::Result<PathBuf> {
    // Tests of one binary run on threads: one builds, the others wait for it.
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(fountain).with_context(|| format!("opening {}", fountain.display()))?)?;
    let mut kernels: Vec<(String, u64)> = std::fs::read_dir("/boot")?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("vmlinuz-"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().map(|m| m.len()).unwrap_or(0)))
        .collect();
    kernels.sort();
    hasher.update(format!("{kernels:?}").as_bytes());
    let key = hasher.finalize().to_hex();
    let dir = cache_root.join(format!("boot-{}", &key[..16]));
    if dir.join("initrd.img").is_file() && dir.join("vmlinuz").is_file() {
        eprintln!("vmtest: boot files from cache {}", dir.display());
        return Ok(dir);
    }
    let building = cache_root.join(format!("building-{}-{}", &key[..16], std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let out = output(std::process::Command::new(fountain).args(["boot", "build", "--out"]).arg(&building))?;
    eprint!("vmtest: {out}");
    // Another test binary may have finished the same key meanwhile: either copy is the same bytes.
    if std::fs::rename(&building, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    Ok(dir)
}
