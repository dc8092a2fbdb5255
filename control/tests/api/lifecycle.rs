//! A node's whole life: add → reimage → boot script → agent registers, receives, reports done →
//! next boot is local.
use serde_json::json;

use crate::util::{Body, TestServer, kernel_arg, mac};
use control::transfer::ReceiverState;

#[test]
fn add_reimage_boot_report_then_boot_local() {
    let ts = TestServer::start();
    ts.put_layout("mirror", "good/uefi-raid1-lvm.yaml").expect(201);
    assert_eq!(ts.publish("rocky"), 1);
    let node = ts.add_node(json!({
        "name": "n1", "macs": [mac(1)], "image": { "name": "rocky" }, "layout": "mirror",
        "config": { "hostname": "n1.cluster", "kernel_args": ["console=ttyS0,115200"],
                    "interfaces": [{ "name": "eno1", "addresses": ["10.0.0.11/24"], "gateway": "10.0.0.1" }] }
    }));
    assert_eq!(node["next_boot"], "local");
    assert!(ts.boot(&mac(1)).contains("\nexit\n"), "a new stateful node boots its disk");

    let node = ts.send("POST", "/api/v1/nodes/n1/reimage", json!({})).expect(200).json();
    assert_eq!(node["next_boot"], "reimage");
    let script = ts.boot(&mac(1));
    assert_eq!(kernel_arg(&script, "fountain.mode").as_deref(), Some("reimage"));
    assert_eq!(kernel_arg(&script, "fountain.image").as_deref(), Some("rocky"));
    assert_eq!(kernel_arg(&script, "fountain.version").as_deref(), Some("1"));
    assert!(script.contains(" console=ttyS0,115200 "));
    let token = kernel_arg(&script, "fountain.token").unwrap();
    let session: u64 = kernel_arg(&script, "fountain.session").unwrap().parse().unwrap();

    // The agent reads its own config with the token from its boot script.
    let config = ts.request("GET", "/api/v1/agent/nodes/n1/config", Some(&token), Body::None).expect(200).json();
    assert_eq!(config["node"]["config"]["hostname"], "n1.cluster");
    assert_eq!(config["image"]["version"], 1);
    assert!(config["layout"].as_str().unwrap().contains("vg0"));

    // Registering closes the window (max_receivers = 1) and starts the sender.
    let reg = ts.request("POST", "/api/v1/agent/nodes/n1/register", Some(&token), Body::None).expect(200).json();
    assert_eq!(reg["session"], session);
    let launches = ts.launches();
    assert_eq!(launches.len(), 1);
    let (plan, sink) = &launches[0];
    assert_eq!((plan.id, plan.image.as_str(), plan.version, plan.receivers[0].node.as_str(), plan.receivers.len()), (session, "rocky", 1, "n1", 1));
    let config = ts.request("GET", "/api/v1/agent/nodes/n1/config", Some(&token), Body::None).expect(200).json();
    assert_eq!(config["transfer"], json!({ "session": session, "receiver_id": plan.receivers[0].id, "ticket": "7265636f72646564" }), "the ticket the launcher returned");
    assert!(plan.artifact.ends_with("images/rocky/1/root.img"));

    // Status is visible while it runs, from the sender and from the agent.
    sink.receiver("n1", ReceiverState::Receiving { blocks_done: 2, blocks_total: 8 });
    let status = ts.get("/api/v1/transfers").expect(200).json();
    assert_eq!(status[0]["state"]["state"], "running");
    assert_eq!(status[0]["receivers"]["n1"], json!({ "state": "receiving", "blocks_done": 2, "blocks_total": 8 }));
    ts.request("POST", "/api/v1/agent/nodes/n1/progress", Some(&token), Body::Json(json!({ "blocks_done": 8, "blocks_total": 8 }))).expect(200);
    assert_eq!(ts.get("/api/v1/transfers").json()[0]["receivers"]["n1"]["blocks_done"], 8);

    let done = ts.request("POST", "/api/v1/agent/nodes/n1/report", Some(&token), Body::Json(json!({ "outcome": "success", "image": "rocky", "version": 1, "session": session })));
    let node = done.expect(200).json();
    assert_eq!(node["next_boot"], "local");
    assert_eq!(node["installed"]["version"], 1);
    assert_eq!(ts.get("/api/v1/transfers").json()[0]["receivers"]["n1"]["state"], "done");
    sink.finished(Ok(()));
    assert_eq!(ts.get("/api/v1/transfers").json()[0]["state"]["state"], "finished");

    assert!(ts.boot(&mac(1)).contains("\nexit\n"), "next boot is local");
    let again = ts.request("POST", "/api/v1/agent/nodes/n1/report", Some(&token), Body::Json(json!({ "outcome": "success", "image": "rocky", "version": 1, "session": session })));
    assert_eq!(again.status, 401, "the install's token is revoked once it reported");
}

#[test]
fn failed_reimage_keeps_the_node_reimaging() {
    let ts = TestServer::start();
    ts.put_layout("l", "good/bios-single.yaml").expect(201);
    ts.publish("rocky");
    ts.add_node(json!({ "name": "n1", "macs": [mac(1)], "image": { "name": "rocky" }, "layout": "l", "next_boot": "reimage" }));
    let token = kernel_arg(&ts.boot(&mac(1)), "fountain.token").unwrap();
    let session = ts.request("POST", "/api/v1/agent/nodes/n1/register", Some(&token), Body::None).expect(200).json()["session"].clone();
    let r = ts.request("POST", "/api/v1/agent/nodes/n1/report", Some(&token), Body::Json(json!({ "outcome": "failure", "image": "rocky", "version": 1, "session": session, "message": "disk sdb missing" })));
    assert_eq!(r.expect(200).json()["next_boot"], "reimage");
    let status = ts.get("/api/v1/transfers").json();
    assert_eq!(status[0]["receivers"]["n1"], json!({ "state": "failed", "reason": "disk sdb missing" }));
    assert_eq!(kernel_arg(&ts.boot(&mac(1)), "fountain.mode").as_deref(), Some("reimage"));
}

#[test]
fn nodes_of_one_image_are_gathered_into_one_session() {
    let ts = TestServer::start_with(|c| c.max_receivers = 3);
    ts.put_layout("l", "good/bios-single.yaml").expect(201);
    ts.publish("rocky");
    ts.publish("alma");
    let mut tokens = Vec::new();
    // n4 (alma) is set to re-image and booted but never registers: alma's window waits for it.
    for i in 0..5 {
        let image = if i < 3 { "rocky" } else { "alma" };
        ts.add_node(json!({ "name": format!("n{i}"), "macs": [mac(i)], "image": { "name": image }, "layout": "l", "next_boot": "reimage" }));
        tokens.push(kernel_arg(&ts.boot(&mac(i)), "fountain.token").unwrap());
    }
    for (i, token) in tokens.iter().enumerate().take(4) {
        ts.request("POST", &format!("/api/v1/agent/nodes/n{i}/register"), Some(token), Body::None).expect(200);
    }
    let launches = ts.launches();
    assert_eq!(launches.len(), 1, "rocky reached 3 receivers, alma is still gathering");
    assert_eq!(launches[0].0.receivers.iter().map(|r| r.node.as_str()).collect::<Vec<_>>(), ["n0", "n1", "n2"]);
    let status = ts.get("/api/v1/transfers").json();
    let alma = status.as_array().unwrap().iter().find(|s| s["image"] == "alma").unwrap();
    assert_eq!(alma["state"]["state"], "gathering");
    assert_eq!(alma["receivers"]["n3"]["state"], "registered");
}

#[test]
fn cancelling_a_reimage_takes_the_node_out_of_its_window() {
    let ts = TestServer::start_with(|c| c.max_receivers = 10);
    ts.put_layout("l", "good/bios-single.yaml").expect(201);
    ts.publish("rocky");
    ts.add_node(json!({ "name": "n1", "macs": [mac(1)], "image": { "name": "rocky" }, "layout": "l", "next_boot": "reimage" }));
    ts.boot(&mac(1));
    assert_eq!(ts.get("/api/v1/transfers").json()[0]["receivers"]["n1"]["state"], "assigned");
    ts.send("PATCH", "/api/v1/nodes/n1", json!({ "next_boot": "local" })).expect(200);
    assert_eq!(ts.get("/api/v1/transfers").json(), json!([]));
    let token = kernel_arg(&ts.boot(&mac(1)), "fountain.token");
    assert_eq!(token, None, "a local boot hands out no token");
}
