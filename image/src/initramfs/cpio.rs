//! A reproducible `newc` cpio archive, the format the kernel unpacks as an initramfs: entries sorted by
//! path (parents first), inode numbers by that order, one fixed mtime, owner root, so the same inputs
//! always give the same bytes.
use std::collections::BTreeMap;

/// What one path in the archive is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory (mode 0755).
    Dir,
    /// A regular file with its permission bits.
    File {
        /// Contents.
        data: Vec<u8>,
        /// Permission bits (`0o755`, `0o644`).
        mode: u32,
    },
    /// A symbolic link to `target`.
    Symlink(String),
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const TRAILER: &str = "TRAILER!!!";

/// Paths (relative, no leading `/`) to entries; every parent directory is added on insertion.
#[derive(Debug, Default)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

impl Archive {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `entry` at `path` (leading `/` ignored) and any missing parent directories. A later
    /// insertion at the same path replaces the earlier one, except that a directory never replaces
    /// a symlink (so `lib -> usr/lib` survives files added below `lib/`).
    pub fn insert(&mut self, path: &str, entry: Entry) {
        let path = path.trim_start_matches('/').trim_end_matches('/');
        if path.is_empty() {
            return;
        }
        let mut parent = String::new();
        for part in path.split('/').take(path.split('/').count() - 1) {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            self.entries.entry(parent.clone()).or_insert(Entry::Dir);
        }
        if entry == Entry::Dir && self.entries.contains_key(path) {
            return;
        }
        self.entries.insert(path.to_string(), entry);
    }

    /// Whether `path` is in the archive.
    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path.trim_start_matches('/'))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The archive's bytes, every entry stamped with `mtime` (Unix seconds).
    pub fn to_bytes(&self, mtime: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (path, entry)) in self.entries.iter().enumerate() {
            let (mode, data): (u32, &[u8]) = match entry {
                Entry::Dir => (S_IFDIR | 0o755, &[]),
                Entry::File { data, mode } => (S_IFREG | (mode & 0o7777), data),
                Entry::Symlink(target) => (S_IFLNK | 0o777, target.as_bytes()),
            };
            let nlink = if matches!(entry, Entry::Dir) { 2 } else { 1 };
            write_entry(&mut out, i as u32 + 1, mode, nlink, mtime, path, data);
        }
        write_entry(&mut out, 0, 0, 1, 0, TRAILER, &[]);
        out
    }
}

fn write_entry(out: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, mtime: u32, name: &str, data: &[u8]) {
    let fields = [ino, mode, 0, 0, nlink, mtime, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_first_and_symlinks_survive_directories() {
        let mut a = Archive::new();
        a.insert("/lib", Entry::Symlink("usr/lib".into()));
        a.insert("/usr/lib/x/libc.so", Entry::File { data: b"elf".to_vec(), mode: 0o755 });
        a.insert("/lib", Entry::Dir);
        let paths: Vec<_> = a.entries.keys().cloned().collect();
        assert_eq!(paths, ["lib", "usr", "usr/lib", "usr/lib/x", "usr/lib/x/libc.so"]);
        assert_eq!(a.entries["lib"], Entry::Symlink("usr/lib".into()));
    }

    #[test]
    fn cpio_lists_what_went_in() {
        // The system's cpio reads the archive back: names, link targets and contents.
        let mut a = Archive::new();
        a.insert("init", Entry::File { data: b"#!/bin/sh\n".to_vec(), mode: 0o755 });
        a.insert("bin/sh", Entry::Symlink("busybox".into()));
        let bytes = a.to_bytes(0);
        assert!(bytes.len().is_multiple_of(4));
        assert_eq!(a.to_bytes(0), bytes, "same input, same bytes");
        let Ok(mut child) = std::process::Command::new("cpio")
            .args(["-t", "-v", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            eprintln!("skipping the cpio read-back: cpio is not installed");
            return;
        };
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].starts_with("drwxr-xr-x") && lines[0].ends_with(" bin"), "{out}");
        assert!(lines[1].starts_with("lrwxrwxrwx") && lines[1].ends_with("bin/sh -> busybox"), "{out}");
        assert!(lines[2].starts_with("-rwxr-xr-x") && lines[2].contains(" 10 ") && lines[2].ends_with(" init"), "{out}");
    }
}
