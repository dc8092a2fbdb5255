//! Capture of a node made here: a loop-mounted ext4 root with a second ext4 at /srv, a tmpfs at /tmp
//! and proc at /proc, holding hard links, xattrs, an ACL, a SELinux label, a set-uid file of another
//! owner and a sparse file; streamed filesystem by filesystem, received into a staging root, compared,
//! then published and unpacked from the store, compared again.
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use image::capture;
use image::meta::{Family, Source};

/// Mounts made by the test, unmounted (last first) when it ends, whether it passed or not.
struct Mounts(Vec<PathBuf>);

impl Drop for Mounts {
    fn drop(&mut self) {
        for at in self.0.iter().rev() {
            let ok = Command::new("umount").arg(at).status().is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(at).status();
            }
        }
    }
}

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn write(root: &Path, rel: &str, content: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Everything about a file that a capture must keep, except its path.
fn describe(path: &Path) -> String {
    let meta = path.symlink_metadata().unwrap();
    let content = if meta.is_file() { blake3::hash(&std::fs::read(path).unwrap()).to_hex().to_string() } else { String::new() };
    let xattrs = sh(Command::new("getfattr").args(["-h", "-d", "-m", "-", "--absolute-names"]).arg(path));
    let xattrs: Vec<&str> = xattrs.lines().filter(|l| !l.starts_with("# file:")).collect();
    let acl = if meta.file_type().is_symlink() { String::new() } else { sh(Command::new("getfacl").args(["-c", "-p"]).arg(path)) };
    format!(
        "mode {:o} uid {} gid {} nlink {} size {} blake3 {content} xattrs {xattrs:?} acl {acl:?}",
        meta.mode(),
        meta.uid(),
        meta.gid(),
        meta.nlink(),
        meta.len()
    )
}

#[test]
fn a_node_with_two_filesystems_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("node");
    std::fs::create_dir_all(&node).unwrap();
    let mut mounts = Mounts(Vec::new());
    for (img, size) in [("root.img", "64M"), ("srv.img", "32M")] {
        let path = dir.path().join(img);
        sh(Command::new("truncate").args(["-s", size]).arg(&path));
        sh(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&path));
    }
    let mount = |args: &[&str], at: &Path, mounts: &mut Mounts| -> bool {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount").args(args).arg(at).status().is_ok_and(|s| s.success());
        if ok {
            mounts.0.push(at.to_owned());
        }
        ok
    };
    let root_img = dir.path().join("root.img").display().to_string();
    if !mount(&["-o", "loop", &root_img], &node, &mut mounts) {
        println!("SKIP: cannot loop-mount ext4 here (the capture test needs root and loop devices)");
        return;
    }
    let srv_img = dir.path().join("srv.img").display().to_string();
    assert!(mount(&["-o", "loop", &srv_img], &node.join("srv"), &mut mounts));
    assert!(mount(&["-t", "tmpfs", "tmpfs"], &node.join("tmp"), &mut mounts));
    assert!(mount(&["-t", "proc", "proc"], &node.join("proc"), &mut mounts));

    write(&node, "etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n");
    write(&node, "etc/machine-id", b"0123456789abcdef0123456789abcdef\n");
    write(&node, "etc/ssh/ssh_host_ed25519_key", b"secret");
    write(&node, "var/lib/dpkg/status", b"");
    std::fs::create_dir_all(node.join("var/lib/dpkg/updates")).unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    write(&node, "data/file1", &data);
    std::fs::hard_link(node.join("data/file1"), node.join("data/link1")).unwrap();
    std::fs::create_dir_all(node.join("data/sub dir")).unwrap();
    std::fs::hard_link(node.join("data/file1"), node.join("data/sub dir/link2")).unwrap();
    sh(Command::new("setfattr").args(["-n", "user.fountain", "-v", "hello"]).arg(node.join("data/file1")));
    sh(Command::new("setfattr").args(["-n", "trusted.fountain", "-v", "root-only"]).arg(node.join("data/file1")));
    write(&node, "data/acl-file", b"acl");
    sh(Command::new("setfacl").args(["-m", "u:1234:rwx,g:5678:r"]).arg(node.join("data/acl-file")));
    write(&node, "data/owned", b"#!/bin/sh\n");
    sh(Command::new("setfattr").args(["-n", "security.selinux", "-v", "system_u:object_r:bin_t:s0"]).arg(node.join("data/owned")));
    std::os::unix::fs::chown(node.join("data/owned"), Some(1234), Some(5678)).unwrap();
    sh(Command::new("chmod").arg("4755").arg(node.join("data/owned")));
    std::os::unix::fs::symlink("file1", node.join("data/sym")).unwrap();
    sh(Command::new("truncate").args(["-s", "64M"]).arg(node.join("data/sparse")));
    sh(Command::new("dd").args(["if=/dev/urandom", "bs=4096", "count=2", "seek=8192", "conv=notrunc", "status=none"])
        .arg(format!("of={}", node.join("data/sparse").display())));
    write(&node, "var/cache/big/blob", b"excluded");
    write(&node, "srv/share/a", b"shared");
    std::fs::hard_link(node.join("srv/share/a"), node.join("srv/share/b")).unwrap();
    write(&node, "tmp/junk", b"skipped");

    let plan = capture::plan_node(&node, &[PathBuf::from("/var/cache/big")]).unwrap();
    let points: Vec<&Path> = plan.iter().map(|f| f.mount_point.as_path()).collect();
    assert_eq!(points, [Path::new("/"), Path::new("/srv")]);
    let staging = dir.path().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    let mut streamed = 0;
    for fs in &plan {
        let mut stream = Vec::new();
        streamed += capture::tar::send(fs, &mut stream).unwrap();
        capture::receive_filesystem(&staging, &fs.mount_point.to_string_lossy(), &mut stream.as_slice()).unwrap();
    }
    // The sparse file's 64 MiB of holes did not travel.
    assert!(streamed < 8 << 20, "streamed {streamed} bytes");

    for rel in ["data/file1", "data/link1", "data/sub dir/link2", "data/acl-file", "data/owned", "data/sym", "data/sparse", "srv/share/a", "srv/share/b"] {
        assert_eq!(describe(&staging.join(rel)), describe(&node.join(rel)), "{rel} differs");
    }
    let (a, b) = (staging.join("data/file1").metadata().unwrap(), staging.join("data/sub dir/link2").metadata().unwrap());
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 3), "hard links became copies");
    let sparse = staging.join("data/sparse").metadata().unwrap();
    assert!(sparse.blocks() * 512 < 1 << 20, "the sparse file was filled: {} blocks", sparse.blocks());
    assert!(describe(&staging.join("data/file1")).contains("trusted.fountain"));
    assert!(describe(&staging.join("data/acl-file")).contains("user:1234:rwx"));

    assert!(!staging.join("var/cache/big").exists(), "an excluded path was captured");
    assert!(staging.join("tmp").is_dir() && !staging.join("tmp/junk").exists(), "tmpfs contents were captured");
    assert!(staging.join("proc").is_dir() && std::fs::read_dir(staging.join("proc")).unwrap().next().is_none());

    let meta = capture::finish(&staging, "node1").unwrap();
    assert_eq!((meta.family, meta.release.as_str()), (Family::Debian, "12"));
    assert_eq!(meta.source, Source::Captured { node: "node1".into() });
    assert_eq!(std::fs::read(staging.join("etc/machine-id")).unwrap(), b"");
    assert!(!staging.join("etc/ssh/ssh_host_ed25519_key").exists());
    assert!(node.join("etc/ssh/ssh_host_ed25519_key").exists(), "the node itself was scrubbed");

    // Published, then unpacked from the store: contents, owners, modes, link counts, xattrs (the
    // SELinux label included), ACLs (through the artifact's dump) and holes survive.
    let store = image::store::Store::open(dir.path().join("store")).unwrap();
    let published = image::publish::publish_root(&store, "captured", &staging, &meta, &dir.path().join("artifact")).unwrap();
    let artifact = dir.path().join("v1.squashfs");
    store.materialise("captured", published.version.version, &artifact).unwrap();
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    image::artifact::unpack(&artifact, &unpacked).unwrap();
    for rel in ["data/file1", "data/link1", "data/sub dir/link2", "data/acl-file", "data/owned", "data/sym", "data/sparse", "srv/share/a", "srv/share/b"] {
        assert_eq!(describe(&unpacked.join(rel)), describe(&node.join(rel)), "{rel} differs after the store");
    }
    assert!(describe(&unpacked.join("data/acl-file")).contains("user:1234:rwx"));
    assert!(describe(&unpacked.join("data/owned")).contains("security.selinux"));
    assert!(unpacked.join("data/sparse").metadata().unwrap().blocks() * 512 < 1 << 20, "holes filled by the store");
}

#[test]
fn a_mount_point_cannot_climb_out_of_staging() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["../etc", "relative", "/srv/../../etc"] {
        let err = capture::receive_filesystem(dir.path(), bad, &mut &b""[..]).unwrap_err();
        assert!(matches!(err, capture::CaptureError::BadMountPoint(_)), "{bad}: {err}");
    }
}
