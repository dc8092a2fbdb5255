//! Reading and writing inside an image root from the build host: paths resolved the way the image
//! itself would see them (an absolute symlink in the image points into the image, not at the host),
//! and user and group names looked up in the image's own /etc/passwd and /etc/group.
use std::path::{Component, Path, PathBuf};

/// Symlinks followed before a path is declared a loop, as Linux does.
const MAX_SYMLINKS: usize = 40;

/// A path that cannot be resolved inside the image.
#[derive(Debug, thiserror::Error)]
pub enum RootPathError {
    /// More than [`MAX_SYMLINKS`] symlinks.
    #[error("{0}: too many levels of symbolic links inside the image")]
    Loop(String),
    /// A symlink that could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path inside the image.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The host path of `path` (absolute, inside the image at `root`), following the image's symlinks as
/// if `root` were `/`; the last component is followed too when it is a symlink. Components that do not
/// exist yet are kept as written, so the result can be created.
pub fn resolve(root: &Path, path: &Path) -> Result<PathBuf, RootPathError> {
    let mut pending: Vec<std::ffi::OsString> = Vec::new();
    push_components(&mut pending, path);
    let mut inside = PathBuf::from("/");
    let mut links = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            inside.pop();
            continue;
        }
        let candidate = inside.join(&name);
        let host = root.join(candidate.strip_prefix("/").expect("absolute"));
        match std::fs::symlink_metadata(&host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(RootPathError::Loop(path.display().to_string()));
                }
                let target = std::fs::read_link(&host)
                    .map_err(|source| RootPathError::Io { path: candidate.display().to_string(), source })?;
                if target.is_absolute() {
                    inside = PathBuf::from("/");
                }
                push_components(&mut pending, &target);
            }
            _ => inside = candidate,
        }
    }
    Ok(root.join(inside.strip_prefix("/").expect("absolute")))
}

/// Pushes the components of `path` onto `stack` so that the first component is popped first.
fn push_components(stack: &mut Vec<std::ffi::OsString>, path: &Path) {
    let names: Vec<_> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    stack.extend(names.into_iter().rev());
}

/// The numeric id of `name` in the image's `etc/passwd` or `etc/group` (`file`, relative to `root`).
pub fn lookup_id(root: &Path, file: &str, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(root.join(file)).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}

/// `KEY=value` pairs of the image's os-release (`etc/os-release`, else `usr/lib/os-release`), quotes
/// removed.
pub fn os_release(root: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root.join("etc/os-release"))
        .or_else(|_| std::fs::read_to_string(root.join("usr/lib/os-release")))
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches(['"', '\'']).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_symlinks_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::os::unix::fs::symlink("/usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("usr/lib/escape")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("usr/lib/up")).unwrap();
        assert_eq!(resolve(root, Path::new("/lib/x")).unwrap(), root.join("usr/lib/x"));
        assert_eq!(resolve(root, Path::new("/lib/escape/passwd")).unwrap(), root.join("etc/passwd"));
        assert_eq!(resolve(root, Path::new("/lib/up/../etc/shadow")).unwrap(), root.join("etc/shadow"));
        std::os::unix::fs::symlink("/loop", root.join("loop")).unwrap();
        assert!(matches!(resolve(root, Path::new("/loop/x")), Err(RootPathError::Loop(_))));
    }

    #[test]
    fn ids_come_from_the_image() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\nslurm:x:990:990::/:/bin/false\n")
            .unwrap();
        assert_eq!(lookup_id(dir.path(), "etc/passwd", "slurm"), Some(990));
        assert_eq!(lookup_id(dir.path(), "etc/passwd", "nobody"), None);
    }
}
