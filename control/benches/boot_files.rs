//! Boot-storm memory: the peak resident memory of `fountain serve` while N nodes download its
//! initramfs at once.
//!
//! `cargo bench -p control --bench boot_files [-- --clients 500 --size-mb 100]` (under `cargo test
//! --benches` a 20-client, 8 MiB smoke run).
//!
//! The server runs in a child process (this binary started again with `--serve`, which runs the
//! `fountain serve` command through `control::cli`, the entry the `fountain` binary calls), so its
//! memory is measured apart from the clients': the kernel's high-water mark `VmHWM` from
//! `/proc/<pid>/status` after the run, and its resident size before. Each client is a thread with a
//! raw HTTP/1.1 request that reads the whole file and checks its length. Prints one line and one
//! JSON line.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use clap::Parser;

/// The child's command line: `fountain serve`'s.
#[derive(Parser)]
struct Fountain {
    #[command(subcommand)]
    command: control::cli::Command,
}

struct Args {
    clients: usize,
    size_mb: u64,
}

/// The full run under `cargo bench` (which passes `--bench`); a quick smoke run otherwise.
fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let mut a = if argv.iter().any(|a| a == "--bench") { Args { clients: 500, size_mb: 100 } } else { Args { clients: 20, size_mb: 8 } };
    for pair in argv.windows(2) {
        let v = || pair[1].parse().expect("a number");
        match pair[0].as_str() {
            "--clients" => a.clients = v(),
            "--size-mb" => a.size_mb = v() as u64,
            _ => {}
        }
    }
    a
}

/// A kilobyte field (`VmHWM:`, `VmRSS:`) of a process's status, in MiB.
fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading the server's /proc status");
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).expect("a kB figure");
    kb / 1024.0
}

/// The server child; killed when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Downloads the initramfs once; returns the body's length.
fn download(addr: &str) -> u64 {
    let mut s = TcpStream::connect(addr).expect("connecting");
    s.write_all(b"GET /boot/files/initrd.img HTTP/1.1\r\nHost: fountain\r\nConnection: close\r\n\r\n").expect("sending the request");
    let mut r = BufReader::with_capacity(64 << 10, s);
    let mut line = String::new();
    r.read_line(&mut line).expect("reading the status line");
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    loop {
        line.clear();
        r.read_line(&mut line).expect("reading headers");
        if line == "\r\n" {
            break;
        }
    }
    std::io::copy(&mut r, &mut std::io::sink()).expect("reading the body")
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--serve") {
        let cli = Fountain::try_parse_from(std::iter::once("fountain".to_string()).chain(argv[2..].iter().cloned())).expect("the server's arguments");
        control::cli::run(cli.command).expect("fountain serve");
        return;
    }
    let a = args();
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(dir.path().join("boot")).expect("creating boot/");
    let size = a.size_mb << 20;
    let mut initrd = std::fs::File::create(dir.path().join("boot/initrd.img")).expect("creating initrd.img");
    let chunk: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    for _ in 0..a.size_mb {
        initrd.write_all(&chunk).expect("writing initrd.img");
    }
    drop(initrd);

    let exe = std::env::current_exe().expect("this binary's path");
    let data_dir = dir.path().to_str().expect("a UTF-8 path").to_string();
    let serve_args = ["--serve", "serve", "--data-dir", &data_dir, "--listen", "127.0.0.1:0", "--health-interval-ms", "0", "--max-connections", &(a.clients + 16).to_string()];
    let mut child = Command::new(exe).args(serve_args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("starting the server");
    let mut stderr = BufReader::new(child.stderr.take().expect("the server's stderr"));
    let serve = Serve(child);
    let mut banner = String::new();
    stderr.read_line(&mut banner).expect("the server's banner");
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let url = banner.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("no address in {banner:?}"));
    let addr = url.trim_start_matches("http://").to_string();
    let pid = serve.0.id();
    assert_eq!(download(&addr), size, "a first download, so the server has served once before the baseline");
    let idle_mib = status_mib(pid, "VmRSS:");

    let start = Arc::new(Barrier::new(a.clients + 1));
    let clients: Vec<_> = (0..a.clients)
        .map(|_| {
            let (start, addr) = (start.clone(), addr.clone());
            std::thread::Builder::new().stack_size(256 << 10).spawn(move || {
                start.wait();
                download(&addr)
            })
        })
        .collect::<Result<_, _>>()
        .expect("starting client threads");
    start.wait();
    let started = Instant::now();
    for c in clients {
        assert_eq!(c.join().expect("a client thread"), size, "every client got the whole file");
    }
    let secs = started.elapsed().as_secs_f64();
    let peak_mib = status_mib(pid, "VmHWM:");
    let moved_gb = (a.clients as u64 * size) as f64 / 1e9;
    println!(
        "boot files: {} concurrent downloads of a {} MiB initrd.img: server peak RSS {peak_mib:.1} MiB (idle {idle_mib:.1} MiB), {secs:.1} s, {:.2} GB/s",
        a.clients,
        a.size_mb,
        moved_gb / secs
    );
    println!(
        "{}",
        serde_json::json!({ "bench": "boot_files", "clients": a.clients, "file_mib": a.size_mb, "peak_rss_mib": (peak_mib * 10.0).round() / 10.0, "idle_rss_mib": (idle_mib * 10.0).round() / 10.0, "seconds": (secs * 100.0).round() / 100.0, "gb_per_s": (moved_gb / secs * 100.0).round() / 100.0 })
    );
}
