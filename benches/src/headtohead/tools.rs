//! The three tools compared, each driven from the command line inside the namespaces: one transfer of
//! one file to every receiver, timed from the sender's start to the last receiver's copy.

use super::netns::{HOST_IFACE, Topology};
use super::process::{NetnsProcess, wait_all};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Multicast group fountain sends to.
const FOUNTAIN_GROUP: &str = "239.77.0.1:47000";
/// Multicast group udpcast's data goes to (its rendezvous is the subnet broadcast).
const UDPCAST_DATA_GROUP: &str = "239.77.0.2";
/// udp-sender repeats its HELLO this often (ms) while it waits: receivers start first, and one whose
/// only HELLO is lost to the injected loss would otherwise never connect (udpcast's default is 0, never).
const UDPCAST_HELLO_INTERVAL_MS: &str = "500";
/// uftp client ids are 8 hex digits; receiver i is this plus i.
const UFTP_FIRST_CLIENT_ID: u32 = 0x1000_0001;
/// How long a tool that was asked to stop may take before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// How long fountain's sender may take to hash the object and write the ticket.
const TICKET_WAIT: Duration = Duration::from_secs(60);

/// A multicast file-distribution tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// fountain (`fountain send` / `fountain recv`).
    Fountain,
    /// udpcast (`udp-sender` / `udp-receiver`).
    Udpcast,
    /// UFTP (`uftp` / `uftpd`).
    Uftp,
}

impl Tool {
    /// Every tool, in table order.
    pub const ALL: [Tool; 3] = [Tool::Fountain, Tool::Udpcast, Tool::Uftp];

    /// Its name in tables and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Fountain => "fountain",
            Tool::Udpcast => "udpcast",
            Tool::Uftp => "uftp",
        }
    }

    /// Parses a name from [`Tool::name`].
    pub fn parse(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The programs it needs, for a check before any run.
    pub fn programs(self, fountain: &Path) -> Vec<PathBuf> {
        match self {
            Tool::Fountain => vec![fountain.to_owned()],
            Tool::Udpcast => vec!["/usr/bin/udp-sender".into(), "/usr/bin/udp-receiver".into()],
            Tool::Uftp => vec!["/usr/bin/uftp".into(), "/usr/bin/uftpd".into()],
        }
    }
}

/// One transfer to run.
#[derive(Debug)]
pub struct Transfer<'a> {
    /// The network.
    pub topology: &'a Topology,
    /// The file to send (on tmpfs).
    pub source: &'a Path,
    /// Scratch directory (on tmpfs) for copies, tickets and logs.
    pub work_dir: &'a Path,
    /// Rate every tool is told to send at, bits/s; `None` for as fast as it can.
    pub rate_bps: Option<u64>,
    /// The whole transfer is abandoned after this long.
    pub time_limit: Duration,
    /// The fountain binary.
    pub fountain: &'a Path,
    /// Extra arguments for `fountain send` (e.g. `--fixed-rate`).
    pub fountain_send_args: &'a [String],
}

/// What one transfer achieved.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Sender start to the last copy complete.
    pub seconds: f64,
    /// User + system seconds of the sender and every receiver.
    pub cpu_seconds: f64,
    /// User + system seconds of the sender alone.
    pub sender_cpu_seconds: f64,
    /// The copies written, one per receiver that produced a file (to be verified by the caller).
    pub copies: Vec<PathBuf>,
    /// How the time breaks down, where the tool says.
    pub note: Option<String>,
}

/// Runs one transfer with `tool`. Errors when it fails or overruns its time limit; the processes are
/// stopped either way.
pub fn run(tool: Tool, transfer: &Transfer<'_>) -> anyhow::Result<Outcome> {
    let dirs: Vec<PathBuf> = (0..transfer.topology.receivers.len()).map(|i| transfer.work_dir.join(format!("rx{i}"))).collect();
    for dir in &dirs {
        std::fs::create_dir_all(dir)?;
    }
    let deadline = Instant::now() + transfer.time_limit;
    match tool {
        Tool::Fountain => fountain(transfer, &dirs, deadline),
        Tool::Udpcast => udpcast(transfer, &dirs, deadline),
        Tool::Uftp => uftp(transfer, &dirs, deadline),
    }
}

fn fountain(t: &Transfer<'_>, dirs: &[PathBuf], deadline: Instant) -> anyhow::Result<Outcome> {
    let ticket = t.work_dir.join("fountain.ticket");
    let _ = std::fs::remove_file(&ticket);
    let rate = t.rate_bps.map_or_else(|| "0".to_owned(), |r| r.to_string());
    let timeout = t.time_limit.as_secs_f64().to_string();
    let sender_args = [
        "send",
        &t.source.display().to_string(),
        "--manifest",
        &ticket.display().to_string(),
        "--group",
        FOUNTAIN_GROUP,
        "--receivers",
        &dirs.len().to_string(),
        "--rate",
        &rate,
        "--iface",
        &t.topology.sender.addr.to_string(),
        "--ttl",
        "1",
        "--timeout",
        &timeout,
    ]
    .map(str::to_owned);
    let sender_args: Vec<String> = sender_args.into_iter().chain(t.fountain_send_args.iter().cloned()).collect();
    // The receivers start first and wait for the ticket, as udpcast's and uftp's wait for their
    // sender: their process start is outside every tool's time.
    let mut receivers = Vec::new();
    for (i, (host, dir)) in t.topology.receivers.iter().zip(dirs).enumerate() {
        let out = dir.join("copy");
        let args = ["recv", "--manifest", &ticket.display().to_string(), "--wait-for-ticket", &timeout, "--out", &out.display().to_string(), "--iface", &host.addr.to_string()]
            .map(str::to_owned);
        receivers.push(NetnsProcess::spawn(&host.netns, t.fountain, &args, &format!("fountain-rx{i}"), t.work_dir)?);
    }
    let started = Instant::now();
    let mut processes = vec![NetnsProcess::spawn(&t.topology.sender.netns, t.fountain, &sender_args, "fountain-sender", t.work_dir)?];
    processes.extend(receivers);
    wait_for_ticket(&ticket, &mut processes[0], (started + TICKET_WAIT).min(deadline))?;
    let ticket_s = started.elapsed().as_secs_f64();
    // A finished receiver stays a few seconds to serve its peers, so the processes' exit is not when
    // the copies were complete. The sender ends once every receiver has reported its copy complete
    // and verified (one datagram after the fact); a receiver the sender handed off to its peers
    // completes later, and its own summary line says when (from its session's start, after it
    // read the ticket: counted from when this harness saw the ticket, a few ms either way).
    let sender_ok = wait_all(&mut processes[..1], deadline)?;
    let sender_end = started.elapsed().as_secs_f64();
    let mut outcome = finish(processes, started, deadline, None, dirs)?;
    anyhow::ensure!(sender_ok, "fountain send did not finish within its time limit");
    let sender_log = std::fs::read_to_string(t.work_dir.join("fountain-sender.log")).unwrap_or_default();
    let session_s = summary_seconds(&sender_log, "sender");
    let mut last_copy = 0.0f64;
    for i in 0..dirs.len() {
        let log = std::fs::read_to_string(t.work_dir.join(format!("fountain-rx{i}.log"))).unwrap_or_default();
        let elapsed = summary_seconds(&log, "received").ok_or_else(|| anyhow::anyhow!("fountain-rx{i} printed no summary"))?;
        last_copy = last_copy.max(ticket_s + elapsed);
    }
    let process_exit = outcome.seconds;
    outcome.seconds = sender_end.max(last_copy);
    let summaries: Vec<String> = std::iter::once(summary_line(&sender_log, "sender"))
        .chain((0..dirs.len()).map(|i| summary_line(&std::fs::read_to_string(t.work_dir.join(format!("fountain-rx{i}.log"))).unwrap_or_default(), "received: symbols")))
        .flatten()
        .collect();
    outcome.note = Some(format!(
        "ticket written at {ticket_s:.2} s, sender's session (start of sending to end) {}, sender exit {sender_end:.2} s, \
         last receiver's completion {last_copy:.2} s, last process exit {process_exit:.2} s\n    {}",
        session_s.map_or_else(|| "?".to_owned(), |s| format!("{s:.2} s")),
        summaries.join("\n    ")
    ));
    Ok(outcome)
}

/// fountain's last summary line starting `PREFIX: ` (repair and window drops, for the note).
fn summary_line(log: &str, prefix: &str) -> Option<String> {
    log.lines().rev().find(|l| l.starts_with(&format!("{prefix}: "))).map(str::to_owned)
}

/// The seconds in fountain's summary line `ROLE: N bytes in S s, ...`.
fn summary_seconds(log: &str, role: &str) -> Option<f64> {
    let prefix = format!("{role}: ");
    let line = log.lines().rev().find(|l| l.starts_with(&prefix) && l.contains(" bytes in "))?;
    line.split(" bytes in ").nth(1)?.split_whitespace().next()?.parse().ok()
}

/// The sender hashes the object before it writes the ticket (renamed into place, so whole once
/// it exists). When it appeared is where the receivers' sessions start, for the note.
fn wait_for_ticket(ticket: &Path, sender: &mut NetnsProcess, deadline: Instant) -> anyhow::Result<()> {
    loop {
        if std::fs::metadata(ticket).is_ok_and(|m| m.len() > 0) {
            return Ok(());
        }
        if let Some(status) = sender.try_exit()? {
            anyhow::bail!("fountain send ended ({status}) before writing its ticket");
        }
        anyhow::ensure!(Instant::now() < deadline, "fountain send wrote no ticket in time");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn udpcast(t: &Transfer<'_>, dirs: &[PathBuf], deadline: Instant) -> anyhow::Result<Outcome> {
    let mut processes = Vec::new();
    for (i, (host, dir)) in t.topology.receivers.iter().zip(dirs).enumerate() {
        let args = ["--nokbd", "--interface", HOST_IFACE, "--file", &dir.join("copy").display().to_string()].map(str::to_owned);
        processes.push(NetnsProcess::spawn(&host.netns, Path::new("/usr/bin/udp-receiver"), &args, &format!("udpcast-rx{i}"), t.work_dir)?);
    }
    let mut args: Vec<String> = [
        "--nokbd",
        "--interface",
        HOST_IFACE,
        "--file",
        &t.source.display().to_string(),
        "--min-receivers",
        &dirs.len().to_string(),
        "--mcast-data-address",
        UDPCAST_DATA_GROUP,
        "--rexmit-hello-interval",
        UDPCAST_HELLO_INTERVAL_MS,
        "--ttl",
        "1",
    ]
    .map(str::to_owned)
    .into();
    if let Some(rate) = t.rate_bps {
        args.extend(["--max-bitrate".to_owned(), format!("{}k", rate / 1000)]);
    }
    let started = Instant::now();
    processes.insert(0, NetnsProcess::spawn(&t.topology.sender.netns, Path::new("/usr/bin/udp-sender"), &args, "udpcast-sender", t.work_dir)?);
    finish(processes, started, deadline, None, dirs)
}

fn uftp(t: &Transfer<'_>, dirs: &[PathBuf], deadline: Instant) -> anyhow::Result<Outcome> {
    let mut processes = Vec::new();
    let mut ids = Vec::new();
    for (i, (host, dir)) in t.topology.receivers.iter().zip(dirs).enumerate() {
        let id = format!("0x{:08x}", UFTP_FIRST_CLIENT_ID + i as u32);
        let args = ["-d", "-q", "-I", HOST_IFACE, "-U", &id, "-D", &dir.display().to_string()].map(str::to_owned);
        processes.push(NetnsProcess::spawn(&host.netns, Path::new("/usr/bin/uftpd"), &args, &format!("uftp-rx{i}"), t.work_dir)?);
        ids.push(id);
    }
    // Give the daemons a moment to join the announcement group before the first announcement.
    std::thread::sleep(Duration::from_millis(200));
    let rate_kbps = t.rate_bps.map_or_else(|| "-1".to_owned(), |r| (r / 1000).to_string());
    let args = ["-I", HOST_IFACE, "-R", &rate_kbps, "-t", "1", "-H", &ids.join(","), &t.source.display().to_string()].map(str::to_owned);
    let started = Instant::now();
    let sender = NetnsProcess::spawn(&t.topology.sender.netns, Path::new("/usr/bin/uftp"), &args, "uftp-sender", t.work_dir)?;
    // uftpd is a daemon: the transfer is over when the sender says every client has the file.
    processes.insert(0, sender);
    finish(processes, started, deadline, Some(1), dirs)
}

/// Waits for the first `until` processes (all when `None`) to end successfully, stops the rest, and
/// collects times and copies.
fn finish(
    mut processes: Vec<NetnsProcess>,
    started: Instant,
    deadline: Instant,
    until: Option<usize>,
    dirs: &[PathBuf],
) -> anyhow::Result<Outcome> {
    let watched = until.unwrap_or(processes.len());
    let completed = wait_all(&mut processes[..watched], deadline)?;
    let seconds = started.elapsed().as_secs_f64();
    for p in &mut processes {
        p.stop(STOP_GRACE);
    }
    anyhow::ensure!(completed, "did not finish within its time limit");
    for p in &mut processes[..watched] {
        let status = p.try_exit()?.expect("stopped");
        anyhow::ensure!(status.success(), "{} failed ({status})", p.name());
    }
    let mut cpu = Vec::new();
    for p in &processes {
        cpu.push(p.cpu_seconds().ok_or_else(|| anyhow::anyhow!("no CPU usage recorded for {}", p.name()))?);
    }
    let copies = dirs.iter().filter_map(|d| only_file(d)).collect();
    // Every tool's sender is the first process.
    Ok(Outcome { seconds, cpu_seconds: cpu.iter().sum(), sender_cpu_seconds: cpu[0], copies, note: None })
}

/// The one regular file a receiver wrote into its directory (tools name it differently).
fn only_file(dir: &Path) -> Option<PathBuf> {
    let mut files = std::fs::read_dir(dir).ok()?.filter_map(Result::ok).filter(|e| e.file_type().is_ok_and(|t| t.is_file()));
    let first = files.next()?.path();
    files.next().is_none().then_some(first)
}
