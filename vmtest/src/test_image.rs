//! A Debian image for VM tests to install, built once per content: the key hashes what decides the
//! result (suite, the image crate's node packages, the role), so every run after the first reuses the
//! artifact. The debootstrapped base comes from the image crate's own cache (`FOUNTAIN_IMAGE_CACHE`,
//! default `target/tmp/image-cache`), shared with the image build tests.
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use image::build::debian::{self, DebianSpec};
use image::meta::Family;
use image::role::Role;

/// The artifact's file name in its cache folder.
const ARTIFACT: &str = "image.squashfs";
/// Debian suite of the test image.
const SUITE: &str = "bookworm";
/// Bump when the way the image is made changes in a way the key cannot see.
const RECIPE: &str = "vmtest debian image v1";

/// Builds (or finds) the Debian image with `role_yaml` under `cache_root`; returns the artifact.
pub fn debian_image(cache_root: &Path, role_yaml: &str) -> anyhow::Result<PathBuf> {
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let key = blake3::hash(format!("{RECIPE}\n{SUITE}\n{}\n{role_yaml}", debian::NODE_PACKAGES.join(",")).as_bytes()).to_hex();
    let dir = cache_root.join(format!("image-{}", &key[..16]));
    let artifact = dir.join(ARTIFACT);
    if artifact.is_file() {
        eprintln!("vmtest: image from cache {}", artifact.display());
        return Ok(artifact);
    }
    let role = Role::parse(role_yaml, Family::Debian).context("the test image's role")?;
    let work = cache_root.join(format!("building-image-{}-{}", &key[..16], std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let base_cache = std::env::var_os("FOUNTAIN_IMAGE_CACHE").map_or_else(|| cache_root.parent().unwrap_or(cache_root).join("image-cache"), PathBuf::from);
    let spec = DebianSpec { suite: SUITE.into(), mirror: debian::DEFAULT_MIRROR.into(), cache_dir: base_cache };
    let started = std::time::Instant::now();
    let result = debian::build(&spec, &role, &work).context("building the test image").and_then(|built| {
        image::artifact::pack(&built.root, &work.join(ARTIFACT)).context("packing the test image")?;
        Ok(())
    });
    // The root is only needed for the pack; never cross into another filesystem removing it.
    let _ = std::process::Command::new("rm").args(["-rf", "--one-file-system"]).arg(work.join("root")).status();
    result?;
    let bytes = std::fs::metadata(work.join(ARTIFACT))?.len();
    eprintln!("vmtest: built the test image ({} MiB) in {:.0} s", bytes >> 20, started.elapsed().as_secs_f64());
    // Another test binary may have finished the same key meanwhile: either copy is the same image.
    if std::fs::rename(&work, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(artifact)
}
