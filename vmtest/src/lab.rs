//! The lab: a namespace with a bridge, dnsmasq answering DHCP on it with an iPXE boot URL, and
//! `fountain serve` listening on the bridge's address, all removed on drop.
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::netns::Netns;
use crate::process::{Guard, POLL, output};

const BRIDGE: &str = "br0";
/// The bridge's (and the server's) address; guests lease from the range below.
pub(crate) const HOST_ADDR: &str = "10.78.0.1";
const PREFIX_LEN: u8 = 24;
/// The bridge's IPv6 address, whose prefix dnsmasq advertises. iPXE configures IPv6 beside DHCP and
/// runs nothing until both are done: with no router advertisement on the link it solicits one for
/// ~13 s of every PXE boot (seen in the lab: DHCP bound 5 s after the ROM started, the HTTP request
/// 13 s later, after five router solicitations). An advertised prefix (SLAAC only, no DHCPv6)
/// completes it at once.
const HOST_ADDR6: &str = "fd78::1/64";
const DHCP_RANGE: &str = "10.78.0.100,10.78.0.199,255.255.255.0,1h";
const SERVER_PORT: u16 = 8080;
/// The lab's MTU, on the bridge, every tap and in the DHCP lease (which the agent applies): jumbo
/// frames, so the server cuts its manifests for 9000-byte datagrams (`serve --mtu` defaults to its
/// link's), as on a cluster network built for them.
const MTU: &str = "9000";
/// Ceiling of each multicast session's adaptive rate. A TCG guest takes in a bounded number of
/// datagrams a second: at 1,432-byte symbols ~23 Mbit/s, and the adaptive rate did not hold two
/// guests below any higher ceiling (session 12, docs/benchmarks.md: they fell silent behind seconds
/// of session queued in their socket buffers and fetched most blocks over HTTP). With the lab's
/// jumbo frames ([`MTU`]) each datagram carries 8,936 bytes, and at 96 Mbit/s both guests kept
/// every symbol (session 21: 239 MiB in ~26 s, was ~100 s at 24 Mbit/s).
const SESSION_RATE_BPS: &str = "96000000";
/// Gathering window of a transfer session, ms: TCG guests booted together register up to tens of
/// seconds apart on a loaded host, and must still share one session.
const SESSION_WINDOW_MS: &str = "30000";
/// Multicast group and port of the lab's first transfer session (the next ones take the next group
/// addresses): what anyone on the bridge sees on the wire, so a test can forge into it.
pub const SESSION_GROUP: &str = "239.255.70.1:47000";
/// How long the server gets to answer its first request.
const SERVER_START: Duration = Duration::from_secs(30);

/// A running lab.
#[derive(Debug)]
pub struct Lab {
    // Field order is drop order: processes before the namespace they run in, the folder last.
    serve: Guard,
    dnsmasq: Guard,
    ns: Netns,
    fountain: PathBuf,
    data_dir: PathBuf,
    taps: Cell<u32>,
    dir: tempfile::TempDir,
}

impl Lab {
    /// Starts a lab whose server runs `fountain` and serves the boot files in `boot_dir`.
    pub fn start(fountain: &Path, boot_dir: &Path) -> anyhow::Result<Lab> {
        let mut dir = tempfile::Builder::new().prefix("fountain-vmlab").tempdir()?;
        // FOUNTAIN_VM_KEEP=1 keeps consoles and logs for a post-mortem.
        dir.disable_cleanup(std::env::var_os("FOUNTAIN_VM_KEEP").is_some());
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(data_dir.join("boot"))?;
        for f in ["vmlinuz", "initrd.img"] {
            let (src, dst) = (boot_dir.join(f), data_dir.join("boot").join(f));
            std::fs::hard_link(&src, &dst).or_else(|_| std::fs::copy(&src, &dst).map(drop)).with_context(|| format!("copying {}", src.display()))?;
        }
        let ns = Netns::create()?;
        // Without snooping the bridge floods the sessions' multicast to every tap, as a plain switch.
        ns.ip(&["link", "add", BRIDGE, "mtu", MTU, "type", "bridge", "mcast_snooping", "0"])?;
        ns.ip(&["addr", "add", &format!("{HOST_ADDR}/{PREFIX_LEN}"), "dev", BRIDGE])?;
        ns.ip(&["addr", "add", HOST_ADDR6, "dev", BRIDGE, "nodad"])?;
        ns.ip(&["link", "set", BRIDGE, "up"])?;
        let url = format!("http://{HOST_ADDR}:{SERVER_PORT}");
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).map(Stdio::from);
        let mut dnsmasq = ns.command("dnsmasq");
        dnsmasq
            .args(["--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root", "--bind-interfaces", "--log-dhcp"])
            .arg(format!("--interface={BRIDGE}"))
            .arg(format!("--dhcp-range={DHCP_RANGE}"))
            .arg(format!("--dhcp-option=option:mtu,{MTU}"))
            .args(["--enable-ra", &format!("--dhcp-range=::,constructor:{BRIDGE},ra-only")])
            .arg(format!("--dhcp-leasefile={}", dir.path().join("leases").display()))
            .arg(format!("--pid-file={}", dir.path().join("dnsmasq.pid").display()))
            // iPXE (qemu's NIC ROM) expands ${net0/mac} itself, so one URL serves every machine.
            .arg(format!("--dhcp-boot={url}/boot/ipxe?mac=${{net0/mac}}"))
            .stdin(Stdio::null())
            .stdout(log("dnsmasq.log")?)
            .stderr(log("dnsmasq.log")?);
        let dnsmasq = Guard::spawn("dnsmasq", &mut dnsmasq)?;
        let mut serve = ns.command(fountain);
        serve
            .arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", &format!("{HOST_ADDR}:{SERVER_PORT}"), "--public-url", &url])
            // Transfer sessions leave by the bridge (inside the namespace), not loopback.
            .args(["--iface", HOST_ADDR, "--group", SESSION_GROUP, "--rate-bps", SESSION_RATE_BPS, "--window-ms", SESSION_WINDOW_MS])
            .stdin(Stdio::null())
            .stdout(log("serve.log")?)
            .stderr(log("serve.log")?);
        let serve = Guard::spawn("fountain serve", &mut serve)?;
        let mut lab = Lab { serve, dnsmasq, ns, fountain: fountain.to_path_buf(), data_dir, taps: Cell::new(0), dir };
        lab.wait_ready()?;
        Ok(lab)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            self.serve.check_running().with_context(|| format!("see {}", self.dir.path().join("serve.log").display()))?;
            self.dnsmasq.check_running().with_context(|| format!("see {}", self.dir.path().join("dnsmasq.log").display()))?;
            match self.fountain(&["node", "list"]) {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() > SERVER_START => bail!("fountain serve did not answer within {SERVER_START:?}: {e}"),
                Err(_) => std::thread::sleep(POLL),
            }
        }
    }

    /// Runs the `fountain` CLI inside the namespace against the lab's server; returns its stdout.
    pub fn fountain(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut cmd = self.ns.command(&self.fountain);
        cmd.args(args).env("FOUNTAIN_SERVER", self.server_url()).env("FOUNTAIN_TOKEN_FILE", self.data_dir.join("admin.token"));
        output(&mut cmd)
    }

    /// Like [`Lab::fountain`] with `--json`, parsed.
    pub fn fountain_json(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.fountain(&all)?;
        serde_json::from_str(&out).with_context(|| format!("parsing the output of fountain {}: {out}", args.join(" ")))
    }

    /// The control plane's URL inside the namespace.
    pub fn server_url(&self) -> String {
        format!("http://{HOST_ADDR}:{SERVER_PORT}")
    }

    /// The server's data directory (images go in its `images/`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The folder holding logs, consoles and the server's data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The namespace.
    pub(crate) fn netns(&self) -> &Netns {
        &self.ns
    }

    /// A new tap on the bridge; returns its name.
    pub(crate) fn add_tap(&self) -> anyhow::Result<String> {
        let n = self.taps.get();
        self.taps.set(n + 1);
        let tap = format!("tap{n}");
        self.ns.ip(&["tuntap", "add", "dev", &tap, "mode", "tap"])?;
        self.ns.ip(&["link", "set", &tap, "mtu", MTU])?;
        self.ns.ip(&["link", "set", &tap, "master", BRIDGE])?;
        self.ns.ip(&["link", "set", &tap, "up"])?;
        Ok(tap)
    }

    /// Runs `program args` on the host inside the namespace (for checks); returns stdout.
    pub fn exec(&self, program: &str, args: &[&str]) -> anyhow::Result<String> {
        output(self.ns.command(program).args(args))
    }

    /// Like [`Lab::exec`] with `envs` set, for a program that acts on the lab's network from the
    /// host's side (a test binary re-run as a child, like the forger of the install test).
    pub fn exec_with_env(&self, program: &Path, args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<String> {
        output(self.ns.command(program).args(args).envs(envs.iter().copied()))
    }

    /// The address of the lab's side of the bridge, which multicast from the host leaves by.
    pub fn host_addr(&self) -> std::net::Ipv4Addr {
        HOST_ADDR.parse().expect("HOST_ADDR is an IPv4 address")
    }
}
