//! A server restarted mid-way keeps all state: the same answers, the same tokens, fresh session ids.
use serde_json::json;

use crate::util::{Body, TestServer, kernel_arg, mac};

#[test]
fn restart_keeps_everything() {
    let mut ts = TestServer::start();
    ts.put_layout("l", "good/uefi-raid1-lvm.yaml").expect(201);
    ts.publish("rocky");
    ts.publish("rocky");
    ts.send("POST", "/api/v1/images/rocky/rollback", json!({})).expect(200);
    ts.send("POST", "/api/v1/servers", json!({ "url": "http://127.0.0.1:9001", "weight": 3, "healthy": true })).expect(201);
    ts.add_node(json!({ "name": "disk", "macs": [mac(1), mac(2)], "groups": ["rack1"], "image": { "name": "rocky" }, "layout": "l",
                        "config": { "nfs_mounts": [{ "server": "nfs1", "export": "/home", "mount_point": "/home", "options": "ro" }] } }));
    ts.add_node(json!({ "name": "ram", "macs": [mac(3)], "image": { "name": "rocky", "version": 2 }, "boot_mode": "stateless" }));
    ts.boot("52:54:00:ff:ff:ff");
    ts.boot(&mac(3));
    ts.send("POST", "/api/v1/nodes/disk/reimage", json!({})).expect(200);
    let script = ts.boot(&mac(1));
    let token = kernel_arg(&script, "fountain.token").unwrap();
    ts.request("POST", "/api/v1/agent/nodes/disk/register", Some(&token), Body::None).expect(200);
    let first_session = ts.launches()[0].0.id;

    let state = |ts: &TestServer| {
        ["/api/v1/nodes", "/api/v1/images/rocky", "/api/v1/layouts/l", "/api/v1/servers", "/api/v1/discovered"].map(|p| ts.get(p).expect(200).body)
    };
    let before = state(&ts);
    let old_url = ts.url();
    ts.restart();
    assert_ne!(ts.url(), old_url, "a new listener");
    assert_eq!(state(&ts), before);
    let after = ts.boot(&mac(1));
    for key in ["fountain.mode", "fountain.node", "fountain.image", "fountain.version", "fountain.token"] {
        assert_eq!(kernel_arg(&after, key), kernel_arg(&script, key), "{key} survives the restart");
    }
    assert_eq!(kernel_arg(&after, "fountain.session"), Some((first_session + 1).to_string()), "a fresh window, not a reused id");

    // The agent that booted before the restart carries on with its token; it gets a new session.
    let reg = ts.request("POST", "/api/v1/agent/nodes/disk/register", Some(&token), Body::None).expect(200).json();
    assert_eq!(reg["session"], first_session + 1, "session ids are not reused");
    ts.request("POST", "/api/v1/agent/nodes/disk/report", Some(&token), Body::Json(json!({ "outcome": "success", "image": "rocky", "version": 1, "session": first_session + 1 }))).expect(200);
    ts.restart();
    assert_eq!(ts.get("/api/v1/nodes/disk").json()["next_boot"], "local");
    assert_eq!(ts.get("/api/v1/servers").json()[0]["load"], 1, "the stateless assignment survived");
}
