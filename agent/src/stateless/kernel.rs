//! Whether the image carries modules for the kernel the node runs. The boot script boots the image's
//! own kernel when it has one (control's `image_boot`), so after switch_root `modprobe` finds
//! `/lib/modules/$(uname -r)`; an image without a kernel runs the agent's, and its modules directory
//! then does not match. The agent says which on the console before it switches, so a failing
//! `modprobe` on the node is explained where the operator looks first.
use std::path::Path;

/// Where the running kernel's release is read.
pub const OSRELEASE: &str = "/proc/sys/kernel/osrelease";

/// The console line for a node running kernel `release` about to switch into `root`.
pub fn note(release: &str, root: &Path) -> String {
    let dir = image::rootfs::resolve(root, &Path::new("/lib/modules").join(release)).ok();
    if dir.is_some_and(|d| d.join("modules.dep").is_file()) {
        return format!("kernel {release}: the image carries its modules (/lib/modules/{release})");
    }
    let carried: Vec<String> = image::rootfs::resolve(root, Path::new("/lib/modules"))
        .ok()
        .and_then(|d| std::fs::read_dir(d).ok())
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    format!("warning: kernel {release} has no modules in the image (it carries {carried:?}): modprobe will fail on this node; give the image a kernel to boot it with its own")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_kernel_is_checked_against_the_images_modules_through_its_links() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("usr/lib/modules/6.1.0-50-amd64")).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.path().join("lib")).unwrap();
        std::fs::write(root.path().join("usr/lib/modules/6.1.0-50-amd64/modules.dep"), "").unwrap();
        assert_eq!(note("6.1.0-50-amd64", root.path()), "kernel 6.1.0-50-amd64: the image carries its modules (/lib/modules/6.1.0-50-amd64)");
        let other = note("6.1.0-57-amd64", root.path());
        assert!(other.starts_with("warning: kernel 6.1.0-57-amd64 has no modules") && other.contains("[\"6.1.0-50-amd64\"]"), "{other}");
    }
}
