//! The store with real artifacts: sharing between versions, diff, usage, verify, gc, materialise.
mod common;

use std::path::Path;

use common::{insert_package, make_root, meta, noise};
use image::artifact::pack;
use image::store::{Problem, Store, StoreError};

#[test]
fn a_second_version_with_one_package_more_costs_a_small_fraction_of_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    make_root(&root, 1);
    let store = Store::open(tmp.path().join("store")).unwrap();
    let a = pack(&root, &tmp.path().join("v1.sqfs")).unwrap();
    let first = store.publish("compute", &a.path, &meta(&["base 1.0", "libc 2.36"])).unwrap();
    insert_package(&root, "usr/lib/mpkg", 2);
    let b = pack(&root, &tmp.path().join("v2.sqfs")).unwrap();
    let second = store.publish("compute", &b.path, &meta(&["base 1.0", "libc 2.36", "mpkg 0.1"])).unwrap();
    let pct = 100.0 * second.new_bytes as f64 / first.new_bytes as f64;
    println!(
        "store growth: v1 {} bytes ({} chunks), v2 artifact {} bytes, growth {} bytes ({} chunks) = {pct:.1}% of v1",
        first.new_bytes,
        first.new_chunks,
        b.bytes,
        second.new_bytes,
        second.new_chunks
    );
    assert_eq!((first.version.version, second.version.version), (1, 2));
    assert_eq!(first.new_bytes, a.bytes, "a first version stores all of its artifact");
    assert!(pct < 15.0, "the second version grew the store by {pct:.1}% of the first");

    let d = store.diff(("compute", 1), ("compute", 2)).unwrap();
    assert_eq!(d.packages_added, vec!["mpkg 0.1".to_string()]);
    assert!(d.packages_removed.is_empty() && d.packages_changed.is_empty() && d.meta.is_empty(), "{d:?}");
    assert_eq!(d.shared_bytes + second.new_bytes, distinct_bytes(&second.version), "{d:?}");

    let usage = store.usage().unwrap();
    assert_eq!(usage.len(), 2);
    assert_eq!(usage[1].exclusive_bytes, second.new_bytes);
    assert!(usage[0].exclusive_bytes < usage[0].chunk_bytes / 5, "{usage:?}");

    let out = tmp.path().join("back.sqfs");
    store.materialise("compute", 2, &out).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&b.path).unwrap());
    assert!(store.verify().unwrap().is_clean());
}

fn distinct_bytes(v: &image::store::Version) -> u64 {
    let mut seen = std::collections::HashSet::new();
    v.chunks.iter().filter(|c| seen.insert(&c.id)).map(|c| u64::from(c.len)).sum()
}

fn publish_bytes(store: &Store, dir: &Path, name: &str, bytes: &[u8]) -> image::store::Published {
    let p = dir.join(format!("{name}-{}.bin", bytes.len()));
    std::fs::write(&p, bytes).unwrap();
    store.publish(name, &p, &meta(&[])).unwrap()
}

#[test]
fn verify_finds_a_damaged_chunk_and_materialise_refuses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let p = publish_bytes(&store, tmp.path(), "img", &noise(1 << 20, 7));
    let victim = &p.version.chunks[3].id;
    let path = tmp.path().join("store/chunks").join(&victim[..2]).join(victim);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let report = store.verify().unwrap();
    assert!(report.problems.contains(&Problem::CorruptChunk { id: victim.clone() }), "{report:?}");
    let out = tmp.path().join("out");
    assert!(matches!(store.materialise("img", 1, &out), Err(StoreError::CorruptChunk(id)) if &id == victim));
    assert!(!out.exists() && !tmp.path().join("out.partial").exists());
}

#[test]
fn gc_drops_only_what_no_version_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let base = noise(2 << 20, 3);
    let mut changed = base.clone();
    changed.extend_from_slice(&noise(300_000, 9));
    publish_bytes(&store, tmp.path(), "img", &base);
    let two = publish_bytes(&store, tmp.path(), "img", &changed);
    assert_eq!(store.gc().unwrap().chunks_removed, 0);
    store.remove("img", 2).unwrap();
    let names: Vec<_> = store.versions(None).unwrap().iter().map(|v| v.label()).collect();
    assert_eq!(names, vec!["img@1"]);
    let gc = store.gc().unwrap();
    assert_eq!((gc.chunks_removed, gc.bytes_freed), (two.new_chunks, two.new_bytes));
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    store.materialise("img", 1, &tmp.path().join("one")).unwrap();
    assert_eq!(std::fs::read(tmp.path().join("one")).unwrap(), base);
    assert!(matches!(store.get("img", 2), Err(StoreError::NoSuchVersion(_))));
    // The next publish does not reuse a removed number's place in the listing: numbers only grow
    // from what is listed, and 2 is free again.
    assert_eq!(publish_bytes(&store, tmp.path(), "img", &changed).version.version, 2);
}

#[test]
fn concurrent_publishers_get_distinct_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(tmp.path().join("store")).unwrap());
    let threads: Vec<_> = (0..4u64)
        .map(|i| {
            let (store, dir) = (store.clone(), tmp.path().to_path_buf());
            std::thread::spawn(move || publish_bytes(&store, &dir, "img", &noise(200_000 + i as usize, i + 1)).version.version)
        })
        .collect();
    let mut got: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, vec![1, 2, 3, 4]);
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn bad_names_and_labels_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let f = tmp.path().join("a");
    std::fs::write(&f, b"x").unwrap();
    for bad in ["", "../x", "a/b", ".hidden"] {
        assert!(matches!(store.publish(bad, &f, &meta(&[])), Err(StoreError::BadName(_))), "{bad}");
    }
    assert!(image::store::parse_label("img").is_err());
    assert_eq!(image::store::parse_label("img@3").unwrap(), ("img".to_string(), 3));
    assert!(store.versions(None).unwrap().is_empty());
}

#[test]
fn gc_running_beside_publishes_never_takes_a_chunk_they_name() {
    let tmp = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(tmp.path().join("store")).unwrap());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) && runs < 10_000 {
                store.gc().unwrap();
                runs += 1;
            }
            runs
        })
    };
    let published: Vec<_> = (0..6).map(|i| publish_bytes(&store, tmp.path(), "img", &noise(1 << 20, 100 + i)).version.version).collect();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(collector.join().unwrap() > 0);
    assert_eq!(published, vec![1, 2, 3, 4, 5, 6]);
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    for v in 1..=6 {
        let out = tmp.path().join(format!("out{v}"));
        store.materialise("img", v, &out).unwrap();
        assert!(std::fs::read(&out).unwrap() == noise(1 << 20, 99 + u64::from(v)));
    }
}
