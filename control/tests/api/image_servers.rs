//! Image servers: a copy pulled from the control plane and verified, served to a node under its own
//! token (checked at the control plane), the node's server list from the servers route, and a node
//! that moves on when the image server is gone.
use std::time::{Duration, Instant};

use control::http::ConnectionLimits;
use control::image_server::{ImageServer, ImageServerConfig};
use rand::{RngCore, SeedableRng};
use receiver::Target;
use receiver::fetch::{FetchConfig, missing_blocks};
use receiver::fetch_mirrors::Assignment;
use serde_json::json;

use crate::util::{TestServer, mac, write_image};

const IMAGE_BYTES: usize = 1 << 20;

#[test]
fn image_server_serves_a_verified_copy_and_nodes_fail_over_to_the_control_plane() {
    let ts = TestServer::start();
    let mut data = vec![0u8; IMAGE_BYTES];
    rand::rngs::StdRng::seed_from_u64(16).fill_bytes(&mut data);
    let dir = ts.dir.path().join("images/rocky/1");
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = write_image(&dir.join("root.img"), &dir.join("root.manifest"), &data);
    ts.send("POST", "/api/v1/images", json!({ "name": "rocky" })).expect(201);
    ts.send("POST", "/api/v1/images/rocky/versions", json!({ "artifact": "rocky/1/root.img", "manifest": "rocky/1/root.manifest" })).expect(201);
    ts.add_node(json!({ "name": "n0", "macs": [mac(0)], "image": { "name": "rocky" }, "boot_mode": "stateless" }));
    let state = ts.state();
    let token = state.auth.node_token("n0", state.store.token_generation("n0").unwrap()).expose().to_string();

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let copies = tempfile::tempdir().unwrap();
    let config = ImageServerConfig {
        data_dir: copies.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: ts.url(),
        token: ts.server_token(),
        carry: vec!["rocky@1".parse().unwrap()],
        parallel_requests: 2,
        limits: ConnectionLimits::default(),
    };
    let server = rt.block_on(ImageServer::start(config)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.ready() {
        assert!(Instant::now() < deadline, "the copy was not pulled in time: {:?}", server.health().copies);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read(copies.path().join("rocky@1.img")).unwrap(), data, "the copy is the image");
    let url = format!("http://{}", server.addr());
    ts.send("POST", "/api/v1/servers", json!({ "url": url, "healthy": true })).expect(201);

    // The node asks for its servers: the image server, then the control plane.
    let config = FetchConfig { parallel_requests: 2, ..FetchConfig::default() };
    let assignment = Assignment::ask(&ts.url(), "n0", &token, &config).unwrap();
    assert_eq!((assignment.image.as_str(), assignment.version), ("rocky", 1));
    assert_eq!(assignment.servers, vec![url.clone(), ts.url()]);
    let mirrors = assignment.mirrors("n0", &token, &config);
    let fetch_into = |path: &std::path::Path| {
        let (object, first) = mirrors.object("rocky", Some(1)).unwrap();
        assert_eq!(object.manifest.encode(), manifest.encode());
        let target = Target::open(path, *object.manifest.layout()).unwrap();
        let stats = mirrors.fetch(&object, &target, None, &missing_blocks(&object.manifest, &[]), first, |_| {}).unwrap();
        (first, stats)
    };
    let out = tempfile::tempdir().unwrap();
    let (first, stats) = fetch_into(&out.path().join("a"));
    assert_eq!((first, stats.finished_on, stats.failovers.len()), (0, 0, 0), "all from the image server");
    assert_eq!(std::fs::read(out.path().join("a")).unwrap(), data);
    let load = server.health().load;
    assert_eq!(load.bytes_served, IMAGE_BYTES as u64, "every byte came from the image server: {load:?}");

    // Another node's token, or none, gets nothing from the image server.
    let path = format!("{url}/api/v1/agent/nodes/n0/images/rocky/versions/1/object");
    let status = |r: Result<ureq::Response, ureq::Error>| match r {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(status(ureq::get(&path).set("Authorization", "Bearer 00").call()), 401);
    assert_eq!(status(ureq::get(&path).call()), 401);
    assert_eq!(status(ureq::get(&format!("{url}/api/v1/agent/nodes/n0/images/rocky/versions/2/object")).set("Authorization", &format!("Bearer {token}")).call()), 404);

    // The image server goes away: the same node finishes from the control plane.
    rt.block_on(server.shutdown()).unwrap();
    let (first, stats) = fetch_into(&out.path().join("b"));
    assert_eq!((first, stats.finished_on), (1, 1), "moved to the control plane");
    assert_eq!(std::fs::read(out.path().join("b")).unwrap(), data);
}
