//! ISOs on the appliance with real ISO images made by xorriso: detection from the ISO's own metadata,
//! stored once, hash and size checks, and kill -9 during an upload.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use image::iso::{IsoError, IsoStore};
use image::meta::Family;
use testkit::{start_child, wait_for};

/// Makes an ISO of a directory holding `files` (path, contents) and `pad_bytes` of filler.
fn make_iso(dir: &Path, name: &str, files: &[(&str, &str)], pad_bytes: usize) -> PathBuf {
    let tree = dir.join(format!("{name}.tree"));
    for (p, text) in files {
        let p = tree.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    std::fs::create_dir_all(tree.join("BaseOS")).unwrap();
    std::fs::write(tree.join("BaseOS/filler.rpm"), (0..pad_bytes).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>()).unwrap();
    let iso = dir.join(name);
    let out = Command::new("xorriso").args(["-as", "mkisofs", "-quiet", "-R", "-J", "-V", "TEST", "-o"]).arg(&iso).arg(&tree).output().unwrap();
    assert!(out.status.success(), "xorriso: {}", String::from_utf8_lossy(&out.stderr));
    iso
}

const TREEINFO: &str = "[header]\ntype = productmd.treeinfo\n\n[release]\nname = Rocky Linux\nshort = Rocky\nversion = 9.4\n\n[tree]\narch = x86_64\n";

#[test]
fn an_iso_is_detected_from_its_treeinfo_and_stored_once() {
    let tmp = tempfile::tempdir().unwrap();
    let iso = make_iso(tmp.path(), "Rocky-9.4-x86_64-minimal.iso", &[(".treeinfo", TREEINFO), (".discinfo", "1\nRocky Linux 9.4\nx86_64\n")], 100_000);
    let store = IsoStore::open(tmp.path().join("isos")).unwrap();
    let (info, new) = store.add_file(&iso, 1 << 30).unwrap();
    assert!(new);
    assert_eq!(info.id, blake3::hash(&std::fs::read(&iso).unwrap()).to_hex().as_str());
    assert_eq!((info.detected.distribution.as_str(), info.detected.release.as_str()), ("Rocky Linux", "9.4"));
    assert_eq!((info.detected.family, info.detected.from.as_str(), info.name.as_str()), (Some(Family::El), ".treeinfo", "Rocky-9.4-x86_64-minimal.iso"));
    let (again, new) = store.add_file(&iso, 1 << 30).unwrap();
    assert!(!new);
    assert_eq!(again, info);
    assert_eq!(store.list().unwrap(), vec![info.clone()]);
    assert_eq!(std::fs::read(store.path(&info.id).unwrap()).unwrap(), std::fs::read(&iso).unwrap());
    assert_eq!(std::fs::read_dir(tmp.path().join("isos/tmp")).unwrap().count(), 0);
}

#[test]
fn a_debian_iso_is_detected_from_disk_info() {
    let tmp = tempfile::tempdir().unwrap();
    let text = "Debian GNU/Linux 12.5.0 \"Bookworm\" - Official amd64 NETINST with firmware 20240210-11:27";
    let iso = make_iso(tmp.path(), "debian.iso", &[(".disk/info", text)], 10_000);
    let (info, _) = IsoStore::open(tmp.path().join("isos")).unwrap().add_file(&iso, 1 << 30).unwrap();
    assert_eq!((info.detected.release.as_str(), info.detected.family), ("12.5.0", Some(Family::Debian)));
}

#[test]
fn bad_uploads_are_refused_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = IsoStore::open(tmp.path().join("isos")).unwrap();
    let iso = make_iso(tmp.path(), "r.iso", &[(".treeinfo", TREEINFO)], 50_000);
    let bytes = std::fs::read(&iso).unwrap();

    let mut up = store.begin("r.iso", 1 << 30).unwrap();
    up.write(&bytes).unwrap();
    let e = up.finish(Some(&"0".repeat(64))).unwrap_err();
    assert!(matches!(e, IsoError::HashMismatch { .. }), "{e}");

    let mut up = store.begin("r.iso", 10_000).unwrap();
    let e = bytes.chunks(4096).map(|c| up.write(c)).find_map(Result::err).unwrap();
    assert!(matches!(e, IsoError::TooLarge { limit: 10_000 }), "{e}");
    drop(up);

    let plain = make_iso(tmp.path(), "plain.iso", &[("README", "no metadata")], 1000);
    let e = store.add_file(&plain, 1 << 30).unwrap_err();
    assert!(matches!(e, IsoError::NotDetected { .. }), "{e}");

    assert!(matches!(store.begin("../x.iso", 1), Err(IsoError::BadName(_))));
    assert!(store.list().unwrap().is_empty());
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("isos")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("tmp")], "leftovers");
    assert_eq!(std::fs::read_dir(tmp.path().join("isos/tmp")).unwrap().count(), 0);
}

/// Set in the child's environment: the ISO folder and the ISO to upload.
const CHILD_ENV: &str = "IMAGE_ISO_KILL9";

/// The child: uploads an ISO slowly (64 KiB writes) until killed.
#[test]
#[ignore = "the child process of the kill -9 upload test; runs only when it starts it"]
fn uploading_child() {
    let spec = std::env::var(CHILD_ENV).expect("run by the kill -9 test");
    let (dir, iso) = spec.split_once('\n').unwrap();
    let store = IsoStore::open(dir).unwrap();
    let bytes = std::fs::read(iso).unwrap();
    let mut up = store.begin("big.iso", 1 << 30).unwrap();
    for c in bytes.chunks(64 * 1024) {
        up.write(c).unwrap();
    }
    up.finish(None).unwrap();
}

#[test]
fn an_upload_killed_midway_lists_nothing_and_clean_removes_its_file() {
    let tmp = tempfile::tempdir().unwrap();
    let iso = make_iso(tmp.path(), "big.iso", &[(".treeinfo", TREEINFO)], 256 << 20);
    let dir = tmp.path().join("isos");
    let store = IsoStore::open(&dir).unwrap();
    let mut child = start_child("uploading_child", [(CHILD_ENV, format!("{}\n{}", dir.display(), iso.display()))]);
    let partial_bytes = || std::fs::read_dir(dir.join("tmp")).unwrap().flatten().map(|e| e.metadata().map_or(0, |m| m.len())).sum::<u64>();
    wait_for("the child to write 8 MiB", Duration::from_secs(60), || partial_bytes() >= 8 << 20);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(store.list().unwrap().is_empty(), "a half upload is listed");
    assert!(store.clean().unwrap() >= 1);
    assert_eq!(std::fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
    // Killed after the rename but before the record: an unlisted .iso, which clean removes too.
    std::fs::copy(&iso, dir.join(format!("{}.iso", "a".repeat(64)))).unwrap();
    assert!(store.list().unwrap().is_empty());
    assert_eq!(store.clean().unwrap(), 1);
    let (info, new) = store.add_file(&iso, 1 << 30).unwrap();
    assert!(new && info.bytes == std::fs::metadata(&iso).unwrap().len());
}
