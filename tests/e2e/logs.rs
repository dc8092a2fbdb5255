//! `fountain serve`'s log: one line per state change, plain text when redirected (no colour codes),
//! one JSON object per line with `--log-format json`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FOUNTAIN: &str = env!("CARGO_BIN_EXE_fountain");
const MAC: &str = "52:54:00:00:00:07";
const PATIENCE: Duration = Duration::from_secs(20);
const LAYOUT: &str = "bootloader: bios\ndisks:\n  - id: sda\n    match: { path: /dev/sda }\n    partitions:\n      - { id: grub, size: 1M, flags: [bios_grub] }\n      - { id: root, size: rest, fs: ext4, mount: / }\n";

/// A `fountain serve` process logging at info to `log` (a file, as a service manager redirects it).
struct Serve {
    child: Child,
    url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it gives a value, for at most [`PATIENCE`].
fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(started.elapsed() < PATIENCE, "gave up waiting");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start(data: &Path, log: &Path, format: &str, port: u16) -> Serve {
    let file = std::fs::File::create(log).unwrap();
    let group = super::group(port).to_string();
    let child = Command::new(FOUNTAIN)
        .args(["--log-format", format, "serve", "--data-dir", data.to_str().unwrap(), "--listen", "127.0.0.1:0", "--health-interval-ms", "0"])
        .args(["--max-receivers", "1", "--delivery", "multicast", "--group", &group])
        .env("FOUNTAIN_LOG", "info")
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap();
    let url = wait_for(|| {
        let text = std::fs::read_to_string(log).ok()?;
        text.lines().find_map(super::serve_url)
    });
    Serve { child, url }
}

/// A plain HTTP/1.0 request; the reply's body.
fn http(serve: &Serve, method: &str, path: &str, token: Option<&str>, body: &str) -> String {
    let mut s = TcpStream::connect(serve.url.trim_start_matches("http://")).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "{method} {path} HTTP/1.0\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

/// Publishes an image, sets a node to re-image, boots it, registers its agent (which starts a
/// session) and reports a failure: every kind of state change the log should show.
fn run_a_reimage(data: &Path, serve: &Serve) {
    let images = data.join("images/rocky");
    std::fs::create_dir_all(&images).unwrap();
    super::random_file(&images.join("root.img"), 1 << 20, 5);
    std::fs::write(data.join("l.yaml"), LAYOUT).unwrap();
    let admin = |args: &[&str]| {
        let out = Command::new(FOUNTAIN).args(args).args(["--server", &serve.url, "--token-file", data.join("admin.token").to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "fountain {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    admin(&["image", "add", "rocky", "--artifact", "rocky/root.img"]);
    admin(&["layout", "add", "l", data.join("l.yaml").to_str().unwrap()]);
    admin(&["node", "add", "n0", "--mac", MAC, "--image", "rocky", "--layout", "l", "--next-boot", "reimage"]);
    let script = http(serve, "GET", &format!("/boot/ipxe?mac={MAC}"), None, "");
    let token = script.split_whitespace().find_map(|w| w.strip_prefix("fountain.token=")).unwrap_or_else(|| panic!("no token in {script}")).to_string();
    let registered = http(serve, "POST", "/api/v1/agent/nodes/n0/register", Some(&token), "");
    let session = serde_json::from_str::<serde_json::Value>(&registered).ok().and_then(|v| v["session"].as_u64()).unwrap_or_else(|| panic!("no session in {registered}"));
    let report = format!(r#"{{"outcome":"failure","image":"rocky","version":1,"session":{session},"message":"disk on fire"}}"#);
    let report = http(serve, "POST", "/api/v1/agent/nodes/n0/report", Some(&token), &report);
    assert!(report.contains("\"n0\""), "{report}");
}

/// The messages a state change logs, in the order they happen.
const STATE_CHANGES: [&str; 4] = ["node registered for its transfer", "starting transfer session", "multicast sender starting", "re-image failed"];

#[test]
fn state_changes_are_logged_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("serve.log"));
    let serve = start(&data, &log, "json", 47_170);
    run_a_reimage(&data, &serve);
    let lines = wait_for(|| {
        let text = std::fs::read_to_string(&log).unwrap();
        STATE_CHANGES.iter().all(|m| text.contains(m)).then_some(text)
    });
    let mut messages = Vec::new();
    for line in lines.lines().filter(|l| !l.starts_with("fountain control plane on ")) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{line}");
        messages.push(v["fields"]["message"].as_str().unwrap_or_default().to_string());
    }
    let found: Vec<&str> = STATE_CHANGES.iter().copied().filter(|m| messages.iter().any(|x| x == m)).collect();
    assert_eq!(found, STATE_CHANGES, "{messages:?}");
    let registered = lines.lines().find(|l| l.contains("node registered")).unwrap();
    let v: serde_json::Value = serde_json::from_str(registered).unwrap();
    assert_eq!(v["fields"]["node"], "n0", "{registered}");
}

#[test]
fn a_redirected_text_log_has_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("serve.log"));
    let serve = start(&data, &log, "text", 47_171);
    run_a_reimage(&data, &serve);
    let text = wait_for(|| std::fs::read_to_string(&log).ok().filter(|t| STATE_CHANGES.iter().all(|m| t.contains(m))));
    assert!(!text.contains('\x1b'), "colour codes in a redirected log:\n{text}");
    assert!(text.lines().any(|l| l.contains(" INFO ") && l.contains("node registered for its transfer") && l.contains("node=n0")), "{text}");
}
