//! The Debian image the VM tests boot from a disk: built once (debootstrap bookworm with the node
//! packages, the kernel, grub, mdadm and lvm2 among them, no role packages, identity scrubbed),
//! packed into the artifact the store would hold, and kept under the cache folder keyed by what
//! decides it, so every later test and run reuses it. Then written onto a raw disk file the way a
//! stateful install writes a root: an unpartitioned ext4 (loop devices here get no partition nodes)
//! that the artifact is unpacked onto.
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use image::build::debian::{self, DebianSpec};
use image::meta::{Family, ImageMeta};
use image::role::Role;

use crate::lab::Lab;
use crate::process::output;

/// The suite the VM tests boot.
pub const SUITE: &str = "bookworm";

/// The role the image is built with: the node packages, and two settings that only cut a TCG
/// guest's boot: no grub menu wait (5 s of every disk boot; grub.d files override
/// /etc/default/grub, which the agent writes), and no `e2scrub_reap` (a cleanup of ext4 check
/// snapshots that spent 13-17 s of the one vCPU in every disk boot, competing with the units the
/// tests wait for).
const ROLE: &str = "name: vmtest
description: the node packages, with no grub menu wait and no e2scrub_reap
services:
  disable: [e2scrub_reap]
files:
  - path: /etc/default/grub.d/zz-fountain-vmtest.cfg
    content: \"GRUB_TIMEOUT=0\\n\"
";

/// The image's name when a test publishes it to nodes ([`Lab::publish_artifact`]).
pub const IMAGE: &str = "vmdeb";
/// The mirror the build reads.
const MIRROR_HOST: &str = "deb.debian.org:80";

/// Why the image cannot be built here (the mirror is unreachable), or `None`.
pub fn image_unavailable_reason() -> Option<String> {
    let reachable = MIRROR_HOST.to_socket_addrs().is_ok_and(|mut a| a.any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(10)).is_ok()));
    (!reachable).then(|| format!("{MIRROR_HOST} cannot be reached to debootstrap the Debian image"))
}

impl Lab {
    /// Publishes `artifact` to nodes as image `name`'s next version (hard-linked into the lab's
    /// images folder, so no copy; the server hashes it and writes its manifest).
    pub fn publish_artifact(&self, name: &str, artifact: &Path) -> anyhow::Result<String> {
        let images = self.data_dir().join("images");
        std::fs::create_dir_all(&images)?;
        let file = format!("{name}.sqfs");
        std::fs::hard_link(artifact, images.join(&file)).or_else(|_| std::fs::copy(artifact, images.join(&file)).map(drop)).context("placing the artifact in the lab")?;
        self.fountain(&["image", "add", name, "--artifact", &file])
    }
}

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
    image::build::remove_work(&work)?;
    Ok(DebianImage { artifact, meta })
}

/// A root written onto a disk file, with the kernel and initrd it boots copied out beside it.
#[derive(Debug, Clone)]
pub struct WrittenDisk {
    /// The raw disk file: one ext4 filesystem, no partition table.
    pub disk: PathBuf,
    /// The image's own kernel.
    pub kernel: PathBuf,
    /// The image's own initramfs.
    pub initrd: PathBuf,
}

/// Writes `artifact` onto a new sparse disk file `disk` of `bytes`: mkfs.ext4, loop-mount, unpack
/// (ACLs restored), an fstab naming `/dev/vda`, then `customise` on the mounted root; the image's
/// newest kernel and initrd are copied out next to the disk for qemu's `-kernel`/`-initrd`.
pub fn write_disk(artifact: &Path, disk: &Path, bytes: u64, customise: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<WrittenDisk> {
    std::fs::File::create(disk).and_then(|f| f.set_len(bytes)).with_context(|| format!("creating {}", disk.display()))?;
    output(Command::new("mkfs.ext4").args(["-q", "-F", "-L", "root"]).arg(disk))?;
    let mnt = disk.with_extension("mnt");
    std::fs::create_dir_all(&mnt)?;
    output(Command::new("mount").args(["-o", "loop"]).arg(disk).arg(&mnt))?;
    let written = fill(artifact, &mnt, disk, customise);
    let unmounted = output(Command::new("umount").arg(&mnt));
    let written = written?;
    unmounted?;
    let _ = std::fs::remove_dir(&mnt);
    Ok(written)
}

fn fill(artifact: &Path, root: &Path, disk: &Path, customise: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<WrittenDisk> {
    image::artifact::unpack(artifact, root)?;
    std::fs::write(root.join("etc/fstab"), "/dev/vda / ext4 errors=remount-ro 0 1\n")?;
    customise(root)?;
    let newest = |prefix: &str| -> anyhow::Result<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join("boot"))?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            .map(|e| e.path())
            .collect();
        found.sort();
        found.pop().with_context(|| format!("no /boot/{prefix}* in the image"))
    };
    let (kernel, initrd) = (disk.with_extension("vmlinuz"), disk.with_extension("initrd"));
    std::fs::copy(newest("vmlinuz-")?, &kernel)?;
    std::fs::copy(newest("initrd.img-")?, &initrd)?;
    Ok(WrittenDisk { disk: disk.to_owned(), kernel, initrd })
}

/// Copies the `fountain` binary and the libraries `ldd` names into `dir` of a root, with a `fountain`
/// script there that runs it through its own loader, so it runs whatever the root's libc is.
pub fn install_fountain(fountain: &Path, root: &Path, dir: &str) -> anyhow::Result<()> {
    let at = root.join(dir.trim_start_matches('/'));
    std::fs::create_dir_all(at.join("lib"))?;
    std::fs::copy(fountain, at.join("fountain.bin"))?;
    let ldd = output(Command::new("ldd").arg(fountain))?;
    let mut loader = None;
    for lib in ldd.lines().filter_map(|l| l.split_whitespace().find(|w| w.starts_with('/'))) {
        let name = Path::new(lib).file_name().context("a library path without a name")?;
        std::fs::copy(lib, at.join("lib").join(name)).with_context(|| format!("copying {lib}"))?;
        if name.to_string_lossy().starts_with("ld-linux") {
            loader = Some(name.to_string_lossy().into_owned());
        }
    }
    let loader = loader.context("ldd names no loader")?;
    let script = format!("#!/bin/sh\nexec {dir}/lib/{loader} --library-path {dir}/lib {dir}/fountain.bin \"$@\"\n");
    std::fs::write(at.join("fountain"), script)?;
    output(Command::new("chmod").arg("755").arg(at.join("fountain")))?;
    Ok(())
}
