//! Issue 6's namespace test: fountain moves a file to 3 receivers through a bridge with 2% nftables loss
//! at each receiver's ingress, and every copy is byte-identical. Skips (and passes) only where network
//! namespaces cannot be built: not root, or no `ip`/`tc`/`nft`.

use benches::headtohead::netns::{self, Topology, TopologySpec};
use benches::headtohead::object::{ScratchDir, hash_file, write_random};
use benches::headtohead::tools::{self, Tool, Transfer};
use std::path::PathBuf;
use std::time::Duration;

/// Namespace prefix of this test (the harness uses `fh2h`).
const NETNS_PREFIX: &str = "fh2ht";
const RECEIVERS: usize = 3;
const LOSS: f64 = 0.02;
const OBJECT_BYTES: u64 = 48 << 20;
/// Fast enough to finish well inside the time limit, slow enough for a shared 2-core machine.
const RATE_BPS: u64 = 300_000_000;
const TIME_LIMIT: Duration = Duration::from_secs(25);

/// The fountain binary: `FOUNTAIN_BIN`, else the one built beside this test's target directory.
fn fountain_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("FOUNTAIN_BIN") {
        return Some(path.into());
    }
    // target/<profile>/deps/namespace-HASH -> target/<profile>/fountain
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let candidate = profile_dir.join("fountain");
    candidate.exists().then_some(candidate)
}

#[test]
fn fountain_moves_a_file_to_three_receivers_through_a_lossy_bridge() {
    if let Some(reason) = netns::unavailable_reason() {
        println!("SKIPPED namespace test: network namespaces cannot be created here: {reason}");
        return;
    }
    let fountain = fountain_binary().expect(
        "the fountain binary was not found next to this test (run `cargo test --workspace`, which builds it, or set FOUNTAIN_BIN)",
    );
    let scratch = ScratchDir::create(std::path::Path::new("/dev/shm"), &format!("{NETNS_PREFIX}-{}", std::process::id())).unwrap();
    let source = scratch.path().join("object");
    let expected = write_random(&source, OBJECT_BYTES, 2).unwrap();
    let spec = TopologySpec { receivers: RECEIVERS, rate_bps: Some(RATE_BPS), loss: LOSS, ceiling_bps: None };
    let topology = Topology::build(NETNS_PREFIX, spec).expect("building the namespace network");
    let transfer = Transfer {
        topology: &topology,
        source: &source,
        work_dir: scratch.path(),
        rate_bps: Some(RATE_BPS),
        time_limit: TIME_LIMIT,
        fountain: &fountain,
        fountain_send_args: &[],
    };
    let outcome = tools::run(Tool::Fountain, &transfer).unwrap_or_else(|e| {
        let logs: Vec<String> = std::fs::read_dir(scratch.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .map(|e| format!("--- {}\n{}", e.path().display(), std::fs::read_to_string(e.path()).unwrap_or_default()))
            .collect();
        panic!("transfer failed: {e:#}\n{}", logs.join("\n"))
    });
    assert_eq!(outcome.copies.len(), RECEIVERS, "every receiver wrote a copy");
    for copy in &outcome.copies {
        assert_eq!(hash_file(copy).unwrap(), expected, "{} differs from the source", copy.display());
    }
    println!("{RECEIVERS} receivers, {}% loss: {:.2} s, {:.2} CPU s", LOSS * 100.0, outcome.seconds, outcome.cpu_seconds);
}
