//! Tokens: no token, a wrong token and another node's token are all refused (401), whatever the case of
//! the scheme name; and every refusal, axum's own included, is JSON.
use std::time::Duration;

use serde_json::json;

use crate::raw_http::exchange;
use crate::util::{Body, TestServer, kernel_arg, mac};

/// Two stateless nodes and their tokens.
fn two_nodes(ts: &TestServer) -> (String, String) {
    ts.publish("rocky");
    ts.send("POST", "/api/v1/servers", json!({ "url": "http://127.0.0.1:9001", "healthy": true })).expect(201);
    for (i, name) in ["a", "b"].iter().enumerate() {
        ts.add_node(json!({ "name": name, "macs": [mac(i)], "image": { "name": "rocky" }, "boot_mode": "stateless" }));
    }
    (kernel_arg(&ts.boot(&mac(0)), "fountain.token").unwrap(), kernel_arg(&ts.boot(&mac(1)), "fountain.token").unwrap())
}

#[test]
fn operator_routes_need_the_admin_token() {
    let ts = TestServer::start();
    let (node_token, _) = two_nodes(&ts);
    for token in [None, Some("wrong"), Some(node_token.as_str()), Some("")] {
        let r = ts.request("GET", "/api/v1/nodes", token, Body::None).expect(401);
        assert_eq!(r.error(), "missing or wrong token: send 'Authorization: Bearer <token>'");
        ts.request("POST", "/api/v1/nodes", token, Body::Json(json!({ "name": "x", "macs": [mac(9)] }))).expect(401);
    }
    let r = ts.request("GET", "/api/v1/nodes", None, Body::None);
    assert!(!r.body.contains(&ts.admin));
    let (head, last) = ts.admin.split_at(ts.admin.len() - 1);
    let near_miss = format!("{head}{}", if last == "0" { '1' } else { '0' });
    ts.request("GET", "/api/v1/nodes", Some(&near_miss), Body::None).expect(401);
    assert_eq!(ts.get("/api/v1/nodes").expect(200).json().as_array().unwrap().len(), 2, "nothing was added");
}

#[test]
fn the_image_servers_token_reads_published_versions_and_nothing_else() {
    let ts = TestServer::start();
    two_nodes(&ts);
    let server = ts.server_token();
    assert_ne!(server, ts.admin);
    let ok = |path: &str| ts.request("GET", path, Some(&server), Body::None).status;
    assert_eq!(ok("/api/v1/images/rocky/versions/1/manifest"), 200, "it reads a published version's manifest");
    assert_eq!(ok("/api/v1/images/rocky/versions/1/object"), 200, "and its artifact");
    for (method, path, body) in [
        ("GET", "/api/v1/nodes", Body::None),
        ("GET", "/api/v1/images", Body::None),
        ("GET", "/api/v1/servers", Body::None),
        ("POST", "/api/v1/images", Body::Json(json!({ "name": "evil" }))),
        ("POST", "/api/v1/images/rocky/versions", Body::Json(json!({ "artifact": "rocky/1/root.img" }))),
        ("DELETE", "/api/v1/images/rocky/versions/1", Body::None),
        ("POST", "/api/v1/servers", Body::Json(json!({ "url": "http://127.0.0.1:9002", "healthy": true }))),
        ("POST", "/api/v1/nodes", Body::Json(json!({ "name": "x", "macs": [mac(9)] }))),
        ("GET", "/api/v1/agent/nodes/a/config", Body::None),
    ] {
        let r = ts.request(method, path, Some(&server), body).expect(401);
        assert_eq!(r.error(), "missing or wrong token: send 'Authorization: Bearer <token>'", "{method} {path}");
    }
    assert_eq!(ts.get("/api/v1/images").expect(200).json().as_array().unwrap().len(), 1, "nothing was added");
    assert_eq!(ts.get("/api/v1/nodes").expect(200).json().as_array().unwrap().len(), 2);
}

#[test]
fn a_refused_request_body_closes_the_connection_and_the_response_says_so() {
    let ts = TestServer::start();
    // The header alone, as a client's first segment: the server refuses before the body arrives,
    // cannot drain it and closes; a pooled client must be told, or its next POST meets a closed socket.
    let head = b"POST /api/v1/images HTTP/1.1\r\nHost: fountain\r\nAuthorization: Bearer 00\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n";
    let reply = exchange(ts.addr(), head, Duration::from_secs(10)).to_ascii_lowercase();
    assert!(reply.starts_with("http/1.1 401"), "{reply}");
    assert!(reply.contains("\r\nconnection: close\r\n"), "the refusal does not say the connection closes: {reply}");
    // Without a body nothing is left on the connection: two refused GETs share one.
    let get = "GET /api/v1/nodes HTTP/1.1\r\nHost: fountain\r\nAuthorization: Bearer 00\r\n";
    let reply = exchange(ts.addr(), format!("{get}\r\n{get}Connection: close\r\n\r\n").as_bytes(), Duration::from_secs(10));
    assert_eq!(reply.matches("HTTP/1.1 401").count(), 2, "{reply}");
    assert_eq!(reply.to_ascii_lowercase().matches("connection: close").count(), 1, "only the second asked to close: {reply}");
}

#[test]
fn a_node_reads_only_its_own_config() {
    let ts = TestServer::start();
    let (a, b) = two_nodes(&ts);
    assert_eq!(ts.request("GET", "/api/v1/agent/nodes/a/config", Some(&a), Body::None).expect(200).json()["node"]["name"], "a");
    ts.request("GET", "/api/v1/agent/nodes/a/config", None, Body::None).expect(401);
    ts.request("GET", "/api/v1/agent/nodes/a/config", Some("0123"), Body::None).expect(401);
    let r = ts.request("GET", "/api/v1/agent/nodes/a/config", Some(&b), Body::None).expect(401);
    assert_eq!(r.error(), "missing or wrong token: send 'Authorization: Bearer <token>'");
    ts.request("GET", "/api/v1/agent/nodes/nobody/config", Some(&a), Body::None).expect(401);
    ts.request("GET", "/api/v1/agent/nodes/a/config", Some(&ts.admin), Body::None).expect(401);
    ts.request("POST", "/api/v1/agent/nodes/a/report", Some(&b), Body::Json(json!({ "outcome": "success", "image": "rocky", "version": 1, "session": 1 }))).expect(401);
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let ts = TestServer::start();
    let (a, _) = two_nodes(&ts);
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let nodes = ureq::get(&format!("{}/api/v1/nodes", ts.url())).set("Authorization", &format!("{scheme} {}", ts.admin)).call().unwrap();
        assert_eq!(nodes.status(), 200, "{scheme}");
        let config = ureq::get(&format!("{}/api/v1/agent/nodes/a/config", ts.url())).set("Authorization", &format!("{scheme} {a}")).call().unwrap();
        assert_eq!(config.status(), 200, "{scheme}");
    }
    let basic = ureq::get(&format!("{}/api/v1/nodes", ts.url())).set("Authorization", &format!("Basic {}", ts.admin)).call();
    assert!(matches!(basic, Err(ureq::Error::Status(401, _))), "only the bearer scheme");
}

#[test]
fn refusals_axum_writes_itself_are_json_too() {
    let ts = TestServer::start();
    let big = format!("{{\"name\": \"n\", \"macs\": [], \"pad\": \"{}\"}}", "x".repeat((2 << 20) + 1000));
    let r = ts.request("POST", "/api/v1/nodes", Some(&ts.admin.clone()), Body::Raw("application/json", &big)).expect(413);
    assert!(r.error().starts_with("request body too large"), "{}", r.body);
    let r = ts.request("DELETE", "/healthz", None, Body::None).expect(405);
    assert_eq!(r.error(), "method not allowed");
    assert_eq!(ts.get("/api/v1/nodes").json(), json!([]), "nothing was added");
}

#[test]
fn reimage_revokes_the_previous_token() {
    let ts = TestServer::start();
    let (a, _) = two_nodes(&ts);
    ts.put_layout("l", "good/bios-single.yaml").expect(201);
    ts.send("PATCH", "/api/v1/nodes/a", json!({ "boot_mode": "stateful", "layout": "l" })).expect(200);
    ts.send("POST", "/api/v1/nodes/a/reimage", json!({})).expect(200);
    ts.request("GET", "/api/v1/agent/nodes/a/config", Some(&a), Body::None).expect(401);
    let fresh = kernel_arg(&ts.boot(&mac(0)), "fountain.token").unwrap();
    assert_ne!(fresh, a);
    ts.request("GET", "/api/v1/agent/nodes/a/config", Some(&fresh), Body::None).expect(200);
}

#[test]
fn a_nodes_protected_disks_reach_its_agent_and_bad_entries_are_refused() {
    let ts = TestServer::start();
    two_nodes(&ts);
    let r = ts.send("PATCH", "/api/v1/nodes/a", json!({ "config": { "protected_disks": ["data disk"] } })).expect(422);
    assert!(r.error().contains("invalid protected disk \"data disk\""), "{}", r.error());
    ts.send("PATCH", "/api/v1/nodes/a", json!({ "config": { "protected_disks": ["/dev/sdc", "WD-SERIAL-1"] } })).expect(200);
    let token = kernel_arg(&ts.boot(&mac(0)), "fountain.token").unwrap();
    let config = ts.request("GET", "/api/v1/agent/nodes/a/config", Some(&token), Body::None).expect(200).json();
    assert_eq!(config["node"]["config"]["protected_disks"], json!(["/dev/sdc", "WD-SERIAL-1"]), "the agent gets the node's list");
}
