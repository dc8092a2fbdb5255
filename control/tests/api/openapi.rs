//! The OpenAPI description and the router agree: every documented operation reaches a handler.
use crate::util::{Body, TestServer};

#[test]
fn every_documented_operation_is_routed() {
    let ts = TestServer::start();
    let doc = ts.request("GET", "/openapi.json", None, Body::None).expect(200).json();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20);
    for (path, ops) in paths {
        let concrete = path.replace("{name}", "x").replace("{id}", "1").replace("{file}", "vmlinuz").replace("{image}", "x").replace("{version}", "1").replace("{index}", "0");
        for method in ops.as_object().unwrap().keys() {
            let r = ts.request(&method.to_uppercase(), &concrete, Some(&ts.admin), Body::None);
            assert_ne!(r.status, 405, "{method} {path} is documented but not routed");
            assert!(!r.body.contains("route not found"), "{method} {path} is documented but not routed");
        }
    }
}
