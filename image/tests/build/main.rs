//! Image builds and captures with the real tools: debootstrap and apt, rpmbuild, createrepo_c,
//! xorriso and dnf, tar, loop-mounted ext4.
mod capture;
mod debian;
mod el;
mod fake_el_iso;
mod kill9;

use std::path::PathBuf;

/// Where builds keep what they may reuse between test runs (debootstrapped bases).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("FOUNTAIN_IMAGE_CACHE").map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("image-cache"), PathBuf::from)
}

/// Installed packages of a Debian root, by name.
pub fn has_package(meta: &image::meta::ImageMeta, name: &str) -> bool {
    meta.packages.iter().any(|p| p.split(' ').next() == Some(name))
}
