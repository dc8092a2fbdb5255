//! The artifact round trip with the real squashfs-tools: reproducible bytes, and what a stateful node
//! needs back (owners, xattrs, hard links, holes, symlinks).
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use image::artifact::{pack, unpack};

/// Builds a small root: files made in the order `names` gives, a hard link, a sparse file, an xattr,
/// a symlink and a file owned by another user.
fn make_root(root: &Path, names: &[&str]) {
    for n in names {
        let p = root.join(n);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("contents of {n}\n").repeat(50)).unwrap();
    }
    std::fs::hard_link(root.join("usr/bin/tool"), root.join("usr/bin/tool-alias")).unwrap();
    let mut sparse = std::fs::File::create(root.join("var/sparse.img")).unwrap();
    sparse.seek(SeekFrom::Start(8 << 20)).unwrap();
    sparse.write_all(b"end").unwrap();
    std::os::unix::fs::symlink("../usr/bin/tool", root.join("etc/tool-link")).unwrap();
    std::os::unix::fs::chown(root.join("etc/owned"), Some(1234), Some(4321)).unwrap();
    std::fs::set_permissions(root.join("usr/bin/tool"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    let st = Command::new("setfattr").args(["-n", "user.fountain", "-v", "kept"]).arg(root.join("etc/owned")).status().unwrap();
    assert!(st.success(), "setfattr failed: this test needs user xattrs on the temp filesystem");
    // Same mtimes whatever order the files were made in: the tree is the input.
    let links_and_dirs = ["usr/bin/tool-alias", "var/sparse.img", "etc/tool-link", "", "etc", "usr", "usr/bin", "var"];
    fix_mtimes(root, names.iter().copied().chain(links_and_dirs));
}

/// Sets the modification time of each of `paths` under `root` (symlinks themselves, not their
/// targets) to one fixed moment, so that two trees made at different times pack alike.
fn fix_mtimes<'a>(root: &Path, paths: impl IntoIterator<Item = &'a str>) {
    for p in paths {
        assert!(Command::new("touch").args(["-h", "-d", "@1700000000"]).arg(root.join(p)).status().unwrap().success(), "touch {p}");
    }
}

const NAMES: [&str; 5] = ["etc/owned", "etc/hosts", "usr/bin/tool", "usr/bin/other", "var/log"];

#[test]
fn the_same_tree_packs_to_the_same_bytes_and_unpacks_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    make_root(&a, &NAMES);
    let mut reversed = NAMES;
    reversed.reverse();
    make_root(&b, &reversed);
    let pa = pack(&a, &tmp.path().join("a.sqfs")).unwrap();
    let pb = pack(&b, &tmp.path().join("b.sqfs")).unwrap();
    assert_eq!(pa.bytes, std::fs::metadata(&pa.path).unwrap().len());
    assert_eq!(std::fs::read(&pa.path).unwrap(), std::fs::read(&pb.path).unwrap(), "two packs of one tree differ");
    assert!(!tmp.path().join("a.sqfs.partial").exists());

    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    unpack(&pa.path, &out).unwrap();
    for n in NAMES {
        assert_eq!(std::fs::read(out.join(n)).unwrap(), std::fs::read(a.join(n)).unwrap(), "{n}");
    }
    let (t, alias) = (std::fs::metadata(out.join("usr/bin/tool")).unwrap(), std::fs::metadata(out.join("usr/bin/tool-alias")).unwrap());
    assert_eq!(t.ino(), alias.ino(), "the hard link came back as a copy");
    assert_eq!(t.mode() & 0o7777, 0o4755);
    let sparse = std::fs::metadata(out.join("var/sparse.img")).unwrap();
    assert_eq!(sparse.len(), (8 << 20) + 3);
    assert!(sparse.blocks() * 512 < 1 << 20, "the sparse file was filled: {} blocks", sparse.blocks());
    assert_eq!(std::fs::read_link(out.join("etc/tool-link")).unwrap(), Path::new("../usr/bin/tool"));
    let owned = std::fs::metadata(out.join("etc/owned")).unwrap();
    assert_eq!((owned.uid(), owned.gid()), (1234, 4321));
    assert_eq!(owned.mtime(), 1_700_000_000);
    let x = Command::new("getfattr").args(["--only-values", "-n", "user.fountain"]).arg(out.join("etc/owned")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&x.stdout), "kept");
}

#[test]
fn packing_a_missing_root_fails_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.sqfs");
    let e = pack(&tmp.path().join("absent"), &out).unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");
    assert!(!out.exists());
}

#[test]
fn unpacking_a_damaged_artifact_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.sqfs");
    std::fs::write(&bad, vec![0x5a; 64 * 1024]).unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let e = unpack(&bad, &out).unwrap_err();
    assert!(e.to_string().contains("unsquashfs failed"), "{e}");
}

#[test]
fn a_stateless_node_mounts_the_artifact_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    make_root(&root, &NAMES);
    let packed = pack(&root, &tmp.path().join("root.sqfs")).unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let out = Command::new("mount").args(["-t", "squashfs", "-o", "loop,ro"]).arg(&packed.path).arg(&mnt).output().unwrap();
    if !out.status.success() {
        println!("skipped: cannot loop-mount squashfs here: {}", String::from_utf8_lossy(&out.stderr).trim());
        return;
    }
    let contents: Vec<_> = NAMES.iter().map(|n| std::fs::read(mnt.join(n))).collect();
    let hard_linked = std::fs::metadata(mnt.join("usr/bin/tool")).unwrap().ino() == std::fs::metadata(mnt.join("usr/bin/tool-alias")).unwrap().ino();
    let x = Command::new("getfattr").args(["--only-values", "-n", "user.fountain"]).arg(mnt.join("etc/owned")).output().unwrap();
    assert!(Command::new("umount").arg(&mnt).status().unwrap().success());
    for (n, c) in NAMES.iter().zip(contents) {
        assert_eq!(c.unwrap(), std::fs::read(root.join(n)).unwrap(), "{n}");
    }
    assert!(hard_linked);
    assert_eq!(String::from_utf8_lossy(&x.stdout), "kept");
}

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A file's ACL as `getfacl` prints it, owners as numbers, without the `# file:` line.
fn acl(path: &Path) -> String {
    sh(Command::new("getfacl").args(["--numeric", "--omit-header"]).arg(path))
}

/// A file's SELinux label, set by hand (no policy needs to be loaded for root to write it).
fn label(path: &Path) -> String {
    sh(Command::new("getfattr").args(["--only-values", "-n", "security.selinux"]).arg(path))
}

#[test]
fn acls_and_selinux_labels_survive_the_artifact() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for (root, names) in [(&a, ["srv/shared dir/file", "srv/plain", "etc/shadow"]), (&b, ["etc/shadow", "srv/plain", "srv/shared dir/file"])] {
        make_root(root, &NAMES);
        for n in names {
            let p = root.join(n);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, n).unwrap();
        }
        sh(Command::new("setfacl").args(["-m", "u:1234:rwx,g:5678:r"]).arg(root.join("srv/shared dir/file")));
        sh(Command::new("setfacl").args(["-d", "-m", "u:1234:rx"]).arg(root.join("srv/shared dir")));
        sh(Command::new("setfacl").args(["-m", "g:42:r"]).arg(root.join("etc/shadow")));
        sh(Command::new("setfattr").args(["-n", "security.selinux", "-v", "system_u:object_r:shadow_t:s0"]).arg(root.join("etc/shadow")));
        // The files added here (and the folders they changed) must not keep the time they were made
        // at: a second passing between the two trees would make the packs differ.
        fix_mtimes(root, names.into_iter().chain(["", "etc", "srv", "srv/shared dir"]));
    }
    let pa = pack(&a, &tmp.path().join("a.sqfs")).unwrap();
    let pb = pack(&b, &tmp.path().join("b.sqfs")).unwrap();
    assert_eq!(std::fs::read(&pa.path).unwrap(), std::fs::read(&pb.path).unwrap(), "the ACL dump depends on the order files were made");
    assert!(!tmp.path().join("a.sqfs.posix-acls").exists(), "the dump outlived the pack");
    assert!(!a.join(image::artifact::acls::ACL_FILE).exists(), "the pack wrote into the root");

    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    unpack(&pa.path, &out).unwrap();
    for rel in ["srv/shared dir/file", "srv/shared dir", "etc/shadow", "srv/plain", "etc/owned"] {
        assert_eq!(acl(&out.join(rel)), acl(&a.join(rel)), "{rel}: ACL differs after unpack");
    }
    assert!(acl(&out.join("srv/shared dir")).contains("default:user:1234:r-x"));
    assert!(acl(&out.join("srv/shared dir/file")).contains("user:1234:rwx"));
    assert_eq!(label(&out.join("etc/shadow")), "system_u:object_r:shadow_t:s0");
    assert!(!out.join(image::artifact::acls::ACL_FILE).exists(), "the dump was left in the unpacked root");

    // A tree without extended ACLs packs as before: no dump inside.
    let plain = pack(&tmp.path().join("a/usr"), &tmp.path().join("usr.sqfs")).unwrap();
    let listing = sh(Command::new("unsquashfs").arg("-l").arg(&plain.path));
    assert!(!listing.contains(image::artifact::acls::ACL_FILE), "{listing}");
}
