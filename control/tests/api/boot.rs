//! iPXE scripts for each node state.
use serde_json::json;

use crate::util::{Body, TestServer, kernel_arg, mac};

#[test]
fn script_for_each_state() {
    let ts = TestServer::start();
    ts.put_layout("l", "good/bios-single.yaml").expect(201);
    ts.publish("rocky");
    ts.send("POST", "/api/v1/servers", json!({ "url": "http://127.0.0.1:9001/images", "healthy": true })).expect(201);
    ts.add_node(json!({ "name": "local", "macs": [mac(1)], "image": { "name": "rocky" }, "layout": "l" }));
    ts.add_node(json!({ "name": "inst", "macs": [mac(2)], "image": { "name": "rocky" }, "layout": "l", "next_boot": "reimage" }));
    ts.add_node(json!({ "name": "ram", "macs": [mac(3)], "image": { "name": "rocky" }, "boot_mode": "stateless" }));
    let base = ts.url();

    let local = ts.boot(&mac(1));
    assert_eq!(local, "#!ipxe\n# fountain: node local boots from local disk\nexit\n");

    let reimage = ts.boot(&mac(2));
    assert!(reimage.starts_with("#!ipxe\n"));
    assert!(reimage.contains(&format!("kernel {base}/boot/files/vmlinuz initrd=initrd.img fountain.server={base} fountain.mode=reimage fountain.node=inst ")));
    assert!(reimage.contains(&format!("\ninitrd {base}/boot/files/initrd.img || goto failed\nboot || goto failed\n")));
    assert_eq!(kernel_arg(&reimage, "fountain.token").unwrap().len(), 64);

    let stateless = ts.boot(&mac(3));
    assert_eq!(kernel_arg(&stateless, "fountain.mode").as_deref(), Some("stateless"));
    assert_eq!(kernel_arg(&stateless, "fountain.image_server").as_deref(), Some("http://127.0.0.1:9001/images"));
    assert!(kernel_arg(&stateless, "fountain.session").is_none());

    // MAC spelled differently by firmware still matches.
    assert_eq!(ts.boot(&mac(1).to_uppercase().replace(':', "-")), local);
}

#[test]
fn unknown_mac_gets_discovery_and_is_recorded() {
    let ts = TestServer::start();
    let script = ts.boot("52:54:00:aa:bb:cc");
    assert_eq!(kernel_arg(&script, "fountain.mode").as_deref(), Some("discover"));
    assert_eq!(kernel_arg(&script, "fountain.mac").as_deref(), Some("52:54:00:aa:bb:cc"));
    assert!(kernel_arg(&script, "fountain.token").is_none(), "unknown machines get no token");
    ts.boot("52:54:00:AA:BB:CC");
    let found = ts.get("/api/v1/discovered").expect(200).json()["discovered"].clone();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["mac"], "52:54:00:aa:bb:cc");
    assert_eq!(found[0]["boots"], 1, "a boot within a minute of the last is not written again");

    // Adding a node with that MAC takes it off the discovered list.
    ts.add_node(json!({ "name": "new", "macs": ["52:54:00:aa:bb:cc"] }));
    assert_eq!(ts.get("/api/v1/discovered").json(), json!({ "discovered": [] }));
}

#[test]
fn bad_boot_requests_are_refused() {
    let ts = TestServer::start();
    let r = ts.request("GET", "/boot/ipxe", None, Body::None).expect(400);
    assert_eq!(r.error(), "missing query parameter 'mac'");
    let r = ts.request("GET", "/boot/ipxe?mac=52:54:00:zz:00:01", None, Body::None).expect(400);
    assert!(r.error().starts_with("invalid MAC address \"52:54:00:zz:00:01\""), "{}", r.error());
    assert_eq!(ts.get("/api/v1/discovered").json(), json!({ "discovered": [] }), "nothing recorded");
    let r = ts.request("GET", "/boot/files/..%2Fadmin.token", None, Body::None);
    assert_eq!(r.status, 404);
    assert!(!r.body.contains(&ts.admin));
}

#[test]
fn stateless_boot_without_healthy_server_is_unavailable() {
    let ts = TestServer::start();
    ts.publish("rocky");
    let s = ts.send("POST", "/api/v1/servers", json!({ "url": "http://127.0.0.1:9001", "healthy": false })).expect(201).json();
    ts.add_node(json!({ "name": "ram", "macs": [mac(3)], "image": { "name": "rocky" }, "boot_mode": "stateless" }));
    let r = ts.request("GET", &format!("/boot/ipxe?mac={}", mac(3)), None, Body::None).expect(503);
    assert_eq!(r.error(), "no healthy stateless server");
    ts.send("PATCH", &format!("/api/v1/servers/{}", s["id"]), json!({ "healthy": true })).expect(200);
    assert!(ts.boot(&mac(3)).contains("fountain.image_server=http://127.0.0.1:9001 "));
}

#[test]
fn boot_files_are_served_from_the_data_directory() {
    let ts = TestServer::start();
    std::fs::create_dir_all(ts.dir.path().join("boot")).unwrap();
    std::fs::write(ts.dir.path().join("boot/vmlinuz"), b"kernel bytes").unwrap();
    assert_eq!(ts.request("GET", "/boot/files/vmlinuz", None, Body::None).expect(200).body, "kernel bytes");
    let missing = ts.request("GET", "/boot/files/initrd.img", None, Body::None).expect(404);
    assert!(missing.error().contains("boot/ folder"), "{}", missing.error());
}
