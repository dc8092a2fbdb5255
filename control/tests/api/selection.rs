//! Stateless server selection through real boot requests: uniform random hits every healthy server
//! evenly (chi-square), never an unhealthy one, and two-choices keeps the busiest server lower in a
//! boot storm of 1,000 nodes over 4 servers.
use std::collections::BTreeMap;

use serde_json::json;

use crate::util::{TestServer, kernel_arg, mac};
use control::selection::Policy;

const STORM_NODES: usize = 1000;
const HEALTHY: usize = 4;
/// Chi-square critical value for 3 degrees of freedom at p = 0.001.
const CHI2_DF3_P001: f64 = 16.266;

/// Boots `STORM_NODES` stateless nodes once each and counts the servers their scripts name.
fn storm(policy: Policy) -> (TestServer, BTreeMap<String, usize>) {
    let ts = TestServer::start_with(|c| {
        c.policy = policy;
        c.seed = Some(42);
    });
    ts.publish("rocky");
    for i in 0..HEALTHY {
        ts.send("POST", "/api/v1/servers", json!({ "url": format!("http://127.0.0.1:{}", 9100 + i), "healthy": true })).expect(201);
    }
    ts.send("POST", "/api/v1/servers", json!({ "url": "http://127.0.0.1:9199", "healthy": false })).expect(201);
    for i in 0..STORM_NODES {
        ts.add_node(json!({ "name": format!("s{i}"), "macs": [mac(i)], "image": { "name": "rocky" }, "boot_mode": "stateless" }));
    }
    let mut hits = BTreeMap::new();
    for i in 0..STORM_NODES {
        *hits.entry(kernel_arg(&ts.boot(&mac(i)), "fountain.image_server").unwrap()).or_insert(0) += 1;
    }
    (ts, hits)
}

#[test]
fn uniform_is_even_two_choices_is_flatter_and_unhealthy_is_never_chosen() {
    let (uniform_ts, uniform) = storm(Policy::Random);
    let (two_ts, two) = storm(Policy::TwoChoices);
    for hits in [&uniform, &two] {
        assert!(!hits.contains_key("http://127.0.0.1:9199"), "unhealthy server chosen: {hits:?}");
        assert_eq!(hits.len(), HEALTHY, "every healthy server is hit: {hits:?}");
    }
    let expected = STORM_NODES as f64 / HEALTHY as f64;
    let chi2: f64 = uniform.values().map(|&o| (o as f64 - expected).powi(2) / expected).sum();
    assert!(chi2 < CHI2_DF3_P001, "uniform is not uniform: chi2 = {chi2:.2}, {uniform:?}");

    let max_uniform = *uniform.values().max().unwrap();
    let max_two = *two.values().max().unwrap();
    eprintln!("boot storm, {STORM_NODES} nodes over {HEALTHY} servers: max load uniform {max_uniform}, two-choices {max_two} (mean {expected})");
    assert!(max_two < max_uniform, "two-choices {two:?} vs uniform {uniform:?}");
    assert!(max_two as f64 <= expected + 2.0, "two-choices stays within 2 of the mean: {two:?}");

    // The loads the server reports are the assignments it handed out.
    for (ts, hits) in [(&uniform_ts, &uniform), (&two_ts, &two)] {
        for s in ts.get("/api/v1/servers").json().as_array().unwrap() {
            let url = s["url"].as_str().unwrap();
            assert_eq!(s["load"].as_u64().unwrap() as usize, hits.get(url).copied().unwrap_or(0), "{url}");
        }
    }
}

#[test]
fn a_rebooting_node_gives_back_its_old_assignment() {
    let ts = TestServer::start();
    ts.publish("rocky");
    for i in 0..2 {
        ts.send("POST", "/api/v1/servers", json!({ "url": format!("http://127.0.0.1:{}", 9100 + i), "healthy": true })).expect(201);
    }
    ts.add_node(json!({ "name": "s", "macs": [mac(1)], "image": { "name": "rocky" }, "boot_mode": "stateless" }));
    for _ in 0..10 {
        ts.boot(&mac(1));
    }
    let total: u64 = ts.get("/api/v1/servers").json().as_array().unwrap().iter().map(|s| s["load"].as_u64().unwrap()).sum();
    assert_eq!(total, 1);
}
