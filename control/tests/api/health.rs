//! Health probing of stateless servers against real listeners on loopback.
use std::io::{Read, Write};
use std::net::TcpListener;

use serde_json::json;

use crate::util::{TestServer, kernel_arg, mac};
use control::health::HealthTracker;

/// A listener that answers every connection with `200 OK`, for as long as the test runs.
pub fn live_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    url
}

/// A loopback URL nothing listens on.
pub fn dead_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[test]
fn probes_take_a_dead_server_out_and_bring_it_back() {
    let ts = TestServer::start();
    ts.publish("rocky");
    let (live, dead) = (live_server(), dead_server());
    ts.send("POST", "/api/v1/servers", json!({ "url": live })).expect(201);
    ts.send("POST", "/api/v1/servers", json!({ "url": dead, "healthy": true })).expect(201);
    ts.send("POST", "/api/v1/servers", json!({ "url": live_server(), "healthy": false })).expect(201);
    let health = || ts.get("/api/v1/servers").json().as_array().unwrap().iter().map(|s| s["healthy"].as_bool().unwrap()).collect::<Vec<_>>();
    let state = ts.state();
    let mut tracker = HealthTracker::default();

    state.check_health(&mut tracker).unwrap();
    assert_eq!(health(), [true, true, true], "one failed probe changes nothing; a live server comes back at once");
    state.check_health(&mut tracker).unwrap();
    assert_eq!(health(), [true, false, true], "two in a row take the dead one out");

    for i in 0..30 {
        ts.add_node(json!({ "name": format!("s{i}"), "macs": [mac(i)], "image": { "name": "rocky" }, "boot_mode": "stateless" }));
        assert_ne!(kernel_arg(&ts.boot(&mac(i)), "fountain.image_server").unwrap(), dead, "the pool was reloaded");
    }
}
