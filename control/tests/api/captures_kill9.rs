//! kill -9 during a capture: a child process runs a control plane and captures a node tree into it,
//! over and over, and is killed while a filesystem streams in, while the artifact is packed, while it
//! is stored, and just after a version appears. Afterwards the image store verifies clean and lists
//! only whole versions, and the next server start removes the capture it left staged.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use control::auth::Secret;
use control::capture::capture_node;
use control::capture::staging::CAPTURES_DIR;
use control::client::Client;
use control::serve::{ServeConfig, Server};
use image::meta::Source;
use image::store::Store;
use testkit::{check_store, start_child, wait_for};

use crate::captures::node_tree;
use crate::util::RecordingLauncher;

/// Set in the child's environment: the folder holding `data` (the server's) and `node` (captured).
const CHILD_DIR_ENV: &str = "CONTROL_CAPTURE_KILL9_DIR";
/// Captures the child makes before it stops by itself, in case nobody kills it.
const CHILD_CAPTURES: usize = 20;
/// How long the parent waits for the child to reach a kill point.
const WAIT: Duration = Duration::from_secs(120);
/// Incompressible bytes added to the node, so that each step lasts long enough to be caught.
const BIG_BYTES: usize = 24 << 20;

/// A control plane on `data`, as `fountain serve` starts one; returns it with its admin token.
fn serve(rt: &tokio::runtime::Runtime, data: &Path) -> (Server, String) {
    let server = rt.block_on(Server::start(ServeConfig::loopback(data.to_owned(), 1), Arc::new(RecordingLauncher::default()))).unwrap();
    let admin = std::fs::read_to_string(data.join("admin.token")).unwrap().trim().to_owned();
    (server, admin)
}

/// The child: serves and captures until killed.
#[test]
#[ignore = "the child process of the capture kill -9 test; runs only when it starts it"]
fn capturing_child() {
    let dir = PathBuf::from(std::env::var_os(CHILD_DIR_ENV).expect("run by the kill -9 test"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (server, admin) = serve(&rt, &dir.join("data"));
    let client = Client::new(&format!("http://{}", server.addr()), Secret::new(admin));
    let plan = image::capture::plan_node(&dir.join("node"), &[]).unwrap();
    for _ in 0..CHILD_CAPTURES {
        capture_node(&client, "captured", "node1", &plan, None).unwrap();
    }
}

/// The staging folders of captures under `data`.
fn staged(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data.join(CAPTURES_DIR)).map_or(Vec::new(), |d| d.flatten().map(|e| e.path()).collect())
}

fn versions(data: &Path) -> usize {
    Store::open(data.join("store")).unwrap().versions(Some("captured")).unwrap().len()
}

#[test]
fn a_capture_killed_at_any_point_leaves_the_store_valid_and_its_staging_cleaned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let node = node_tree(dir);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let big: Vec<u8> = (0..BIG_BYTES).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }).collect();
    std::fs::write(node.join("srv/big"), big).unwrap();
    let data = dir.join("data");
    let out = dir.join("materialised");
    let mut left_staged = 0;
    // Kill points: the big file streaming into the staging root, mksquashfs writing the artifact,
    // the store taking the packed artifact, and a version just published.
    for (round, point) in ["root/srv/big", "artifact.partial", "artifact", "version"].into_iter().enumerate() {
        let before = versions(&data);
        let mut child = start_child("captures_kill9::capturing_child", [(CHILD_DIR_ENV, dir)]);
        match point {
            "version" => wait_for("a version", WAIT, || versions(&data) > before),
            rel => wait_for(rel, WAIT, || staged(&data).iter().any(|d| d.join(rel).exists()) || versions(&data) > before),
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let listed = check_store(&data.join("store"), "captured", &out, round, |v| {
            assert_eq!(v.meta.source, Source::Captured { node: "node1".into() });
        });
        left_staged += staged(&data).len();
        println!("round {round}: killed at {point}; {} versions listed, {} captures staged", listed.len(), staged(&data).len());
    }
    assert!(left_staged >= 1, "no kill ever caught a capture in progress");
    assert!(versions(&data) >= 1, "no capture ever finished");

    // A server starting on the data directory removes what the killed ones left staged, and captures
    // work on: the next version follows the last whole one.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (server, admin) = serve(&rt, &data);
    assert!(staged(&data).is_empty(), "staging left after a restart: {:?}", staged(&data));
    let client = Client::new(&format!("http://{}", server.addr()), Secret::new(admin));
    let plan = image::capture::plan_node(&node, &[]).unwrap();
    let before = versions(&data);
    let done = capture_node(&client, "captured", "node1", &plan, None).unwrap();
    assert_eq!(done.version as usize, before + 1);
    rt.block_on(server.shutdown()).unwrap();
}
