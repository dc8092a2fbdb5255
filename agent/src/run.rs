//! The agent's job from top to bottom: read the kernel arguments, bring up the network, read the
//! hardware, then discovery (report it) or re-image (report it, then [`crate::install`]: lay out the
//! disks, install the image, boot it).
//! Every step is printed on the console; a node's progress and errors also go to the control plane,
//! where `fountain node show` prints them.
use std::path::Path;

use control::api::agent::AgentConfig;
use control::inventory::Inventory;
use control::layout::{Layout, Protected};
use control::store::agent_status::{AgentReport, Phase};

use crate::cmdline::{self, Job};
use crate::error::AgentError;
use crate::exec::SystemRunner;
use crate::layout::{self, Mode};
use crate::inventory;
use crate::net;
use crate::plan::Plan;
use crate::report::Reporter;
use crate::stateless;

/// Where the agent reads its inputs (the real ones, or a test's).
#[derive(Debug, Clone)]
pub struct Sources<'a> {
    /// The kernel command line file (`/proc/cmdline`).
    pub cmdline: &'a Path,
    /// sysfs (`/sys`).
    pub sys: &'a Path,
    /// procfs (`/proc`).
    pub proc: &'a Path,
}

/// Prefix of every console line, so a log reader (or a VM test) can find the agent's lines.
pub const CONSOLE_PREFIX: &str = "fountain-agent:";

/// Prints one progress line on the console.
pub fn say(line: &str) {
    eprintln!("{CONSOLE_PREFIX} {line}");
}

/// Runs the agent once; in re-image mode `mode` says whether the layout is applied or only planned
/// (a dry run prints the plan and writes nothing).
pub fn run(src: &Sources<'_>, mode: Mode) -> Result<(), AgentError> {
    let text = std::fs::read_to_string(src.cmdline).map_err(AgentError::Cmdline)?;
    let args = cmdline::parse(&text)?;
    say(&format!("control plane {}", args.server));
    let boot_mac = match &args.job {
        Job::Discover { mac } => Some(*mac),
        _ => None,
    };
    let before = inventory::collect(src.sys, src.proc);
    let nic = net::bring_up(&net::order(&before.nics, boot_mac), &mut |l| say(l))?;
    say(&format!("network up on {nic}"));
    // Read again so the boot NIC's link shows as up.
    let inventory_started = std::time::Instant::now();
    let inventory = inventory::collect(src.sys, src.proc);
    let inventory_took = inventory_started.elapsed();
    say(&format!(
        "hardware: {} CPU ({}), {} MiB RAM, disks [{}], NICs [{}]",
        inventory.cpus,
        inventory.cpu_model,
        inventory.memory_bytes >> 20,
        inventory.disks.iter().map(|d| format!("{} {} MiB", d.name, d.size_bytes >> 20)).collect::<Vec<_>>().join(", "),
        inventory.nics.iter().map(|n| format!("{} {}", n.name, n.mac)).collect::<Vec<_>>().join(", "),
    ));
    match args.job {
        Job::Discover { mac } => {
            Reporter::discovery(&args.server).discovered(mac, &inventory)?;
            say(&format!("inventory reported; adopt this machine with `fountain node add NAME --from-discovered {mac}`"));
            Ok(())
        }
        Job::Reimage { node, token, image, version } => {
            let reporter = Reporter::node(&args.server, &node, token.clone());
            let mut phases = crate::install::Phases::default();
            if let Some(boot) = crate::install::uptime(src.proc) {
                phases.took(Phase::AgentBoot, boot);
            }
            phases.took(Phase::Inventory, inventory_took);
            reporter.status(&AgentReport { message: format!("agent up, re-imaging with {image}@{version}"), error: None, inventory: Some(inventory.clone()), phases: phases.take() })?;
            let job = crate::install::Job { node: &node, token: &token, cmdline: &text };
            crate::install::reimage(&reporter, job, &inventory, mode, &mut phases)
        }
        Job::Stateless { node, token } => {
            let order = stateless::Order { server: &args.server, node: &node, token };
            stateless::boot(order, &inventory, &src.proc.join("meminfo"))
        }
    }
}

/// Lays out the node's disks with the layout in its `config` (the planner prints the plan before the
/// first step and the executor each command with its output, through `tracing`, which the initramfs
/// sends to the console); returns the layout, what was planned, and the message that says how it
/// went (for the status report that carries the phase's time).
pub(crate) fn lay_out(reporter: &Reporter, node: &str, config: &AgentConfig, inventory: &Inventory, mode: Mode) -> Result<(Layout, Plan, String), AgentError> {
    let yaml = config.layout.as_deref().ok_or_else(|| AgentError::NoLayout(node.to_string()))?;
    let layout = control::layout::parse(yaml).map_err(|errors| AgentError::LayoutInvalid(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))?;
    let name = config.node.layout.clone().unwrap_or_default();
    say(&format!("laying out the disks with layout {name}"));
    reporter.status(&AgentReport { message: format!("laying out the disks with layout {name}"), error: None, inventory: None, phases: Vec::new() })?;
    let protected = Protected(config.node.config.protected_disks.clone());
    let report = layout::apply(&layout, inventory, &protected, layout::TARGET_ROOT, mode, &mut SystemRunner)?;
    let changed = report.plan.steps.iter().filter(|s| s.destructive()).count();
    let message = match &report.plan.rebuild {
        _ if mode == Mode::DryRun => format!("layout {name} dry run: {changed} disk-changing steps of {} planned, nothing written", report.plan.steps.len()),
        None => format!("layout {name} converged: the disks already held it, no changes ({} mount steps)", report.plan.steps.len()),
        Some(why) => format!("layout {name} applied: {changed} disk-changing steps of {} ({why})", report.plan.steps.len()),
    };
    say(&message);
    Ok((layout, report.plan, message))
}
