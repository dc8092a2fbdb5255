//! An NFS server for the lab: nfs-ganesha, a userspace server (the host kernel has no nfsd), in the
//! lab's namespace on the bridge address, exporting a fresh directory read-only over NFSv4 at
//! [`NfsServer::EXPORT`]. Guests mount `10.78.0.1:/share` as a node's config says; host-side checks
//! read through libnfs's `nfs-cat` (the host kernel has no NFS client either).
//!
//! NFSv4 only: v3 needs rpcbind, whose socket path (`/run/rpcbind.sock`) is one per host, so a
//! per-namespace rpcbind would collide with the host's or another lab's.
//!
//! Dropping the server kills ganesha and deletes its directory (export, recovery state, log).
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::Lab;
use crate::netns::Netns;
use crate::process::{Guard, POLL, output};

/// The server program (Debian package `nfs-ganesha`, with `nfs-ganesha-vfs` for its VFS backend).
const GANESHA: &str = "ganesha.nfsd";
/// libnfs's command-line reader (Debian package `libnfs-utils`), for checks from the host side.
const NFS_CAT: &str = "nfs-cat";
/// The VFS backend ganesha loads to export a local directory.
const VFS_FSAL: &str = "/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so";
/// What ganesha logs once it serves.
const READY_LINE: &str = "NFS SERVER INITIALIZED";
/// How long ganesha gets to start serving.
const START_LIMIT: Duration = Duration::from_secs(30);

/// Why the NFS server cannot run here, or `None` where it can.
pub fn unavailable_reason() -> Option<String> {
    if Command::new(GANESHA).arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
        return Some(format!("{GANESHA} is not installed (nfs-ganesha)"));
    }
    if !Path::new(VFS_FSAL).exists() {
        return Some(format!("{VFS_FSAL} is missing (nfs-ganesha-vfs)"));
    }
    None
}

/// A running ganesha; killed, and its directory deleted, on drop.
#[derive(Debug)]
pub struct NfsServer {
    // Field order is drop order: the process before its folder.
    ganesha: Guard,
    addr: String,
    dir: tempfile::TempDir,
}

impl NfsServer {
    /// The NFSv4 path the export appears at.
    pub const EXPORT: &'static str = "/share";
    /// The file every export starts with.
    pub const MARKER_FILE: &'static str = "fountain-nfs-marker";
    /// The marker's content.
    pub const MARKER: &'static str = "fountain lab NFS export\n";

    /// Starts a server in `lab`'s namespace on its bridge address.
    pub fn start(lab: &Lab) -> anyhow::Result<NfsServer> {
        Self::start_in(lab.netns(), crate::lab::HOST_ADDR)
    }

    /// Starts a server in `ns`, listening on `addr` (an address of an interface in `ns`).
    pub(crate) fn start_in(ns: &Netns, addr: &str) -> anyhow::Result<NfsServer> {
        if let Some(why) = unavailable_reason() {
            bail!("{why}");
        }
        let dir = tempfile::Builder::new().prefix("fountain-nfs").tempdir()?;
        let export = dir.path().join("export");
        let recovery = dir.path().join("recovery");
        std::fs::create_dir_all(&export)?;
        std::fs::create_dir_all(&recovery)?;
        std::fs::write(export.join(Self::MARKER_FILE), Self::MARKER)?;
        let conf = dir.path().join("ganesha.conf");
        std::fs::write(&conf, config(addr, &export, &recovery))?;
        let log = dir.path().join("ganesha.log");
        let mut command = ns.command(GANESHA);
        command
            .arg("-F")
            .arg("-f")
            .arg(&conf)
            .arg("-L")
            .arg(&log)
            .arg("-p")
            .arg(dir.path().join("ganesha.pid"))
            .args(["-N", "NIV_EVENT"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let ganesha = Guard::spawn("nfs-ganesha", &mut command)?;
        let mut server = NfsServer { ganesha, addr: addr.to_string(), dir };
        server.wait_ready(&log)?;
        Ok(server)
    }

    fn wait_ready(&mut self, log: &Path) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            self.ganesha.check_running().with_context(|| format!("see {}", log.display()))?;
            if std::fs::read_to_string(log).is_ok_and(|l| l.contains(READY_LINE)) {
                return Ok(());
            }
            if start.elapsed() > START_LIMIT {
                bail!("nfs-ganesha did not start serving within {START_LIMIT:?}; see {}", log.display());
            }
            std::thread::sleep(POLL);
        }
    }

    /// The address it serves on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The exported directory on the host: files put here are what clients see.
    pub fn export_dir(&self) -> PathBuf {
        self.dir.path().join("export")
    }

    /// Reads `file` of the export over NFSv4 from inside `ns`, as a client on the bridge would.
    pub(crate) fn read_in(&self, ns: &Netns, file: &str) -> anyhow::Result<String> {
        let url = format!("nfs://{}{}/{file}?version=4", self.addr, Self::EXPORT);
        output(ns.command(NFS_CAT).arg(&url)).with_context(|| format!("reading {url} (needs {NFS_CAT}, package libnfs-utils)"))
    }

    /// [`NfsServer::read_in`] from `lab`'s namespace.
    pub fn read(&self, lab: &Lab, file: &str) -> anyhow::Result<String> {
        self.read_in(lab.netns(), file)
    }
}

/// ganesha's configuration: NFSv4 over TCP on `addr` only, no lock manager or quota service, no
/// grace period (nothing to recover), one read-only export of `export` at [`NfsServer::EXPORT`].
fn config(addr: &str, export: &Path, recovery: &Path) -> String {
    format!(
        r#"NFS_CORE_PARAM {{
    Protocols = 4;
    Bind_Addr = {addr};
    NFS_Port = 2049;
    Enable_NLM = false;
    Enable_RQUOTA = false;
}}
NFSV4 {{
    Graceless = true;
    RecoveryBackend = fs;
    RecoveryRoot = {recovery};
}}
EXPORT {{
    Export_Id = 1;
    Path = {export};
    Pseudo = {pseudo};
    Access_Type = RO;
    Squash = No_Root_Squash;
    Protocols = 4;
    Transports = TCP;
    SecType = sys;
    FSAL {{ Name = VFS; }}
}}
"#,
        recovery = recovery.display(),
        export = export.display(),
        pseudo = NfsServer::EXPORT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bridge address of this test's own namespace.
    const ADDR: &str = "10.79.0.1";

    #[test]
    fn a_client_in_the_namespace_reads_the_marker_over_nfs4() {
        if let Some(why) = unavailable_reason().or_else(|| crate::netns::probe().err().map(|e| format!("no network namespace (root needed): {e}"))) {
            eprintln!("skipping: {why}");
            return;
        }
        if Command::new(NFS_CAT).stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
            eprintln!("skipping: {NFS_CAT} is not installed (libnfs-utils)");
            return;
        }
        let ns = Netns::create().unwrap();
        ns.ip(&["link", "add", "br0", "type", "bridge"]).unwrap();
        ns.ip(&["addr", "add", &format!("{ADDR}/24"), "dev", "br0"]).unwrap();
        ns.ip(&["link", "set", "br0", "up"]).unwrap();
        let server = NfsServer::start_in(&ns, ADDR).unwrap();
        assert_eq!(server.read_in(&ns, NfsServer::MARKER_FILE).unwrap(), NfsServer::MARKER);
        std::fs::write(server.export_dir().join("late"), "added after start\n").unwrap();
        assert_eq!(server.read_in(&ns, "late").unwrap(), "added after start\n", "the export is the live directory");
        let missing = server.read_in(&ns, "absent").unwrap_err().to_string();
        assert!(missing.contains("absent"), "{missing}");

        let dir = server.dir.path().to_path_buf();
        drop(server);
        assert!(!dir.exists(), "its folder is gone");
        assert_eq!(output(Command::new("ip").args(["netns", "pids", &ns.name])).unwrap().trim(), "", "ganesha is gone");
    }
}
