//! A raw HTTP/1.1 client for the connection-limit tests: requests written by hand, so a test can
//! stop halfway through a header as a hostile client does.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A connection that has sent the start of a request header and nothing more.
pub fn partial_header(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: fountain\r\nX-Slow: ").unwrap();
    s
}

/// `GET /healthz` on a fresh connection; the status line and how long the answer took.
pub fn healthz(addr: SocketAddr, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let reply = exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: fountain\r\nConnection: close\r\n\r\n", limit);
    (reply.lines().next().unwrap_or_default().to_string(), started.elapsed())
}

/// Writes `request` on a fresh connection and reads until the server closes it or `limit` passes
/// without a byte: everything the server said.
pub fn exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(request).unwrap();
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply
}
