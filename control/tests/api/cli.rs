//! The operator CLI against the real server: each command's effect shows in the API.
use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

use crate::util::{TestServer, kernel_arg, layout_file, mac, write_image};

#[derive(Parser)]
struct Fountain {
    #[command(subcommand)]
    command: control::cli::Command,
}

fn parse(args: &[&str]) -> Result<Fountain, clap::Error> {
    Fountain::try_parse_from(std::iter::once("fountain").chain(args.iter().copied()))
}

/// Runs `fountain <group> <args> --server <ts> --token-file <ts>`.
pub fn fountain(ts: &TestServer, args: &[&str]) -> ExitCode {
    try_fountain(ts, args).unwrap()
}

/// [`fountain`], returning the command's error.
pub fn try_fountain(ts: &TestServer, args: &[&str]) -> anyhow::Result<ExitCode> {
    let token_file = ts.dir.path().join("admin.token");
    let url = ts.url();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--server", &url, "--token-file", token_file.to_str().unwrap()]);
    control::cli::run(parse(&all).unwrap().command)
}

#[test]
fn operator_workflow_through_the_cli() {
    let ts = TestServer::start();
    let files = ts.dir.path();
    std::fs::write(files.join("mirror.yaml"), layout_file("good/uefi-raid1-lvm.yaml")).unwrap();
    std::fs::write(files.join("bad.yaml"), layout_file("bad/raid-members.yaml")).unwrap();
    std::fs::create_dir_all(files.join("images/rocky")).unwrap();
    let rocky = files.join("images/rocky");
    write_image(&rocky.join("a.img"), &rocky.join("a.manifest"), b"a.img");
    std::fs::write(rocky.join("b.img"), b"b.img").unwrap();
    std::fs::write(files.join("n1.yaml"), "hostname: n1\nkernel_args: [quiet]\nnfs_mounts:\n  - { server: 10.0.0.2, export: /home, mount_point: /home }\n").unwrap();
    let path = |f: &str| files.join(f).to_str().unwrap().to_string();

    assert_eq!(fountain(&ts, &["layout", "validate", &path("mirror.yaml")]), ExitCode::SUCCESS);
    assert_eq!(fountain(&ts, &["layout", "validate", &path("bad.yaml")]), ExitCode::FAILURE);
    assert_eq!(fountain(&ts, &["layout", "add", "mirror", &path("mirror.yaml")]), ExitCode::SUCCESS);
    assert_eq!(fountain(&ts, &["layout", "show", "mirror"]), ExitCode::SUCCESS);
    assert_eq!(fountain(&ts, &["image", "add", "rocky", "--artifact", "rocky/a.img", "--manifest", "rocky/a.manifest"]), ExitCode::SUCCESS);
    assert_eq!(fountain(&ts, &["image", "add", "rocky", "--artifact", "rocky/b.img"]), ExitCode::SUCCESS, "without a manifest the server writes one");
    assert_eq!(ts.get("/api/v1/images/rocky").json()["versions"][1]["manifest"], "rocky/b.img.manifest");
    assert_eq!(fountain(&ts, &["server", "add", "http://127.0.0.1:9001", "--weight", "2"]), ExitCode::SUCCESS);
    assert_eq!(fountain(&ts, &["server", "set", "1", "--healthy", "false"]), ExitCode::SUCCESS);
    let add = ["node", "add", "n1", "--mac", &mac(1), "--mac", &mac(2), "--group", "rack1", "--image", "rocky", "--layout", "mirror", "--config", &path("n1.yaml")];
    assert_eq!(fountain(&ts, &add), ExitCode::SUCCESS);
    assert_eq!(fountain(&ts, &["node", "reimage", "n1"]), ExitCode::SUCCESS);
    assert_eq!(fountain(&ts, &["image", "rollback", "rocky"]), ExitCode::SUCCESS);
    for listing in [&["node", "list", "--json"][..], &["node", "list", "--group", "rack1"], &["node", "show", "n1"], &["image", "list"], &["image", "versions", "rocky"], &["server", "list"], &["layout", "list"], &["node", "discovered"], &["image", "transfers"]] {
        assert_eq!(fountain(&ts, listing), ExitCode::SUCCESS, "{listing:?}");
    }

    let node = ts.get("/api/v1/nodes/n1").json();
    assert_eq!(node["macs"], json!([mac(1), mac(2)]));
    assert_eq!(node["config"]["nfs_mounts"][0]["server"], "10.0.0.2");
    assert_eq!(node["next_boot"], "reimage");
    assert_eq!(ts.get("/api/v1/images/rocky").json()["default_version"], 1, "rolled back from 2");
    assert_eq!(ts.get("/api/v1/servers").json()[0], json!({ "id": 1, "url": "http://127.0.0.1:9001", "weight": 2, "healthy": false, "load": 0 }));
    assert_eq!(kernel_arg(&ts.boot(&mac(2)), "fountain.version").as_deref(), Some("1"));
}

#[test]
fn cli_refuses_bad_input_with_the_servers_message() {
    let ts = TestServer::start();
    let err = parse(&["node", "add", "n1", "--mac", "52:54:00:zz:00:01"]).err().unwrap().to_string();
    assert!(err.contains("invalid MAC address \"52:54:00:zz:00:01\""), "{err}");
    let token_file = ts.dir.path().join("admin.token");
    let args = ["node", "show", "ghost", "--server", &ts.url(), "--token-file", token_file.to_str().unwrap()].map(str::to_string);
    let cmd = Fountain::try_parse_from(std::iter::once("fountain".to_string()).chain(args)).unwrap().command;
    let err = control::cli::run(cmd).unwrap_err().to_string();
    assert_eq!(err, "node ghost not found (HTTP 404)");
}
