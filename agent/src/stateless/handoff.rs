//! Handing the prepared root to `/init`. busybox's switch_root must run as PID 1, and the agent is a
//! child of `/init` (PID 1, the initramfs's shell script), so the agent prepares the new root, checks
//! that it has an init, and leaves a note naming it; `/init` sees the note once the agent has exited,
//! moves `/dev`, `/proc` and `/sys` into the new root and execs `switch_root`, which empties the
//! initramfs (the agent binary and everything it held go with it) and starts the image's systemd.
use std::path::{Path, PathBuf};

/// The note `/init` looks for (keep in step with `bootfiles/init.sh`).
pub const NOTE: &str = "/run/fountain/switch-root";
/// The init the image boots.
pub const INIT: &str = "/sbin/init";

/// Why the new root cannot be handed over.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// The image has no init to start.
    #[error("the image has no {INIT} (is systemd, or another init, installed in it?)")]
    NoInit,
    /// The note could not be written.
    #[error("writing {path}: {source}")]
    Note {
        /// The note's path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Checks that `new_root` has an executable init and writes `note` for `/init`: the new root's path and
/// the init, one per line.
pub fn prepare(new_root: &Path, note: &Path) -> Result<(), HandoffError> {
    let init = image::rootfs::resolve(new_root, Path::new(INIT)).map_err(|_| HandoffError::NoInit)?;
    let executable = std::fs::metadata(&init).is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0);
    if !executable {
        return Err(HandoffError::NoInit);
    }
    let text = format!("{}\n{INIT}\n", new_root.display());
    if let Some(dir) = note.parent() {
        std::fs::create_dir_all(dir).map_err(|source| HandoffError::Note { path: dir.to_path_buf(), source })?;
    }
    std::fs::write(note, text).map_err(|source| HandoffError::Note { path: note.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_note_names_the_root_and_an_init_that_resolves_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let (root, note) = (dir.path().join("root"), dir.path().join("run/switch-root"));
        std::fs::create_dir_all(root.join("usr/lib/systemd")).unwrap();
        std::fs::create_dir_all(root.join("usr/sbin")).unwrap();
        std::os::unix::fs::symlink("usr/sbin", root.join("sbin")).unwrap();
        assert!(matches!(prepare(&root, &note), Err(HandoffError::NoInit)));
        // Debian's: /sbin -> usr/sbin, /sbin/init -> /lib/systemd/systemd (absolute, read inside the root).
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("/lib/systemd/systemd", root.join("usr/sbin/init")).unwrap();
        std::fs::write(root.join("usr/lib/systemd/systemd"), "").unwrap();
        assert!(matches!(prepare(&root, &note), Err(HandoffError::NoInit)), "not executable");
        std::fs::set_permissions(root.join("usr/lib/systemd/systemd"), std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare(&root, &note).unwrap();
        assert_eq!(std::fs::read_to_string(&note).unwrap(), format!("{}\n/sbin/init\n", root.display()));
    }
}
