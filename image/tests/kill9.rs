//! kill -9 during publish: a child process publishes fresh artifacts in a loop and is killed at
//! different points (after N chunk files exist, i.e. inside chunk writing, and right after a version
//! appears); after each kill the store must verify clean, and every version it lists must materialise
//! to exactly the bytes that were published.
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{meta, noise};
use image::store::Store;
use testkit::{check_store, start_child, wait_for};

/// Set in the child's environment: the store directory.
const CHILD_STORE_ENV: &str = "IMAGE_KILL9_STORE";
/// Set in the child's environment: the first seed it publishes.
const CHILD_SEED_ENV: &str = "IMAGE_KILL9_SEED";
/// Size of each artifact the child publishes: ~64 chunks.
const ARTIFACT_BYTES: usize = 4 << 20;
/// How long the parent waits for the child to reach a kill point.
const WAIT: Duration = Duration::from_secs(60);

/// The bytes published under `seed`: fresh per seed, so every publish writes new chunks.
fn artifact(seed: u64) -> Vec<u8> {
    noise(ARTIFACT_BYTES, seed)
}

/// The package list that records which seed a version was published from.
fn seed_package(seed: u64) -> String {
    format!("seed {seed}")
}

/// The child: publishes artifacts until killed (bounded, in case nobody kills it).
#[test]
#[ignore = "the child process of the kill -9 tests; runs only when they start it"]
fn publishing_child() {
    let store = Store::open(std::env::var(CHILD_STORE_ENV).expect("run by the kill -9 test")).unwrap();
    let first: u64 = std::env::var(CHILD_SEED_ENV).unwrap().parse().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    for seed in first..first + 50 {
        let p = scratch.path().join("artifact");
        std::fs::write(&p, artifact(seed)).unwrap();
        let published = store.publish("img", &p, &meta(&[&seed_package(seed)])).unwrap();
        assert_eq!(published.version.meta.packages, vec![seed_package(seed)]);
    }
}

fn chunk_files(store: &Path) -> usize {
    std::fs::read_dir(store.join("chunks")).map_or(0, |d| d.flatten().map(|e| std::fs::read_dir(e.path()).map_or(0, |f| f.count())).sum())
}

fn version_files(store: &Path) -> usize {
    std::fs::read_dir(store.join("versions/img")).map_or(0, |d| d.count())
}

/// Checks the store after the kill of `round`: verifies clean, and every listed version is whole and
/// holds the bytes of its seed.
fn check(store_dir: &Path, out: &Path, round: usize) -> usize {
    let listed = check_store(store_dir, "img", out, round, |v| {
        let seed: u64 = v.meta.packages[0].strip_prefix("seed ").unwrap().parse().unwrap();
        assert!(std::fs::read(out).unwrap() == artifact(seed), "{} is not the artifact of seed {seed}", v.label());
    });
    listed.len()
}

#[test]
fn a_publish_killed_at_any_point_leaves_the_store_valid_and_no_half_version() {
    let tmp = tempfile::tempdir().unwrap();
    let store: PathBuf = tmp.path().join("store");
    let out = tmp.path().join("materialised");
    let mut seed = 1_000;
    let kill_points = [1usize, 20, 50, 63, 64, 90, 0];
    // Kill points: while the first chunks are written, mid-artifact, near its end, and just after a
    // version file appears (the next publish's chunks, or the old one's temp cleanup).
    for (round, chunk_offset) in kill_points.into_iter().enumerate() {
        let (chunks_before, versions_before) = (chunk_files(&store), version_files(&store));
        let mut child = start_child("publishing_child", [(CHILD_STORE_ENV, store.as_os_str()), (CHILD_SEED_ENV, seed.to_string().as_ref())]);
        if chunk_offset == 0 {
            wait_for("a version to appear", WAIT, || version_files(&store) > versions_before);
        } else {
            wait_for("chunks to be written", WAIT, || chunk_files(&store) >= chunks_before + chunk_offset);
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let listed = check(&store, &out, round);
        let gc = Store::open(&store).unwrap().gc().unwrap();
        assert_eq!(check(&store, &out, round), listed, "gc changed the listing");
        println!("round {round}: killed after {chunk_offset} new chunks; {listed} versions listed, gc removed {gc:?}");
        seed += 50;
    }
    assert!(check(&store, &out, kill_points.len()) >= 1, "no publish ever finished: the kill points were all too early");
}
