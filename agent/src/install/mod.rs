//! The stateful re-image from top to bottom: lay out the disks, receive the image, unpack it, write
//! what the installed system needs to find its disks and be this node (fstab, mdadm.conf, the node
//! config plugins, its initramfs), install grub, report, reboot from disk. Each phase's time goes to
//! the control plane with the status report that ends it.
//!
//! A failed try is reported and tried again a few times ([`RetryPolicy`]); a failure no retry can
//! change (no layout, a layout that does not fit) is not. Then the agent waits for the operator:
//! it polls the node's config and reboots once its next boot is no longer a re-image or its
//! assignment (image, layout, config) changed, so the fix takes effect in a fresh boot.
mod checkpoint;
mod chroot;
pub mod place;
mod receive;
pub mod remake;
mod resync;
mod retry;
mod spare_esp;
pub mod system;
mod unpack;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use control::api::agent::{AgentConfig, Outcome, Report};
use control::auth::Secret;
use control::inventory::Inventory;
use control::node::NextBoot;
use control::store::agent_status::{AgentReport, Phase, PhaseTime};

pub use retry::RetryPolicy;

use crate::config;
use crate::error::AgentError;
use crate::exec::ApplyError;
use crate::layout::{Mode, TARGET_ROOT};
use crate::report::Reporter;
use crate::run::say;

/// The kernel argument that stops the agent after the layout step and leaves the console shell
/// (like dracut's `rd.break`): for looking at a layout before anything is installed.
pub const BREAK_AFTER_LAYOUT: &str = "fountain.break=layout";
/// Pause between looks at the node's config while waiting for the operator.
const OPERATOR_POLL: Duration = Duration::from_secs(10);

/// Why an install step failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The image has nowhere to go.
    #[error(transparent)]
    NoRoom(#[from] place::NoRoom),
    /// unsquashfs failed.
    #[error("unpacking the image: {0}")]
    Unpack(#[from] image::artifact::ArtifactError),
    /// The image's OS family is not one the agent configures.
    #[error("the installed image: {0}")]
    Family(#[from] image::capture::CaptureError),
    /// A tool failed.
    #[error(transparent)]
    Command(#[from] image::command::CommandError),
    /// The node config could not be rendered.
    #[error("the node config: {0}")]
    Render(#[from] config::RenderError),
    /// Files could not be written into the installed system.
    #[error("writing into the installed system: {0}")]
    Write(#[from] config::WriteError),
    /// A file operation failed.
    #[error("{doing}: {source}")]
    Io {
        /// What was being done.
        doing: String,
        /// Why.
        source: std::io::Error,
    },
}

impl InstallError {
    fn io(doing: String, source: std::io::Error) -> Self {
        InstallError::Io { doing, source }
    }
}

/// What the agent was told to install, and by whom.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The node.
    pub node: &'a str,
    /// Its token.
    pub token: &'a Secret,
    /// Kernel command line (for [`BREAK_AFTER_LAYOUT`]).
    pub cmdline: &'a str,
}

/// Phase times not yet sent: each status report takes them along.
#[derive(Debug, Default)]
pub struct Phases(Vec<PhaseTime>);

impl Phases {
    /// Records that `phase` ran from `since` until now.
    pub fn ended(&mut self, phase: Phase, since: Instant) {
        self.0.push(PhaseTime { phase, millis: since.elapsed().as_millis() as u64 });
    }

    /// Records `phase` with a duration measured elsewhere.
    pub fn took(&mut self, phase: Phase, took: Duration) {
        self.0.push(PhaseTime { phase, millis: took.as_millis() as u64 });
    }

    /// The times to send now.
    pub fn take(&mut self) -> Vec<PhaseTime> {
        std::mem::take(&mut self.0)
    }
}

/// The time from the kernel's start to now, from `/proc/uptime`.
pub fn uptime(proc: &Path) -> Option<Duration> {
    let text = std::fs::read_to_string(proc.join("uptime")).ok()?;
    let seconds: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_secs_f64(seconds))
}

/// How one try ended without an error.
enum Done {
    /// Installed and reported: reboot.
    Installed,
    /// Stopped after the layout, as asked (dry run or [`BREAK_AFTER_LAYOUT`]).
    Stopped,
}

/// Re-images the node: tries, retries, and after the last failure waits for the operator.
pub fn reimage(reporter: &Reporter, job: Job<'_>, inventory: &Inventory, mode: Mode, phases: &mut Phases) -> Result<(), AgentError> {
    let policy = RetryPolicy::default();
    let stop_after_layout = job.cmdline.split_whitespace().any(|w| w == BREAK_AFTER_LAYOUT);
    let mut attempt = 1;
    loop {
        let mut session = None;
        let error = match try_once(reporter, job, inventory, mode, stop_after_layout, phases, &mut session) {
            Ok(Done::Stopped) => return Ok(()),
            Ok(Done::Installed) => return reboot(),
            Err(e) => e,
        };
        say(&format!("error: {error}"));
        let config = reporter.config();
        report_failure(reporter, &error, session, config.as_ref().ok(), phases);
        if stop_after_layout {
            return Err(error);
        }
        let pause = if permanent(&error) { None } else { policy.pause_before(attempt + 1) };
        match pause {
            Some(pause) => {
                attempt += 1;
                say(&format!("trying again in {} s (try {attempt} of {})", pause.as_secs(), policy.attempts));
                std::thread::sleep(pause);
            }
            None => {
                say(&format!("re-image failed ({error}); waiting for the operator: fix the cause, then re-image the node again or set its next boot to local"));
                return wait_for_operator(reporter, config.ok());
            }
        }
    }
}

/// A failure that a retry cannot change: refused before any write.
fn permanent(e: &AgentError) -> bool {
    matches!(e, AgentError::NoLayout(_) | AgentError::LayoutInvalid(_) | AgentError::Layout(ApplyError::Plan(_)) | AgentError::Install(InstallError::NoRoom(_)))
}

/// Sends the error as the node's status and, once the node is in a session, as the session's outcome.
fn report_failure(reporter: &Reporter, error: &AgentError, session: Option<u64>, config: Option<&AgentConfig>, phases: &mut Phases) {
    let status = AgentReport { message: "re-image stopped".into(), error: Some(error.to_string()), inventory: None, phases: phases.take() };
    if let Err(e) = reporter.status(&status) {
        say(&format!("could not report the error: {e}"));
    }
    if let (Some(session), Some(image)) = (session, config.and_then(|c| c.image.as_ref())) {
        let report = Report { outcome: Outcome::Failure, image: image.image.clone(), version: image.version, session, message: Some(error.to_string()) };
        if let Err(e) = reporter.report(&report) {
            say(&format!("could not report the failure to the session: {e}"));
        }
    }
}

/// One try: layout, transfer, unpack, config, bootloader, report.
fn try_once(reporter: &Reporter, job: Job<'_>, inventory: &Inventory, mode: Mode, stop_after_layout: bool, phases: &mut Phases, session: &mut Option<u64>) -> Result<Done, AgentError> {
    let target = Path::new(TARGET_ROOT);
    let config = reporter.config()?;
    let started = Instant::now();
    if mode != Mode::DryRun && !stop_after_layout
        && let Some(rate) = resync::hold(Path::new(resync::SPEED_LIMIT_MAX), Path::new(resync::SPEED_LIMIT_MIN))
    {
        say(&format!("RAID resync held at {rate} KB/s per device while installing"));
    }
    let (layout, plan, message) = crate::run::lay_out(reporter, job.node, &config, inventory, mode)?;
    phases.ended(Phase::Layout, started);
    status(reporter, &message, phases)?;
    if mode == Mode::DryRun || stop_after_layout {
        say(&format!("stopping after the layout ({})", if mode == Mode::DryRun { "dry run" } else { BREAK_AFTER_LAYOUT }));
        return Ok(Done::Stopped);
    }
    let image = config.image.as_ref().ok_or_else(|| AgentError::Unsupported(format!("node {} has no image assigned", job.node)))?;
    let label = format!("{}@{}", image.image, image.version);

    let started = Instant::now();
    let received = receive::receive(reporter, job.node, job.token, image, target)?;
    *session = Some(received.session);
    phases.ended(Phase::Transfer, started);
    status(reporter, &format!("{label} received by {} ({} MiB in {:.1} s)", received.delivery, received.downloaded.bytes >> 20, received.downloaded.elapsed.as_secs_f64()), phases)?;

    let started = Instant::now();
    say(&format!("unpacking {label} onto {}", target.display()));
    // A converged layout's filesystems hold the previous install: made again unless the image
    // itself lies on the target root.
    let empty = if plan.rebuild.is_none() && received.place == place::Place::Ram { unpack::Empty::Remake(&plan.fstab) } else { unpack::Empty::Files };
    let unpacked = unpack::unpack(&received.artifact, target, empty)?;
    let scratch = received.place.dir(target);
    std::fs::remove_dir_all(&scratch).map_err(|e| InstallError::io(format!("removing {}", scratch.display()), e))?;
    phases.ended(Phase::Unpack, started);
    let rate = unpacked.artifact_bytes as f64 / unpacked.elapsed.as_secs_f64().max(1e-3) / 1e6;
    let emptied = match empty {
        unpack::Empty::Files => "emptied file by file",
        unpack::Empty::Remake(_) => "filesystems made again",
    };
    let message = format!("{label} unpacked in {:.1} s ({rate:.1} MB/s of image; target {emptied} in {:.1} s)", unpacked.elapsed.as_secs_f64(), unpacked.emptied.as_secs_f64());
    say(&message);
    status(reporter, &message, phases)?;

    let started = Instant::now();
    let family = image::capture::detect_family(target).map_err(InstallError::from)?;
    let kernel_args = configure(target, &plan, &config, &image.image, image.version, family)?;
    build_initramfs(target, family)?;
    phases.ended(Phase::Config, started);
    status(reporter, "installed system configured", phases)?;

    let started = Instant::now();
    let default_grub = target.join("etc/default/grub");
    let existing = std::fs::read_to_string(&default_grub).unwrap_or_default();
    write_into(target, vec![config::FileToWrite { path: "/etc/default/grub".into(), mode: 0o644, contents: system::grub_default(&existing, &kernel_args).into_bytes() }], Vec::new())?;
    for argv in chroot::bootloader_commands(family, layout.bootloader, &plan.boot_disks) {
        chroot::run(target, &argv)?;
    }
    if matches!(layout.bootloader, control::layout::Bootloader::Uefi) {
        spare_esp::install(target, family, &plan.spare_esps)?;
    }
    phases.ended(Phase::Bootloader, started);

    let message = format!("installed {label}; rebooting from disk");
    // The status (with the bootloader's time) goes first: the success report flips the node to
    // boot local and revokes this boot's token, so nothing can be sent after it.
    status(reporter, &message, phases)?;
    let report = Report { outcome: Outcome::Success, image: image.image.clone(), version: image.version, session: received.session, message: Some(message.clone()) };
    reporter.report(&report)?;
    say(&message);
    Ok(Done::Installed)
}

fn status(reporter: &Reporter, message: &str, phases: &mut Phases) -> Result<(), AgentError> {
    reporter.status(&AgentReport { message: message.to_string(), error: None, inventory: None, phases: phases.take() })
}

/// Writes the installed system's fstab, mdadm.conf and console unit, then the node config plugins'
/// output; returns the kernel arguments for the bootloader.
fn configure(target: &Path, plan: &crate::plan::Plan, config: &AgentConfig, image: &str, version: u32, family: image::meta::Family) -> Result<Vec<String>, AgentError> {
    let mut entries = Vec::new();
    for e in &plan.fstab {
        let out = image::command::run(&format!("reading the UUID of {}", e.device), Command::new("blkid").args(["-s", "UUID", "-o", "value", &e.device])).map_err(InstallError::from)?;
        entries.push((e.clone(), String::from_utf8_lossy(&out).trim().to_string()));
    }
    let mut files = vec![config::FileToWrite { path: "/etc/fstab".into(), mode: 0o644, contents: system::fstab(&entries).into_bytes() }];
    let scan = image::command::run("listing the RAID arrays", Command::new("mdadm").args(["--detail", "--scan"])).map_err(InstallError::from)?;
    if let Some(conf) = system::mdadm_conf(&String::from_utf8_lossy(&scan)) {
        let path = match family {
            image::meta::Family::Debian => "/etc/mdadm/mdadm.conf",
            image::meta::Family::El => "/etc/mdadm.conf",
        };
        files.push(config::FileToWrite { path: path.into(), mode: 0o644, contents: conf.into_bytes() });
    }
    let (unit, link) = system::installed_unit(image, version);
    files.extend(unit);
    write_into(target, files, vec![link])?;
    let rendered = config::render(&config.node.config, family).map_err(InstallError::from)?;
    config::apply(target, &rendered).map_err(InstallError::from)?;
    say(&format!("node config written: {} files, {} links, {} fstab lines", rendered.files.len(), rendered.links.len(), rendered.fstab.len()));
    Ok(rendered.kernel_args)
}

/// Builds the installed system's initramfs host-only ([`chroot::initramfs_command`]), with the
/// setting that makes it so in place for that build only.
fn build_initramfs(target: &Path, family: image::meta::Family) -> Result<(), AgentError> {
    let Some((path, text)) = chroot::host_only_setting(family) else {
        return Ok(chroot::run(target, &chroot::initramfs_command(family))?);
    };
    let written = write_into(target, vec![config::FileToWrite { path: path.into(), mode: 0o644, contents: text.as_bytes().to_vec() }], Vec::new())?;
    let built = chroot::run(target, &chroot::initramfs_command(family));
    let removed = written.iter().try_for_each(|f| std::fs::remove_file(f).map_err(|e| InstallError::io(format!("removing {}", f.display()), e)));
    built?;
    Ok(removed?)
}

/// Writes files and links into the target; returns where they landed on the host.
fn write_into(target: &Path, files: Vec<config::FileToWrite>, links: Vec<config::LinkToMake>) -> Result<Vec<std::path::PathBuf>, AgentError> {
    // Not `config::apply`: with no fstab lines it would drop the node config's fstab block (the NFS
    // mounts) that `configure` wrote.
    Ok(config::write_files(target, &files, &links).map_err(InstallError::from)?)
}

/// Unmounts the target, deactivates its volume groups and stops its arrays (so the RAID1 members are
/// clean), then reboots.
fn reboot() -> Result<(), AgentError> {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut under: Vec<&str> = mounts.lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|m| *m == TARGET_ROOT || m.starts_with(&format!("{TARGET_ROOT}/"))).collect();
    under.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in under {
        quiet(Command::new("umount").arg(m));
    }
    quiet(Command::new("vgchange").args(["-an"]));
    quiet(Command::new("mdadm").args(["--stop", "--scan"]));
    quiet(&mut Command::new("sync"));
    say("rebooting");
    quiet(Command::new("reboot").arg("-f"));
    Ok(())
}

/// Runs a cleanup command whose failure is only printed (the reboot goes ahead regardless).
fn quiet(cmd: &mut Command) {
    let what = format!("{cmd:?}");
    if let Err(e) = image::command::run(&what, cmd) {
        say(&format!("note: {e}"));
    }
}

/// Polls the node's config until the operator sets its next boot to something other than a re-image
/// or changes its assignment, then reboots into whatever the control plane now says.
fn wait_for_operator(reporter: &Reporter, failed_with: Option<AgentConfig>) -> Result<(), AgentError> {
    let key = |c: &AgentConfig| {
        let mut node = c.node.clone();
        node.installed = None;
        (node, c.image.clone(), c.layout.clone())
    };
    let before = failed_with.as_ref().map(key);
    loop {
        std::thread::sleep(OPERATOR_POLL);
        let Ok(config) = reporter.config() else { continue };
        if config.node.next_boot != NextBoot::Reimage {
            say(&format!("next boot is now {}: rebooting", config.node.next_boot));
            return reboot();
        }
        if before.as_ref().is_some_and(|b| *b != key(&config)) {
            say("the node's image, layout or config changed: rebooting to re-image");
            return reboot();
        }
    }
}
