//! Connection limits: headers sent slowly or never finished are cut off, a connection that goes
//! silent (a body that stops, a download nobody reads) is dropped, and the connection cap frees up
//! again. (`/healthz` under hostile load is `tests/hostile.rs`, a binary of its own.)
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use control::http::ConnectionLimits;

use crate::raw_http::{healthz, partial_header};
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
