//! Receivers started before their sender, as udpcast's and uftp's can be: `fountain recv
//! --wait-for-ticket` waits for the ticket `fountain send` renames into place.

use std::io::Read;
use std::process::{Command, Stdio};

const FOUNTAIN: &str = env!("CARGO_BIN_EXE_fountain");

#[test]
fn a_receiver_started_before_the_sender_waits_for_its_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("object");
    let data = super::random_file(&source, 4 << 20, 11);
    let ticket = dir.path().join("object.ticket");
    let out = dir.path().join("copy");
    let mut receiver = Command::new(FOUNTAIN)
        .args(["recv", "--manifest", ticket.to_str().unwrap(), "--wait-for-ticket", "60", "--out", out.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let group = super::group(47_103).to_string();
    let sender = Command::new(FOUNTAIN)
        .args(["send", source.to_str().unwrap(), "--manifest", ticket.to_str().unwrap(), "--group", &group])
        .args(["--receivers", "1", "--rate", "200M", "--timeout", "120"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let status = receiver.wait().unwrap();
    let mut stderr = String::new();
    receiver.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "the waiting receiver failed: {stderr}");
    assert!(sender.success(), "the sender failed");
    assert!(std::fs::read(&out).unwrap() == data, "the copy differs");
}

#[test]
fn a_ticket_that_never_comes_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ticket = dir.path().join("never.ticket");
    let out = dir.path().join("copy");
    let output = Command::new(FOUNTAIN)
        .args(["recv", "--manifest", ticket.to_str().unwrap(), "--wait-for-ticket", "0.2", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("no ticket at") && stderr.contains("never.ticket"), "{stderr}");
    assert!(!out.exists(), "nothing written without a ticket");
}
