//! Captures over HTTP: a folder tree with hard links, xattrs and a sparse file streamed by the capture
//! client, unpacked, scrubbed and described by the server; half captures and bad layouts refused.
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use control::auth::Secret;
use control::capture::capture_node;
use control::client::{Client, ClientError};
use serde_json::json;

use crate::util::{Body, TestServer, mac};

const LAYOUT: &str = "bootloader: bios\ndisks:\n  - id: a\n    match: { size: \">=10G\" }\n    partitions:\n      - { id: bios, size: 1M, flags: [bios_grub] }\n      - { id: root, size: rest, fs: ext4, mount: / }\n";

fn write(root: &Path, rel: &str, content: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn getfattr(path: &Path) -> String {
    let out = Command::new("getfattr").args(["-n", "user.fountain", "--only-values"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A node's root as a folder: os-release, identity to scrub, hard links, an xattr, a sparse file.
pub fn node_tree(dir: &Path) -> PathBuf {
    let node = dir.join("node");
    write(&node, "etc/os-release", b"ID=rocky\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n");
    write(&node, "etc/machine-id", b"0123456789abcdef0123456789abcdef\n");
    write(&node, "etc/ssh/ssh_host_rsa_key", b"secret");
    write(&node, "srv/data", b"payload");
    std::fs::hard_link(node.join("srv/data"), node.join("srv/data-link")).unwrap();
    let status = Command::new("setfattr").args(["-n", "user.fountain", "-v", "kept"]).arg(node.join("srv/data")).status().unwrap();
    assert!(status.success(), "setfattr (package attr) is needed");
    let sparse = std::fs::File::create(node.join("srv/sparse")).unwrap();
    sparse.set_len(256 << 20).unwrap();
    // Incompressible bytes, so that the artifact is large enough for chunk sharing to show.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let blob: Vec<u8> = (0..4 << 20).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }).collect();
    write(&node, "srv/blob", &blob);
    write(&node, "var/cache/skip/me", b"excluded");
    write(&node, "tmp/junk", b"not captured");
    node
}

#[test]
fn a_capture_arrives_scrubbed_and_described() {
    let ts = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let node = node_tree(dir.path());
    let client = Client::new(&ts.url(), Secret::new(ts.admin.clone()));
    let plan = image::capture::plan_node(&node, &[PathBuf::from("/var/cache/skip")]).unwrap();
    assert_eq!(plan.len(), 1);
    let done = capture_node(&client, "captured", "node1", &plan, Some(LAYOUT.into())).unwrap();
    assert_eq!(done.image, "captured");
    assert_eq!(done.meta.family, image::meta::Family::El);
    assert_eq!(done.meta.release, "9.4");
    assert_eq!(done.meta.source, image::meta::Source::Captured { node: "node1".into() });
    assert_eq!(done.layout.unwrap().disks.len(), 1);

    assert_eq!((done.version, done.meta.parent_version), (1, None));
    assert!(!ts.dir.path().join("captures").join(&done.id).exists(), "the staging tree outlived the publish");

    // The version, unpacked from the store as a node would get it.
    let store = image::store::Store::open(ts.dir.path().join("store")).unwrap();
    let artifact = dir.path().join("v1.squashfs");
    store.materialise("captured", 1, &artifact).unwrap();
    let root = dir.path().join("unpacked");
    std::fs::create_dir_all(&root).unwrap();
    image::artifact::unpack(&artifact, &root).unwrap();
    assert_eq!(std::fs::read(root.join("srv/data")).unwrap(), b"payload");
    let (a, b) = (root.join("srv/data").metadata().unwrap(), root.join("srv/data-link").metadata().unwrap());
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2), "hard link lost");
    assert_eq!(getfattr(&root.join("srv/data")), "kept");
    let sparse = root.join("srv/sparse").metadata().unwrap();
    assert_eq!((sparse.len(), sparse.blocks()), (256 << 20, 0), "sparse file filled in");
    assert!(!root.join("var/cache/skip").exists() && !root.join("tmp/junk").exists() && root.join("tmp").is_dir());
    assert_eq!(std::fs::read(root.join("etc/machine-id")).unwrap(), b"");
    assert!(!root.join("etc/ssh/ssh_host_rsa_key").exists());

    // The node changed by hand, captured again: the next version, descending from the first, costing
    // the store a fraction of it.
    write(&node, "srv/added", b"a file written by hand");
    let again = capture_node(&client, "captured", "node1", &plan, None).unwrap();
    assert_eq!((again.version, again.meta.parent_version), (2, Some(1)));
    println!("second capture: {} of {} artifact bytes new in the store", again.new_bytes, again.artifact_bytes);
    assert!(again.new_bytes < again.artifact_bytes / 2, "{} of {} bytes new", again.new_bytes, again.artifact_bytes);
}

#[test]
fn half_captures_and_bad_layouts_are_refused() {
    let ts = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let node = node_tree(dir.path());
    let client = Client::new(&ts.url(), Secret::new(ts.admin.clone()));

    let r = ts.send("POST", "/api/v1/captures", json!({"image": "x", "node": "n", "filesystems": ["/", "/boot"]}));
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let r = ts.send("POST", &format!("/api/v1/captures/{id}/finish"), json!({}));
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("/boot"), "{}", r.body);
    let r = ts.send("PUT", &format!("/api/v1/captures/{id}/filesystems/7"), json!({}));
    assert_eq!(r.status, 404, "{}", r.body);
    for bad in [json!({"image": "x", "node": "n", "filesystems": ["/boot"]}), json!({"image": "x", "node": "n", "filesystems": ["/", "/a/../../etc"]})] {
        let r = ts.send("POST", "/api/v1/captures", bad);
        assert_eq!(r.status, 422, "{}", r.body);
    }

    let plan = image::capture::plan_node(&node, &[]).unwrap();
    let bad_layout = LAYOUT.replace("size: rest", "size: lots");
    let err = capture_node(&client, "captured", "node1", &plan, Some(bad_layout)).unwrap_err();
    assert!(matches!(&err, control::capture::CaptureClientError::Api(ClientError::Api { status: 422, .. })), "{err}");
}

/// Adds node `name` and returns its current token.
fn node_token(ts: &TestServer, name: &str, i: usize) -> String {
    ts.add_node(json!({ "name": name, "macs": [mac(i)], "image": { "name": "rocky" } }));
    let state = ts.state();
    state.auth.node_token(name, state.store.token_generation(name).unwrap()).expose().to_string()
}

#[test]
fn a_node_token_captures_only_its_own_node_into_its_own_images() {
    let ts = TestServer::start();
    ts.publish("rocky");
    let (t1, t2) = (node_token(&ts, "node1", 1), node_token(&ts, "node2", 2));
    let dir = tempfile::tempdir().unwrap();
    let node = node_tree(dir.path());
    let plan = image::capture::plan_node(&node, &[]).unwrap();
    let as_node = |token: &str| Client::new(&ts.url(), Secret::new(token.to_owned()));
    let refused = |r: Result<control::capture::CaptureDone, control::capture::CaptureClientError>| match r {
        Err(control::capture::CaptureClientError::Api(ClientError::Api { status, .. })) => status,
        other => panic!("expected a refusal, got {other:?}"),
    };

    // Itself, into a new image, and again into the image it made: versions 1 and 2.
    assert_eq!(capture_node(&as_node(&t1), "node1-own", "node1", &plan, None).unwrap().version, 1);
    assert_eq!(capture_node(&as_node(&t1), "node1-own", "node1", &plan, None).unwrap().version, 2);
    // Another node's name, a wrong token, an unknown node: not this token's node.
    assert_eq!(refused(capture_node(&as_node(&t1), "x", "node2", &plan, None)), 401);
    assert_eq!(refused(capture_node(&as_node("wrong"), "x", "node1", &plan, None)), 401);
    assert_eq!(refused(capture_node(&as_node(&t1), "x", "stranger", &plan, None)), 401);
    // An image holding another node's capture, or a build (the operator's), is not node1's to extend.
    capture_node(&as_node(&t2), "node2-own", "node2", &plan, None).unwrap();
    assert_eq!(refused(capture_node(&as_node(&t1), "node2-own", "node1", &plan, None)), 403);
    let admin = Client::new(&ts.url(), Secret::new(ts.admin.clone()));
    capture_node(&admin, "mixed", "node1", &plan, None).unwrap();
    capture_node(&admin, "mixed", "node2", &plan, None).unwrap();
    assert_eq!(refused(capture_node(&as_node(&t1), "mixed", "node1", &plan, None)), 403);
    // The operator's capture of node1 is node1's lineage: node1 may extend it.
    capture_node(&admin, "by-operator", "node1", &plan, None).unwrap();
    assert_eq!(capture_node(&as_node(&t1), "by-operator", "node1", &plan, None).unwrap().version, 2);
    // The operator may still extend anything.
    assert_eq!(capture_node(&admin, "node1-own", "node2", &plan, None).unwrap().version, 3);

    // A capture started for node2 cannot be streamed or finished with node1's token.
    let r = ts.send("POST", "/api/v1/captures", json!({"image": "node2-own", "node": "node2", "filesystems": ["/"]})).expect(201);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let put = ts.request("PUT", &format!("/api/v1/captures/{id}/filesystems/0"), Some(&t1), Body::Raw("application/x-tar", ""));
    assert_eq!(put.status, 401, "{}", put.body);
    let fin = ts.request("POST", &format!("/api/v1/captures/{id}/finish"), Some(&t1), Body::Json(json!({})));
    assert_eq!(fin.status, 401, "{}", fin.body);
    // With node2's own token the same capture is reachable (refused only for what is missing).
    let fin = ts.request("POST", &format!("/api/v1/captures/{id}/finish"), Some(&t2), Body::Json(json!({})));
    assert_eq!(fin.status, 409, "{}", fin.body);
}
