//! `fountain fetch` against a real `fountain serve`: published with the operator CLI, fetched with the
//! node's token from its boot script, byte-identical; a wrong token is refused. `fountain recv`
//! whose sender dies mid-session fetches the rest from the same server, and refuses a server
//! image that is not the ticket's object.

use super::wait_for_len;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const FOUNTAIN: &str = env!("CARGO_BIN_EXE_fountain");
const MAC: &str = "52:54:00:00:00:01";

/// A `fountain serve` process on an ephemeral loopback port; killed when dropped.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    /// A server whose data directory under `dir` holds `data` as `rocky@1`, with node `n0` set to
    /// boot it; returns the server and the node's token from its boot script.
    fn publish(dir: &Path, data: &[u8]) -> (Self, String) {
        let data_dir = dir.join("data");
        let images = data_dir.join("images/rocky/1");
        std::fs::create_dir_all(&images).unwrap();
        std::fs::write(images.join("root.img"), data).unwrap();
        let layout = fec::ObjectLayout::with_defaults(data.len() as u64).unwrap();
        std::fs::write(images.join("root.manifest"), fec::Manifest::hash_object(layout, data).unwrap().encode()).unwrap();
        let serve = Serve::start(&data_dir);
        serve.admin(&data_dir, &["image", "add", "rocky", "--artifact", "rocky/1/root.img", "--manifest", "rocky/1/root.manifest"]);
        serve.admin(&data_dir, &["server", "add", "http://127.0.0.1:9", "--healthy", "true"]);
        serve.admin(&data_dir, &["node", "add", "n0", "--mac", MAC, "--image", "rocky", "--mode", "stateless"]);
        let token = serve.boot_token(MAC);
        (serve, token)
    }

    fn start(data: &Path) -> Self {
        let mut child = Command::new(FOUNTAIN)
            .args(["serve", "--data-dir", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The banner names the address once the listener is bound (warnings may come before it).
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let url = loop {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "fountain serve exited before its banner");
            if let Some(url) = super::serve_url(&line) {
                break url;
            }
        };
        // Keep reading, so that the server never blocks on (or fails at) a full or closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Serve { child, url }
    }

    /// Runs an operator subcommand against this server.
    fn admin(&self, data: &Path, args: &[&str]) {
        let out = Command::new(FOUNTAIN)
            .args(args)
            .args(["--server", &self.url, "--token-file", data.join("admin.token").to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "fountain {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The node token in the boot script for `mac` (plain HTTP/1.0 GET: the test needs no client crate).
    fn boot_token(&self, mac: &str) -> String {
        let mut stream = TcpStream::connect(self.url.trim_start_matches("http://")).unwrap();
        write!(stream, "GET /boot/ipxe?mac={mac} HTTP/1.0\r\n\r\n").unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let token = reply.split_whitespace().find_map(|w| w.strip_prefix("fountain.token="));
        token.unwrap_or_else(|| panic!("no token in {reply}")).to_string()
    }

    fn fetch(&self, token: &str, out: &Path) -> Output {
        Command::new(FOUNTAIN)
            .args(["fetch", "--server", &self.url, "--image", "rocky@1", "--node", "n0", "--out", out.to_str().unwrap()])
            .env("FOUNTAIN_NODE_TOKEN", token)
            .output()
            .unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn fetch_downloads_a_published_version_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let data = super::random_file(&dir.path().join("source"), 24 << 20, 11);
    let (serve, token) = Serve::publish(dir.path(), &data);

    let out = dir.path().join("copy");
    let fetched = serve.fetch(&token, &out);
    let stdout = String::from_utf8_lossy(&fetched.stdout);
    assert!(fetched.status.success(), "fetch failed: {}", String::from_utf8_lossy(&fetched.stderr));
    assert!(stdout.contains(&format!("fetched: rocky@1 ({} bytes)", data.len())) && stdout.contains("MB/s"), "no summary: {stdout}");
    assert!(std::fs::read(&out).unwrap() == data, "fetched copy differs");
    assert!(!dir.path().join("copy.fountain-journal").exists(), "the journal outlived a finished fetch");

    let refused = serve.fetch("not-the-token", &dir.path().join("other"));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("refused with HTTP 401"), "{stderr}");
}

/// `fountain recv` of `ticket` into `out` with the HTTP fallback to `serve`'s `rocky@1` as `n0`.
fn recv_with_fallback(serve: &Serve, token: &str, ticket: &Path, out: &Path) -> Command {
    let mut recv = Command::new(FOUNTAIN);
    recv.args(["recv", "--manifest", ticket.to_str().unwrap(), "--out", out.to_str().unwrap(), "--sender-timeout", "1"])
        .args(["--server", &serve.url, "--image", "rocky@1", "--node", "n0"])
        .env("FOUNTAIN_NODE_TOKEN", token);
    recv
}

/// The numbers in the receiver's "blocks: J from the journal, M by multicast/peers, H over HTTP" line.
fn block_sources(stdout: &str) -> [u32; 3] {
    let line = stdout.lines().find(|l| l.starts_with("received: blocks:")).unwrap_or_else(|| panic!("no block summary: {stdout}"));
    let numbers: Vec<u32> = line.split([' ', ',']).filter_map(|w| w.parse().ok()).collect();
    numbers.try_into().unwrap_or_else(|_| panic!("not three counts: {line}"))
}

#[test]
fn recv_fetches_over_http_what_a_dead_sender_left_missing() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let data = super::random_file(&source, 24 << 20, 12);
    let (serve, token) = Serve::publish(dir.path(), &data);
    let ticket = dir.path().join("object.ticket");
    let (out, journal) = (dir.path().join("copy"), dir.path().join("copy.fountain-journal"));
    // 20 Mbit/s: the 24 MiB take ~10 s, so the sender is killed long before it is done.
    let mut sender = Command::new(FOUNTAIN)
        .args(["send", source.to_str().unwrap(), "--manifest", ticket.to_str().unwrap(), "--group", &super::group(47_160).to_string()])
        .args(["--rate", "20M", "--timeout", "120"])
        // The image store's layout, so the fallback serves the same object.
        .args(["--symbol-size", &fec::layout::DEFAULT_SYMBOL_SIZE.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_len(&ticket, 100, Duration::from_secs(30));
    let recv = recv_with_fallback(&serve, &token, &ticket, &out).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Journal header is 36 bytes, each record 12: three blocks arrived by multicast, then the sender dies.
    wait_for_len(&journal, 36 + 3 * 12, Duration::from_secs(60));
    sender.kill().unwrap();
    sender.wait().unwrap();
    let received = recv.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&received.stdout), String::from_utf8_lossy(&received.stderr));
    assert!(received.status.success(), "recv failed: {stderr}");
    assert!(stderr.contains("no packet from the sender") && stderr.contains("over HTTP from"), "no reason for the fallback: {stderr}");
    let blocks = fec::ObjectLayout::with_defaults(data.len() as u64).unwrap().block_count();
    let [resumed, multicast, http] = block_sources(&stdout);
    assert!(resumed == 0 && multicast >= 3 && http >= 1 && multicast + http == blocks, "{stdout}");
    assert!(std::fs::read(&out).unwrap() == data, "the copy differs from the source");
    assert!(!journal.exists(), "the journal outlived a finished receive");
}

#[test]
fn recv_refuses_a_fallback_image_that_is_not_the_tickets_object() {
    let dir = tempfile::tempdir().unwrap();
    let published = super::random_file(&dir.path().join("published"), 4 << 20, 13);
    let (serve, token) = Serve::publish(dir.path(), &published);
    // A ticket for another object of the same size: the sender never starts, the check comes first.
    let other = super::random_file(&dir.path().join("other"), published.len(), 14);
    let layout = fec::ObjectLayout::with_defaults(other.len() as u64).unwrap();
    let manifest = fec::Manifest::hash_object(layout, &other[..]).unwrap();
    let ticket = fec::SessionTicket { session_id: 1, group: super::group(47_161), key: None, manifest };
    let ticket_path = dir.path().join("other.ticket");
    std::fs::write(&ticket_path, ticket.encode()).unwrap();

    let out = dir.path().join("copy");
    let refused = recv_with_fallback(&serve, &token, &ticket_path, &out).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("refusing the HTTP fallback") && stderr.contains("manifest root"), "{stderr}");
    assert!(!out.exists() && !dir.path().join("copy.fountain-journal").exists(), "something was written");
}
