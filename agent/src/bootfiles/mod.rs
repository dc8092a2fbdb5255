//! The agent's boot files: the host kernel and an initramfs holding busybox, the disk tools a layout
//! needs (mdadm, lvm2, sgdisk, sfdisk, wipefs, mkfs.*, mkswap, grub-install with its modules), unsquashfs
//! and setfacl for unpacking the image, the kernel modules a node needs, and the `fountain` binary, each with the libraries `ldd` names. The
//! archive is reproducible: sorted entries, one fixed mtime, and a deterministic compressor, so the same
//! inputs give the same bytes.
mod error;
pub mod kernel;
mod libs;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub use error::BootFilesError;
use error::io;

use image::initramfs::cpio::{Archive, Entry};
use image::initramfs::{compress, modules};

/// Programs the initramfs carries, with the Debian package that provides each (for the error message).
/// Symlinks (lvm's commands, `mkfs.ext4` → `mke2fs`) are kept as symlinks with their targets.
pub const PROGRAMS: &[(&str, &str)] = &[
    ("busybox", "busybox-static"),
    ("mdadm", "mdadm"),
    ("lvm", "lvm2"),
    ("pvcreate", "lvm2"),
    ("pvremove", "lvm2"),
    ("pvs", "lvm2"),
    ("vgcreate", "lvm2"),
    ("vgchange", "lvm2"),
    ("vgremove", "lvm2"),
    ("vgs", "lvm2"),
    ("lvcreate", "lvm2"),
    ("lvremove", "lvm2"),
    ("lvs", "lvm2"),
    ("dmsetup", "dmsetup"),
    ("sgdisk", "gdisk"),
    ("sfdisk", "fdisk"),
    ("wipefs", "util-linux"),
    ("blkid", "util-linux"),
    ("blockdev", "util-linux"),
    ("lsblk", "util-linux"),
    ("partx", "util-linux"),
    ("mkswap", "util-linux"),
    ("mkfs.ext4", "e2fsprogs"),
    ("mkfs.xfs", "xfsprogs"),
    ("mkfs.vfat", "dosfstools"),
    ("unsquashfs", "squashfs-tools"),
    // An artifact's ACLs ride as a dump that the unpack restores (image::artifact::acls).
    ("setfacl", "acl"),
    ("grub-install", "grub2-common"),
    ("grub-probe", "grub-common"),
];

/// Where programs are looked for, in order.
const PROGRAM_DIRS: &[&str] = &["usr/sbin", "usr/bin", "sbin", "bin"];
/// Top-level links of a merged-/usr host, copied as they are so `/bin/busybox` and
/// `/lib64/ld-linux-x86-64.so.2` resolve inside the initramfs as on the host.
const ROOT_LINKS: &[&str] = &["bin", "sbin", "lib", "lib64"];
/// GRUB's platform folders grub-install reads its modules from.
const GRUB_PLATFORMS: &[&str] = &["usr/lib/grub/i386-pc", "usr/lib/grub/x86_64-efi"];
/// Folders the init script and the tools expect.
const EMPTY_DIRS: &[&str] = &["proc", "sys", "dev", "run", "tmp", "root", "mnt", "target", "etc/mdadm"];
/// The agent binary's place in the initramfs.
const AGENT_PATH: &str = "usr/bin/fountain";
const INIT: &str = include_str!("init.sh");
const LVM_CONF: &str = include_str!("lvm.conf");
const UDHCPC_HOOK: &str = include_str!("udhcpc.sh");

/// What to build from.
#[derive(Debug, Clone)]
pub struct BuildConfig {
    /// Host root the kernel, modules and programs come from (`/`).
    pub root: PathBuf,
    /// The `fountain` binary to put in the initramfs (stripped on the way in).
    pub agent_binary: PathBuf,
    /// Folder to write `vmlinuz` and `initrd.img` to.
    pub out_dir: PathBuf,
    /// zstd level (1-19): higher is smaller and slower to build, the same to unpack.
    pub zstd_level: u32,
    /// mtime of every entry, Unix seconds (`SOURCE_DATE_EPOCH` by convention).
    pub mtime: u32,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// Kernel release.
    pub kernel_version: String,
    /// `vmlinuz` size.
    pub kernel_bytes: u64,
    /// Archive size before compression.
    pub initrd_raw_bytes: u64,
    /// `initrd.img` size.
    pub initrd_bytes: u64,
    /// Entries in the archive.
    pub entries: usize,
    /// Modules in the load list.
    pub modules: usize,
    /// Wall time of the build.
    pub elapsed: Duration,
    /// Paths written.
    pub kernel_path: PathBuf,
    /// Paths written.
    pub initrd_path: PathBuf,
}

/// Builds `vmlinuz` and `initrd.img` into `config.out_dir`; nothing there changes unless it succeeds.
pub fn build(config: &BuildConfig) -> Result<BuildReport, BootFilesError> {
    let started = Instant::now();
    let kernel = kernel::find(&config.root)?;
    let mut archive = Archive::new();
    for link in ROOT_LINKS {
        let host = config.root.join(link);
        if let Ok(target) = std::fs::read_link(&host) {
            archive.insert(link, Entry::Symlink(target.to_string_lossy().into_owned()));
        }
    }
    for dir in EMPTY_DIRS {
        archive.insert(dir, Entry::Dir);
    }
    for (program, package) in PROGRAMS {
        let path = PROGRAM_DIRS
            .iter()
            .map(|d| config.root.join(d).join(program))
            .find(|p| p.symlink_metadata().is_ok())
            .ok_or_else(|| BootFilesError::MissingProgram { program: program.to_string(), package })?;
        add_binary(&mut archive, &config.root, &path)?;
    }
    let stripped = strip(&config.agent_binary)?;
    archive.insert(AGENT_PATH, Entry::File { data: stripped, mode: 0o755 });
    add_libraries(&mut archive, &config.root, &config.agent_binary)?;
    let modules = add_modules(&mut archive, &config.root, &kernel)?;
    for platform in GRUB_PLATFORMS {
        add_tree(&mut archive, &config.root, &config.root.join(platform))?;
    }
    archive.insert("init", Entry::File { data: INIT.as_bytes().to_vec(), mode: 0o755 });
    archive.insert(crate::net::UDHCPC_SCRIPT, Entry::File { data: UDHCPC_HOOK.as_bytes().to_vec(), mode: 0o755 });
    archive.insert("etc/lvm/lvm.conf", Entry::File { data: LVM_CONF.as_bytes().to_vec(), mode: 0o644 });
    let raw = archive.to_bytes(config.mtime);
    let initrd = compress::zstd(&raw, config.zstd_level)?;
    let kernel_image = std::fs::read(&kernel.image).map_err(io(format!("reading {}", kernel.image.display())))?;
    std::fs::create_dir_all(&config.out_dir).map_err(io(format!("creating {}", config.out_dir.display())))?;
    let kernel_path = config.out_dir.join(control::ipxe::KERNEL_FILE);
    let initrd_path = config.out_dir.join(control::ipxe::INITRD_FILE);
    write_atomically(&kernel_path, &kernel_image)?;
    write_atomically(&initrd_path, &initrd)?;
    Ok(BuildReport {
        kernel_version: kernel.version,
        kernel_bytes: kernel_image.len() as u64,
        initrd_raw_bytes: raw.len() as u64,
        initrd_bytes: initrd.len() as u64,
        entries: archive.len(),
        modules,
        elapsed: started.elapsed(),
        kernel_path,
        initrd_path,
    })
}

/// Where a host path goes in the archive: its folder with links resolved (so a merged-/usr host's
/// `/lib/x/libc.so.6` lands in `usr/lib/x/`, reachable through the `lib` link), its own name kept.
fn archive_path(root: &Path, host: &Path) -> Result<String, BootFilesError> {
    let parent = host.parent().unwrap_or(root);
    let parent = std::fs::canonicalize(parent).map_err(io(format!("resolving {}", parent.display())))?;
    let root = std::fs::canonicalize(root).map_err(io(format!("resolving {}", root.display())))?;
    let rel = parent.strip_prefix(&root).unwrap_or(&parent);
    let name = host.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(format!("{}/{name}", rel.to_string_lossy()).trim_start_matches('/').to_string())
}

/// Adds `host` (a symlink is kept, and its target added too) and returns the archive path.
fn add_file(archive: &mut Archive, root: &Path, host: &Path) -> Result<(), BootFilesError> {
    let dest = archive_path(root, host)?;
    if archive.contains(&dest) {
        return Ok(());
    }
    let meta = host.symlink_metadata().map_err(io(format!("reading {}", host.display())))?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(host).map_err(io(format!("reading link {}", host.display())))?;
        archive.insert(&dest, Entry::Symlink(target.to_string_lossy().into_owned()));
        let resolved = if target.is_absolute() { root.join(target.strip_prefix("/").unwrap_or(&target)) } else { host.parent().unwrap_or(root).join(&target) };
        return add_file(archive, root, &resolved);
    }
    let data = std::fs::read(host).map_err(io(format!("reading {}", host.display())))?;
    archive.insert(&dest, Entry::File { data, mode: meta.permissions().mode() & 0o7777 });
    Ok(())
}

/// Adds a program and the libraries it needs.
fn add_binary(archive: &mut Archive, root: &Path, host: &Path) -> Result<(), BootFilesError> {
    add_file(archive, root, host)?;
    add_libraries(archive, root, host)
}

fn add_libraries(archive: &mut Archive, root: &Path, binary: &Path) -> Result<(), BootFilesError> {
    for lib in libs::needed(binary)? {
        add_file(archive, root, &lib)?;
    }
    Ok(())
}

/// Adds every file under `dir` (absent folders are skipped: a host may lack one GRUB platform).
fn add_tree(archive: &mut Archive, root: &Path, dir: &Path) -> Result<(), BootFilesError> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries {
        let path = entry.map_err(io(format!("listing {}", dir.display())))?.path();
        if path.is_dir() {
            add_tree(archive, root, &path)?;
        } else {
            add_file(archive, root, &path)?;
        }
    }
    Ok(())
}

/// Adds the node's modules (compressed ones unpacked, since busybox's insmod reads plain `.ko`) and
/// the list `/init` loads them from; returns how many.
fn add_modules(archive: &mut Archive, root: &Path, kernel: &kernel::Kernel) -> Result<usize, BootFilesError> {
    let read = |name: &str| {
        let p = kernel.modules.join(name);
        std::fs::read_to_string(&p).map_err(io(format!("reading {}", p.display())))
    };
    let deps = modules::ModuleDeps::parse(&read("modules.dep")?, &read("modules.builtin").unwrap_or_default())?;
    let order = deps.load_order(modules::NODE_MODULES)?;
    let dep = archive_path(root, &kernel.modules.join("modules.dep"))?;
    let dir = dep.strip_suffix("/modules.dep").unwrap_or(&dep);
    image::initramfs::add_modules(archive, &order, dir, |rel| Ok::<_, BootFilesError>(kernel.modules.join(rel)))?;
    Ok(order.len())
}

/// The binary without symbols or debug info (a debug build is several times its stripped size).
fn strip(binary: &Path) -> Result<Vec<u8>, BootFilesError> {
    let tmp = tempfile::NamedTempFile::new().map_err(io("creating a temporary file"))?;
    let out = Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(tmp.path())
        .arg(binary)
        .output()
        .map_err(|e| BootFilesError::Tool { tool: "strip (binutils)".into(), reason: e.to_string() })?;
    if !out.status.success() {
        return Err(BootFilesError::Tool { tool: format!("strip {}", binary.display()), reason: String::from_utf8_lossy(&out.stderr).trim().to_string() });
    }
    std::fs::read(tmp.path()).map_err(io("reading the stripped binary"))
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<(), BootFilesError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data).map_err(io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("renaming {} to {}", tmp.display(), path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::Stdio;

    /// A build with busybox standing in for the fountain binary (any ELF strips the same way).
    fn build_into(dir: &Path) -> Option<BuildReport> {
        if let Err(e) = kernel::find(Path::new("/")) {
            eprintln!("skipping the boot-file build: {e}");
            return None;
        }
        let config = BuildConfig { root: "/".into(), agent_binary: "/usr/bin/busybox".into(), out_dir: dir.to_path_buf(), zstd_level: 3, mtime: 0 };
        Some(build(&config).unwrap())
    }

    #[test]
    fn two_builds_give_the_same_bytes_and_the_initramfs_holds_what_a_node_needs() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let Some(first) = build_into(a.path()) else { return };
        let second = build_into(b.path()).unwrap();
        eprintln!(
            "boot files: initrd {:.1} MiB ({:.1} MiB unpacked, {} entries, {} modules), built in {:.1} s and {:.1} s",
            first.initrd_bytes as f64 / 1048576.0,
            first.initrd_raw_bytes as f64 / 1048576.0,
            first.entries,
            first.modules,
            first.elapsed.as_secs_f64(),
            second.elapsed.as_secs_f64()
        );
        for f in [control::ipxe::KERNEL_FILE, control::ipxe::INITRD_FILE] {
            assert_eq!(std::fs::read(a.path().join(f)).unwrap(), std::fs::read(b.path().join(f)).unwrap(), "{f} differs between two builds");
        }
        let raw = compress::decompress("zstd", &first.initrd_path).unwrap();
        assert_eq!(raw.len() as u64, first.initrd_raw_bytes);
        let mut cpio = Command::new("cpio").args(["-t", "--quiet"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let mut stdin = cpio.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&raw));
        let listing = String::from_utf8(cpio.wait_with_output().unwrap().stdout).unwrap();
        writer.join().unwrap().unwrap();
        let names: std::collections::BTreeSet<&str> = listing.lines().collect();
        for needed in ["init", "bin", "usr/bin/fountain", "usr/bin/busybox", "usr/sbin/mdadm", "usr/sbin/lvm", "usr/sbin/sgdisk", "usr/sbin/mkfs.xfs", "usr/sbin/grub-install", "etc/lvm/lvm.conf", image::initramfs::MODULE_LIST, "etc/fountain/udhcpc.sh", "usr/lib/grub/i386-pc/normal.mod"] {
            assert!(names.contains(needed), "{needed} missing from the initramfs");
        }
        assert!(names.iter().any(|n| n.contains("libc.so.6")), "glibc missing");
        for module in ["virtio_blk.ko", "raid1.ko", "dm-mod.ko", "xfs.ko", "e1000.ko", "failover.ko"] {
            assert!(names.iter().any(|n| n.ends_with(module)), "{module} missing from the initramfs");
        }
    }
}
