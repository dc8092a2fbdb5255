//! Issue 16's boot storm: 200 stateless nodes (the real `fountain fetch` download, as processes in
//! 20 namespaces, 10 per namespace) against 4 image servers (separate processes), the first killed
//! once 30% of the bytes are stored: every node finishes, every copy verifies, nodes failed over,
//! and two-choices leaves the busiest server fewer nodes than uniform choice. The same storm against
//! the control plane alone runs too (its time is the benchmark's business, `storm` in benches/).
//! Skips (and passes) only where network namespaces cannot be built.

use benches::headtohead::netns;
use benches::headtohead::object::write_random;
use benches::storm::{Mode, Storm, StormSpec, run_modes, summary};
use std::path::PathBuf;
use std::time::Duration;

/// Namespace prefix of this test.
const NETNS_PREFIX: &str = "fstt";

/// The fountain binary: `FOUNTAIN_BIN`, else the one built beside this test's target directory.
fn fountain_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FOUNTAIN_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().unwrap();
    let candidate = exe.parent().unwrap().parent().unwrap().join("fountain");
    assert!(candidate.exists(), "the fountain binary was not found next to this test (run `cargo build -p fountain` or set FOUNTAIN_BIN)");
    candidate
}

#[test]
fn two_hundred_nodes_boot_from_four_image_servers_one_killed() {
    if let Some(reason) = netns::unavailable_reason() {
        println!("SKIPPED storm test: network namespaces cannot be created here: {reason}");
        return;
    }
    let spec = StormSpec {
        nodes: 200,
        node_hosts: 20,
        image_servers: 4,
        object_bytes: 2 << 20,
        rate_bps: 400_000_000,
        kill_at: 0.3,
        time_limit: Duration::from_secs(120),
        parallel: 2,
    };
    let mut storm = Storm::prepare(NETNS_PREFIX, spec, &fountain_binary(), |p| write_random(p, 2 << 20, 16)).expect("preparing the storm");
    let outcomes = run_modes(&mut storm, &[Mode::TwoChoices, Mode::Uniform, Mode::OneServer]).expect("running the storms");
    println!("{}", summary(&outcomes));
    for o in &outcomes {
        assert_eq!(o.verified, 200, "{}: every node's copy verifies; failures: {:#?}", o.mode, &o.failures[..o.failures.len().min(3)]);
    }
    let (two, uniform) = (&outcomes[0], &outcomes[1]);
    for o in [two, uniform] {
        assert!(o.killed, "{}: an image server was killed mid-storm", o.mode);
        assert!(o.failed_over > 0, "{}: nodes of the killed server moved to another", o.mode);
        assert_eq!(o.assigned.iter().sum::<u64>(), 200, "{}: every node was given a server: {:?}", o.mode, o.assigned);
    }
    assert!(two.max_assigned() < uniform.max_assigned(), "two-choices busiest {:?} vs uniform {:?}", two.assigned, uniform.assigned);
}
