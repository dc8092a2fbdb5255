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

/// The lines of an "ask again" script, and the reason it echoes.
fn asks_again(script: &str) -> String {
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(lines.len(), 4, "{script}");
    assert_eq!(lines[0], "#!ipxe");
    assert_eq!(&lines[2..], ["sleep 10", &format!("chain --replace --autofree {}", "${base}/boot/ipxe?mac=${net0/mac}")].map(str::to_string), "{script}");
    lines[1].strip_prefix("echo fountain: ").and_then(|l| l.strip_suffix("; asking again in 10 s")).unwrap_or_else(|| panic!("{script}")).to_string()
}

#[test]
fn firmware_always_gets_a_script_never_json() {
    let ts = TestServer::start();
    let base = ts.url();
    let fix = |s: String| s.replace(&base, "${base}");

    let generic = ts.request("GET", "/boot/ipxe", None, Body::None).expect(200);
    assert_eq!(generic.body, format!("#!ipxe\n# fountain: no MAC in the request; asking again with this machine's\nchain --replace --autofree {base}/boot/ipxe?mac=${{net0/mac}}\n"));

    let bad = fix(ts.request("GET", "/boot/ipxe?mac=52:54:00:zz:00:01", None, Body::None).expect(200).body);
    assert!(asks_again(&bad).starts_with("invalid MAC address ?52:54:00:zz:00:01?: expected six hex pairs"), "{bad}");
    let odd = fix(ts.request("GET", "/boot/ipxe?mac=1&mac=2", None, Body::None).expect(200).body);
    assert!(asks_again(&odd).starts_with("Failed to deserialize query string"), "{odd}");
    assert_eq!(ts.get("/api/v1/discovered").json(), json!({ "discovered": [] }), "nothing recorded");

    let r = ts.request("GET", "/boot/files/..%2Fadmin.token", None, Body::None);
    assert_eq!(r.status, 404);
    assert!(!r.body.contains(&ts.admin));
}

#[test]
fn stateless_boot_without_healthy_server_waits_and_asks_again() {
    let ts = TestServer::start();
    ts.publish("rocky");
    let s = ts.send("POST", "/api/v1/servers", json!({ "url": "http://127.0.0.1:9001", "healthy": false })).expect(201).json();
    ts.add_node(json!({ "name": "ram", "macs": [mac(3)], "image": { "name": "rocky" }, "boot_mode": "stateless" }));
    let script = ts.request("GET", &format!("/boot/ipxe?mac={}", mac(3)), None, Body::None).expect(200).body;
    assert_eq!(asks_again(&script.replace(&ts.url(), "${base}")), "no healthy stateless server");
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

#[test]
fn boot_files_answer_ranges_and_if_range() {
    let ts = TestServer::start();
    std::fs::create_dir_all(ts.dir.path().join("boot")).unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(ts.dir.path().join("boot/initrd.img"), &data).unwrap();
    let url = format!("{}/boot/files/initrd.img", ts.url());
    let get = |headers: &[(&str, &str)]| {
        let mut req = ureq::get(&url);
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let r = req.call().unwrap();
        let (status, range) = (r.status(), r.header("content-range").map(str::to_string));
        let (etag, modified) = (r.header("etag").unwrap().to_string(), r.header("last-modified").unwrap().to_string());
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut body).unwrap();
        (status, range, body, etag, modified)
    };
    let (status, range, body, etag, modified) = get(&[]);
    assert_eq!((status, range), (200, None));
    assert!(body == data, "whole file");
    let (status, range, body, ..) = get(&[("Range", "bytes=1000-1999")]);
    assert_eq!((status, range.as_deref()), (206, Some("bytes 1000-1999/300000")));
    assert_eq!(body, data[1000..2000]);
    for current in [etag.as_str(), modified.as_str()] {
        let (status, _, body, ..) = get(&[("Range", "bytes=-10"), ("If-Range", current)]);
        assert_eq!((status, body.as_slice()), (206, &data[data.len() - 10..]), "If-Range {current}");
    }
    for stale in ["\"0-0\"", "Thu, 01 Jan 1970 00:00:00 GMT"] {
        let (status, _, body, ..) = get(&[("Range", "bytes=-10"), ("If-Range", stale)]);
        assert_eq!((status, body.len()), (200, data.len()), "a stale If-Range gets the whole file: {stale}");
    }
    let head = ureq::head(&url).set("Range", "bytes=0-9").call().unwrap();
    assert_eq!((head.status(), head.header("content-length")), (206, Some("10")));
}
