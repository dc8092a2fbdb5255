//! Image versions and rollback.
use serde_json::json;

use crate::util::{TestServer, kernel_arg, mac, write_image};

#[test]
fn rollback_moves_the_default_or_pins_one_node() {
    let ts = TestServer::start();
    ts.put_layout("l", "good/bios-single.yaml").expect(201);
    for expected in 1..=3 {
        assert_eq!(ts.publish("rocky"), expected);
    }
    assert_eq!(ts.get("/api/v1/images/rocky").json()["default_version"], 3, "a new version becomes the default");
    for i in 0..2 {
        ts.add_node(json!({ "name": format!("n{i}"), "macs": [mac(i)], "image": { "name": "rocky" }, "layout": "l", "next_boot": "reimage" }));
    }
    let version = |i| kernel_arg(&ts.boot(&mac(i)), "fountain.version").unwrap();
    assert_eq!(version(0), "3");

    let done = ts.send("POST", "/api/v1/images/rocky/rollback", json!({})).expect(200).json();
    assert_eq!(done, json!({ "image": "rocky", "from": 3, "to": 2, "node": null }));
    assert_eq!((version(0), version(1)), ("2".into(), "2".into()), "nodes following the default move with it");

    let pinned = ts.send("POST", "/api/v1/images/rocky/rollback", json!({ "node": "n1", "to": 1 })).expect(200).json();
    assert_eq!(pinned["to"], 1);
    assert_eq!((version(0), version(1)), ("2".into(), "1".into()), "only n1 is pinned");
    assert_eq!(ts.get("/api/v1/nodes/n1").json()["image"], json!({ "name": "rocky", "version": 1 }));

    let r = ts.send("POST", "/api/v1/images/rocky/rollback", json!({ "node": "n1" })).expect(422);
    assert_eq!(r.error(), "image rocky has no version older than 1");
    let r = ts.send("POST", "/api/v1/images/rocky/rollback", json!({ "to": 9 })).expect(422);
    assert_eq!(r.error(), "image rocky has no version 9");
    assert_eq!(ts.get("/api/v1/images/rocky").json()["default_version"], 2, "failed rollbacks change nothing");

    // Roll forward again: versions are never lost, only the pointer moves.
    ts.send("POST", "/api/v1/images/rocky/rollback", json!({ "to": 3 })).expect(200);
    let detail = ts.get("/api/v1/images/rocky").json();
    assert_eq!((detail["default_version"].as_u64(), detail["versions"].as_array().unwrap().len()), (Some(3), 3));
}

#[test]
fn version_files_must_exist_inside_the_data_directory() {
    let ts = TestServer::start();
    ts.send("POST", "/api/v1/images", json!({ "name": "rocky" })).expect(201);
    let r = ts.send("POST", "/api/v1/images/rocky/versions", json!({ "artifact": "../admin.token", "manifest": "m.json" })).expect(422);
    assert!(r.error().starts_with("invalid artifact path \"../admin.token\""), "{}", r.error());
    let r = ts.send("POST", "/api/v1/images/rocky/versions", json!({ "artifact": "nope.img", "manifest": "m.json" })).expect(422);
    assert!(r.error().starts_with("images/nope.img:"), "{}", r.error());
    assert_eq!(ts.get("/api/v1/images/rocky").json()["versions"], json!([]));
    ts.send("POST", "/api/v1/images", json!({ "name": "rocky" })).expect(409);
}

#[test]
fn a_version_whose_manifest_is_not_this_artifacts_is_refused_at_publication() {
    let ts = TestServer::start();
    ts.send("POST", "/api/v1/images", json!({ "name": "rocky" })).expect(201);
    let dir = ts.dir.path().join("images/rocky/1");
    std::fs::create_dir_all(&dir).unwrap();
    let data: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    write_image(&dir.join("root.img"), &dir.join("root.manifest"), &data);
    let mut other = data.clone();
    other[44 * 1024 * 4] ^= 0xff;
    std::fs::write(dir.join("other.img"), &other).unwrap();
    std::fs::write(dir.join("short.img"), &data[..1000]).unwrap();
    let publish = |artifact: &str, manifest: &str| ts.send("POST", "/api/v1/images/rocky/versions", json!({ "artifact": artifact, "manifest": manifest }));

    let r = publish("rocky/1/root.img", "rocky/1/root.img").expect(422);
    assert!(r.error().ends_with("images/rocky/1/root.img is not a fountain manifest: not a fountain manifest (bad magic)"), "{}", r.error());
    let r = publish("rocky/1/other.img", "rocky/1/root.manifest").expect(422);
    assert_eq!(r.error(), "images/rocky/1/other.img does not match images/rocky/1/root.manifest: block 44 (and maybe more) hashes differently");
    let r = publish("rocky/1/short.img", "rocky/1/root.manifest").expect(422);
    assert_eq!(r.error(), "images/rocky/1/root.manifest describes 262144 bytes, but images/rocky/1/short.img holds 1000: they are not a pair");
    assert_eq!(ts.get("/api/v1/images/rocky").json()["versions"], json!([]), "nothing was published");

    let v = publish("rocky/1/root.img", "rocky/1/root.manifest").expect(201).json();
    assert_eq!((v["version"].as_u64(), v["artifact_bytes"].as_u64()), (Some(1), Some(262144)));
}

#[test]
fn without_a_manifest_the_server_hashes_the_artifact() {
    let ts = TestServer::start();
    ts.send("POST", "/api/v1/images", json!({ "name": "rocky" })).expect(201);
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::create_dir_all(ts.dir.path().join("images")).unwrap();
    std::fs::write(ts.dir.path().join("images/root.img"), &data).unwrap();
    let v = ts.send("POST", "/api/v1/images/rocky/versions", json!({ "artifact": "root.img" })).expect(201).json();
    assert_eq!(v["manifest"], "root.img.manifest");
    let written = std::fs::read(ts.dir.path().join("images/root.img.manifest")).unwrap();
    assert_eq!(v["manifest_blake3"], blake3::hash(&written).to_hex().as_str());
    let manifest = fec::Manifest::decode(&written).unwrap();
    assert_eq!(manifest.root(), fec::Manifest::hash_object(*manifest.layout(), &data[..]).unwrap().root());
    assert_eq!(manifest.layout().symbol_size(), 1432, "a tagged symbol at MTU 1500");
}
