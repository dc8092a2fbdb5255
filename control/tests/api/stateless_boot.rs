//! The stateless boot's token exchange: the kernel command line's token works once, the credential it
//! buys opens the node's own agent routes until the agent finishes, and then nothing works.
use serde_json::json;

use crate::util::{Body, TestServer, kernel_arg, mac};

/// A stateless node `a` with image `deb` on one healthy server; returns its boot script's token.
fn stateless_node(ts: &TestServer) -> String {
    ts.publish("deb");
    ts.send("POST", "/api/v1/servers", json!({ "url": "http://127.0.0.1:9001", "healthy": true })).expect(201);
    ts.add_node(json!({ "name": "a", "macs": [mac(0)], "image": { "name": "deb" }, "boot_mode": "stateless" }));
    kernel_arg(&ts.boot(&mac(0)), "fountain.token").unwrap()
}

fn exchange(ts: &TestServer, node: &str, token: &str) -> crate::util::Resp {
    ts.request("POST", &format!("/api/v1/agent/nodes/{node}/stateless/exchange"), Some(token), Body::None)
}

#[test]
fn the_token_works_once_and_the_credential_until_the_agent_finishes() {
    let ts = TestServer::start();
    let token = stateless_node(&ts);
    let config = "/api/v1/agent/nodes/a/config";
    ts.request("GET", config, Some(&token), Body::None).expect(200);

    let boot = exchange(&ts, "a", &token).expect(200).json();
    assert_eq!(boot["node"]["name"], "a");
    assert_eq!((boot["image"]["image"].as_str(), boot["image"]["version"].as_u64()), (Some("deb"), Some(1)));
    assert_eq!(boot["servers"], json!(["http://127.0.0.1:9001", ts.url()]), "the chosen server, then the control plane");
    let credential = boot["credential"].as_str().unwrap().to_string();
    assert!(!credential.contains(&token));

    // The command line's token is dead for every route. A lost exchange reply can be asked for
    // again (the same credential, a few times, until the boot finishes), so it needs no reboot.
    ts.request("GET", config, Some(&token), Body::None).expect(401);
    for _ in 0..control::api::stateless_boot::EXCHANGE_REPLAYS {
        assert_eq!(exchange(&ts, "a", &token).expect(200).json()["credential"], credential.as_str(), "the reply again, no new credential");
    }
    exchange(&ts, "a", &token).expect(401);
    // The credential reads the node's own image and reports, but buys no second credential.
    ts.request("GET", config, Some(&credential), Body::None).expect(200);
    ts.request("GET", "/api/v1/agent/nodes/a/images/deb/versions/1/manifest", Some(&credential), Body::None).expect(200);
    ts.request("POST", "/api/v1/agent/nodes/a/status", Some(&credential), Body::Json(json!({ "message": "mounting" }))).expect(200);
    exchange(&ts, "a", &credential).expect(401);

    ts.request("POST", "/api/v1/agent/nodes/a/stateless/finish", Some(&credential), Body::None).expect(204);
    ts.request("GET", config, Some(&credential), Body::None).expect(401);
    exchange(&ts, "a", &token).expect(401);
    ts.request("POST", "/api/v1/agent/nodes/a/stateless/finish", Some(&credential), Body::None).expect(401);

    // The next boot's script carries a fresh token, good for one exchange again.
    let next = kernel_arg(&ts.boot(&mac(0)), "fountain.token").unwrap();
    assert_ne!(next, token);
    exchange(&ts, "a", &next).expect(200);
}

#[test]
fn only_a_stateless_node_exchanges_and_a_node_token_is_no_credential() {
    let ts = TestServer::start();
    let token = stateless_node(&ts);
    ts.request("POST", "/api/v1/agent/nodes/a/stateless/finish", Some(&token), Body::None).expect(401);
    ts.add_node(json!({ "name": "b", "macs": [mac(1)], "image": { "name": "deb" }, "boot_mode": "stateless" }));
    let b = kernel_arg(&ts.boot(&mac(1)), "fountain.token").unwrap();
    ts.send("PATCH", "/api/v1/nodes/b", json!({ "boot_mode": "stateful" })).expect(200);
    let refused = exchange(&ts, "b", &b).expect(409);
    assert!(refused.error().contains("not set to boot stateless"), "{}", refused.error());
    exchange(&ts, "a", &b).expect(401);
    exchange(&ts, "a", &token).expect(200);
}

#[test]
fn a_lost_reply_is_given_again_only_while_the_boot_has_not_finished() {
    let ts = TestServer::start();
    let token = stateless_node(&ts);
    let first = exchange(&ts, "a", &token).expect(200).json();
    let again = exchange(&ts, "a", &token).expect(200).json();
    assert_eq!(first["credential"], again["credential"]);
    assert_eq!(first["servers"], again["servers"]);
    let credential = first["credential"].as_str().unwrap();
    ts.request("POST", "/api/v1/agent/nodes/a/stateless/finish", Some(credential), Body::None).expect(204);
    exchange(&ts, "a", &token).expect(401);
}
