//! Stateless boot: the node runs its image from RAM and is back to the published image at every
//! power cycle.
//!
//! 1. Trade the kernel command line's token for a boot credential ([`exchange`]); the token is dead
//!    from then on, so the copy every user of the booted node can read in `/proc/cmdline` opens
//!    nothing.
//! 2. Check that the image fits in RAM ([`memory`]) before fetching a byte.
//! 3. Download the artifact into a tmpfs sized to it, every block verified ([`fetch`]), from the
//!    servers the exchange listed (the control plane's choice first), failing over down the list. HTTP only for now: a
//!    multicast session for nodes booting the same version together is not built here.
//! 4. Mount it as it is (read-only squashfs on a loop device) under a tmpfs overlay ([`overlay`]).
//!    The image is never packed into a cpio, so its size is limited only by RAM.
//! 5. Render the node config plugins for the image's family into the overlay, with a unit that prints
//!    `image@version` on the console once multi-user is reached ([`banner`]).
//!    Say whether the image carries the running kernel's modules ([`kernel`]): the boot script
//!    boots the image's own kernel when it has one.
//! 6. Check that nothing written into the root carries the token or the credential ([`seal`]), end
//!    the credential, and leave `/init` the note that makes it switch_root ([`handoff`]).
pub mod banner;
pub mod exchange;
pub mod fetch;
pub mod handoff;
pub mod kernel;
pub mod memory;
pub mod overlay;
pub mod seal;

use std::path::Path;

use control::api::stateless_boot::StatelessBoot;
use control::auth::Secret;
use control::inventory::Inventory;
use control::store::agent_status::AgentReport;

use crate::config;
use crate::error::AgentError;
use crate::report::Reporter;
use crate::run::say;

/// The agent's run folder in the initramfs.
pub const RUN_DIR: &str = "/run/fountain";
/// Where the new root is assembled.
pub const NEW_ROOT: &str = "/newroot";

/// Why a stateless boot stopped (the API's failures are [`AgentError::Api`]).
#[derive(Debug, thiserror::Error)]
pub enum StatelessError {
    /// `/proc/meminfo` has no `MemAvailable`.
    #[error("reading the available RAM from {0}: no MemAvailable line")]
    Meminfo(String),
    /// The image does not fit in RAM.
    #[error(transparent)]
    Ram(#[from] memory::NotEnoughRam),
    /// The download failed.
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    /// A mount failed.
    #[error(transparent)]
    Mount(#[from] overlay::MountError),
    /// The image's family could not be told.
    #[error("the image's family: {0}")]
    Family(String),
    /// The node config could not be rendered or written.
    #[error("node config: {0}")]
    Config(String),
    /// A file in the new root carries a secret of this boot: the root is not handed over.
    #[error("{0} in the new root carries this boot's token or credential; not switching to it")]
    Leak(String),
    /// Reading the new root failed.
    #[error("{what}: {source}")]
    Io {
        /// What the agent was doing.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The new root cannot be handed to `/init`.
    #[error(transparent)]
    Handoff(#[from] handoff::HandoffError),
}

/// What the kernel command line says of a stateless boot.
#[derive(Debug)]
pub struct Order<'a> {
    /// Control plane URL.
    pub server: &'a str,
    /// The node.
    pub node: &'a str,
    /// Its single-use token.
    pub token: Secret,
}

/// Only the download of a stateless boot, into `out` (its journal at `journal`): the exchange, the image
/// by the same route as [`boot`] takes, and the end of the credential. The boot storm runs this
/// (`fountain fetch --stateless`) as its nodes, without the mounts and switch_root.
pub fn download_only(order: Order<'_>, out: &Path, journal: &Path, say: &mut dyn FnMut(&str)) -> Result<fetch::Fetched, AgentError> {
    let grant = exchange::exchange(&Reporter::node(order.server, order.node, order.token.clone()), order.node)?;
    let reporter = Reporter::node(order.server, order.node, Secret::new(grant.credential.clone()));
    let fetched = fetch::download(&reporter, &grant, out, journal, say)?;
    exchange::finish(&reporter, order.node)?;
    Ok(fetched)
}

/// Runs a stateless boot up to the point where `/init` switches root; `meminfo` is `/proc/meminfo`.
pub fn boot(order: Order<'_>, inventory: &Inventory, meminfo: &Path) -> Result<(), AgentError> {
    let with_token = Reporter::node(order.server, order.node, order.token.clone());
    let grant = exchange::exchange(&with_token, order.node)?;
    drop(with_token);
    let credential = Secret::new(grant.credential.clone());
    let reporter = Reporter::node(order.server, order.node, credential.clone());
    let image = &grant.image;
    let name = format!("{}@{}", image.image, image.version);
    say(&format!("node token exchanged (and revoked); booting {name} stateless"));
    reporter.status(&AgentReport { message: format!("agent up, booting {name} stateless"), error: None, inventory: Some(inventory.clone()), phases: Vec::new() })?;
    let secrets = [order.token.expose().as_bytes(), credential.expose().as_bytes()];
    match into_ram(&order, &grant, &reporter, meminfo, &secrets) {
        Ok(()) => {
            reporter.status(&AgentReport { message: format!("{name} mounted from RAM; switching root"), error: None, inventory: None, phases: Vec::new() })?;
            exchange::finish(&reporter, order.node)?;
            say(&format!("boot credential ended; switching root into {name}"));
            Ok(())
        }
        Err(e) => {
            say(&format!("error: {e}"));
            if let Err(report) = reporter.status(&AgentReport { message: "stateless boot stopped".into(), error: Some(e.to_string()), inventory: None, phases: Vec::new() }) {
                say(&format!("could not report the error: {report}"));
            }
            Err(e)
        }
    }
}

/// Steps 2 to 6 of the boot (see the module's documentation).
fn into_ram(order: &Order<'_>, grant: &StatelessBoot, reporter: &Reporter, meminfo: &Path, secrets: &[&[u8]]) -> Result<(), AgentError> {
    let image = &grant.image;
    let name = format!("{}@{}", image.image, image.version);
    let text = std::fs::read_to_string(meminfo).map_err(|source| StatelessError::Io { what: format!("reading {}", meminfo.display()), source })?;
    let available = memory::available(&text).ok_or_else(|| StatelessError::Meminfo(meminfo.display().to_string()))?;
    memory::check(&name, image.artifact_bytes, available).map_err(StatelessError::Ram)?;
    say(&format!("{name}: {} MiB image, {} MiB of RAM available", image.artifact_bytes.div_ceil(1 << 20), available >> 20));

    let paths = overlay::Paths { run: RUN_DIR.into(), new_root: NEW_ROOT.into() };
    overlay::mount(&paths.image_tmpfs(image.artifact_bytes)).map_err(StatelessError::Mount)?;
    let started = std::time::Instant::now();
    let fetched = fetch::download(reporter, grant, &paths.artifact(), &paths.journal(), &mut |l| say(l))?;
    let secs = started.elapsed().as_secs_f64();
    say(&format!(
        "{name} in RAM and verified: {} MiB in {secs:.1} s ({:.1} MiB/s), {} blocks from the session, {} over HTTP, {} server failover(s)",
        fetched.bytes >> 20,
        fetched.bytes as f64 / 1048576.0 / secs.max(1e-3),
        fetched.session_blocks,
        fetched.http_blocks,
        fetched.failovers
    ));

    for m in paths.root_mounts() {
        overlay::mount(&m).map_err(StatelessError::Mount)?;
    }
    let root = Path::new(NEW_ROOT);
    let family = image::capture::detect_family(root).map_err(|e| StatelessError::Family(e.to_string()))?;
    let mut rendered = config::render(&grant.node.config, family).map_err(|e| StatelessError::Config(e.to_string()))?;
    let issue = std::fs::read_to_string(root.join("etc/issue")).unwrap_or_default();
    banner::add(&mut rendered, &banner::line(order.node, &image.image, image.version), &issue);
    config::apply(root, &rendered).map_err(|e| StatelessError::Config(e.to_string()))?;
    say(&format!("node config written into the overlay ({} files, {} links)", rendered.files.len(), rendered.links.len()));
    let release = std::fs::read_to_string(kernel::OSRELEASE).map_err(|source| StatelessError::Io { what: format!("reading {}", kernel::OSRELEASE), source })?;
    say(&kernel::note(release.trim(), root));
    reporter.status(&AgentReport { message: format!("{name} mounted, node config applied"), error: None, inventory: None, phases: Vec::new() })?;

    for secret in secrets {
        if let Some(path) = seal::find(&paths.upper(), secret).map_err(|source| StatelessError::Io { what: format!("reading {}", paths.upper().display()), source })? {
            return Err(StatelessError::Leak(path.display().to_string()).into());
        }
    }
    handoff::prepare(root, Path::new(handoff::NOTE)).map_err(StatelessError::Handoff)?;
    Ok(())
}
