//! Multicast or unicast: a node alone in its window downloads over HTTP ranges with no sender
//! started, two or more share a multicast session, and the operator can force either per re-image or
//! as the server's default. The unicast node reports against its session as a multicast one does,
//! and the transfer list (live and after a restart) says how each session delivered.
use serde_json::{Value, json};

use crate::util::{Body, TestServer, kernel_arg, mac};
use control::transfer::DeliveryChoice;

/// A server with the product's default delivery (auto) unless `default` says otherwise, closing
/// windows at `max_receivers`, with layout `l` and rocky v1.
fn server(max_receivers: usize, default: DeliveryChoice) -> TestServer {
    let ts = TestServer::start_with(|c| {
        c.max_receivers = max_receivers;
        c.delivery = default;
    });
    ts.put_layout("l", "good/bios-single.yaml").expect(201);
    ts.publish("rocky");
    ts
}

/// Adds node `n{i}` set to re-image (with `reimage` as the re-image request's body when given),
/// boots it and returns its token.
fn reimaging(ts: &TestServer, i: usize, reimage: Option<Value>) -> String {
    let name = format!("n{i}");
    ts.add_node(json!({ "name": name, "macs": [mac(i)], "image": { "name": "rocky" }, "layout": "l" }));
    ts.send("POST", &format!("/api/v1/nodes/{name}/reimage"), reimage.unwrap_or(Value::Null)).expect(200);
    kernel_arg(&ts.boot(&mac(i)), "fountain.token").unwrap()
}

fn agent(ts: &TestServer, i: usize, token: &str, method: &str, route: &str, body: Option<Value>) -> Value {
    let path = format!("/api/v1/agent/nodes/n{i}/{route}");
    ts.request(method, &path, Some(token), body.map_or(Body::None, Body::Json)).expect(200).json()
}

#[test]
fn a_node_alone_downloads_by_unicast_and_reports_against_its_session() {
    let mut ts = server(1, DeliveryChoice::Auto);
    let token = reimaging(&ts, 0, None);
    let reg = agent(&ts, 0, &token, "POST", "register", None);
    assert_eq!(reg["delivery"], "unicast", "{reg}");
    assert!(reg.get("transfer").is_none(), "no ticket: no sender");
    assert!(ts.launches().is_empty(), "no sender was started");
    let config = agent(&ts, 0, &token, "GET", "config", None);
    assert_eq!((&config["delivery"], &config["transfer"]), (&json!("unicast"), &Value::Null));

    // The object route serves it by ranges to the node's token.
    let object = "/api/v1/agent/nodes/n0/images/rocky/versions/1/object";
    let first = ts.agent_get_range(object, &token, "bytes=0-1023");
    assert_eq!((first.0, first.1.len()), (206, 1024));
    assert!(first.1.iter().all(|&b| b == 1), "rocky v1 is 4096 bytes of 1");
    assert_eq!(ts.agent_get_range(object, &token, "bytes=4000-").1.len(), 96);

    let session = reg["session"].as_u64().unwrap();
    let progress = agent(&ts, 0, &token, "POST", "progress", Some(json!({ "blocks_done": 1, "blocks_total": 1 })));
    assert_eq!(progress["delivery"], "unicast");
    let node = agent(&ts, 0, &token, "POST", "report", Some(json!({ "outcome": "success", "image": "rocky", "version": 1, "session": session })));
    assert_eq!(node["next_boot"], "local");
    let transfers = ts.get("/api/v1/transfers").expect(200).json();
    assert_eq!(transfers, json!([{ "id": session, "image": "rocky", "version": 1, "state": { "state": "finished" }, "delivery": "unicast", "receivers": { "n0": { "state": "done" } } }]));
    ts.restart();
    assert_eq!(ts.get("/api/v1/transfers").expect(200).json(), transfers, "the history keeps the delivery");
}

#[test]
fn two_nodes_share_a_multicast_session() {
    let ts = server(2, DeliveryChoice::Auto);
    let tokens = [reimaging(&ts, 0, None), reimaging(&ts, 1, None)];
    let first = agent(&ts, 0, &tokens[0], "POST", "register", None);
    assert_eq!(first["delivery"], "multicast", "undecided while the window is open: the agent polls its config");
    assert_eq!(agent(&ts, 0, &tokens[0], "GET", "config", None).get("delivery"), None);
    let second = agent(&ts, 1, &tokens[1], "POST", "register", None);
    assert_eq!((&second["delivery"], second["transfer"].is_object()), (&json!("multicast"), true), "{second}");
    let launches = ts.launches();
    assert_eq!(launches.len(), 1);
    assert_eq!(launches[0].0.receivers.len(), 2);
    assert_eq!(agent(&ts, 0, &tokens[0], "GET", "config", None)["delivery"], "multicast");
    assert_eq!(ts.get("/api/v1/transfers").json()[0]["delivery"], "multicast");
}

#[test]
fn the_operator_forces_either_per_reimage() {
    let ts = server(2, DeliveryChoice::Auto);
    // Forced multicast: a sender even for one node (the window closes at its timeout; here the test
    // closes it by hand).
    let token = reimaging(&ts, 0, Some(json!({ "delivery": "multicast" })));
    assert_eq!(ts.get("/api/v1/nodes/n0").json()["delivery"], "multicast");
    agent(&ts, 0, &token, "POST", "register", None);
    ts.close_windows();
    assert_eq!(ts.launches().len(), 1, "multicast for one node");
    assert_eq!(agent(&ts, 0, &token, "GET", "config", None)["delivery"], "multicast");

    // Forced unicast: no window to wait for, though the server would gather two.
    let token = reimaging(&ts, 1, Some(json!({ "delivery": "unicast" })));
    let reg = agent(&ts, 1, &token, "POST", "register", None);
    assert_eq!(reg["delivery"], "unicast");
    assert_eq!(ts.launches().len(), 1, "still only the first sender");

    // A plain re-image request goes back to the server's default.
    ts.send("POST", "/api/v1/nodes/n1/reimage", json!({})).expect(200);
    assert_eq!(ts.get("/api/v1/nodes/n1").json().get("delivery"), None);
    // Bad requests say why and change nothing.
    let bad = ts.send("POST", "/api/v1/nodes/n1/reimage", json!({ "delivery": "pigeon" })).expect(422);
    assert!(bad.error().contains("unknown variant"), "{}", bad.error());
    let malformed = ts.request("POST", "/api/v1/nodes/n1/reimage", Some(&ts.admin), Body::Raw("application/json", "{\"delivery\":")).expect(400);
    assert!(malformed.error().contains("malformed JSON"), "{}", malformed.error());
}

#[test]
fn the_server_default_applies_to_reimages_that_choose_none() {
    let ts = server(100, DeliveryChoice::Unicast);
    let token = reimaging(&ts, 0, None);
    assert_eq!(agent(&ts, 0, &token, "POST", "register", None)["delivery"], "unicast", "no window: unicast at once");
    let token = reimaging(&ts, 1, Some(json!({ "delivery": "auto" })));
    let late = reimaging(&ts, 2, Some(json!({ "delivery": "auto" })));
    assert_eq!(agent(&ts, 1, &token, "POST", "register", None)["delivery"], "multicast", "auto waits for its window while n2 may still come");
    ts.close_windows();
    assert_eq!(agent(&ts, 1, &token, "GET", "config", None)["delivery"], "unicast", "alone when its window closed");
    // n1 and n0 are busy in sessions of their own: nobody else can come, so n2 does not wait.
    assert_eq!(agent(&ts, 2, &late, "POST", "register", None)["delivery"], "unicast", "no one left to wait for");
    assert!(ts.launches().is_empty());
}
