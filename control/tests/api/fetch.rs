//! The HTTP fallback: range semantics of the object route, its tokens, and the block-verified fetch
//! client against the real server, whole, resumed, and from a server whose file went bad.
use std::io::Read;
use std::time::Instant;

use fec::{Manifest, ObjectLayout};
use rand::{RngCore, SeedableRng};
use receiver::fetch::{FetchConfig, FetchError, ImageServer, missing_blocks};
use receiver::{Journal, Target};
use serde_json::json;

use crate::util::{TestServer, mac};

/// Symbol size and block length of the test objects: 16 KiB blocks, so a few MiB make hundreds.
const SYMBOL_BYTES: u16 = 1024;
const BLOCK_SYMBOLS: u32 = 16;

/// A published image version, and a node allowed to fetch it.
struct Fixture {
    ts: TestServer,
    node: &'static str,
    token: String,
    data: Vec<u8>,
    manifest: Manifest,
}

impl Fixture {
    /// Publishes `len` seeded random bytes as version 1 of image `rocky` and adds node `n0`.
    fn new(len: usize, layout: ObjectLayout) -> Self {
        let ts = TestServer::start();
        let mut data = vec![0u8; len];
        rand::rngs::StdRng::seed_from_u64(len as u64).fill_bytes(&mut data);
        let manifest = Manifest::hash_object(layout, &data[..]).unwrap();
        let dir = ts.dir.path().join("images/rocky/1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("root.img"), &data).unwrap();
        std::fs::write(dir.join("root.manifest"), manifest.encode()).unwrap();
        ts.send("POST", "/api/v1/images", json!({ "name": "rocky" })).expect(201);
        ts.send("POST", "/api/v1/images/rocky/versions", json!({ "artifact": "rocky/1/root.img", "manifest": "rocky/1/root.manifest" })).expect(201);
        let token = Self::add_node(&ts, "n0", 0);
        Fixture { ts, node: "n0", token, data, manifest }
    }

    fn small() -> Self {
        Self::new(3 << 20, ObjectLayout::new(3 << 20, SYMBOL_BYTES, BLOCK_SYMBOLS).unwrap())
    }

    /// Adds a node assigned rocky and returns its current token.
    fn add_node(ts: &TestServer, name: &str, i: usize) -> String {
        ts.add_node(json!({ "name": name, "macs": [mac(i)], "image": { "name": "rocky" } }));
        let state = ts.state();
        state.auth.node_token(name, state.store.token_generation(name).unwrap()).expose().to_string()
    }

    fn object_path(&self, version: &str) -> String {
        format!("/api/v1/agent/nodes/{}/images/rocky/versions/{version}/object", self.node)
    }

    /// A raw request to the object route with `range`, as node `n0` unless `token` says otherwise.
    fn raw(&self, method: &str, path: &str, token: Option<&str>, range: Option<&str>) -> ureq::Response {
        let mut req = ureq::request(method, &format!("{}{path}", self.ts.url()));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        if let Some(r) = range {
            req = req.set("Range", r);
        }
        match req.call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }

    fn get(&self, range: Option<&str>) -> ureq::Response {
        self.raw("GET", &self.object_path("1"), Some(&self.token), range)
    }

    fn server(&self) -> ImageServer {
        ImageServer::new(&self.ts.url(), self.node, &self.token, &FetchConfig::default())
    }

    /// Overwrites the bytes of `block` in the published artifact (same length: the server still
    /// serves it, as it would a file rotting on disk).
    fn corrupt_on_server(&self, block: u32) {
        use std::os::unix::fs::FileExt;
        let layout = self.manifest.layout();
        let file = std::fs::OpenOptions::new().write(true).open(self.ts.dir.path().join("images/rocky/1/root.img")).unwrap();
        let bad: Vec<u8> = self.data[layout.block_offset(block) as usize..][..layout.block_len(block)].iter().map(|b| !b).collect();
        file.write_all_at(&bad, layout.block_offset(block)).unwrap();
    }
}

fn body(r: ureq::Response) -> Vec<u8> {
    let mut bytes = Vec::new();
    r.into_reader().read_to_end(&mut bytes).unwrap();
    bytes
}

fn error_of(r: ureq::Response) -> String {
    let v: serde_json::Value = serde_json::from_slice(&body(r)).unwrap();
    v["error"].as_str().unwrap().to_string()
}

#[test]
fn object_route_serves_whole_objects_single_ranges_and_head() {
    let f = Fixture::small();
    let len = f.data.len();

    let whole = f.get(None);
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.header("content-length"), Some(len.to_string().as_str()));
    assert_eq!(whole.header("content-range"), None);
    assert!(body(whole) == f.data, "whole object differs");

    let part = f.get(Some("bytes=1000-1999"));
    assert_eq!(part.status(), 206);
    assert_eq!(part.header("content-range"), Some(format!("bytes 1000-1999/{len}").as_str()));
    assert_eq!(body(part), f.data[1000..2000]);

    let tail = f.get(Some("bytes=-10"));
    assert_eq!((tail.status(), tail.header("content-range").map(str::to_string)), (206, Some(format!("bytes {}-{}/{len}", len - 10, len - 1))));
    assert_eq!(body(tail), f.data[len - 10..]);
    let open = f.get(Some(&format!("bytes={}-", len - 3)));
    assert_eq!(body(open), f.data[len - 3..]);
    let clamped = f.get(Some(&format!("bytes={}-{}", len - 2, len + 100)));
    assert_eq!(clamped.header("content-range"), Some(format!("bytes {}-{}/{len}", len - 2, len - 1).as_str()));

    let head = f.raw("HEAD", &f.object_path("1"), Some(&f.token), None);
    assert_eq!((head.status(), head.header("content-length").map(str::to_string)), (200, Some(len.to_string())));
    assert!(body(head).is_empty());
    let head = f.raw("HEAD", &f.object_path("1"), Some(&f.token), Some("bytes=0-99"));
    assert_eq!((head.status(), head.header("content-length"), head.header("content-range").map(str::to_string)), (206, Some("100"), Some(format!("bytes 0-99/{len}"))));

    let default = f.raw("GET", &f.object_path("default"), Some(&f.token), Some("bytes=0-0"));
    assert_eq!((default.status(), default.header("fountain-image-version")), (206, Some("1")));
    let bad_version = f.raw("GET", &f.object_path("latest"), Some(&f.token), None);
    assert_eq!(bad_version.status(), 400);
    assert_eq!(error_of(bad_version), "version \"latest\" is neither a number nor 'default'");
}

#[test]
fn ranges_past_the_end_get_416_with_the_size() {
    let f = Fixture::small();
    let len = f.data.len();
    for range in [format!("bytes={len}-"), format!("bytes={}-{}", len + 5, len + 10)] {
        for method in ["GET", "HEAD"] {
            let r = f.raw(method, &f.object_path("1"), Some(&f.token), Some(&range));
            assert_eq!(r.status(), 416, "{method} {range}");
            assert_eq!(r.header("content-range"), Some(format!("bytes */{len}").as_str()), "{method} {range}");
            if method == "GET" {
                let spec = range.trim_start_matches("bytes=");
                assert_eq!(error_of(r), format!("range \"{spec}\" lies outside the object; the object holds {len} bytes"));
            }
        }
    }
}

#[test]
fn other_units_malformed_and_multiple_ranges_get_the_whole_object() {
    let f = Fixture::small();
    for range in ["items=0-5", "bytes=0-1,10-20", "bytes=9-1", "lines=0-1", "bytes=x-"] {
        let r = f.get(Some(range));
        assert_eq!((r.status(), r.header("content-range")), (200, None), "{range}");
        assert!(body(r) == f.data, "{range}: the whole object");
    }
}

#[test]
fn if_range_serves_the_range_only_for_the_same_version() {
    let f = Fixture::small();
    let etag = f.get(None).header("etag").unwrap().to_string();
    let with = |if_range: &str| {
        let mut req = ureq::get(&format!("{}{}", f.ts.url(), f.object_path("1"))).set("Authorization", &format!("Bearer {}", f.token)).set("Range", "bytes=0-9");
        req = req.set("If-Range", if_range);
        req.call().unwrap()
    };
    let same = with(&etag);
    assert_eq!(same.status(), 206);
    assert_eq!(body(same), f.data[..10]);
    let other = with("\"0000\"");
    assert_eq!(other.status(), 200, "another version's tag: the whole object");
    assert_eq!(body(other).len(), f.data.len());
}

#[test]
fn object_and_manifest_routes_need_the_nodes_own_token() {
    let f = Fixture::small();
    let other = Fixture::add_node(&f.ts, "n1", 1);
    let manifest = format!("/api/v1/agent/nodes/{}/images/rocky/versions/1/manifest", f.node);
    for path in [f.object_path("1"), manifest.clone()] {
        for method in ["GET", "HEAD"] {
            assert_eq!(f.raw(method, &path, None, Some("bytes=0-9")).status(), 401, "{method} {path} without a token");
            for wrong in ["nope", other.as_str(), f.ts.admin.as_str()] {
                assert_eq!(f.raw(method, &path, Some(wrong), Some("bytes=0-9")).status(), 401, "{method} {path} with a wrong token");
            }
        }
    }
    let r = f.raw("GET", &manifest, None, None);
    assert_eq!(error_of(r), "missing or wrong token: send 'Authorization: Bearer <token>'");
    // The client passes the refusal on instead of retrying it.
    let intruder = ImageServer::new(&f.ts.url(), f.node, &other, &FetchConfig::default());
    match intruder.object("rocky", Some(1)) {
        Err(FetchError::Refused { status: 401, message, .. }) => assert!(message.contains("missing or wrong token"), "{message}"),
        other => panic!("expected a 401 refusal, got {:?}", other.map(|o| o.version)),
    }
}

#[test]
fn manifest_route_serves_the_binary_manifest_of_the_resolved_version() {
    let f = Fixture::small();
    let object = f.server().object("rocky", None).unwrap();
    assert_eq!((object.image.as_str(), object.version), ("rocky", 1));
    assert_eq!(object.manifest.encode(), f.manifest.encode());
    assert!(matches!(f.server().object("rocky", Some(7)), Err(FetchError::Refused { status: 422, .. })));
    assert!(matches!(f.server().object("nosuch", None), Err(FetchError::Refused { status: 422, .. })));
}

#[test]
fn full_fetch_is_byte_identical_and_journaled() {
    let f = Fixture::small();
    let dir = tempfile::tempdir().unwrap();
    let object = f.server().object("rocky", Some(1)).unwrap();
    let layout = *object.manifest.layout();
    let target = Target::open(&dir.path().join("copy"), layout).unwrap();
    let (mut journal, stored) = Journal::open(&dir.path().join("journal"), &object.manifest, &target).unwrap();
    assert!(stored.is_empty());
    let config = FetchConfig { max_request_bytes: 1 << 20, ..FetchConfig::default() };
    let mut seen = 0;
    let all = missing_blocks(&object.manifest, &stored);
    let stats = f.server().fetch(&object, &target, Some(&mut journal), &all, &config, |_| seen += 1).unwrap();
    assert_eq!((stats.blocks, seen, stats.bytes, stats.retries), (layout.block_count(), layout.block_count(), layout.object_size(), 0));
    assert_eq!(stats.requests, 3, "3 MiB in runs of at most 1 MiB");
    assert!(std::fs::read(dir.path().join("copy")).unwrap() == f.data, "fetched copy differs");
    drop(journal);
    let (_, stored) = Journal::open(&dir.path().join("journal"), &object.manifest, &target).unwrap();
    assert_eq!(stored.len() as u32, layout.block_count(), "every block is journaled");
}

#[test]
fn resumed_fetch_asks_only_for_the_blocks_not_journaled() {
    let f = Fixture::small();
    let dir = tempfile::tempdir().unwrap();
    let layout = *f.manifest.layout();
    let (copy, journal_path) = (dir.path().join("copy"), dir.path().join("journal"));
    let half: Vec<u32> = layout.blocks().filter(|b| b % 2 == 0).collect();
    {
        let target = Target::open(&copy, layout).unwrap();
        let (mut journal, _) = Journal::open(&journal_path, &f.manifest, &target).unwrap();
        for &b in &half {
            target.write_block(b, &f.data[layout.block_offset(b) as usize..][..layout.block_len(b)]).unwrap();
            journal.record(b, f.manifest.block_hash(b).unwrap()).unwrap();
        }
    }
    // Had the client asked for any journaled block again, these would fail its verification.
    for &b in &half {
        f.corrupt_on_server(b);
    }
    let target = Target::open(&copy, layout).unwrap();
    let (mut journal, stored) = Journal::open(&journal_path, &f.manifest, &target).unwrap();
    assert_eq!(stored.len(), half.len(), "journaled blocks are re-verified and kept");
    let object = f.server().object("rocky", Some(1)).unwrap();
    let missing = missing_blocks(&object.manifest, &stored);
    assert_eq!(missing.len(), layout.block_count() as usize - half.len());
    let stats = f.server().fetch(&object, &target, Some(&mut journal), &missing, &FetchConfig::default(), |b| assert!(b % 2 == 1, "block {b} was journaled")).unwrap();
    assert_eq!((stats.blocks as usize, stats.requests as usize, stats.retries), (missing.len(), missing.len(), 0), "one request per lone missing block, none for the rest");
    assert!(std::fs::read(&copy).unwrap() == f.data, "resumed copy differs");
}

#[test]
fn corrupt_block_from_the_server_is_reported_and_never_written() {
    let f = Fixture::small();
    let dir = tempfile::tempdir().unwrap();
    let object = f.server().object("rocky", Some(1)).unwrap();
    let layout = *object.manifest.layout();
    let bad_block = 37;
    f.corrupt_on_server(bad_block);
    let copy = dir.path().join("copy");
    let target = Target::open(&copy, layout).unwrap();
    let (mut journal, _) = Journal::open(&dir.path().join("journal"), &object.manifest, &target).unwrap();
    let config = FetchConfig { parallel_requests: 1, retry_backoff: std::time::Duration::ZERO, ..FetchConfig::default() };
    let all = missing_blocks(&object.manifest, &[]);
    let err = f.server().fetch(&object, &target, Some(&mut journal), &all, &config, |b| assert_ne!(b, bad_block)).unwrap_err();
    assert!(matches!(err, FetchError::Corrupt { block: 37, attempts: 3 }), "{err}");
    assert_eq!(err.to_string(), "block 37: 3 download(s) did not match the manifest's hash; nothing of it was written");
    let on_disk = std::fs::read(&copy).unwrap();
    let range = layout.block_offset(bad_block) as usize..layout.block_offset(bad_block) as usize + layout.block_len(bad_block);
    assert!(on_disk[range].iter().all(|&b| b == 0), "the corrupt block reached the target");
    drop(journal);
    let (_, stored) = Journal::open(&dir.path().join("journal"), &object.manifest, &target).unwrap();
    assert!(!stored.contains(&bad_block));
    // Blocks around it are fine: asking for a subset without it succeeds.
    let others: Vec<u32> = layout.blocks().filter(|&b| b != bad_block).collect();
    f.server().fetch(&object, &target, None, &others, &config, |_| {}).unwrap();
    let on_disk = std::fs::read(&copy).unwrap();
    for b in others {
        let r = layout.block_offset(b) as usize..layout.block_offset(b) as usize + layout.block_len(b);
        assert!(on_disk[r.clone()] == f.data[r], "block {b} differs");
    }
}

/// Loopback throughput of a whole-object fetch; run by hand (see docs/benchmarks.md):
/// `cargo test --release -p control --test api fetch_throughput -- --ignored --nocapture`.
#[test]
#[ignore = "moves 1 GiB; a measurement, not a check"]
fn fetch_throughput_1gib() {
    let len = 1usize << 30;
    let f = Fixture::new(len, ObjectLayout::with_defaults(len as u64).unwrap());
    let dir = tempfile::tempdir().unwrap();
    for parallel_requests in [1, 2, 4, 8] {
        let copy = dir.path().join("copy");
        let _ = std::fs::remove_file(&copy);
        let object = f.server().object("rocky", Some(1)).unwrap();
        let target = Target::open(&copy, *object.manifest.layout()).unwrap();
        let config = FetchConfig { parallel_requests, ..FetchConfig::default() };
        let started = Instant::now();
        let all = missing_blocks(&object.manifest, &[]);
        let stats = f.server().fetch(&object, &target, None, &all, &config, |_| {}).unwrap();
        let secs = started.elapsed().as_secs_f64();
        println!("HTTP fallback, 1 GiB, {parallel_requests} parallel: {:.2} s, {:.0} MB/s, {} requests", secs, stats.bytes as f64 / secs / 1e6, stats.requests);
        assert_eq!(stats.bytes, len as u64);
    }
    assert!(std::fs::read(dir.path().join("copy")).unwrap() == f.data);
}
