//! A receiver process killed mid-transfer and restarted resumes from its journal.

use std::io::Read;
use super::wait_for_len;
use std::process::{Command, Stdio};
use std::time::Duration;

const FOUNTAIN: &str = env!("CARGO_BIN_EXE_fountain");

#[test]
fn killed_receiver_resumes_from_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("object");
    let data = super::random_file(&source, 32 << 20, 7);
    let ticket = dir.path().join("object.ticket");
    let out = dir.path().join("copy");
    let journal = dir.path().join("copy.fountain-journal");
    let group = super::group(47_102).to_string();
    let mut sender = Command::new(FOUNTAIN)
        .args(["send", source.to_str().unwrap(), "--manifest", ticket.to_str().unwrap(), "--group", &group])
        .args(["--rate", "100M", "--receiver-timeout", "1", "--timeout", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_len(&ticket, 100, Duration::from_secs(30));
    let recv = |loss: &str| {
        Command::new(FOUNTAIN)
            .args(["recv", "--manifest", ticket.to_str().unwrap(), "--out", out.to_str().unwrap(), "--loss", loss])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = recv("0.02");
    // Journal header is 36 bytes, each record 12: wait for 5 verified blocks, then kill -9.
    wait_for_len(&journal, 36 + 5 * 12, Duration::from_secs(60));
    first.kill().unwrap();
    first.wait().unwrap();
    let mut second = recv("0.02");
    let status = second.wait().unwrap();
    let mut stderr = String::new();
    second.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "restarted receiver failed: {stderr}");
    assert!(stderr.contains("resuming with"), "did not resume: {stderr}");
    assert!(std::fs::read(&out).unwrap() == data, "resumed copy differs");
    assert!(sender.wait().unwrap().success());
    let mut summary = String::new();
    sender.stdout.take().unwrap().read_to_string(&mut summary).unwrap();
    assert!(summary.contains("sender:"), "no summary: {summary}");
}
