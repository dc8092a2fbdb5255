//! Issue 17, the state and input findings: what a careless operator or a hostile boot network could do
//! to the store, each refused with a clear message and nothing written.
use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Instant;

use control::store::discovered::DiscoveryLimits;
use control::store::sessions::INTERRUPTED;
use serde_json::{Value, json};

use crate::cli::{fountain, try_fountain};
use crate::health::{dead_server, live_server};
use crate::util::{Body, Resp, TestServer, kernel_arg, layout_file, mac};

/// Adds stateful node `name` (MAC `mac(i)`, layout `l`) set to re-image `image` and boots it: its
/// token and the session its boot script names.
fn reimaging(ts: &TestServer, name: &str, i: usize, image: Value) -> (String, u64) {
    ts.add_node(json!({ "name": name, "macs": [mac(i)], "image": image, "layout": "l", "next_boot": "reimage" }));
    let script = ts.boot(&mac(i));
    (kernel_arg(&script, "fountain.token").unwrap(), kernel_arg(&script, "fountain.session").unwrap().parse().unwrap())
}

/// An agent call of node `name` with its token.
fn agent(ts: &TestServer, name: &str, token: &str, method: &str, route: &str, body: Option<Value>) -> Resp {
    let path = format!("/api/v1/agent/nodes/{name}/{route}");
    ts.request(method, &path, Some(token), body.map_or(Body::None, Body::Json))
}

/// A server with layout `l` and `versions` versions of rocky.
fn server_with_rocky(max_receivers: usize, versions: usize) -> TestServer {
    let ts = TestServer::start_with(|c| c.max_receivers = max_receivers);
    ts.put_layout("l", "good/bios-single.yaml").expect(201);
    for _ in 0..versions {
        ts.publish("rocky");
    }
    ts
}

#[test]
fn a_report_counts_only_for_the_image_version_and_session_given() {
    let ts = server_with_rocky(1, 1);
    ts.publish("mixed");
    let (token, session) = reimaging(&ts, "n1", 1, json!({ "name": "rocky" }));
    let report = |image: &str, session: u64| {
        agent(&ts, "n1", &token, "POST", "report", Some(json!({ "outcome": "success", "image": image, "version": 1, "session": session })))
    };
    assert_eq!(report("mixed", session).expect(409).error(), "node n1 was given rocky@1, not mixed@1");
    assert_eq!(report("rocky", session).expect(409).error(), format!("node n1 never registered in session {session}, so it cannot have installed its image"));
    let registered = agent(&ts, "n1", &token, "POST", "register", None).expect(200).json();
    assert_eq!(registered["session"], session);
    assert_eq!(report("rocky", session + 7).expect(409).error(), format!("node n1 is in transfer session {session}, not {}", session + 7));
    assert_eq!(report("mixed", session).expect(409).error(), "node n1 was given rocky@1, not mixed@1");
    let node = ts.get("/api/v1/nodes/n1").json();
    assert_eq!((&node["next_boot"], &node["installed"]), (&json!("reimage"), &Value::Null), "no refused report changed the node");
    assert_eq!(report("rocky", session).expect(200).json()["installed"]["image"], "rocky");
}

#[test]
fn a_node_token_downloads_only_the_version_its_node_is_assigned() {
    let ts = server_with_rocky(10, 2);
    ts.publish("alma");
    let (token, _) = reimaging(&ts, "n1", 1, json!({ "name": "rocky", "version": 1 }));
    let fetch = |image: &str, version: &str, what: &str| {
        ts.request("GET", &format!("/api/v1/agent/nodes/n1/images/{image}/versions/{version}/{what}"), Some(&token), Body::None)
    };
    assert_eq!(fetch("rocky", "1", "object").expect(200).body.len(), 4096);
    for (image, version) in [("rocky", "2"), ("rocky", "default"), ("alma", "1"), ("alma", "default")] {
        for what in ["object", "manifest"] {
            let r = fetch(image, version, what);
            assert_eq!(r.status, 403, "{image}@{version} {what}: {}", r.body);
            assert_eq!(r.error(), "this token may not access this resource");
        }
    }
    // Following the image's default, the node may read the default.
    ts.send("PATCH", "/api/v1/nodes/n1", json!({ "image": { "name": "rocky" } })).expect(200);
    assert_eq!(fetch("rocky", "default", "object").status, 200);
    assert_eq!(fetch("alma", "1", "object").status, 403);
}

#[test]
fn cancelling_a_reimage_revokes_the_token_and_every_reimage_request_makes_a_new_one() {
    let ts = server_with_rocky(10, 1);
    let (t1, _) = reimaging(&ts, "n1", 1, json!({ "name": "rocky" }));
    let config = |t: &str| agent(&ts, "n1", t, "GET", "config", None).status;
    let object = |t: &str| agent(&ts, "n1", t, "GET", "images/rocky/versions/1/object", None).status;
    let token = || kernel_arg(&ts.boot(&mac(1)), "fountain.token").unwrap();
    assert_eq!((config(&t1), object(&t1)), (200, 200));
    ts.send("PATCH", "/api/v1/nodes/n1", json!({ "groups": ["rack1"] })).expect(200);
    assert_eq!(config(&t1), 200, "a change that keeps the re-image keeps the token");

    ts.send("PATCH", "/api/v1/nodes/n1", json!({ "next_boot": "local" })).expect(200);
    assert_eq!((config(&t1), object(&t1)), (401, 401), "a cancelled re-image leaves no working token");

    ts.send("PATCH", "/api/v1/nodes/n1", json!({ "next_boot": "reimage" })).expect(200);
    let t2 = token();
    assert_ne!(t2, t1);
    assert_eq!(config(&t2), 200);
    ts.send("PATCH", "/api/v1/nodes/n1", json!({ "next_boot": "reimage" })).expect(200);
    assert_eq!(config(&t2), 401, "every re-image request bumps the generation, even of a node already re-imaging");
    let t3 = token();
    assert!(t3 != t1 && t3 != t2);
    assert_eq!(config(&t3), 200);
}

#[test]
fn yaml_bodies_are_bounded_before_they_are_parsed() {
    let ts = TestServer::start();
    let send = |method: &str, path: &str, body: &str| ts.request(method, path, Some(&ts.admin), Body::Raw("application/yaml", body));
    let deep = format!("bootloader: {}", "[".repeat(100_000));
    for (method, path) in [("PUT", "/api/v1/layouts/x"), ("POST", "/api/v1/layouts/validate")] {
        assert_eq!(send(method, path, &deep).expect(422).error(), "YAML nests deeper than 32 levels (line 1)");
        let block: String = (0..40).map(|i| format!("{}k{i}:\n", "  ".repeat(i))).collect();
        assert_eq!(send(method, path, &block).expect(422).error(), "YAML nests deeper than 32 levels (line 33)");
        let big = format!("# {}\nbootloader: bios\n", "x".repeat(300_000));
        // The server answers 413 before the client has sent the whole body and closes the connection, so
        // a client still writing may see the close (broken pipe or reset) instead of the answer.
        let url = format!("{}{path}", ts.url());
        let req = ureq::request(method, &url).set("Authorization", &format!("Bearer {}", ts.admin)).set("Content-Type", "application/yaml");
        match req.send_string(&big) {
            Err(ureq::Error::Status(413, r)) => assert!(r.into_string().unwrap().contains("YAML body is larger than 262144 bytes")),
            Err(ureq::Error::Transport(t)) => assert!(format!("{t}").contains("Broken pipe") || format!("{t}").contains("reset"), "{t}"),
            other => panic!("{method} {path} with a 300 KB body: {other:?}"),
        }
    }
    assert_eq!(ts.get("/api/v1/layouts").json(), json!([]), "nothing stored");
    send("PUT", "/api/v1/layouts/x", &layout_file("good/uefi-raid1-lvm.yaml")).expect(201);
}

#[test]
fn a_flood_of_unknown_macs_writes_a_bounded_table_read_in_pages() {
    let ts = TestServer::start();
    let started = Instant::now();
    let flood = 5_000;
    for i in 0..flood {
        let mac = format!("02:00:00:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
        assert_eq!(kernel_arg(&ts.boot(&mac), "fountain.mode").as_deref(), Some("discover"), "every unknown machine still gets its script");
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    let db = ts.dir.path().join(control::store::DB_FILE);
    let wal = ts.dir.path().join(format!("{}-wal", control::store::DB_FILE));
    let bytes = std::fs::metadata(&db).unwrap().len() + std::fs::metadata(&wal).map_or(0, |m| m.len());

    let mut listed = Vec::new();
    let mut path = "/api/v1/discovered?limit=100".to_string();
    loop {
        let page = ts.get(&path).expect(200).json();
        let rows = page["discovered"].as_array().unwrap();
        assert!(rows.len() <= 100);
        listed.extend(rows.iter().map(|r| r["mac"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/discovered?limit=100&after={next}"),
            None => break,
        }
    }
    let distinct: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(distinct.len(), listed.len(), "no row on two pages");
    let limits = DiscoveryLimits::default();
    let most = limits.burst + limits.new_per_s * elapsed_s + 1.0;
    assert!((listed.len() as f64) <= most, "{} rows written by {flood} made-up MACs in {elapsed_s:.1} s; the budget allows {most:.0}", listed.len());
    assert!(listed.len() >= limits.burst as usize, "a burst of new machines is recorded at once");
    println!("discovery flood: {flood} made-up MACs in {elapsed_s:.1} s wrote {} rows; database + WAL {bytes} bytes", listed.len());
    assert!(bytes < 8 << 20, "database + WAL grew to {bytes} bytes");

    for bad in ["limit=0", "limit=5000", "after=junk", "colour=red"] {
        let r = ts.get(&format!("/api/v1/discovered?{bad}")).expect(400);
        assert!(!r.error().is_empty(), "{bad}");
    }
}

#[test]
fn nodes_images_layouts_and_servers_can_be_removed_once_unused() {
    let ts = server_with_rocky(10, 3);
    ts.put_layout("spare", "good/bios-single.yaml").expect(201);
    let (token, _) = reimaging(&ts, "n1", 1, json!({ "name": "rocky", "version": 1 }));
    let delete = |path: &str| ts.request("DELETE", path, Some(&ts.admin), Body::None);

    assert_eq!(delete("/api/v1/images/rocky").expect(409).error(), "transfer session 1 is sending rocky@1");
    delete("/api/v1/images/rocky/versions/1").expect(409);
    assert_eq!(delete("/api/v1/images/rocky/versions/3").expect(409).error(), "version 3 is the default of image rocky: roll back or publish another first");
    assert_eq!(delete("/api/v1/layouts/l").expect(409).error(), "layout l is assigned to node(s) n1");
    delete("/api/v1/images/rocky/versions/2").expect(204);
    delete("/api/v1/images/rocky/versions/2").expect(404);
    delete("/api/v1/layouts/spare").expect(204);
    assert_eq!(ts.get("/api/v1/layouts").json(), json!(["l"]));
    assert_eq!(ts.publish("rocky"), 4, "a deleted version's number is never handed out again");

    delete("/api/v1/nodes/n1").expect(204);
    ts.get("/api/v1/nodes/n1").expect(404);
    assert_eq!(agent(&ts, "n1", &token, "GET", "config", None).status, 401);
    assert_eq!(kernel_arg(&ts.boot(&mac(1)), "fountain.mode").as_deref(), Some("discover"), "its MAC is unknown again");
    assert_eq!(ts.get("/api/v1/transfers").json(), json!([]), "it left its window");
    ts.add_node(json!({ "name": "n1", "macs": [mac(1)], "image": { "name": "rocky", "version": 1 } }));
    assert_eq!(agent(&ts, "n1", &token, "GET", "config", None).status, 401, "a new node of the same name does not inherit the old token");
    assert_eq!(delete("/api/v1/images/rocky").expect(409).error(), "image rocky is assigned to node(s) n1: assign them another first");
    assert_eq!(delete("/api/v1/images/rocky/versions/1").expect(409).error(), "rocky@1 is assigned to node(s) n1");
    delete("/api/v1/nodes/n1").expect(204);

    delete("/api/v1/images/rocky").expect(204);
    assert_eq!(ts.get("/api/v1/images").json(), json!([]));
    delete("/api/v1/layouts/l").expect(204);
    let s = ts.send("POST", "/api/v1/servers", json!({ "url": "http://127.0.0.1:9001", "healthy": true })).expect(201).json();
    delete(&format!("/api/v1/servers/{}", s["id"])).expect(204);
    assert_eq!(ts.get("/api/v1/servers").json(), json!([]));
    for path in ["/api/v1/servers/99", "/api/v1/nodes/ghost", "/api/v1/layouts/ghost", "/api/v1/images/ghost", "/api/v1/images/ghost/versions/1"] {
        delete(path).expect(404);
    }
    assert!(std::fs::metadata(ts.dir.path().join("images/rocky/1/root.img")).is_ok(), "the operator's files stay");
}

#[test]
fn a_refused_first_version_leaves_no_image_behind() {
    let ts = TestServer::start();
    let r = ts.send("POST", "/api/v1/images/fresh/versions", json!({ "artifact": "nope.img", "manifest": "nope.manifest" })).expect(422);
    assert!(r.error().contains("nope.img"), "{}", r.error());
    ts.get("/api/v1/images/fresh").expect(404);
    assert_eq!(ts.get("/api/v1/images").json(), json!([]));
}

#[test]
fn transfer_history_survives_a_restart() {
    let mut ts = server_with_rocky(1, 1);
    let (t1, s1) = reimaging(&ts, "n1", 1, json!({ "name": "rocky" }));
    agent(&ts, "n1", &t1, "POST", "register", None).expect(200);
    ts.launches()[0].1.finished(Ok(()));
    agent(&ts, "n1", &t1, "POST", "report", Some(json!({ "outcome": "success", "image": "rocky", "version": 1, "session": s1 }))).expect(200);
    let (t2, _) = reimaging(&ts, "n2", 2, json!({ "name": "rocky" }));
    agent(&ts, "n2", &t2, "POST", "register", None).expect(200);
    let before = ts.get("/api/v1/transfers").json();
    assert_eq!((before[0]["state"]["state"].as_str(), before[1]["state"]["state"].as_str()), (Some("finished"), Some("running")));

    ts.restart();
    let after = ts.get("/api/v1/transfers").json();
    assert_eq!(after.as_array().unwrap().len(), 2);
    assert_eq!(after[0], before[0], "the finished session as it ended");
    assert_eq!(after[0]["receivers"]["n1"]["state"], "done");
    assert_eq!(after[1]["state"], json!({ "state": "failed", "reason": INTERRUPTED }), "its sender ended with the old process");
    assert_eq!(after[1]["receivers"], before[1]["receivers"]);
}

#[test]
fn a_new_server_is_healthy_only_once_a_probe_says_so() {
    let ts = TestServer::start();
    let add = |body: Value| ts.send("POST", "/api/v1/servers", body).expect(201).json()["healthy"].clone();
    assert_eq!(add(json!({ "url": dead_server() })), false, "nothing answers: not chosen until a probe succeeds");
    assert_eq!(add(json!({ "url": live_server() })), true);
    assert_eq!(add(json!({ "url": dead_server(), "healthy": true })), true, "the operator's word is taken");
    let r = ts.send("POST", "/api/v1/servers", json!({ "url": "http://user:secret@127.0.0.1:9001/images" })).expect(422);
    assert!(r.error().starts_with("server URLs with credentials"), "{}", r.error());
    assert!(!ts.get("/api/v1/servers").body.contains("secret"));
}

#[test]
fn macs_no_machine_has_are_refused() {
    let ts = TestServer::start();
    for (bad, kind) in [("ff:ff:ff:ff:ff:ff", "broadcast"), ("00:00:00:00:00:00", "all-zero"), ("01:00:5e:00:00:01", "multicast")] {
        let r = ts.send("POST", "/api/v1/nodes", json!({ "name": "n1", "macs": [bad] })).expect(422);
        assert!(r.error().contains(&format!("{kind} addresses belong to no single machine")), "{}", r.error());
        let script = ts.boot(bad);
        assert!(script.contains(&format!("{kind} addresses belong to no single machine")), "firmware gets a script that says why: {script}");
        assert!(kernel_arg(&script, "fountain.mode").is_none(), "and boots nothing");
    }
    assert_eq!(ts.get("/api/v1/nodes").json(), json!([]));
    assert_eq!(ts.get("/api/v1/discovered").json(), json!({ "discovered": [] }));
}

#[test]
fn the_cli_removes_what_it_can_and_a_failed_image_add_leaves_nothing() {
    let ts = server_with_rocky(10, 3);
    let err = try_fountain(&ts, &["image", "add", "fresh", "--artifact", "fresh/none.img", "--manifest", "fresh/none.manifest"]).unwrap_err();
    assert!(err.to_string().contains("fresh/none.img"), "{err}");
    ts.get("/api/v1/images/fresh").expect(404);

    ts.add_node(json!({ "name": "n1", "macs": [mac(1)], "image": { "name": "rocky", "version": 1 }, "layout": "l" }));
    let server = ts.send("POST", "/api/v1/servers", json!({ "url": "http://127.0.0.1:9001", "healthy": true })).expect(201).json()["id"].to_string();
    let refused = try_fountain(&ts, &["layout", "delete", "l"]).unwrap_err();
    assert!(refused.to_string().contains("layout l is assigned to node(s) n1 (HTTP 409)"), "{refused}");
    for args in [&["image", "delete", "rocky", "--version", "2"][..], &["node", "delete", "n1"], &["layout", "delete", "l"], &["image", "delete", "rocky"], &["server", "delete", &server]] {
        assert_eq!(fountain(&ts, args), ExitCode::SUCCESS, "{args:?}");
    }
    for list in ["/api/v1/nodes", "/api/v1/images", "/api/v1/layouts", "/api/v1/servers"] {
        assert_eq!(ts.get(list).json(), json!([]), "{list}");
    }
    ts.boot("02:00:00:00:00:09");
    assert_eq!(fountain(&ts, &["node", "discovered", "--limit", "1"]), ExitCode::SUCCESS);
}
