//! Image versions and rollback.
use serde_json::json;

use crate::util::{TestServer, kernel_arg, mac};

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
