//! `fountain fetch` against a real `fountain serve`: published with the operator CLI, fetched with the
//! node's token from its boot script, byte-identical; a wrong token is refused.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const FOUNTAIN: &str = env!("CARGO_BIN_EXE_fountain");
const MAC: &str = "52:54:00:00:00:01";

/// A `fountain serve` process on an ephemeral loopback port; killed when dropped.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    fn start(data: &Path) -> Self {
        let mut child = Command::new(FOUNTAIN)
            .args(["serve", "--data-dir", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The first line names the address once the listener is bound.
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        // Keep reading, so that the server never blocks on (or fails at) a full or closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("no address in {line:?}")).to_string();
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
    let data_dir = dir.path().join("data");
    let images = data_dir.join("images/rocky/1");
    std::fs::create_dir_all(&images).unwrap();
    let data = super::random_file(&images.join("root.img"), 24 << 20, 11);
    let layout = fec::ObjectLayout::with_defaults(data.len() as u64).unwrap();
    std::fs::write(images.join("root.manifest"), fec::Manifest::hash_object(layout, &data[..]).unwrap().encode()).unwrap();

    let serve = Serve::start(&data_dir);
    serve.admin(&data_dir, &["image", "add", "rocky", "--artifact", "rocky/1/root.img", "--manifest", "rocky/1/root.manifest"]);
    serve.admin(&data_dir, &["server", "add", "http://127.0.0.1:9"]);
    serve.admin(&data_dir, &["node", "add", "n0", "--mac", MAC, "--image", "rocky", "--mode", "stateless"]);
    let token = serve.boot_token(MAC);

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
    assert!(stderr.contains("refused with HTTP 403"), "{stderr}");
}
