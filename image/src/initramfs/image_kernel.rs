//! An image's own kernel, taken out of its artifact so a stateless node runs the kernel the image
//! was built with, and finds its modules under `/lib/modules/$(uname -r)` after switch_root. Two
//! files: the kernel (`vmlinuz`) and a second initramfs (`modules.img`) holding the modules the
//! agent loads before it has a network ([`super::modules::NODE_MODULES`], with their dependencies,
//! as this kernel builds them) and the list `/init` loads them from, which replaces the agent
//! initramfs's own list when the kernel unpacks one archive over the other.
//!
//! Read with `unsquashfs` (a file listing, then only the few files needed); every file taken out must
//! be a regular file inside the artifact: a symlink there could otherwise point at a file of the
//! server that extracts it.
use std::path::{Path, PathBuf};
use std::process::Command;

use super::compress::{self, ToolError};
use super::cpio::Archive;
use super::modules::{ModuleDeps, ModulesError, NODE_MODULES};
use super::release::release_cmp;

/// The kernel's file name in an extracted set.
pub const KERNEL_FILE: &str = "vmlinuz";
/// The modules initramfs's file name in an extracted set.
pub const MODULES_FILE: &str = "modules.img";
/// The first bytes of every squashfs (little-endian `0x73717368`).
const SQUASHFS_MAGIC: &[u8; 4] = b"hsqs";
/// zstd level of the modules initramfs: a few MiB, built once per version.
const ZSTD_LEVEL: u32 = 9;

/// Where an image keeps the kernel it boots, as paths inside the artifact (no leading `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Release (`6.1.0-50-amd64`).
    pub release: String,
    /// `boot/vmlinuz-<release>`.
    pub kernel: String,
    /// `lib/modules/<release>` or, on a merged-/usr image, `usr/lib/modules/<release>`.
    pub modules_dir: String,
}

/// What [`extract`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageKernel {
    /// Release of the kernel.
    pub release: String,
    /// Modules in the modules initramfs.
    pub modules: usize,
    /// Modules a node loads that this kernel has neither as a file nor built in.
    pub missing: Vec<String>,
}

/// Why an image's kernel could not be taken out.
#[derive(Debug, thiserror::Error)]
pub enum ImageKernelError {
    /// unsquashfs, xz or zstd failed.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// The image's `modules.dep` is not one.
    #[error(transparent)]
    Modules(#[from] ModulesError),
    /// A file the boot needs is not a regular file in the artifact.
    #[error("{0} in the image is not a regular file")]
    NotAFile(String),
    /// Reading or writing a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImageKernelError {
    let what = what.into();
    move |source| ImageKernelError::Io { what, source }
}

/// The newest kernel in a listing of the artifact (one path per line, each with a leading `/`, as
/// `unsquashfs -lc -d ""` prints) that has both its image and its `modules.dep`; `None` when the
/// image carries no kernel with modules.
pub fn pick(listing: &str) -> Option<Found> {
    let paths: Vec<&str> = listing.lines().map(|l| l.trim_start_matches('/')).collect();
    let mut found: Vec<Found> = paths
        .iter()
        .filter_map(|p| p.strip_prefix("boot/vmlinuz-"))
        .filter(|release| !release.is_empty() && !release.contains('/'))
        .filter_map(|release| {
            let modules_dir = ["usr/lib/modules", "lib/modules"]
                .iter()
                .map(|d| format!("{d}/{release}"))
                .find(|d| paths.contains(&format!("{d}/modules.dep").as_str()))?;
            Some(Found { release: release.to_string(), kernel: format!("boot/vmlinuz-{release}"), modules_dir })
        })
        .collect();
    found.sort_by(|a, b| release_cmp(&a.release, &b.release));
    found.pop()
}

/// Takes the newest kernel out of `artifact` into `out` (a folder made whole or not at all: built
/// beside it and renamed); `Ok(None)` when the image has no kernel with modules, or is no squashfs
/// (a raw object published for transfers only: no node can mount it either).
pub fn extract(artifact: &Path, out: &Path) -> Result<Option<ImageKernel>, ImageKernelError> {
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(artifact).map_err(io(format!("opening {}", artifact.display())))?;
    if std::io::Read::read_exact(&mut file, &mut magic).is_err() || &magic != SQUASHFS_MAGIC {
        return Ok(None);
    }
    let listing = unsquashfs(artifact, &["-lc", "-d", ""])?;
    let Some(found) = pick(&String::from_utf8_lossy(&listing)) else { return Ok(None) };
    let work = out.with_extension("partial");
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(io(format!("removing {}", work.display())))?;
    }
    std::fs::create_dir_all(&work).map_err(io(format!("creating {}", work.display())))?;
    let built = build(artifact, &found, &work);
    let built = built.and_then(|k| {
        std::fs::remove_dir_all(work.join("root")).map_err(io("removing the extracted files"))?;
        std::fs::rename(&work, out).map_err(io(format!("renaming {} to {}", work.display(), out.display())))?;
        Ok(k)
    });
    if built.is_err() {
        let _ = std::fs::remove_dir_all(&work);
    }
    built.map(Some)
}

/// Extracts, reads and writes `vmlinuz` and `modules.img` into `work`.
fn build(artifact: &Path, found: &Found, work: &Path) -> Result<ImageKernel, ImageKernelError> {
    let root = work.join("root");
    let dep = format!("{}/modules.dep", found.modules_dir);
    let builtin = format!("{}/modules.builtin", found.modules_dir);
    take(artifact, &root, &[found.kernel.as_str(), &dep, &builtin], work)?;
    let deps = ModuleDeps::parse(&read_text(&root, &dep)?, &read_text(&root, &builtin).unwrap_or_default())?;
    let (known, missing) = deps.split_known(NODE_MODULES);
    let order = deps.load_order(&known)?;
    let files: Vec<String> = order.iter().map(|rel| format!("{}/{rel}", found.modules_dir)).collect();
    take(artifact, &root, &files.iter().map(String::as_str).collect::<Vec<_>>(), work)?;

    let mut archive = Archive::new();
    // The agent initramfs links lib to usr/lib, so this path is the same file either way.
    super::add_modules(&mut archive, &order, &format!("usr/lib/modules/{}", found.release), |rel| regular(&root, &format!("{}/{rel}", found.modules_dir)))?;
    let modules = compress::zstd(&archive.to_bytes(0), ZSTD_LEVEL)?;
    std::fs::write(work.join(MODULES_FILE), modules).map_err(io(format!("writing {MODULES_FILE}")))?;
    std::fs::copy(regular(&root, &found.kernel)?, work.join(KERNEL_FILE)).map_err(io(format!("copying {}", found.kernel)))?;
    Ok(ImageKernel { release: found.release.clone(), modules: order.len(), missing: missing.into_iter().map(str::to_string).collect() })
}

/// `unsquashfs ARGS artifact`'s standard output.
fn unsquashfs(artifact: &Path, args: &[&str]) -> Result<Vec<u8>, ToolError> {
    let out = Command::new("unsquashfs").args(["-n", "-q"]).args(args).arg(artifact).output().map_err(|e| ToolError { tool: "unsquashfs (squashfs-tools)".into(), reason: e.to_string() })?;
    if !out.status.success() {
        return Err(ToolError { tool: format!("unsquashfs {}", artifact.display()), reason: String::from_utf8_lossy(&out.stderr).trim().to_string() });
    }
    Ok(out.stdout)
}

/// Extracts `paths` (inside the artifact) under `root`; paths the artifact lacks are left out.
fn take(artifact: &Path, root: &Path, paths: &[&str], work: &Path) -> Result<(), ImageKernelError> {
    let list = work.join("extract-list");
    std::fs::write(&list, paths.iter().map(|p| format!("{p}\n")).collect::<String>()).map_err(io("writing the extract list"))?;
    let root = root.to_string_lossy();
    let list = list.to_string_lossy();
    unsquashfs(artifact, &["-no-xattrs", "-no-wildcards", "-f", "-d", &root, "-ef", &list])?;
    Ok(())
}

/// `rel` under `root`, refused unless it is a regular file (not a link out of the tree).
fn regular(root: &Path, rel: &str) -> Result<PathBuf, ImageKernelError> {
    let path = root.join(rel);
    match path.symlink_metadata() {
        Ok(m) if m.file_type().is_file() => Ok(path),
        _ => Err(ImageKernelError::NotAFile(format!("/{rel}"))),
    }
}

fn read_text(root: &Path, rel: &str) -> Result<String, ImageKernelError> {
    let path = regular(root, rel)?;
    std::fs::read_to_string(&path).map_err(io(format!("reading /{rel}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_kernel_with_modules_is_picked_on_merged_and_split_usr() {
        let listing = "/boot/vmlinuz-6.1.0-9-amd64\n/boot/vmlinuz-6.1.0-50-amd64\n/boot/vmlinuz-6.2.0-1-amd64\n\
            /usr/lib/modules/6.1.0-9-amd64/modules.dep\n/usr/lib/modules/6.1.0-50-amd64/modules.dep\n/etc/hostname\n";
        // 6.2 has no modules, so it cannot be booted with them.
        let found = pick(listing).unwrap();
        assert_eq!(found, Found { release: "6.1.0-50-amd64".into(), kernel: "boot/vmlinuz-6.1.0-50-amd64".into(), modules_dir: "usr/lib/modules/6.1.0-50-amd64".into() });
        let split = pick("/boot/vmlinuz-5.14.0-427.el9.x86_64\n/lib/modules/5.14.0-427.el9.x86_64/modules.dep\n").unwrap();
        assert_eq!(split.modules_dir, "lib/modules/5.14.0-427.el9.x86_64");
        assert_eq!(pick("/etc/hostname\n/usr/lib/modules/6.1.0-50-amd64/modules.dep\n"), None, "modules without a kernel");
        assert_eq!(pick("/boot/vmlinuz-\n/boot/vmlinuz-6.1/x\n"), None);
    }

    /// A squashfs with a kernel, a module with a dependency, and a link that must not be followed.
    #[test]
    fn a_kernel_and_its_node_modules_come_out_of_an_artifact_and_links_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let mods = root.join("usr/lib/modules/6.1.0-50-amd64");
        std::fs::create_dir_all(mods.join("kernel")).unwrap();
        std::fs::create_dir_all(root.join("boot")).unwrap();
        std::fs::write(root.join("boot/vmlinuz-6.1.0-50-amd64"), b"kernel bytes").unwrap();
        std::fs::write(mods.join("modules.dep"), "kernel/loop.ko:\nkernel/failover.ko:\nkernel/virtio_net.ko: kernel/failover.ko\n").unwrap();
        std::fs::write(mods.join("modules.builtin"), "kernel/ext4.ko\n").unwrap();
        for m in ["loop", "failover", "virtio_net"] {
            std::fs::write(mods.join(format!("kernel/{m}.ko")), m).unwrap();
        }
        let artifact = dir.path().join("a.sqfs");
        if crate::artifact::pack(&root, &artifact).is_err() {
            eprintln!("skipping: mksquashfs is not usable here");
            return;
        }
        let out = dir.path().join("out");
        let k = extract(&artifact, &out).unwrap().unwrap();
        assert_eq!((k.release.as_str(), k.modules), ("6.1.0-50-amd64", 3));
        assert!(k.missing.contains(&"xfs".to_string()) && !k.missing.contains(&"ext4".to_string()), "{:?}", k.missing);
        assert_eq!(std::fs::read(out.join(KERNEL_FILE)).unwrap(), b"kernel bytes");
        assert!(!out.join("root").exists() && !out.with_extension("partial").exists());
        std::fs::write(dir.path().join("raw.img"), b"not a squashfs").unwrap();
        assert_eq!(extract(&dir.path().join("raw.img"), &dir.path().join("raw")).unwrap(), None, "no squashfs, no kernel");
        let raw = compress::decompress("zstd", &out.join(MODULES_FILE)).unwrap();
        let text = String::from_utf8_lossy(&raw);
        let list = "/usr/lib/modules/6.1.0-50-amd64/kernel/failover.ko\n/usr/lib/modules/6.1.0-50-amd64/kernel/virtio_net.ko\n/usr/lib/modules/6.1.0-50-amd64/kernel/loop.ko\n";
        assert!(text.contains(list), "the load list, dependencies first: {text}");

        // A kernel that is a link to a file of the extracting host is refused.
        std::fs::remove_file(root.join("boot/vmlinuz-6.1.0-50-amd64")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("boot/vmlinuz-6.1.0-50-amd64")).unwrap();
        crate::artifact::pack(&root, &artifact).unwrap();
        let err = extract(&artifact, &dir.path().join("out2")).unwrap_err();
        assert!(matches!(err, ImageKernelError::NotAFile(ref p) if p == "/boot/vmlinuz-6.1.0-50-amd64"), "{err}");
        assert!(!dir.path().join("out2").exists() && !dir.path().join("out2.partial").exists());
    }
}
