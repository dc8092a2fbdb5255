//! The Debian image the VM tests install and boot: built once (debootstrap bookworm with the node
//! packages, the kernel, grub, mdadm and lvm2 among them, no role packages, identity scrubbed),
//! packed into the artifact the store would hold, and kept under the cache folder keyed by what
//! decides it, so every later test and run reuses it.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::Context;
use image::build::debian::{self, DebianSpec};
use image::meta::{Family, ImageMeta};
use image::role::Role;

use crate::process::output;

/// The suite the VM tests boot.
pub const SUITE: &str = "bookworm";

/// The role the image is built with: the node packages only.
const ROLE: &str = "name: vmtest\ndescription: the node packages and nothing else\n";

/// A built image: its artifact and what the build said of it.
#[derive(Debug, Clone)]
pub struct DebianImage {
    /// The squashfs artifact.
    pub artifact: PathBuf,
    /// Its metadata.
    pub meta: ImageMeta,
}

/// Builds (or finds) the Debian image under `cache_root`; needs root and deb.debian.org.
pub fn debian_image(cache_root: &Path) -> anyhow::Result<DebianImage> {
    // Tests of one binary run on threads: one builds, the others wait for it.
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let key = blake3::hash(format!("{SUITE}\n{}\n{:?}\n{ROLE}", debian::DEFAULT_MIRROR, debian::NODE_PACKAGES).as_bytes()).to_hex();
    let dir = cache_root.join(format!("debian-{}", &key[..16]));
    let (artifact, meta_file) = (dir.join("root.sqfs"), dir.join("meta.json"));
    if meta_file.is_file() {
        eprintln!("vmtest: Debian image from cache {}", dir.display());
        let meta = serde_json::from_slice(&std::fs::read(&meta_file)?)?;
        return Ok(DebianImage { artifact, meta });
    }
    std::fs::create_dir_all(&dir)?;
    let work = cache_root.join(format!("debian-work-{}", std::process::id()));
    let spec = DebianSpec { suite: SUITE.into(), mirror: debian::DEFAULT_MIRROR.into(), cache_dir: cache_root.join("debootstrap") };
    let role = Role::parse(ROLE, Family::Debian)?;
    let started = std::time::Instant::now();
    let built = debian::build(&spec, &role, &work).context("building the Debian image")?;
    let packed = image::artifact::pack(&built.root, &artifact)?;
    let mut meta = built.meta;
    meta.size_bytes = packed.bytes;
    // The metadata is written last: its presence says the artifact is whole.
    let partial = dir.join("meta.json.partial");
    std::fs::write(&partial, serde_json::to_vec_pretty(&meta)?)?;
    std::fs::rename(&partial, &meta_file)?;
    eprintln!("vmtest: built the Debian image in {:?}: {} bytes", started.elapsed(), packed.bytes);
    output(Command::new("rm").args(["-rf", "--one-file-system"]).arg(&work))?;
    Ok(DebianImage { artifact, meta })
}
