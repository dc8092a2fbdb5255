//! The image store and ISOs through the API: versions published by a builder (straight into
//! `<data>/store`, as `fountain image build` does) are listed with the space each holds alone,
//! diffed, verified, served to nodes (materialised artifact + fec manifest, registered as an image
//! version) and garbage-collected; ISOs are uploaded as a stream, checked, stored once.
use std::process::Command;

use ::image::artifact::pack;
use ::image::meta::ImageMeta;
use ::image::store::Store;
use serde_json::json;

use crate::util::TestServer;

fn meta(packages: &[&str]) -> ImageMeta {
    serde_json::from_value(json!({
        "family": "debian", "release": "12", "kernels": [], "packages": packages, "role": "compute",
        "source": { "kind": "debootstrap", "suite": "bookworm", "mirror": "http://deb.debian.org/debian" },
        "parent_version": null, "size_bytes": 0, "created_unix_s": 1_700_000_000,
    }))
    .unwrap()
}

/// Packs a small root (plus `extra` files) into an artifact and publishes it to the server's store.
fn publish(ts: &TestServer, extra: &[(&str, usize)], packages: &[&str]) -> Vec<u8> {
    let root = ts.dir.path().join("root");
    for i in 0..40u64 {
        let p = root.join(format!("usr/lib/f{i:02}"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, noise(30_000, i + 1)).unwrap();
    }
    for (name, len) in extra {
        std::fs::write(root.join(name), noise(*len, 99)).unwrap();
    }
    let artifact = ts.dir.path().join("artifact.sqfs");
    pack(&root, &artifact).unwrap();
    Store::open(ts.dir.path().join("store")).unwrap().publish("compute", &artifact, &meta(packages)).unwrap();
    std::fs::read(&artifact).unwrap()
}

/// Incompressible bytes, so the artifact is as large as the files.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0; len];
    blake3::Hasher::new().update(&seed.to_le_bytes()).finalize_xof().fill(&mut out);
    out
}

#[test]
fn stored_versions_are_listed_diffed_verified_and_served() {
    let ts = TestServer::start();
    publish(&ts, &[], &["base 1"]);
    let second = publish(&ts, &[("usr/lib/mpkg", 50_000)], &["base 1", "mpkg 2"]);

    let list = ts.get("/api/v1/store/versions").expect(200).json();
    let list = list.as_array().unwrap();
    assert_eq!(list.iter().map(|v| v["label"].as_str().unwrap()).collect::<Vec<_>>(), vec!["compute@1", "compute@2"]);
    let (bytes, alone) = (list[1]["artifact_bytes"].as_u64().unwrap(), list[1]["exclusive_bytes"].as_u64().unwrap());
    assert!(alone < bytes / 2, "the second version holds {alone} of its {bytes} bytes alone");
    assert_eq!(ts.get("/api/v1/store/versions?name=other").expect(200).json(), json!([]));

    let d = ts.get("/api/v1/store/diff?a=compute@1&b=compute@2").expect(200).json();
    assert_eq!(d["packages_added"], json!(["mpkg 2"]));
    assert!(d["shared_bytes"].as_u64().unwrap() > 0);
    assert_eq!(ts.get("/api/v1/store/diff?a=compute@1&b=compute@9").expect(404).status, 404);
    ts.get("/api/v1/store/diff?a=compute&b=compute@1").expect(422);

    let r = ts.send("POST", "/api/v1/store/verify", json!({})).expect(200).json();
    assert_eq!((r["versions"].as_u64(), r["problems"].clone()), (Some(2), json!([])));

    let v = ts.send("POST", "/api/v1/store/serve", json!({ "version": "compute@2" })).expect(201).json();
    assert_eq!((v["image"].as_str(), v["version"].as_u64()), (Some("compute"), Some(1)));
    let images = ts.dir.path().join("images");
    let artifact = std::fs::read(images.join(v["artifact"].as_str().unwrap())).unwrap();
    assert!(artifact == second, "the served artifact is not the one published");
    let m = control::transfer::manifest_file::read(&images.join(v["manifest"].as_str().unwrap()), v["manifest_blake3"].as_str()).unwrap();
    assert_eq!(m.manifest.layout().object_size(), second.len() as u64);
    assert_eq!(*m.manifest.root(), *fec::Manifest::hash_object(*m.manifest.layout(), &second[..]).unwrap().root());
    assert_eq!(ts.get("/api/v1/images/compute").expect(200).json()["default_version"], json!(1));
    ts.send("POST", "/api/v1/store/serve", json!({ "version": "compute@2" })).expect(409);
    ts.send("POST", "/api/v1/store/serve", json!({ "version": "compute@7" })).expect(404);

    let gc = ts.send("POST", "/api/v1/store/gc", json!({})).expect(200).json();
    assert_eq!(gc["chunks_removed"], json!(0));
    // Unstored, version 2's own chunks go at the next gc; version 1 and the served copy stay whole.
    ts.request("DELETE", "/api/v1/store/versions/compute/2", Some(&ts.admin), crate::util::Body::None).expect(204);
    ts.request("DELETE", "/api/v1/store/versions/compute/2", Some(&ts.admin), crate::util::Body::None).expect(404);
    let gc = ts.send("POST", "/api/v1/store/gc", json!({})).expect(200).json();
    assert!(gc["bytes_freed"].as_u64().unwrap() >= alone, "{gc}");
    let r = ts.send("POST", "/api/v1/store/verify", json!({})).expect(200).json();
    assert_eq!((r["versions"].as_u64(), r["problems"].clone()), (Some(1), json!([])));
    assert!(std::fs::read(images.join(v["artifact"].as_str().unwrap())).unwrap() == second);
}

fn make_iso(ts: &TestServer, name: &str, treeinfo: Option<&str>) -> Vec<u8> {
    let tree = ts.dir.path().join(format!("{name}.tree"));
    std::fs::create_dir_all(tree.join("BaseOS")).unwrap();
    std::fs::write(tree.join("BaseOS/pkg.rpm"), vec![3u8; 300_000]).unwrap();
    if let Some(t) = treeinfo {
        std::fs::write(tree.join(".treeinfo"), t).unwrap();
    }
    let iso = ts.dir.path().join(name);
    let out = Command::new("xorriso").args(["-as", "mkisofs", "-quiet", "-R", "-o"]).arg(&iso).arg(&tree).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(iso).unwrap()
}

fn upload(ts: &TestServer, query: &str, bytes: &[u8]) -> (u16, serde_json::Value) {
    let r = ureq::post(&format!("{}/api/v1/isos?{query}", ts.url())).set("Authorization", &format!("Bearer {}", ts.admin)).send_bytes(bytes);
    let r = match r {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    (r.status(), serde_json::from_str(&r.into_string().unwrap()).unwrap())
}

#[test]
fn isos_are_uploaded_as_streams_checked_and_stored_once() {
    let ts = TestServer::start();
    let iso = make_iso(&ts, "alma.iso", Some("[release]\nname = AlmaLinux\nversion = 9.4\n[tree]\narch = x86_64\n"));
    let hash = blake3::hash(&iso).to_hex().to_string();
    let (status, body) = upload(&ts, &format!("name=alma.iso&blake3={hash}"), &iso);
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["id"].as_str(), body["new"].as_bool()), (Some(hash.as_str()), Some(true)));
    assert_eq!((body["detected"]["distribution"].as_str(), body["detected"]["release"].as_str()), (Some("AlmaLinux"), Some("9.4")));
    let (status, body) = upload(&ts, "name=again.iso", &iso);
    assert_eq!((status, body["new"].as_bool()), (200, Some(false)));

    let (status, body) = upload(&ts, &format!("name=bad.iso&blake3={}", "0".repeat(64)), &iso);
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not"), "{body}");
    let plain = make_iso(&ts, "plain.iso", None);
    let (status, body) = upload(&ts, "name=plain.iso", &plain);
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains(".treeinfo"), "{body}");
    // Refused before the body is read: a small body, so the client is not cut off mid-send.
    let (status, _) = upload(&ts, "blake3=00", b"x");
    assert_eq!(status, 400);

    let list = ts.get("/api/v1/isos").expect(200).json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], json!("alma.iso"));
}

#[test]
fn the_cli_drives_the_store_and_isos() {
    use crate::cli::fountain;
    use std::process::ExitCode;
    let ts = TestServer::start();
    publish(&ts, &[], &["base 1"]);
    publish(&ts, &[("usr/lib/mpkg", 50_000)], &["base 1", "mpkg 2"]);
    for args in [&["image", "stored"][..], &["image", "stored", "compute"], &["image", "diff", "compute@1", "compute@2"], &["image", "gc"]] {
        assert_eq!(fountain(&ts, args), ExitCode::SUCCESS, "{args:?}");
    }
    assert_eq!(fountain(&ts, &["image", "verify"]), ExitCode::SUCCESS);
    assert_eq!(fountain(&ts, &["image", "serve", "compute@1", "--no-default"]), ExitCode::SUCCESS);
    let image = ts.get("/api/v1/images/compute").expect(200).json();
    assert_eq!((image["latest_version"].clone(), image["default_version"].clone()), (json!(1), json!(null)));
    assert_eq!(fountain(&ts, &["image", "unstore", "compute@1"]), ExitCode::SUCCESS);
    let stored = ts.get("/api/v1/store/versions").expect(200).json();
    assert_eq!(stored.as_array().unwrap().iter().map(|v| v["label"].as_str().unwrap()).collect::<Vec<_>>(), vec!["compute@2"]);

    // A damaged chunk: verify says so with exit status 1.
    let store = Store::open(ts.dir.path().join("store")).unwrap();
    let id = store.get("compute", 2).unwrap().chunks[0].id.clone();
    let chunk = ts.dir.path().join("store/chunks").join(&id[..2]).join(&id);
    let mut bytes = std::fs::read(&chunk).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&chunk, bytes).unwrap();
    assert_eq!(fountain(&ts, &["image", "verify"]), ExitCode::from(1));

    let iso = make_iso(&ts, "rocky 9.iso", Some("[release]\nname = Rocky Linux\nversion = 9.4\n"));
    std::fs::write(ts.dir.path().join("rocky 9.iso"), &iso).unwrap();
    let path = ts.dir.path().join("rocky 9.iso");
    assert_eq!(fountain(&ts, &["iso", "add", path.to_str().unwrap()]), ExitCode::SUCCESS);
    assert_eq!(fountain(&ts, &["iso", "list"]), ExitCode::SUCCESS);
    let list = ts.get("/api/v1/isos").expect(200).json();
    assert_eq!((list[0]["name"].as_str(), list[0]["detected"]["release"].as_str()), (Some("rocky 9.iso"), Some("9.4")));
}
