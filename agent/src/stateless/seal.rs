//! The last check before switch_root: no file the agent or the config plugins wrote into the new
//! root carries the kernel command line's token (or the boot credential). Only the overlay's upper
//! folder can: the lower layer is the published artifact, made before the token existed.
use std::io;
use std::path::{Path, PathBuf};

/// The first file under `dir` (symlinks not followed) whose bytes contain `secret`, if any.
pub fn find(dir: &Path, secret: &[u8]) -> io::Result<Option<PathBuf>> {
    if secret.is_empty() {
        return Ok(None);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
                continue;
            }
            let bytes = if kind.is_file() {
                std::fs::read(entry.path())?
            } else if kind.is_symlink() {
                std::fs::read_link(entry.path())?.into_os_string().into_encoded_bytes()
            } else {
                continue;
            };
            if contains(&bytes, secret) {
                return Ok(Some(entry.path()));
            }
        }
    }
    Ok(None)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_secret_in_any_written_file_or_link() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/systemd")).unwrap();
        std::fs::write(dir.path().join("etc/hostname"), "n1\n").unwrap();
        assert_eq!(find(dir.path(), b"0badc0de").unwrap(), None);
        std::fs::write(dir.path().join("etc/systemd/leak.conf"), "x fountain.token=0badc0de y").unwrap();
        assert_eq!(find(dir.path(), b"0badc0de").unwrap(), Some(dir.path().join("etc/systemd/leak.conf")));
        std::fs::remove_file(dir.path().join("etc/systemd/leak.conf")).unwrap();
        std::os::unix::fs::symlink("/run/0badc0de", dir.path().join("etc/link")).unwrap();
        assert_eq!(find(dir.path(), b"0badc0de").unwrap(), Some(dir.path().join("etc/link")));
    }
}
