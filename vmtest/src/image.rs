//! A real Debian image for the VM tests that boot one: `fountain image build --debootstrap` run once
//! into a cached data directory (keyed by the suite and the role, not by the binary: a rebuild of
//! `fountain` does not change what debootstrap installs), then hard-linked into each lab's image store,
//! where `fountain image serve` publishes it to nodes.
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;

use crate::lab::Lab;
use crate::process::{output, output_within};

/// The image's name in the store.
pub const IMAGE: &str = "vmdeb";
/// Debian suite.
const SUITE: &str = "bookworm";
/// The role: the base system only (kernel, systemd, SSH, the disk tools), so it builds and boots fast.
const ROLE: &str = "name: vm-test\ndescription: base system only, for the VM tests\n";
/// debootstrap, the kernel and squashfs on a loaded 2-core machine.
const BUILD_LIMIT: Duration = Duration::from_secs(20 * 60);
/// The mirror `fountain image build` reads.
const MIRROR_HOST: &str = "deb.debian.org:80";

/// Why the image cannot be built here (the mirror is unreachable), or `None`.
pub fn image_unavailable_reason() -> Option<String> {
    let reachable = MIRROR_HOST.to_socket_addrs().is_ok_and(|mut a| a.any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(10)).is_ok()));
    (!reachable).then(|| format!("{MIRROR_HOST} cannot be reached to debootstrap the Debian image"))
}

/// Builds (or finds) the image under `cache_root`; returns the data directory whose `store/` holds
/// `vmdeb@1`.
pub fn debian_image(fountain: &Path, cache_root: &Path) -> anyhow::Result<PathBuf> {
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let key = blake3::hash(format!("{SUITE}\n{ROLE}").as_bytes()).to_hex();
    let dir = cache_root.join(format!("image-{}", &key[..16]));
    let done = dir.join("built");
    if done.is_file() {
        eprintln!("vmtest: Debian image from cache {}", dir.display());
        return Ok(dir.join("data"));
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let role = dir.join("role.yaml");
    std::fs::write(&role, ROLE)?;
    let mut build = std::process::Command::new(fountain);
    build.args(["image", "build", IMAGE, "--debootstrap", SUITE, "--role"]).arg(&role).arg("--data-dir").arg(dir.join("data"));
    let out = output_within(&mut build, BUILD_LIMIT).context("building the Debian image")?;
    eprint!("vmtest: {out}");
    std::fs::write(&done, out)?;
    Ok(dir.join("data"))
}

impl Lab {
    /// Puts the stored versions of `data_dir` (from [`debian_image`]) into this lab's image store
    /// (hard links, so no copy) and publishes `name@version` to nodes as the image's default.
    pub fn serve_stored(&self, data_dir: &Path, version: &str) -> anyhow::Result<String> {
        let store = self.data_dir().join("store");
        anyhow::ensure!(!store.exists(), "the lab's image store is not empty");
        output(std::process::Command::new("cp").arg("-al").arg(data_dir.join("store")).arg(&store))?;
        self.fountain(&["image", "serve", version])
    }
}
