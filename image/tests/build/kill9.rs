//! kill -9 during a build: a child process builds EL images from the test's ISO and publishes them, in
//! a loop, and is killed while dnf installs, while the artifact is packed and just after a version
//! appears. Afterwards the store verifies clean, lists only whole versions, and nothing the build
//! mounted is left mounted (its chroot mounts live in private namespaces).
use std::path::{Path, PathBuf};
use std::time::Duration;

use image::build::el::{self, ElSpec};
use image::meta::Family;
use image::publish::publish_root;
use image::role::Role;
use image::store::Store;
use testkit::{check_store, start_child, wait_for};

use crate::fake_el_iso;

/// Set in the child's environment: the folder holding `iso` and `store`, where it builds.
const CHILD_DIR_ENV: &str = "IMAGE_BUILD_KILL9_DIR";
/// How long the parent waits for the child to reach a kill point.
const WAIT: Duration = Duration::from_secs(120);
/// Builds the child makes before it stops by itself, in case nobody kills it.
const CHILD_BUILDS: usize = 20;

/// The child: builds and publishes until killed.
#[test]
#[ignore = "the child process of the build kill -9 test; runs only when it starts it"]
fn building_child() {
    let dir = PathBuf::from(std::env::var_os(CHILD_DIR_ENV).expect("run by the kill -9 test"));
    let store = Store::open(dir.join("store")).unwrap();
    let spec = ElSpec { iso: dir.join("fake.iso"), iso_blake3: "0".repeat(64) };
    let role = Role::load("compute", Family::El).unwrap();
    for i in 0..CHILD_BUILDS {
        let work = dir.join(format!("work-{}-{i}", std::process::id()));
        let built = el::build(&spec, &role, &work).unwrap();
        publish_root(&store, "el", &built.root, &built.meta, &work.join("artifact")).unwrap();
    }
}

/// Whether any `work-*` folder of the child has `rel` in it.
fn any_work_has(dir: &Path, rel: &str) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| e.file_name().to_string_lossy().starts_with("work-") && e.path().join(rel).exists())
}

fn versions(dir: &Path) -> usize {
    Store::open(dir.join("store")).unwrap().versions(Some("el")).unwrap().len()
}

#[test]
fn a_build_killed_at_any_point_leaves_the_store_valid_and_nothing_mounted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let iso = fake_el_iso::make(&dir.join("iso"));
    std::fs::rename(iso, dir.join("fake.iso")).unwrap();
    let out = dir.join("materialised");
    // Kill points: dnf writing the root's package database, mksquashfs writing the artifact (or, when
    // packing was too quick to be seen, whatever came next), and a version just published.
    for (round, point) in ["var/lib/rpm", "artifact.partial", "version"].into_iter().enumerate() {
        let before = versions(dir);
        let mut child = start_child("kill9::building_child", [(CHILD_DIR_ENV, dir)]);
        match point {
            "version" => wait_for("a version", WAIT, || versions(dir) > before),
            rel => wait_for(rel, WAIT, || any_work_has(dir, &format!("root/{rel}")) || any_work_has(dir, rel) || versions(dir) > before),
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let listed = check_store(&dir.join("store"), "el", &out, round, |v| assert_eq!(v.meta.role.as_deref(), Some("compute")));
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let leaked: Vec<&str> = mounts.lines().filter(|l| l.contains(&*dir.to_string_lossy())).collect();
        assert!(leaked.is_empty(), "round {round}: mounts left behind: {leaked:?}");
        println!("round {round}: killed at {point}; {} versions listed", listed.len());
    }
    assert!(versions(dir) >= 1, "no build ever finished");
}
