//! The host kernel the agent boots: the newest `/boot/vmlinuz-<version>` that has its modules
//! installed under `/lib/modules/<version>` (the running kernel may be another, e.g. a container's).
use std::path::{Path, PathBuf};

use image::initramfs::release::release_cmp;

use super::BootFilesError;

/// A kernel image and its module directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    /// Release string (`6.1.0-57-amd64`).
    pub version: String,
    /// The `vmlinuz` file.
    pub image: PathBuf,
    /// `/lib/modules/<version>`.
    pub modules: PathBuf,
}

/// The newest kernel under `root` (`/` on a real host) with both image and `modules.dep`.
pub fn find(root: &Path) -> Result<Kernel, BootFilesError> {
    let boot = root.join("boot");
    let entries = std::fs::read_dir(&boot).map_err(|e| BootFilesError::NoKernel(format!("reading {}: {e}", boot.display())))?;
    let mut found: Vec<Kernel> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix("vmlinuz-")).map(str::to_string))
        .map(|version| Kernel { image: boot.join(format!("vmlinuz-{version}")), modules: root.join("lib/modules").join(&version), version })
        .filter(|k| k.modules.join("modules.dep").is_file())
        .collect();
    found.sort_by(|a, b| release_cmp(&a.version, &b.version));
    found.pop().ok_or_else(|| BootFilesError::NoKernel(format!("no vmlinuz-* in {} with modules.dep under lib/modules", boot.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_kernel_with_modules_wins() {
        let root = tempfile::tempdir().unwrap();
        for v in ["6.1.0-9-amd64", "6.1.0-57-amd64", "6.2.0-1-amd64"] {
            std::fs::create_dir_all(root.path().join("boot")).unwrap();
            std::fs::write(root.path().join(format!("boot/vmlinuz-{v}")), b"k").unwrap();
        }
        // 6.2 has no modules installed, so it cannot be the agent's kernel.
        for v in ["6.1.0-9-amd64", "6.1.0-57-amd64"] {
            std::fs::create_dir_all(root.path().join(format!("lib/modules/{v}"))).unwrap();
            std::fs::write(root.path().join(format!("lib/modules/{v}/modules.dep")), b"").unwrap();
        }
        assert_eq!(find(root.path()).unwrap().version, "6.1.0-57-amd64");
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(find(empty.path()), Err(BootFilesError::NoKernel(_))));
    }
}
