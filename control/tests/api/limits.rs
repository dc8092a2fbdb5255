//! Connection limits: headers sent slowly or never finished are cut off, a connection that goes
//! silent (a body that stops, a download nobody reads) is dropped, and the connection cap frees up
//! again; and `/healthz` answers within 50 ms while hostile clients run against the server.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use control::http::ConnectionLimits;

use crate::util::TestServer;

/// Slots, and how long a client may take over a header or stay silent.
const TIGHT: ConnectionLimits =
    ConnectionLimits { max_connections: 16, header_read_timeout: Duration::from_millis(500), idle_timeout: Duration::from_millis(500), drain_timeout: Duration::from_secs(1) };
/// Longest the tests wait for the server to act on a limit.
const PATIENCE: Duration = Duration::from_secs(5);

/// Whether the server closes `stream` within `limit` (a read sees the end or a reset), reading and
/// dropping whatever it still sends meanwhile.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = vec![0u8; 1 << 16];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
    false
}

/// A connection that has sent the start of a request header and nothing more.
fn partial_header(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: fountain\r\nX-Slow: ").unwrap();
    s
}

/// `GET /healthz` on a fresh connection; the status line and how long the answer took.
fn healthz(addr: SocketAddr, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: fountain\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    (reply.lines().next().unwrap_or_default().to_string(), started.elapsed())
}

#[test]
fn slow_and_unfinished_headers_are_cut_off_and_the_cap_frees_up() {
    let ts = TestServer::start_with(|c| c.limits = TIGHT);
    let addr = ts.addr();
    let mut stalled: Vec<TcpStream> = (0..TIGHT.max_connections - 1).map(|_| partial_header(addr)).collect();
    // One more trickles its header a byte at a time, never idle long enough for the idle timeout.
    let mut trickling = partial_header(addr);
    let trickler = std::thread::spawn(move || {
        let s = &mut trickling;
        let started = Instant::now();
        while started.elapsed() < PATIENCE && s.write_all(b"x").is_ok() {
            std::thread::sleep(TIGHT.idle_timeout / 5);
        }
        started.elapsed()
    });
    // Every slot is taken: this request waits in the backlog until the header timeouts free one.
    let (status, waited) = healthz(addr, PATIENCE);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(waited >= TIGHT.header_read_timeout / 2, "answered after {waited:?}: the cap did not hold it");
    for (i, s) in stalled.iter_mut().enumerate() {
        assert!(closed_within(s, PATIENCE), "stalled header {i} is still open");
    }
    let trickled = trickler.join().unwrap();
    assert!(trickled < PATIENCE, "the trickling header was never cut off");
}

#[test]
fn stalled_bodies_and_unread_downloads_are_dropped() {
    let ts = TestServer::start_with(|c| c.limits = TIGHT);
    std::fs::create_dir_all(ts.dir.path().join("boot")).unwrap();
    let size = 32 << 20;
    std::fs::write(ts.dir.path().join("boot/initrd.img"), vec![7u8; size]).unwrap();

    let mut body = TcpStream::connect(ts.addr()).unwrap();
    let head = format!("POST /api/v1/nodes HTTP/1.1\r\nHost: fountain\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":", ts.admin);
    body.write_all(head.as_bytes()).unwrap();
    assert!(closed_within(&mut body, PATIENCE), "a body that stopped arriving holds its connection");

    let mut download = TcpStream::connect(ts.addr()).unwrap();
    download.write_all(b"GET /boot/files/initrd.img HTTP/1.1\r\nHost: fountain\r\n\r\n").unwrap();
    // The client stops reading; the socket buffers fill and the server's writes stall.
    std::thread::sleep(TIGHT.idle_timeout * 4);
    let mut received = Vec::new();
    download.set_read_timeout(Some(PATIENCE)).unwrap();
    let ended = download.read_to_end(&mut received);
    assert!(ended.is_ok() || ended.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset), "{ended:?}");
    assert!(received.len() < size, "the download nobody read was kept open ({} bytes arrived)", received.len());
    assert_eq!(ts.get("/api/v1/nodes").json(), serde_json::json!([]), "nothing was added");
}

/// Hostile clients, each kind on its own threads, until `stop`: counts of what they did.
#[derive(Default)]
struct Hostiles {
    stop: AtomicBool,
    downloaded_bytes: AtomicU64,
    yaml_posts: AtomicU64,
    macs_booted: AtomicU64,
}

/// Slowloris connections held open at once.
const SLOWLORIS: usize = 400;
/// Concurrent boot-file downloads, each reading 64 KiB every `DOWNLOAD_PACE`.
const DOWNLOADS: usize = 24;
const DOWNLOAD_PACE: Duration = Duration::from_millis(10);
/// Threads posting deeply nested YAML, and the nesting.
const YAML_POSTERS: usize = 4;
const YAML_DEPTH: usize = 50_000;
/// Threads booting random unknown MACs.
const MAC_FLOODERS: usize = 4;
/// `/healthz` probes, one every `PROBE_EVERY`, each to answer within `PROBE_LIMIT`.
const PROBES: usize = 60;
const PROBE_EVERY: Duration = Duration::from_millis(50);
const PROBE_LIMIT: Duration = Duration::from_millis(50);

#[test]
fn healthz_answers_within_50ms_under_hostile_load() {
    let ts = TestServer::start();
    let addr = ts.addr();
    std::fs::create_dir_all(ts.dir.path().join("boot")).unwrap();
    std::fs::write(ts.dir.path().join("boot/initrd.img"), vec![3u8; 16 << 20]).unwrap();
    let admin = ts.admin.clone();
    let h = Arc::new(Hostiles::default());
    let slowloris: Vec<TcpStream> = (0..SLOWLORIS).map(|_| partial_header(addr)).collect();

    let mut threads = Vec::new();
    for _ in 0..DOWNLOADS {
        let h = h.clone();
        threads.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 << 10];
            while !h.stop.load(Ordering::Relaxed) {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /boot/files/initrd.img HTTP/1.1\r\nHost: fountain\r\nConnection: close\r\n\r\n").unwrap();
                s.set_read_timeout(Some(PATIENCE)).unwrap();
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    h.downloaded_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    if h.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(DOWNLOAD_PACE);
                }
            }
        }));
    }
    let nested = format!("{}{}", "[".repeat(YAML_DEPTH), "]".repeat(YAML_DEPTH));
    for i in 0..YAML_POSTERS {
        let (h, admin, nested) = (h.clone(), admin.clone(), nested.clone());
        threads.push(std::thread::spawn(move || {
            let path = if i % 2 == 0 { "/api/v1/layouts/validate".to_string() } else { format!("/api/v1/layouts/deep{i}") };
            let method = if i % 2 == 0 { "POST" } else { "PUT" };
            while !h.stop.load(Ordering::Relaxed) {
                let r = ureq::request(method, &format!("http://{addr}{path}")).set("Authorization", &format!("Bearer {admin}")).set("Content-Type", "application/yaml").send_string(&nested);
                assert!(matches!(r, Err(ureq::Error::Status(400..=499, _))), "nested YAML was not refused: {:?}", r.map(|r| r.status()));
                h.yaml_posts.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for i in 0..MAC_FLOODERS {
        let h = h.clone();
        threads.push(std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new().build();
            let mut n: u64 = 0;
            while !h.stop.load(Ordering::Relaxed) {
                n += 1;
                let mac = format!("02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", i, (n >> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
                let script = agent.get(&format!("http://{addr}/boot/ipxe?mac={mac}")).call().unwrap().into_string().unwrap();
                assert!(script.starts_with("#!ipxe\n"));
                h.macs_booted.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let mut latencies = Vec::new();
    let mut next = Instant::now() + PROBE_EVERY;
    for _ in 0..PROBES {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        next += PROBE_EVERY;
        let (status, took) = healthz(addr, PATIENCE);
        assert_eq!(status, "HTTP/1.1 200 OK");
        latencies.push(took);
    }
    h.stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    drop(slowloris);
    latencies.sort();
    let (downloaded, yaml, macs) = (h.downloaded_bytes.load(Ordering::Relaxed), h.yaml_posts.load(Ordering::Relaxed), h.macs_booted.load(Ordering::Relaxed));
    println!(
        "healthz under load: {PROBES} probes, median {:?}, max {:?}; {SLOWLORIS} slowloris, {DOWNLOADS} downloads ({} MiB), {yaml} nested YAML bodies, {macs} unknown MACs",
        latencies[PROBES / 2],
        latencies[PROBES - 1],
        downloaded >> 20
    );
    assert!(downloaded > 0 && yaml > 0 && macs > 0, "every kind of load ran");
    let slow: Vec<_> = latencies.iter().filter(|l| **l > PROBE_LIMIT).collect();
    assert!(slow.is_empty(), "probes over {PROBE_LIMIT:?}: {slow:?}");
}
