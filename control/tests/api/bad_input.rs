//! Malformed JSON, unknown fields and invalid values: a 4xx with a clear message and no change to
//! the store.
use serde_json::json;

use crate::util::{Body, TestServer, mac};

#[test]
fn bad_bodies_are_refused_and_change_nothing() {
    let ts = TestServer::start();
    ts.put_layout("l", "good/bios-single.yaml").expect(201);
    ts.publish("rocky");
    ts.add_node(json!({ "name": "n1", "macs": [mac(1)], "image": { "name": "rocky" }, "layout": "l" }));
    let snapshot = || [ts.get("/api/v1/nodes").body, ts.get("/api/v1/images").body, ts.get("/api/v1/servers").body, ts.get("/api/v1/layouts").body];
    let before = snapshot();
    let admin = ts.admin.clone();
    let raw = |method: &str, path: &str, ct: &str, body: &str| ts.request(method, path, Some(&admin), Body::Raw(ct, body));

    let r = raw("POST", "/api/v1/nodes", "application/json", "{\"name\": \"n2\", \"macs\": [");
    assert!(r.expect(400).error().starts_with("malformed JSON: "));
    let r = raw("POST", "/api/v1/nodes", "text/plain", "{}");
    assert_eq!(r.expect(400).error(), "expected 'Content-Type: application/json'");

    let cases = [
        ("POST", "/api/v1/nodes", json!({ "name": "n2", "macs": [mac(2)], "colour": "red" }), 422, "unknown field `colour`"),
        ("POST", "/api/v1/nodes", json!({ "name": "n2", "macs": ["52:54:00:12:34"] }), 422, "invalid MAC address \"52:54:00:12:34\""),
        ("POST", "/api/v1/nodes", json!({ "name": "n2", "macs": ["not-a-mac"] }), 422, "invalid MAC address"),
        ("POST", "/api/v1/nodes", json!({ "name": "n2", "macs": "52:54:00:00:00:02" }), 422, "invalid type"),
        ("POST", "/api/v1/nodes", json!({ "name": "bad name", "macs": [mac(2)] }), 422, "invalid node name \"bad name\""),
        ("POST", "/api/v1/nodes", json!({ "name": "n2", "macs": [] }), 422, "a node needs 1 to 16 MAC addresses"),
        ("POST", "/api/v1/nodes", json!({ "name": "n2", "macs": [mac(1)] }), 409, "MAC 52:54:00:00:00:01 already belongs to node n1"),
        ("POST", "/api/v1/nodes", json!({ "name": "n1", "macs": [mac(2)] }), 409, "node n1 already exists"),
        ("POST", "/api/v1/nodes", json!({ "name": "n2", "macs": [mac(2)], "image": { "name": "nope" } }), 422, "unknown image nope"),
        ("POST", "/api/v1/nodes", json!({ "name": "n2", "macs": [mac(2)], "layout": "nope" }), 422, "unknown layout nope"),
        ("POST", "/api/v1/nodes", json!({ "name": "n2", "macs": [mac(2)], "image": { "name": "rocky", "version": 7 } }), 422, "image rocky has no version 7"),
        ("POST", "/api/v1/nodes", json!({ "name": "n2", "macs": [mac(2)], "config": { "kernel_args": ["a b"] } }), 422, "invalid kernel argument \"a b\""),
        ("POST", "/api/v1/nodes", json!({ "name": "n2", "macs": [mac(2)], "config": { "kernel_args": ["x=${y}"] } }), 422, "invalid kernel argument"),
        ("POST", "/api/v1/nodes", json!({ "name": "n2", "macs": [mac(2)], "next_boot": "reimage", "image": { "name": "rocky" } }), 422, "node n2 has no disk layout assigned"),
        ("PATCH", "/api/v1/nodes/n1", json!({ "macs": ["zz:zz:zz:zz:zz:zz"] }), 422, "invalid MAC address"),
        ("PATCH", "/api/v1/nodes/n1", json!({ "next_boot": "stateless" }), 422, "a stateful node cannot boot stateless"),
        ("PATCH", "/api/v1/nodes/n1", json!({ "config": { "hostname": "-x" } }), 422, "invalid hostname \"-x\""),
        ("PATCH", "/api/v1/nodes/n1", json!({ "config": { "interfaces": [{ "name": "eno1", "addresses": ["10.0.0.1"] }] } }), 422, "expected CIDR form"),
        ("PATCH", "/api/v1/nodes/ghost", json!({ "groups": ["g"] }), 404, "node ghost not found"),
        ("POST", "/api/v1/servers", json!({ "url": "ftp://x" }), 422, "invalid server URL \"ftp://x\""),
        ("POST", "/api/v1/servers", json!({ "url": "http://127.0.0.1:1", "weight": 0 }), 422, "invalid weight 0"),
        ("POST", "/api/v1/images", json!({ "name": "../x" }), 422, "invalid image name"),
        ("POST", "/api/v1/images/rocky/rollback", json!({ "to": "one" }), 422, "invalid type"),
    ];
    for (method, path, body, status, message) in cases {
        let r = ts.send(method, path, body.clone());
        assert_eq!(r.status, status, "{method} {path} {body}: {}", r.body);
        assert!(r.error().contains(message), "{method} {path} {body}: expected {message:?} in {:?}", r.error());
    }
    let r = ts.send("PATCH", "/api/v1/servers/abc", json!({ "healthy": false })).expect(400);
    assert_eq!(r.error(), "invalid server id \"abc\": expected a number from `server list`");
    let r = raw("PUT", "/api/v1/layouts/x?replace=maybe", "application/yaml", "bootloader: bios");
    assert!(r.expect(400).error().contains("replace"), "names the bad parameter");
    assert_eq!(snapshot(), before, "no bad request changed the store");
    assert_eq!(ts.get("/api/v1/nonsense").expect(404).error(), "route not found");
}
