//! Boot-script throughput: 10,000 nodes fetch their iPXE scripts from a real server over loopback.
//!
//! `cargo bench -p control --bench boot_storm [-- --nodes N --connections C --rounds R]` (under `cargo
//! test --benches` it runs a 300-node smoke version instead).
//!
//! Each round every node asks for its script once, in random order, over `C` keep-alive HTTP/1.1
//! connections (a minimal client, so the figure is the server's and not a client library's). Two node
//! mixes: all booting from local disk (a read), and a third each local / re-image (joins a gathering
//! window, mints a token) / stateless (picks a server by two-choices and records the assignment).
//! A third run asks for `/healthz` instead, the cost of HTTP alone on this machine. Client and server
//! share the machine's cores, so the figures are a floor. Prints one line and one JSON line per mix.
use std::sync::Arc;
use std::time::{Duration, Instant};

use control::layout::LAYOUT_MAX_BYTES;
use control::node::{BootMode, ImageRef, NewNode, NextBoot, NodeConfig};
use control::serve::{ServeConfig, Server};
use control::stateless::NewServer;
use control::store::images::VersionFiles;
use control::transfer::launcher::NoEngine;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const LAYOUT: &str = "bootloader: bios\ndisks:\n  - id: sda\n    match: { path: /dev/sda }\n    partitions:\n      - { id: grub, size: 1M, flags: [bios_grub] }\n      - { id: root, size: rest, fs: ext4, mount: / }\n";

struct Args {
    nodes: usize,
    connections: usize,
    rounds: usize,
}

/// The full run under `cargo bench` (which passes `--bench`); a quick smoke run when `cargo test
/// --benches` or `--all-targets` runs this binary only to see that it works.
fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let mut a = if argv.iter().any(|a| a == "--bench") {
        Args { nodes: 10_000, connections: 32, rounds: 5 }
    } else {
        Args { nodes: 300, connections: 4, rounds: 1 }
    };
    for pair in argv.windows(2) {
        let v = || pair[1].parse().expect("a number");
        match pair[0].as_str() {
            "--nodes" => a.nodes = v(),
            "--connections" => a.connections = v(),
            "--rounds" => a.rounds = v(),
            _ => {}
        }
    }
    a
}

fn mac(i: usize) -> String {
    format!("52:54:00:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)
}

/// Fills the store: one image, one layout, four stateless servers, `n` nodes of the given mix.
/// Which requests a run makes.
#[derive(Clone, Copy, PartialEq)]
enum Mix {
    /// `/healthz` on the same connections: the HTTP floor the boot figures compare to.
    Floor,
    /// Every node boots from local disk.
    Local,
    /// A third each local, re-image and stateless.
    Mixed,
}

impl Mix {
    fn name(self) -> &'static str {
        match self {
            Mix::Floor => "floor",
            Mix::Local => "local",
            Mix::Mixed => "mixed",
        }
    }
}

fn populate(server: &Server, n: usize, mixed: bool) {
    let store = &server.state().store;
    let files = VersionFiles { artifact: "rocky/1/root.img".into(), manifest: "rocky/1/manifest".into(), artifact_bytes: 0, manifest_blake3: "0".repeat(64) };
    store.publish("rocky", &files, true).unwrap();
    assert!(LAYOUT.len() < LAYOUT_MAX_BYTES);
    control::layout::parse(LAYOUT).unwrap();
    store.put_layout("simple", LAYOUT, false).unwrap();
    for i in 0..4 {
        store.add_server(&NewServer { url: format!("http://127.0.0.1:{}", 9100 + i), weight: 1, healthy: None }, true).unwrap();
    }
    server.state().reload_pool().unwrap();
    for i in 0..n {
        let (boot_mode, next_boot) = match (mixed, i % 3) {
            (true, 1) => (BootMode::Stateful, NextBoot::Reimage),
            (true, 2) => (BootMode::Stateless, NextBoot::Stateless),
            _ => (BootMode::Stateful, NextBoot::Local),
        };
        let node = NewNode {
            name: format!("node{i:05}"),
            macs: vec![mac(i).parse().unwrap()],
            groups: vec![],
            image: Some(ImageRef { name: "rocky".into(), version: None }),
            layout: Some("simple".into()),
            boot_mode,
            next_boot: Some(next_boot),
            config: NodeConfig::default(),
        };
        store.insert_node(&node.into_node().unwrap()).unwrap();
    }
}

/// One keep-alive connection asking for each MAC in `macs` in turn; returns per-request latencies.
async fn client(addr: std::net::SocketAddr, macs: Vec<String>, mix: Mix) -> Vec<Duration> {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut stream = BufReader::new(stream);
    let mut latencies = Vec::with_capacity(macs.len());
    let mut line = String::new();
    let mut body = Vec::new();
    for mac in macs {
        let start = Instant::now();
        let req = match mix {
            Mix::Floor => "GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n".to_string(),
            Mix::Local | Mix::Mixed => format!("GET /boot/ipxe?mac={mac} HTTP/1.1\r\nHost: bench\r\n\r\n"),
        };
        stream.get_mut().write_all(req.as_bytes()).await.unwrap();
        let mut length = 0;
        line.clear();
        stream.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        loop {
            line.clear();
            stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        body.resize(length, 0);
        stream.read_exact(&mut body).await.unwrap();
        assert!(mix == Mix::Floor || body.starts_with(b"#!ipxe"));
        latencies.push(start.elapsed());
    }
    latencies
}

fn run_mix(args: &Args, mix: Mix) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let config = ServeConfig::loopback(dir.path().to_path_buf(), usize::MAX);
    let server = rt.block_on(Server::start(config, Arc::new(NoEngine))).unwrap();
    populate(&server, args.nodes, mix == Mix::Mixed);
    let addr = server.addr();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut order: Vec<String> = Vec::with_capacity(args.nodes * args.rounds);
    for _ in 0..args.rounds {
        let mut round: Vec<String> = (0..args.nodes).map(mac).collect();
        round.shuffle(&mut rng);
        order.extend(round);
    }
    let per_conn: Vec<Vec<String>> = (0..args.connections).map(|c| order.iter().skip(c).step_by(args.connections).cloned().collect()).collect();
    let start = Instant::now();
    let mut latencies: Vec<Duration> = rt.block_on(async {
        let tasks: Vec<_> = per_conn.into_iter().map(|macs| tokio::spawn(client(addr, macs, mix))).collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e6;
    let requests = latencies.len();
    let rps = requests as f64 / elapsed.as_secs_f64();
    let mix = mix.name();
    println!(
        "{mix:>5}: {requests} requests for {} nodes over {} connections in {:.2} s = {rps:.0} req/s; latency p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        args.nodes,
        args.connections,
        elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies.last().unwrap().as_secs_f64() * 1e6
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "boot_script", "mix": mix, "nodes": args.nodes, "connections": args.connections, "requests": requests,
            "seconds": elapsed.as_secs_f64(), "requests_per_s": rps.round(), "p50_us": pct(0.50).round(), "p99_us": pct(0.99).round(),
            "max_us": (latencies.last().unwrap().as_secs_f64() * 1e6).round(), "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        })
    );
    rt.block_on(server.shutdown()).unwrap();
}

fn main() {
    let args = args();
    for mix in [Mix::Floor, Mix::Local, Mix::Mixed] {
        run_mix(&args, mix);
    }
}
