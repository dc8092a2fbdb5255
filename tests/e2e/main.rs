//! End-to-end tests: real loopback multicast, real files, real `fountain` processes.

mod fetch;
mod forged;
mod logs;
mod loopback;
mod peers;
mod resume;
mod ticket_wait;

use rand::{RngCore, SeedableRng};
use std::path::Path;
use std::time::{Duration, Instant};

/// The address in `fountain serve`'s start-up banner, when `line` is that banner (warnings about
/// missing boot files may come before it).
pub fn serve_url(line: &str) -> Option<String> {
    line.strip_prefix("fountain control plane on ")?.split_whitespace().find(|w| w.starts_with("http://")).map(str::to_string)
}

/// Writes `len` seeded random bytes to `path`.
pub fn random_file(path: &Path, len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0; len];
    rand_chacha::ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut data);
    std::fs::write(path, &data).unwrap();
    data
}

/// A multicast group on a port no other test uses.
pub fn group(port: u16) -> std::net::SocketAddrV4 {
    std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(239, 255, 71, 1), port)
}

/// Waits (bounded) until `path` exists and holds at least `len` bytes.
pub fn wait_for_len(path: &Path, len: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    while std::fs::metadata(path).map_or(0, |m| m.len()) < len {
        assert!(Instant::now() < deadline, "{} never reached {len} bytes", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}
