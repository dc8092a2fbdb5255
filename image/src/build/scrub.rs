//! Removing what makes one machine differ from another (or records how an image was made) before a
//! root becomes an image: every node deployed from it must come up with its own identity.
//! - `etc/machine-id` is emptied (not removed): systemd then makes a fresh one on first boot and an
//!   empty file keeps read-only roots (stateless nodes) bootable;
//! - SSH host keys go; an image with ssh-keygen gets a oneshot unit that makes new ones on first boot
//!   before sshd starts (EL's sshd-keygen does this already, Debian's openssh-server does not);
//! - logs, package caches and lists, random seeds, DHCP leases, shell histories, temp files and the
//!   build host's hostname and resolv.conf go.
use std::fs;
use std::io;
use std::path::Path;

/// Single files removed when present (relative to the root).
const FILES: &[&str] = &[
    "var/lib/dbus/machine-id",
    "var/lib/systemd/random-seed",
    "var/lib/systemd/credential.secret",
    "var/lib/urandom/random-seed",
    "etc/hostname",
    "root/.bash_history",
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
    "var/cache/ldconfig/aux-cache",
];

/// Folders whose files are removed, recursively, keeping the folders themselves (packages expect them).
const EMPTIED_DIRS: &[&str] = &[
    "var/log",
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "var/cache/dnf",
    "var/cache/yum",
    "var/lib/dhcp",
    "var/lib/dhclient",
    "var/lib/NetworkManager",
    "tmp",
    "var/tmp",
];

/// The unit that makes SSH host keys on first boot, and where it goes.
const HOST_KEYS_UNIT: &str = "etc/systemd/system/fountain-ssh-host-keys.service";
const HOST_KEYS_UNIT_TEXT: &str = "[Unit]\nDescription=Make the SSH host keys that the image was scrubbed of\n\
    Before=ssh.service sshd.service\nConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key\n\n\
    [Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n\n[Install]\nWantedBy=multi-user.target\n";
const HOST_KEYS_WANTS: &str = "etc/systemd/system/multi-user.target.wants/fountain-ssh-host-keys.service";

/// Scrubs the root at `root` and returns what it removed or emptied, relative to the root, sorted.
pub fn scrub(root: &Path) -> io::Result<Vec<String>> {
    let mut done = Vec::new();
    let machine_id = root.join("etc/machine-id");
    if machine_id.symlink_metadata().is_ok() {
        fs::remove_file(&machine_id)?;
        fs::write(&machine_id, "")?;
        done.push("etc/machine-id".to_owned());
    }
    for file in FILES {
        remove_if_present(root, file, &mut done)?;
    }
    let ssh = root.join("etc/ssh");
    if let Ok(entries) = fs::read_dir(&ssh) {
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with("ssh_host_") {
                remove_if_present(root, &format!("etc/ssh/{name}"), &mut done)?;
            }
        }
    }
    if let Ok(entries) = fs::read_dir(root.join("home")) {
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            remove_if_present(root, &format!("home/{name}/.bash_history"), &mut done)?;
        }
    }
    for dir in EMPTIED_DIRS {
        empty_dir(root, dir, &mut done)?;
    }
    if root.join("usr/bin/ssh-keygen").exists() && !root.join(HOST_KEYS_UNIT).exists() {
        fs::create_dir_all(root.join(HOST_KEYS_WANTS).parent().expect("has a parent"))?;
        fs::write(root.join(HOST_KEYS_UNIT), HOST_KEYS_UNIT_TEXT)?;
        std::os::unix::fs::symlink(Path::new("/").join(HOST_KEYS_UNIT), root.join(HOST_KEYS_WANTS))?;
    }
    done.sort();
    Ok(done)
}

fn remove_if_present(root: &Path, rel: &str, done: &mut Vec<String>) -> io::Result<()> {
    match fs::remove_file(root.join(rel)) {
        Ok(()) => {
            done.push(rel.to_owned());
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes every non-directory under `rel`, keeping directories (and `lock` files, which apt and dnf
/// expect to exist).
fn empty_dir(root: &Path, rel: &str, done: &mut Vec<String>) -> io::Result<()> {
    let path = root.join(rel);
    // A symlinked folder (`var/tmp` -> somewhere) is left alone: its target may be outside the image.
    let Ok(meta) = path.symlink_metadata() else { return Ok(()) };
    if !meta.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(&path)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = format!("{rel}/{name}");
        if entry.file_type()?.is_dir() {
            empty_dir(root, &child, done)?;
        } else if name != "lock" {
            remove_if_present(root, &child, done)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_goes_and_the_rest_stays() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, content) in [
            ("etc/machine-id", "0123456789abcdef0123456789abcdef\n"),
            ("etc/ssh/ssh_host_ed25519_key", "secret"),
            ("etc/ssh/ssh_host_ed25519_key.pub", "public"),
            ("etc/ssh/sshd_config", "PermitRootLogin no\n"),
            ("var/log/journal/abc/system.journal", "j"),
            ("var/log/dpkg.log", "l"),
            ("var/cache/apt/archives/x.deb", "d"),
            ("var/cache/apt/archives/lock", ""),
            ("var/lib/systemd/random-seed", "r"),
            ("home/alice/.bash_history", "ls"),
            ("home/alice/notes", "keep"),
            ("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
            ("usr/bin/ssh-keygen", "#!/bin/sh\n"),
        ] {
            fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            fs::write(root.join(path), content).unwrap();
        }
        let done = scrub(root).unwrap();
        assert_eq!(fs::read(root.join("etc/machine-id")).unwrap(), b"");
        for gone in [
            "etc/ssh/ssh_host_ed25519_key",
            "etc/ssh/ssh_host_ed25519_key.pub",
            "var/log/journal/abc/system.journal",
            "var/log/dpkg.log",
            "var/cache/apt/archives/x.deb",
            "var/lib/systemd/random-seed",
            "home/alice/.bash_history",
        ] {
            assert!(!root.join(gone).exists(), "{gone} survived");
            assert!(done.iter().any(|d| d == gone), "{gone} not reported");
        }
        for kept in ["etc/ssh/sshd_config", "home/alice/notes", "etc/passwd", "var/cache/apt/archives/lock"] {
            assert!(root.join(kept).exists(), "{kept} was removed");
        }
        assert!(root.join("var/log/journal/abc").is_dir());
        let unit = fs::read_to_string(root.join(HOST_KEYS_UNIT)).unwrap();
        assert!(unit.contains("ExecStart=/usr/bin/ssh-keygen -A") && unit.contains("Before=ssh.service"));
        assert_eq!(fs::read_link(root.join(HOST_KEYS_WANTS)).unwrap(), Path::new("/").join(HOST_KEYS_UNIT));
        // A second scrub (a capture of a node deployed from this image) leaves it as it is.
        scrub(root).unwrap();
    }
}
