//! Which of a node's filesystems a capture streams, and what it leaves out of each. Pure, so that the
//! rules are tested without a node.
use std::path::{Path, PathBuf};

use super::mounts::Mount;

/// Folders whose contents are never captured (the folders themselves are: they are mount points).
pub const SKIPPED_DIRS: &[&str] = &["/proc", "/sys", "/dev", "/run", "/tmp"];

/// Filesystem types that hold no files of the OS: kernel interfaces and memory-backed mounts.
const PSEUDO_FS: &[&str] = &[
    "proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "ramfs", "cgroup", "cgroup2", "securityfs", "debugfs",
    "tracefs", "pstore", "bpf", "mqueue", "hugetlbfs", "configfs", "fusectl", "autofs", "binfmt_misc",
    "efivarfs", "rpc_pipefs", "nfsd", "selinuxfs", "nsfs",
];

/// Filesystem types served by another machine: never part of a node's image.
const NETWORK_FS: &[&str] = &[
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "lustre", "gpfs", "beegfs", "9p", "virtiofs",
    "afs", "ocfs2", "gfs2",
];

/// One filesystem to stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filesystem {
    /// Where it is mounted on the node, as the image will see it (`/`, `/boot`).
    pub mount_point: PathBuf,
    /// Where to read it from (the mount point under the capture root).
    pub path: PathBuf,
    /// Its type, for the log.
    pub fs_type: String,
    /// Paths relative to `path` whose contents are left out.
    pub exclude_contents: Vec<PathBuf>,
    /// Paths relative to `path` left out entirely.
    pub exclude: Vec<PathBuf>,
}

/// Whether `fs_type` is a filesystem served over the network.
pub fn is_network(fs_type: &str) -> bool {
    NETWORK_FS.contains(&fs_type) || fs_type.starts_with("fuse.") || fs_type == "fuse"
}

/// The filesystems to stream for a node whose `/` is `root` (`/` itself on a real node), given its
/// mounts and the operator's `excludes` (paths as the node sees them). Mounts under skipped folders,
/// excluded paths or skipped mounts are left out, as are pseudo and network filesystems and second
/// mounts of an already captured folder (bind mounts).
pub fn plan(mounts: &[Mount], root: &Path, excludes: &[PathBuf]) -> Vec<Filesystem> {
    let mut candidates: Vec<(&Mount, PathBuf)> = mounts
        .iter()
        .filter_map(|m| {
            let inside = m.mount_point.strip_prefix(root).ok()?;
            Some((m, Path::new("/").join(inside)))
        })
        .collect();
    // A root that is a folder, not a mount point, belongs to the deepest mount above it (the last
    // one mounted there when several are).
    if !candidates.iter().any(|(_, at)| at == Path::new("/")) {
        let covering = mounts.iter().filter(|m| root.starts_with(&m.mount_point)).max_by_key(|m| m.mount_point.components().count());
        if let Some(m) = covering {
            candidates.insert(0, (m, PathBuf::from("/")));
        }
    }
    // Later mounts on the same point hide earlier ones: keep the last of each.
    let mut seen = Vec::new();
    candidates.reverse();
    candidates.retain(|(_, at)| {
        let first = !seen.contains(at);
        seen.push(at.clone());
        first
    });
    candidates.sort_by(|a, b| a.1.cmp(&b.1));

    let skipped_dirs: Vec<PathBuf> = SKIPPED_DIRS.iter().map(PathBuf::from).collect();
    let mut skipped_mounts: Vec<PathBuf> = Vec::new();
    let mut chosen: Vec<(Filesystem, &Mount)> = Vec::new();
    for (mount, at) in candidates {
        let under = |dirs: &[PathBuf]| dirs.iter().any(|d| at.starts_with(d));
        let duplicate = chosen.iter().any(|(_, m)| m.device == mount.device && m.fs_root == mount.fs_root);
        // The root is captured whatever it is: a node's root is its system, even in memory or on NFS.
        let is_root = at == Path::new("/");
        let ignored = !is_root && (PSEUDO_FS.contains(&mount.fs_type.as_str()) || is_network(&mount.fs_type));
        if !is_root && (under(&skipped_dirs) || under(excludes) || under(&skipped_mounts) || duplicate || ignored) {
            skipped_mounts.push(at);
            continue;
        }
        let relative = |p: &PathBuf| p.strip_prefix(&at).ok().filter(|r| !r.as_os_str().is_empty()).map(Path::to_path_buf);
        let fs = Filesystem {
            path: root.join(at.strip_prefix("/").expect("absolute")),
            mount_point: at.clone(),
            fs_type: mount.fs_type.clone(),
            exclude_contents: skipped_dirs.iter().filter_map(relative).collect(),
            exclude: excludes.iter().filter_map(relative).collect(),
        };
        chosen.push((fs, mount));
    }
    chosen.into_iter().map(|(fs, _)| fs).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(device: &str, at: &str, fs_type: &str) -> Mount {
        Mount { device: device.into(), fs_root: "/".into(), mount_point: at.into(), fs_type: fs_type.into() }
    }

    #[test]
    fn local_filesystems_only_each_once() {
        let mounts = [
            m("8:1", "/", "ext4"),
            m("0:5", "/proc", "proc"),
            m("0:6", "/sys", "sysfs"),
            m("0:7", "/dev", "devtmpfs"),
            m("0:8", "/run", "tmpfs"),
            m("8:9", "/run/media/usb", "vfat"),
            m("8:2", "/boot", "ext4"),
            m("8:3", "/boot/efi", "vfat"),
            m("0:40", "/home", "nfs4"),
            m("8:4", "/home/local", "xfs"),
            m("8:5", "/scratch", "xfs"),
            m("8:5", "/scratch-again", "xfs"),
            m("0:41", "/mnt/sshfs", "fuse.sshfs"),
            m("8:6", "/var/lib/big", "xfs"),
        ];
        let plan = plan(&mounts, Path::new("/"), &[PathBuf::from("/var/lib/big"), PathBuf::from("/etc/secret")]);
        let points: Vec<&Path> = plan.iter().map(|f| f.mount_point.as_path()).collect();
        assert_eq!(points, ["/", "/boot", "/boot/efi", "/scratch"].map(Path::new));
        let rootfs = &plan[0];
        assert_eq!(rootfs.exclude_contents, ["proc", "sys", "dev", "run", "tmp"].map(PathBuf::from));
        assert_eq!(rootfs.exclude, ["var/lib/big", "etc/secret"].map(PathBuf::from));
        assert!(plan[1].exclude.is_empty() && plan[1].exclude_contents.is_empty());
    }

    #[test]
    fn a_capture_root_below_slash_maps_mount_points() {
        let mounts = [m("8:1", "/", "ext4"), m("7:0", "/mnt/node", "ext4"), m("7:1", "/mnt/node/srv", "ext4"), m("0:9", "/mnt/node/tmp", "tmpfs")];
        let plan = plan(&mounts, Path::new("/mnt/node"), &[]);
        let folder = super::plan(&mounts, Path::new("/mnt/node/srv/tree"), &[]);
        assert_eq!(folder.len(), 1);
        assert_eq!((folder[0].mount_point.as_path(), folder[0].path.as_path()), (Path::new("/"), Path::new("/mnt/node/srv/tree")));
        assert_eq!(folder[0].exclude_contents.len(), SKIPPED_DIRS.len());
        assert_eq!(plan.len(), 2);
        assert_eq!((plan[0].mount_point.as_path(), plan[0].path.as_path()), (Path::new("/"), Path::new("/mnt/node")));
        assert_eq!((plan[1].mount_point.as_path(), plan[1].path.as_path()), (Path::new("/srv"), Path::new("/mnt/node/srv")));
    }
}
