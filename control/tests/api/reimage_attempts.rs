//! A re-image's phase times, failures and retries as the operator sees them: the agent's status
//! reports carry phase times, failures are counted with the last error, a failed node stays set to
//! re-image (its next boot runs the agent again) until a retry succeeds, and a new re-image starts a
//! new record while the last one is kept.
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::fountain;
use crate::util::{Body, TestServer, kernel_arg, mac};

fn status(ts: &TestServer, token: &str, phases: Value, error: Option<&str>) {
    let body = json!({ "message": "working", "error": error, "phases": phases });
    ts.request("POST", "/api/v1/agent/nodes/n1/status", Some(token), Body::Json(body)).expect(200);
}

fn agent(ts: &TestServer, token: &str, route: &str, body: Option<Value>) -> Value {
    ts.request("POST", &format!("/api/v1/agent/nodes/n1/{route}"), Some(token), body.map_or(Body::None, Body::Json)).expect(200).json()
}

fn report(ts: &TestServer, token: &str, session: &Value, outcome: &str, message: &str) -> Value {
    agent(ts, token, "report", Some(json!({ "outcome": outcome, "image": "rocky", "version": 1, "session": session, "message": message })))
}

#[test]
fn failures_are_counted_the_node_stays_reimaging_and_a_retry_succeeds() {
    let ts = TestServer::start();
    ts.put_layout("l", "good/bios-single.yaml").expect(201);
    ts.publish("rocky");
    ts.add_node(json!({ "name": "n1", "macs": [mac(1)], "image": { "name": "rocky" }, "layout": "l", "next_boot": "reimage" }));
    let token = kernel_arg(&ts.boot(&mac(1)), "fountain.token").unwrap();
    assert_eq!(ts.get("/api/v1/nodes/n1/reimages").expect(200).json(), json!([]));

    // First attempt: the layout fails.
    status(&ts, &token, json!([{ "phase": "agent_boot", "millis": 9000 }, { "phase": "inventory", "millis": 20 }]), None);
    status(&ts, &token, json!([]), Some("mdadm: /dev/sdb missing"));
    let a = &ts.get("/api/v1/nodes/n1/reimages").json()[0];
    assert_eq!((&a["failures"], &a["last_error"], &a["active_since_failure"]), (&json!(1), &json!("mdadm: /dev/sdb missing"), &json!(false)));
    assert_eq!(kernel_arg(&ts.boot(&mac(1)), "fountain.mode").as_deref(), Some("reimage"), "still re-imaging after a failure");

    // Second attempt: lays out, receives, and fails its checksum (reported both as a status error
    // and as the failure report, which counts once).
    status(&ts, &token, json!([{ "phase": "layout", "millis": 2500 }]), None);
    let session = agent(&ts, &token, "register", None)["session"].clone();
    status(&ts, &token, json!([{ "phase": "transfer", "millis": 7000 }]), Some("checksum mismatch"));
    let node = report(&ts, &token, &session, "failure", "checksum mismatch");
    assert_eq!(node["next_boot"], "reimage", "a failure leaves the node on re-image");
    assert_eq!(kernel_arg(&ts.boot(&mac(1)), "fountain.mode").as_deref(), Some("reimage"));
    let a = &ts.get("/api/v1/nodes/n1/reimages").json()[0];
    assert_eq!((&a["failures"], &a["last_error"]), (&json!(2), &json!("checksum mismatch")));

    // Third attempt succeeds.
    let session = agent(&ts, &token, "register", None)["session"].clone();
    status(&ts, &token, json!([{ "phase": "transfer", "millis": 6000 }, { "phase": "unpack", "millis": 4000 }, { "phase": "config", "millis": 900 }, { "phase": "bootloader", "millis": 1500 }]), None);
    assert_eq!(report(&ts, &token, &session, "success", "")["next_boot"], "local");
    let attempts = ts.get("/api/v1/nodes/n1/reimages").json();
    let a = &attempts[0];
    assert_eq!((&a["failures"], &a["active_since_failure"], a["installed_unix_s"].is_u64()), (&json!(2), &json!(true), true));
    let phases: Vec<(&str, u64)> = a["phases"].as_array().unwrap().iter().map(|p| (p["phase"].as_str().unwrap(), p["millis"].as_u64().unwrap())).collect();
    assert_eq!(phases, vec![("agent_boot", 9000), ("inventory", 20), ("layout", 2500), ("transfer", 6000), ("unpack", 4000), ("config", 900), ("bootloader", 1500)]);
    assert_eq!(fountain(&ts, &["node", "show", "n1"]), ExitCode::SUCCESS);

    // A new re-image starts a new record and keeps this one.
    ts.send("POST", "/api/v1/nodes/n1/reimage", json!({})).expect(200);
    let token = kernel_arg(&ts.boot(&mac(1)), "fountain.token").unwrap();
    status(&ts, &token, json!([{ "phase": "agent_boot", "millis": 8000 }]), None);
    let attempts_now = ts.get("/api/v1/nodes/n1/reimages").json();
    assert_eq!(attempts_now.as_array().unwrap().len(), 2);
    assert_eq!(attempts_now[0]["phases"], json!([{ "phase": "agent_boot", "millis": 8000 }]));
    assert_eq!((&attempts_now[0]["failures"], &attempts_now[0]["last_error"]), (&json!(0), &Value::Null));
    assert_eq!(attempts_now[1], attempts[0], "the last re-image as it ended");

    // Unknown phases are refused and record nothing.
    let bad = json!({ "message": "x", "phases": [{ "phase": "coffee", "millis": 1 }] });
    ts.request("POST", "/api/v1/agent/nodes/n1/status", Some(&token), Body::Json(bad)).expect(422);
    assert_eq!(ts.get("/api/v1/nodes/n1/reimages").json(), attempts_now);
    ts.get("/api/v1/nodes/ghost/reimages").expect(404);
}
