//! Issue 16's boot storm: 200 stateless nodes (the real `fountain fetch` download, as processes in
//! 20 namespaces, 10 per namespace) against 4 image servers (separate processes), the first killed
//! once 30% of the bytes are stored: every node finishes, every copy verifies, nodes failed over,
//! and two-choices leaves the busiest server fewer nodes than uniform choice. The same storm against
//! the control plane alone runs too (its time is the benchmark's business, `storm` in benches/), and
//! one with the stateless agent's own download, where the 200 nodes boot in one window and all get
//! the image from one multicast session.
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
        // Slow enough that downloads outlast starting 200 processes on a loaded machine, so the
        // killed server has downloads in flight.
        rate_bps: 100_000_000,
        kill_at: 0.3,
        time_limit: Duration::from_secs(120),
        parallel: 2,
        server_dir: None,
    };
    let mut storm = Storm::prepare(NETNS_PREFIX, spec, &fountain_binary(), |p| write_random(p, 2 << 20, 16)).unwrap_or_else(|e| panic!("preparing the storm: {e:#}"));
    let outcomes = run_modes(&mut storm, &[Mode::TwoChoices, Mode::Uniform, Mode::OneServer, Mode::Multicast]).unwrap_or_else(|e| panic!("{e:#}"));
    println!("{}", summary(&outcomes));
    for o in &outcomes {
        assert_eq!(o.verified, 200, "{}: every node's copy verifies; failures: {:#?}", o.mode, &o.failures[..o.failures.len().min(3)]);
    }
    let (two, uniform) = (&outcomes[0], &outcomes[1]);
    for o in [two, uniform] {
        assert!(o.killed, "{}: an image server was killed mid-storm", o.mode);
        assert!(o.failed_over_mid_download > 0, "{}: nodes of the killed server moved to another mid-download, keeping their blocks", o.mode);
        assert_eq!(o.assigned.iter().sum::<u64>(), 200, "{}: every node was given a server: {:?}", o.mode, o.assigned);
    }
    assert!(two.max_assigned() < uniform.max_assigned(), "two-choices busiest {:?} vs uniform {:?}", two.assigned, uniform.assigned);
    let multicast = &outcomes[3];
    assert_eq!(multicast.by_multicast, 200, "booting together, every node got its image from one multicast session");
    for o in &outcomes[..3] {
        assert_eq!(o.by_multicast, 0, "{}: HTTP only", o.mode);
    }
}

/// Over 4 GiB, so every offset, size and count on the path must be 64-bit.
const LARGE_BYTES: u64 = (4 << 30) + (512 << 20);

/// A sparse image of [`LARGE_BYTES`] with random bytes across the 4 GiB boundary and at the end;
/// returns its blake3.
fn large_image(path: &std::path::Path) -> std::io::Result<blake3::Hash> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::File::create(path)?;
    f.set_len(LARGE_BYTES)?;
    let mut bytes = vec![0u8; 1 << 20];
    for (i, offset) in [(4u64 << 30) - (512 << 10), LARGE_BYTES - (1 << 20)].into_iter().enumerate() {
        rand::RngCore::fill_bytes(&mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(i as u64), &mut bytes);
        f.seek(SeekFrom::Start(offset))?;
        f.write_all(&bytes)?;
    }
    f.sync_all()?;
    benches::headtohead::object::hash_file(path)
}

/// Bytes of memory available now, from /proc/meminfo.
fn mem_available() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    info.lines().find_map(|l| l.strip_prefix("MemAvailable:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// Bytes free on the filesystem of `dir`, from `df`.
fn disk_available(dir: &std::path::Path) -> u64 {
    let out = std::process::Command::new("df").arg("-Pk").arg(dir).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    out.lines().nth(1).and_then(|l| l.split_whitespace().nth(3)).and_then(|k| k.parse::<u64>().ok()).unwrap_or(0) * 1024
}

#[test]
fn an_image_over_4_gib_boots_through_an_image_server_into_ram() {
    if let Some(reason) = netns::unavailable_reason() {
        println!("SKIPPED large-image test: network namespaces cannot be created here: {reason}");
        return;
    }
    // The node's copy lives in RAM (/dev/shm); the control plane's image is sparse; the image
    // server's verified copy (written whole) goes to disk under the temporary folder.
    if mem_available() < LARGE_BYTES + (2 << 30) {
        println!("SKIPPED large-image test: {} bytes of memory available, a node needs {LARGE_BYTES} plus headroom", mem_available());
        return;
    }
    let server_dir = benches::headtohead::object::ScratchDir::create(&std::env::temp_dir(), &format!("fstl-servers-{}", std::process::id())).unwrap();
    if disk_available(server_dir.path()) < LARGE_BYTES + (2 << 30) {
        println!("SKIPPED large-image test: {} bytes free in {}, the image server's copy needs {LARGE_BYTES} plus headroom", disk_available(server_dir.path()), server_dir.path().display());
        return;
    }
    let spec = StormSpec {
        nodes: 1,
        node_hosts: 1,
        image_servers: 1,
        object_bytes: LARGE_BYTES,
        rate_bps: 20_000_000_000,
        kill_at: 2.0,
        time_limit: Duration::from_secs(600),
        parallel: 4,
        server_dir: Some(server_dir.path().to_path_buf()),
    };
    let mut storm = Storm::prepare("fstl", spec, &fountain_binary(), large_image).unwrap_or_else(|e| panic!("preparing the storm: {e:#}"));
    // The control plane chooses the one image server; nothing is killed.
    let outcome = storm.run(Mode::TwoChoices).unwrap_or_else(|e| panic!("{e:#}"));
    println!("{}", summary(std::slice::from_ref(&outcome)));
    assert_eq!(outcome.verified, 1, "the node's {LARGE_BYTES}-byte copy is identical to the image: {:?}", outcome.failures);
    assert_eq!(outcome.assigned, [1], "the node was given the image server");
    assert!(!outcome.killed && outcome.failed_over == 0, "every byte came from the image server, none from the control plane");
}
