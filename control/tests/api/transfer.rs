//! The whole re-image over the real engine: the control plane gathers two nodes, starts an in-process
//! multicast sender, and each node's agent fetches its ticket over the authenticated agent API,
//! receives over loopback multicast, verifies and reports; the nodes then boot locally. Sessions that
//! cannot start, that nobody joins, or whose server shuts down end failed, and their agents are told.
use std::net::SocketAddrV4;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fec::{Manifest, ObjectLayout, SessionTicket};
use netio::MulticastOptions;
use rand::{Rng, SeedableRng};
use receiver::udp::{LossInjector, ReceiverIo};
use receiver::{Journal, ReceiverConfig, ReceiverSession, Target};
use serde_json::{Value, json};

use crate::util::{Body, TestServer, kernel_arg, mac};
use control::transfer::{DeliveryChoice, SessionState};
use receiver::fetch::{FetchConfig, ImageServer, missing_blocks};
use control::transfer::engine::{EngineConfig, MulticastLauncher};
use control::transfer::launcher::{NoEngine, TransferLauncher};

/// This test's own group and port, so it cannot hear another test's sender.
const GROUP: &str = "239.255.93.1:47931";
const IMAGE_BYTES: usize = 3 << 20;
/// Symbol size and block symbols small enough that a few MiB make many blocks.
const SYMBOL_BYTES: u16 = 1024;
const BLOCK_SYMBOLS: u32 = 256;
/// Loss injected at each receiver, so repair runs too.
const LOSS: f64 = 0.02;
const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn two_nodes_reimage_over_loopback_multicast() {
    let mut engine = EngineConfig::loopback(GROUP.parse::<SocketAddrV4>().unwrap());
    engine.rate_bps = 2_000_000_000;
    let ts = TestServer::start_launching(|c| c.max_receivers = 2, Some(Arc::new(MulticastLauncher::new(engine))));
    let image = publish_real_image(&ts);
    ts.put_layout("l", "good/bios-single.yaml").expect(201);
    let mut tokens = Vec::new();
    for i in 0..2 {
        ts.add_node(json!({ "name": format!("n{i}"), "macs": [mac(i)], "image": { "name": "rocky" }, "layout": "l", "next_boot": "reimage" }));
        tokens.push(kernel_arg(&ts.boot(&mac(i)), "fountain.token").unwrap());
    }

    let out = tempfile::tempdir().unwrap();
    std::thread::scope(|s| {
        for (i, token) in tokens.iter().enumerate() {
            let (ts, out, image) = (&ts, out.path(), &image);
            s.spawn(move || agent(ts, &format!("n{i}"), token, out, image, i as u64));
        }
    });

    let session = wait_for(&ts, |s| s["state"]["state"] != "running");
    assert_eq!(session["state"]["state"], "finished", "{session}");
    assert_eq!(session["receivers"], json!({ "n0": { "state": "done" }, "n1": { "state": "done" } }));
    for i in 0..2 {
        let node = ts.get(&format!("/api/v1/nodes/n{i}")).expect(200).json();
        assert_eq!(node["next_boot"], "local");
        assert_eq!(node["installed"]["version"], 1);
        assert!(ts.boot(&mac(i)).contains("\nexit\n"), "next boot is local");
    }
}

#[test]
fn one_node_alone_downloads_its_image_by_http_ranges() {
    let ts = TestServer::start_with(|c| c.delivery = DeliveryChoice::Auto);
    let image = publish_real_image(&ts);
    ts.put_layout("l", "good/bios-single.yaml").expect(201);
    ts.add_node(json!({ "name": "n0", "macs": [mac(0)], "image": { "name": "rocky" }, "layout": "l", "next_boot": "reimage" }));
    let token = kernel_arg(&ts.boot(&mac(0)), "fountain.token").unwrap();
    let base = "/api/v1/agent/nodes/n0";
    let registered = ts.request("POST", &format!("{base}/register"), Some(&token), Body::None).expect(200).json();
    assert_eq!(registered["delivery"], "unicast", "alone in its window (max_receivers 1)");
    assert!(ts.launches().is_empty(), "no sender");

    let server = ImageServer::new(&ts.url(), "n0", &token, &FetchConfig::default());
    let object = server.object("rocky", Some(1)).unwrap();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("n0.img");
    let target = Target::open(&path, *object.manifest.layout()).unwrap();
    let (mut journal, stored) = Journal::open(&out.path().join("n0.journal"), &object.manifest, &target).unwrap();
    let blocks = missing_blocks(&object.manifest, &stored);
    let mut done = 0u64;
    let stats = server.fetch(&object, &target, Some(&mut journal), &blocks, &FetchConfig::default(), |_| done += 1).unwrap();
    drop(target);
    assert_eq!((stats.blocks as usize, done as usize), (blocks.len(), blocks.len()));
    assert!(std::fs::read(&path).unwrap() == image, "n0 holds the image byte for byte");
    let total = object.manifest.layout().block_count();
    ts.request("POST", &format!("{base}/progress"), Some(&token), Body::Json(json!({ "blocks_done": total, "blocks_total": total }))).expect(200);

    let report = json!({ "outcome": "success", "image": "rocky", "version": 1, "session": registered["session"] });
    assert_eq!(ts.request("POST", &format!("{base}/report"), Some(&token), Body::Json(report)).expect(200).json()["next_boot"], "local");
    let session = wait_for(&ts, |s| s["state"]["state"] != "running");
    assert_eq!((&session["state"]["state"], &session["delivery"], &session["receivers"]["n0"]["state"]), (&json!("finished"), &json!("unicast"), &json!("done")));
}

/// One node's agent: register, wait for the ticket, receive, verify, report.
fn agent(ts: &TestServer, name: &str, token: &str, out: &Path, image: &[u8], seed: u64) {
    let base = format!("/api/v1/agent/nodes/{name}");
    let registered = ts.request("POST", &format!("{base}/register"), Some(token), Body::None).expect(200).json();
    let grant = if registered["transfer"].is_object() {
        registered["transfer"].clone()
    } else {
        poll(|| Some(ts.request("GET", &format!("{base}/config"), Some(token), Body::None).expect(200).json()["transfer"].clone()).filter(Value::is_object))
    };
    assert_eq!(grant["session"], registered["session"]);
    let ticket = SessionTicket::decode(&unhex(grant["ticket"].as_str().unwrap())).unwrap();
    assert!(ticket.key.is_some(), "sessions tag their packets");
    let receiver_id = grant["receiver_id"].as_u64().unwrap();

    let path = out.join(format!("{name}.img"));
    let layout = *ticket.manifest.layout();
    let target = Target::open(&path, layout).unwrap();
    let (mut journal, stored) = Journal::open(&out.join(format!("{name}.journal")), &ticket.manifest, &target).unwrap();
    let multicast = MulticastOptions::default();
    let data = netio::bind_group(ticket.group, multicast).unwrap();
    let feedback = netio::bind_feedback(multicast).unwrap();
    let mut config = ReceiverConfig::new(ticket.session_id, receiver_id);
    config.key = ticket.key.clone();
    let mut session = ReceiverSession::new(config, ticket.manifest.clone(), stored);
    let io = ReceiverIo { data: &data, feedback: &feedback, target: &target, journal: Some(&mut journal), loss: Some(LossInjector::new(LOSS, seed)) };
    receiver::udp::run(&mut session, io, |_| {}).unwrap();
    drop(target);
    assert!(std::fs::read(&path).unwrap() == image, "{name} holds the image byte for byte");

    let report = json!({ "outcome": "success", "image": "rocky", "version": 1, "session": registered["session"] });
    ts.request("POST", &format!("{base}/report"), Some(token), Body::Json(report)).expect(200);
}

/// Writes a random image and its manifest under the data directory and publishes them as rocky v1.
fn publish_real_image(ts: &TestServer) -> Vec<u8> {
    let mut image = vec![0u8; IMAGE_BYTES];
    rand::rngs::StdRng::seed_from_u64(7).fill(&mut image[..]);
    let layout = ObjectLayout::new(IMAGE_BYTES as u64, SYMBOL_BYTES, BLOCK_SYMBOLS).unwrap();
    let manifest = Manifest::hash_object(layout, &image[..]).unwrap();
    let dir = ts.dir.path().join("images/rocky/1");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("root.img"), &image).unwrap();
    std::fs::write(dir.join("root.manifest"), manifest.encode()).unwrap();
    ts.send("POST", "/api/v1/images", json!({ "name": "rocky" })).expect(201);
    ts.send("POST", "/api/v1/images/rocky/versions", json!({ "artifact": "rocky/1/root.img", "manifest": "rocky/1/root.manifest" })).expect(201);
    image
}

/// The only transfer session, once `done` says it has got where the test waits for.
fn wait_for(ts: &TestServer, done: impl Fn(&Value) -> bool) -> Value {
    poll(|| {
        let sessions = ts.get("/api/v1/transfers").expect(200).json();
        assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
        Some(sessions[0].clone()).filter(|s| done(s))
    })
}

fn poll<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

/// Two nodes set to re-image `rocky` with their boot-script tokens, on a server that closes a window
/// at two registrations and launches with `launcher`.
fn two_reimaging_nodes(launcher: Arc<dyn TransferLauncher>) -> (TestServer, Vec<String>) {
    let ts = TestServer::start_launching(|c| c.max_receivers = 2, Some(launcher));
    ts.publish("rocky");
    ts.put_layout("l", "good/bios-single.yaml").expect(201);
    let tokens = (0..2)
        .map(|i| {
            ts.add_node(json!({ "name": format!("n{i}"), "macs": [mac(i)], "image": { "name": "rocky" }, "layout": "l", "next_boot": "reimage" }));
            kernel_arg(&ts.boot(&mac(i)), "fountain.token").unwrap()
        })
        .collect();
    (ts, tokens)
}

#[test]
fn a_session_whose_sender_cannot_start_fails_its_nodes_and_tells_their_agents() {
    let (ts, tokens) = two_reimaging_nodes(Arc::new(NoEngine));
    let first = ts.request("POST", "/api/v1/agent/nodes/n0/register", Some(&tokens[0]), Body::None).expect(200).json();
    assert!(first.get("transfer_error").is_none(), "still gathering: {first}");
    let second = ts.request("POST", "/api/v1/agent/nodes/n1/register", Some(&tokens[1]), Body::None).expect(200).json();
    let reason = "transfer session failed: the sender could not start: no multicast sender is available: this build has no multicast engine wired into the control plane";
    assert_eq!(second["transfer_error"], reason, "{second}");
    let config = ts.request("GET", "/api/v1/agent/nodes/n0/config", Some(&tokens[0]), Body::None).expect(200).json();
    assert_eq!((&config["transfer"], &config["transfer_error"]), (&Value::Null, &json!(reason)), "the waiting agent learns it too");
    let session = wait_for(&ts, |s| s["state"]["state"] != "running");
    assert_eq!(session["state"]["state"], "failed");
    assert_eq!(session["receivers"], json!({ "n0": { "state": "failed", "reason": reason }, "n1": { "state": "failed", "reason": reason } }));
}

/// A real engine on this test's own group, giving a session up when nobody joins within `first_join`.
fn engine(port: u16, first_join: Duration) -> Arc<dyn TransferLauncher> {
    let group = SocketAddrV4::new("239.255.93.3".parse().unwrap(), port);
    Arc::new(MulticastLauncher::new(EngineConfig { first_join_timeout: first_join, ..EngineConfig::loopback(group) }))
}

/// Registers both nodes, which starts the session's sender; nobody joins it.
fn start_unjoined_session(ts: &TestServer, tokens: &[String]) {
    for (i, token) in tokens.iter().enumerate() {
        ts.request("POST", &format!("/api/v1/agent/nodes/n{i}/register"), Some(token), Body::None).expect(200);
    }
    wait_for(ts, |s| s["state"]["state"] == "running");
}

#[test]
fn a_session_nobody_joins_is_given_up() {
    let (ts, tokens) = two_reimaging_nodes(engine(47_934, Duration::from_millis(300)));
    start_unjoined_session(&ts, &tokens);
    let session = wait_for(&ts, |s| s["state"]["state"] != "running");
    assert_eq!(session["state"], json!({ "state": "failed", "reason": "stopped: no node joined within 0.3 s" }), "{session}");
    let config = ts.request("GET", "/api/v1/agent/nodes/n1/config", Some(&tokens[1]), Body::None).expect(200).json();
    assert_eq!(config["transfer_error"], "never joined the multicast session");
}

#[test]
fn shutting_the_server_down_stops_its_senders() {
    let (mut ts, tokens) = two_reimaging_nodes(engine(47_935, Duration::from_secs(3600)));
    start_unjoined_session(&ts, &tokens);
    let before = ts.state();
    let started = Instant::now();
    ts.restart();
    assert!(started.elapsed() < PATIENCE, "shutdown waited for the sender");
    let status = control::sync::lock(&before.gatherer).status();
    assert_eq!(status[0].state, SessionState::Failed { reason: "stopped: the control plane shut down".into() }, "the sender thread has ended");
}
