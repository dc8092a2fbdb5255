//! The mounts that turn a downloaded artifact into a root: the artifact (a squashfs) read-only through
//! a loop device, a tmpfs for the writes, and an overlay of the two, which becomes `/` after
//! switch_root. The plan is pure data, so its options are unit-tested; [`mount`] runs one entry.
use std::path::PathBuf;
use std::process::Command;

/// Folder the image tmpfs is mounted on, under the agent's run folder.
const IMAGE_DIR: &str = "image";
/// The artifact's file in the image tmpfs.
const ARTIFACT_FILE: &str = "root.squashfs";
/// Mount point of the read-only artifact.
const LOWER_DIR: &str = "lower";
/// Mount point of the tmpfs that holds the overlay's writes.
const RW_DIR: &str = "rw";
/// Slack on top of the artifact in the image tmpfs (tmpfs sizes are whole pages).
const IMAGE_TMPFS_SLACK_BYTES: u64 = 1 << 20;

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Filesystem type.
    pub fstype: &'static str,
    /// Source (a file for a loop mount, a name for virtual filesystems).
    pub source: String,
    /// Mount point (created if missing).
    pub target: PathBuf,
    /// `-o` options.
    pub options: String,
}

/// Where everything lives: `run` is the agent's run folder, `new_root` the overlay's mount point.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Agent's run folder (`/run/fountain`).
    pub run: PathBuf,
    /// The new root (`/newroot`).
    pub new_root: PathBuf,
}

impl Paths {
    /// The artifact's file in RAM.
    pub fn artifact(&self) -> PathBuf {
        self.run.join(IMAGE_DIR).join(ARTIFACT_FILE)
    }

    /// The download's journal: beside the image tmpfs, which is sized to the artifact alone.
    pub fn journal(&self) -> PathBuf {
        self.run.join("image.fountain-journal")
    }

    /// The overlay's upper folder: every file written into the new root, and nothing else.
    pub fn upper(&self) -> PathBuf {
        self.run.join(RW_DIR).join("upper")
    }

    /// The tmpfs the artifact is downloaded into, sized to it.
    pub fn image_tmpfs(&self, artifact_bytes: u64) -> Mount {
        let size = artifact_bytes.saturating_add(IMAGE_TMPFS_SLACK_BYTES);
        Mount { fstype: "tmpfs", source: "fountain-image".into(), target: self.run.join(IMAGE_DIR), options: format!("size={size},mode=0700") }
    }

    /// The mounts after the download, in order: the artifact read-only, the tmpfs for writes, the
    /// overlay (its upper and work folders are made in the tmpfs between the second and third).
    pub fn root_mounts(&self) -> Vec<Mount> {
        let rw = self.run.join(RW_DIR);
        let lower = self.run.join(LOWER_DIR);
        vec![
            Mount { fstype: "squashfs", source: self.artifact().display().to_string(), target: lower.clone(), options: "ro,loop".into() },
            Mount { fstype: "tmpfs", source: "fountain-rw".into(), target: rw.clone(), options: "mode=0755".into() },
            Mount {
                fstype: "overlay",
                source: "fountain-root".into(),
                target: self.new_root.clone(),
                options: format!("lowerdir={},upperdir={},workdir={}", lower.display(), self.upper().display(), rw.join("work").display()),
            },
        ]
    }
}

/// Why a mount failed.
#[derive(Debug, thiserror::Error)]
#[error("mount -t {fstype} {device} {target}: {reason}")]
pub struct MountError {
    /// Filesystem type.
    pub fstype: &'static str,
    /// Source.
    pub device: String,
    /// Mount point.
    pub target: String,
    /// What failed.
    pub reason: String,
}

/// Mounts `m`, creating its mount point (and, for an overlay, its upper and work folders).
pub fn mount(m: &Mount) -> Result<(), MountError> {
    let fail = |reason: String| MountError { fstype: m.fstype, device: m.source.clone(), target: m.target.display().to_string(), reason };
    let mut dirs = vec![m.target.clone()];
    if m.fstype == "overlay" {
        dirs.extend(m.options.split(',').filter_map(|o| o.strip_prefix("upperdir=").or_else(|| o.strip_prefix("workdir="))).map(PathBuf::from));
    }
    for dir in &dirs {
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("creating {}: {e}", dir.display())))?;
    }
    let out = Command::new("mount").args(["-t", m.fstype, "-o", &m.options, &m.source]).arg(&m.target).output().map_err(|e| fail(format!("running mount: {e}")))?;
    if out.status.success() { Ok(()) } else { Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_string())) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_artifact_is_mounted_as_it_is_under_a_tmpfs_overlay() {
        let paths = Paths { run: "/run/fountain".into(), new_root: "/newroot".into() };
        let image = paths.image_tmpfs(300 << 20);
        assert_eq!((image.fstype, image.target.as_path()), ("tmpfs", Path::new("/run/fountain/image")));
        assert_eq!(image.options, format!("size={},mode=0700", (300 << 20) + (1 << 20)));
        assert!(paths.artifact().starts_with(&image.target), "the artifact lands in the sized tmpfs");

        let mounts = paths.root_mounts();
        let kinds: Vec<&str> = mounts.iter().map(|m| m.fstype).collect();
        assert_eq!(kinds, ["squashfs", "tmpfs", "overlay"]);
        assert_eq!(mounts[0].source, "/run/fountain/image/root.squashfs");
        assert_eq!(mounts[0].options, "ro,loop", "the artifact is never written");
        assert_eq!(mounts[2].target, Path::new("/newroot"));
        assert_eq!(mounts[2].options, "lowerdir=/run/fountain/lower,upperdir=/run/fountain/rw/upper,workdir=/run/fountain/rw/work");
        assert!(paths.upper().starts_with(&mounts[1].target), "writes go to the tmpfs");
        for m in &mounts[..2] {
            assert!(!m.target.starts_with(&paths.new_root), "{} inside the new root", m.target.display());
        }
    }
}
