//! Test helpers: a real server on 127.0.0.1:0 over a real SQLite file in a temp dir, a tiny blocking
//! HTTP client, fixtures, and a recording stand-in for the multicast engine.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use control::serve::{ServeConfig, Server};
use control::transfer::{DeliveryChoice, EncodedTicket};
use control::transfer::launcher::{EventSink, LaunchError, LaunchPlan, TransferLauncher};
use serde_json::{Value, json};

/// The engine's stand-in: records each plan and keeps its event sink so a test can play the sender.
#[derive(Default)]
pub struct RecordingLauncher {
    pub launched: Mutex<Vec<(LaunchPlan, EventSink)>>,
}

impl TransferLauncher for RecordingLauncher {
    fn launch(&self, plan: LaunchPlan, events: EventSink) -> Result<EncodedTicket, LaunchError> {
        self.launched.lock().unwrap().push((plan, events));
        Ok(EncodedTicket::new(b"recorded".to_vec()))
    }
}

/// A response: status and body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `error` message of a refusal.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_string()
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "body: {}", self.body);
        self
    }
}

/// A body to send.
pub enum Body<'a> {
    None,
    Json(Value),
    Raw(&'a str, &'a str),
}

/// A running control plane and its data directory.
pub struct TestServer {
    rt: tokio::runtime::Runtime,
    server: Option<Server>,
    config: ServeConfig,
    /// What the server launches with: `recorder`, unless the test gave another launcher.
    launcher: Arc<dyn TransferLauncher>,
    pub recorder: Arc<RecordingLauncher>,
    pub dir: tempfile::TempDir,
    pub admin: String,
    agent: ureq::Agent,
}

impl TestServer {
    /// A server choosing by two-choices with a fixed seed, a window that only `max_receivers` closes.
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    pub fn start_with(adjust: impl FnOnce(&mut ServeConfig)) -> Self {
        Self::start_launching(adjust, None)
    }

    /// A server whose sessions `launcher` starts (the recording stand-in when `None`).
    pub fn start_launching(adjust: impl FnOnce(&mut ServeConfig), launcher: Option<Arc<dyn TransferLauncher>>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServeConfig::loopback(dir.path().to_path_buf(), 1);
        // Most tests play one node's sender through the recording launcher; the delivery tests ask
        // for the server's own default.
        config.delivery = DeliveryChoice::Multicast;
        adjust(&mut config);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let recorder = Arc::new(RecordingLauncher::default());
        let launcher = launcher.unwrap_or_else(|| recorder.clone());
        let server = rt.block_on(Server::start(config.clone(), launcher.clone())).unwrap();
        let admin = std::fs::read_to_string(dir.path().join("admin.token")).unwrap().trim().to_string();
        TestServer { rt, server: Some(server), config, launcher, recorder, dir, admin, agent: ureq::AgentBuilder::new().build() }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().addr()
    }

    /// The server's shared state.
    pub fn state(&self) -> std::sync::Arc<control::api::AppState> {
        self.server.as_ref().unwrap().state().clone()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Stops the server and starts a new process-equivalent on the same data directory.
    pub fn restart(&mut self) {
        let server = self.server.take().unwrap();
        self.rt.block_on(server.shutdown()).unwrap();
        self.agent = ureq::AgentBuilder::new().build();
        let server = self.rt.block_on(Server::start(self.config.clone(), self.launcher.clone())).unwrap();
        self.server = Some(server);
    }

    pub fn request(&self, method: &str, path: &str, token: Option<&str>, body: Body<'_>) -> Resp {
        let mut req = self.agent.request(method, &format!("{}{path}", self.url()));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let result = match body {
            Body::None => req.call(),
            Body::Json(v) => req.send_json(v),
            Body::Raw(content_type, text) => req.set("Content-Type", content_type).send_string(text),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        Resp { status: resp.status(), body: resp.into_string().unwrap() }
    }

    /// The image servers' token (`server.token`).
    pub fn server_token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.token")).unwrap().trim().to_string()
    }

    /// Admin GET.
    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, Some(&self.admin.clone()), Body::None)
    }

    /// Admin request with a JSON body.
    pub fn send(&self, method: &str, path: &str, body: Value) -> Resp {
        self.request(method, path, Some(&self.admin.clone()), Body::Json(body))
    }

    /// The boot script for `mac`.
    pub fn boot(&self, mac: &str) -> String {
        self.request("GET", &format!("/boot/ipxe?mac={mac}"), None, Body::None).expect(200).body
    }

    /// Publishes the next version of `image` from freshly written files; returns the version number.
    pub fn publish(&self, image: &str) -> u64 {
        if self.get(&format!("/api/v1/images/{image}")).status == 404 {
            self.send("POST", "/api/v1/images", json!({ "name": image })).expect(201);
        }
        let n = self.get(&format!("/api/v1/images/{image}")).json()["versions"].as_array().unwrap().len() + 1;
        let rel = format!("{image}/{n}");
        let dir = self.dir.path().join("images").join(&rel);
        std::fs::create_dir_all(&dir).unwrap();
        write_image(&dir.join("root.img"), &dir.join("root.manifest"), &vec![n as u8; 4096]);
        let v = self.send("POST", &format!("/api/v1/images/{image}/versions"), json!({ "artifact": format!("{rel}/root.img"), "manifest": format!("{rel}/root.manifest") }));
        v.expect(201).json()["version"].as_u64().unwrap()
    }

    /// Stores a layout file from tests/layouts.
    pub fn put_layout(&self, name: &str, file: &str) -> Resp {
        self.request("PUT", &format!("/api/v1/layouts/{name}"), Some(&self.admin.clone()), Body::Raw("application/yaml", &layout_file(file)))
    }

    /// Adds a node from a JSON body.
    pub fn add_node(&self, body: Value) -> Value {
        self.send("POST", "/api/v1/nodes", body).expect(201).json()
    }

    /// GET `path` with a node's token and a `Range` header: the status and the body's bytes.
    pub fn agent_get_range(&self, path: &str, token: &str, range: &str) -> (u16, Vec<u8>) {
        let req = self.agent.get(&format!("{}{path}", self.url())).set("Authorization", &format!("Bearer {token}")).set("Range", range);
        let resp = match req.call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET {path}: {e}"),
        };
        let status = resp.status();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut body).unwrap();
        (status, body)
    }

    /// Closes every open gathering window now, as its timeout would, and starts what closed.
    pub fn close_windows(&self) {
        let st = self.state();
        control::sync::lock(&st.gatherer).handle_timeout(std::time::Instant::now() + std::time::Duration::from_secs(1 << 30));
        st.start_launches();
    }

    /// The launches the engine stand-in has seen.
    pub fn launches(&self) -> Vec<(LaunchPlan, EventSink)> {
        self.recorder.launched.lock().unwrap().clone()
    }
}

/// Writes `data` as an artifact and its manifest (small blocks, so small images have several).
pub fn write_image(artifact: &std::path::Path, manifest: &std::path::Path, data: &[u8]) -> fec::Manifest {
    let m = fec::Manifest::hash_object(fec::ObjectLayout::new(data.len() as u64, 1024, 4).unwrap(), data).unwrap();
    std::fs::write(artifact, data).unwrap();
    std::fs::write(manifest, m.encode()).unwrap();
    m
}

/// A layout example file.
pub fn layout_file(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/layouts/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The value of `key=` on the kernel line of an iPXE script.
pub fn kernel_arg(script: &str, key: &str) -> Option<String> {
    let kernel = script.lines().find(|l| l.starts_with("kernel "))?;
    kernel.split(' ').find_map(|w| w.strip_prefix(&format!("{key}=")).map(str::to_string))
}

/// A MAC for test node `i`.
pub fn mac(i: usize) -> String {
    format!("52:54:00:{:02x}:{:02x}:{:02x}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)
}
