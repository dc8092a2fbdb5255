//! `fountain node add|set|list|show|reimage|delete|discovered`.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::ClientArgs;
use super::table::{Table, or_dash};
use crate::mac::Mac;
use crate::node::{BootMode, ImageRef, NewNode, NextBoot, Node, NodeConfig, NodePatch};
use crate::inventory::Inventory;
use crate::api::nodes::ReimageRequest;
use crate::store::agent_status::AgentStatus;
use crate::store::attempts::ReimageAttempt;
use crate::transfer::DeliveryChoice;
use crate::store::discovered::{DISCOVERED_PAGE_DEFAULT, DISCOVERED_PAGE_MAX, Discovered, DiscoveredPage};

/// Node subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum NodeCommand {
    /// Add a node.
    Add {
        /// Node name.
        name: String,
        /// Adopt a discovered machine: its MAC becomes the node's (with any --mac given).
        #[arg(long, value_name = "MAC")]
        from_discovered: Option<Mac>,
        #[command(flatten)]
        fields: NodeFields,
    },
    /// Change a node; only the options given change.
    Set {
        /// Node name.
        name: String,
        #[command(flatten)]
        fields: NodeFields,
    },
    /// List nodes.
    List {
        /// Only nodes in this group.
        #[arg(long)]
        group: Option<String>,
    },
    /// Show one node.
    Show {
        /// Node name.
        name: String,
    },
    /// Re-image the node at its next boot.
    Reimage {
        /// Node name.
        name: String,
        /// How the image is delivered: auto (unicast alone, multicast with others), multicast or
        /// unicast; default: the server's `--delivery`.
        #[arg(long, value_enum)]
        delivery: Option<DeliveryChoice>,
    },
    /// Remove a node (its MACs boot as unknown afterwards; its token stops working).
    Delete {
        /// Node name.
        name: String,
    },
    /// List unknown MACs that booted, most recently seen first, one page at a time.
    Discovered {
        /// Rows per page.
        #[arg(long, default_value_t = DISCOVERED_PAGE_DEFAULT)]
        limit: usize,
        /// Start after this cursor (printed at the end of the previous page).
        #[arg(long)]
        after: Option<String>,
    },
}

/// Node settings shared by `add` and `set`.
#[derive(Debug, clap::Args)]
pub struct NodeFields {
    /// MAC address (repeat for several; replaces the list on `set`).
    #[arg(long = "mac")]
    macs: Vec<Mac>,
    /// Group (repeat for several; replaces the list on `set`).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Image as NAME or NAME@VERSION (without a version the node follows the image's default).
    #[arg(long)]
    image: Option<ImageRef>,
    /// Disk layout name.
    #[arg(long)]
    layout: Option<String>,
    /// Boot mode.
    #[arg(long, value_enum)]
    mode: Option<BootMode>,
    /// Next boot action.
    #[arg(long, value_enum)]
    next_boot: Option<NextBoot>,
    /// Node configuration file (JSON or YAML: hostname, interfaces, bonds, vlans, nfs_mounts, kernel_args, ssh_authorized_keys, files).
    #[arg(long)]
    config: Option<PathBuf>,
}

impl NodeFields {
    fn node_config(&self) -> anyhow::Result<Option<NodeConfig>> {
        let Some(path) = &self.config else { return Ok(None) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config = serde_norway::from_str(&text).with_context(|| format!("parsing node config {}", path.display()))?;
        Ok(Some(config))
    }

    fn into_patch(self) -> anyhow::Result<NodePatch> {
        Ok(NodePatch {
            config: self.node_config()?,
            macs: (!self.macs.is_empty()).then_some(self.macs),
            groups: (!self.groups.is_empty()).then_some(self.groups),
            image: self.image,
            layout: self.layout,
            boot_mode: self.mode,
            next_boot: self.next_boot,
        })
    }
}

/// Runs a node subcommand.
pub fn run(args: &ClientArgs, command: NodeCommand) -> anyhow::Result<ExitCode> {
    let client = args.client()?;
    match command {
        NodeCommand::Add { name, from_discovered, mut fields } => {
            if let Some(mac) = from_discovered {
                let d = find_discovered(&client, mac)?.with_context(|| format!("MAC {mac} has not been discovered (see `fountain node discovered`)"))?;
                if let Some(inventory) = &d.inventory {
                    eprintln!("adopting {mac}: {}", inventory_summary(inventory).join(", "));
                }
                if !fields.macs.contains(&mac) {
                    fields.macs.insert(0, mac);
                }
            }
            let new = NewNode {
                config: fields.node_config()?.unwrap_or_default(),
                name,
                macs: fields.macs,
                groups: fields.groups,
                image: fields.image,
                layout: fields.layout,
                boot_mode: fields.mode.unwrap_or_default(),
                next_boot: fields.next_boot,
            };
            let node: Node = client.send("POST", "/api/v1/nodes", &new)?;
            args.print(&node, node_detail)?;
        }
        NodeCommand::Set { name, fields } => {
            let node: Node = client.send("PATCH", &format!("/api/v1/nodes/{name}"), &fields.into_patch()?)?;
            args.print(&node, node_detail)?;
        }
        NodeCommand::List { group } => {
            let mut nodes: Vec<Node> = client.get("/api/v1/nodes")?;
            if let Some(g) = group {
                nodes.retain(|n| n.groups.contains(&g));
            }
            args.print(&nodes, |nodes| {
                let mut t = Table::new(&["NAME", "MACS", "MODE", "NEXT BOOT", "IMAGE", "LAYOUT", "INSTALLED"]);
                for n in nodes {
                    t.row(vec![
                        n.name.clone(),
                        join(&n.macs),
                        n.boot_mode.to_string(),
                        n.next_boot.to_string(),
                        or_dash(n.image.as_ref()),
                        or_dash(n.layout.as_ref()),
                        or_dash(n.installed.as_ref().map(|i| format!("{}@{}", i.image, i.version))),
                    ]);
                }
                t
            })?;
        }
        NodeCommand::Show { name } => {
            let node: Node = client.get(&format!("/api/v1/nodes/{name}"))?;
            let agent: Option<AgentStatus> = client.get(&format!("/api/v1/nodes/{name}/agent"))?;
            let reimages: Vec<ReimageAttempt> = client.get(&format!("/api/v1/nodes/{name}/reimages"))?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "node": node, "agent": agent, "reimages": reimages }))?);
            } else {
                let mut t = node_detail(&node);
                for (k, v) in agent_fields(agent.as_ref()).into_iter().chain(attempt_fields(reimages.first())) {
                    t.row(vec![k.to_string(), v]);
                }
                print!("{t}");
                for (i, a) in reimages.iter().enumerate().filter(|(_, a)| !a.phases.is_empty()) {
                    println!("\n{} re-image (token generation {}):\n{}", if i == 0 { "current" } else { "previous" }, a.generation, phase_table(a));
                }
            }
        }
        NodeCommand::Reimage { name, delivery } => {
            let node: Node = client.send("POST", &format!("/api/v1/nodes/{name}/reimage"), &ReimageRequest { delivery })?;
            args.print(&node, node_detail)?;
        }
        NodeCommand::Delete { name } => {
            client.delete(&format!("/api/v1/nodes/{name}"))?;
            eprintln!("node {name} removed");
        }
        NodeCommand::Discovered { limit, after } => {
            let after = after.map(|a| format!("&after={a}")).unwrap_or_default();
            let page: DiscoveredPage = client.get(&format!("/api/v1/discovered?limit={limit}{after}"))?;
            args.print(&page, |page| {
                let mut t = Table::new(&["MAC", "BOOTS", "LAST SEEN (UNIX S)", "INVENTORY"]);
                for d in &page.discovered {
                    let inventory = d.inventory.as_ref().map(|i| inventory_summary(i).join(", "));
                    t.row(vec![d.mac.to_string(), d.boots.to_string(), d.last_seen_unix_s.to_string(), or_dash(inventory)]);
                }
                t
            })?;
            if let (Some(next), false) = (&page.next, args.json) {
                eprintln!("more: fountain node discovered --limit {limit} --after {next}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn node_detail(n: &Node) -> Table {
    Table::fields(vec![
        ("name", n.name.clone()),
        ("macs", join(&n.macs)),
        ("groups", join(&n.groups)),
        ("boot mode", n.boot_mode.to_string()),
        ("next boot", n.next_boot.to_string()),
        ("image", or_dash(n.image.as_ref())),
        ("layout", or_dash(n.layout.as_ref())),
        ("hostname", or_dash(n.config.hostname.as_ref())),
        ("interfaces", n.config.interfaces.iter().map(|i| format!("{}={}", i.name, i.addresses.join("+"))).collect::<Vec<_>>().join(", ")),
        ("nfs mounts", n.config.nfs_mounts.iter().map(|m| format!("{}:{}->{}", m.server, m.export, m.mount_point)).collect::<Vec<_>>().join(", ")),
        ("kernel args", n.config.kernel_args.join(" ")),
        ("installed", or_dash(n.installed.as_ref().map(|i| format!("{}@{}", i.image, i.version)))),
        ("delivery", n.delivery.map_or_else(|| "server default".to_string(), |d| d.to_string())),
    ])
}

/// The current re-image's attempts and last failure, for `node show`.
fn attempt_fields(a: Option<&ReimageAttempt>) -> Vec<(&'static str, String)> {
    let Some(a) = a else { return vec![("re-image attempts", "-".into())] };
    let outcome = if a.installed_unix_s.is_some() { ", installed" } else { "" };
    vec![
        ("re-image attempts", format!("{} ({} failed{outcome})", a.attempts(), a.failures)),
        ("re-image last error", or_dash(a.last_error.as_ref())),
    ]
}

/// One row per phase with its time in seconds, and the total.
fn phase_table(a: &ReimageAttempt) -> Table {
    let seconds = |ms: u64| format!("{:.1}", ms as f64 / 1000.0);
    let mut t = Table::new(&["PHASE", "SECONDS"]);
    for p in &a.phases {
        t.row(vec![p.phase.to_string(), seconds(p.millis)]);
    }
    t.row(vec!["total".into(), seconds(a.total_millis())]);
    t
}

/// The discovered entry of `mac`, looked up page by page (the list is bounded, so this ends).
fn find_discovered(client: &crate::client::Client, mac: Mac) -> anyhow::Result<Option<Discovered>> {
    let mut after = String::new();
    loop {
        let page: DiscoveredPage = client.get(&format!("/api/v1/discovered?limit={DISCOVERED_PAGE_MAX}{after}"))?;
        if let Some(d) = page.discovered.into_iter().find(|d| d.mac == mac) {
            return Ok(Some(d));
        }
        match page.next {
            Some(next) => after = format!("&after={next}"),
            None => return Ok(None),
        }
    }
}

/// The agent's last word on a node, for `node show`.
fn agent_fields(agent: Option<&AgentStatus>) -> Vec<(&'static str, String)> {
    let Some(a) = agent else { return vec![("agent", "-".into())] };
    vec![
        ("agent", format!("{} (at {} unix s)", a.message, a.updated_unix_s)),
        ("error", or_dash(a.error.as_ref())),
        ("last error", or_dash(a.last_error.as_ref())),
        ("hardware", or_dash(a.inventory.as_ref().map(|i| inventory_summary(i).join(", ")))),
    ]
}

/// One line per kind of hardware: CPUs, memory, each disk, each NIC.
fn inventory_summary(i: &Inventory) -> Vec<String> {
    let gib = |b: u64| format!("{:.1}G", b as f64 / (1u64 << 30) as f64);
    let mut out = vec![format!("{} CPU", i.cpus), format!("{} RAM", gib(i.memory_bytes))];
    for d in &i.disks {
        let mut s = format!("{} {}", d.name, gib(d.size_bytes));
        for extra in [&d.model, &d.serial].into_iter().filter(|x| !x.is_empty()) {
            s.push(' ');
            s.push_str(extra);
        }
        if d.rotational {
            s.push_str(" hdd");
        }
        out.push(s);
    }
    for n in &i.nics {
        out.push(format!("{} {}{}", n.name, n.mac, if n.link { " up" } else { "" }));
    }
    out
}

fn join<T: ToString>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::agent_status::{Phase, PhaseTime};

    #[test]
    fn node_show_prints_phases_in_seconds_and_the_attempts() {
        let a = ReimageAttempt {
            generation: 3,
            phases: vec![PhaseTime { phase: Phase::AgentBoot, millis: 9250 }, PhaseTime { phase: Phase::Unpack, millis: 40 }],
            failures: 1,
            last_error: Some("checksum mismatch".into()),
            active_since_failure: true,
            installed_unix_s: Some(1),
            started_unix_s: 0,
            updated_unix_s: 1,
        };
        assert_eq!(phase_table(&a).to_string(), "PHASE       SECONDS\nagent_boot  9.2\nunpack      0.0\ntotal       9.3\n");
        assert_eq!(
            attempt_fields(Some(&a)),
            vec![("re-image attempts", "2 (1 failed, installed)".to_string()), ("re-image last error", "checksum mismatch".to_string())]
        );
        assert_eq!(attempt_fields(None), vec![("re-image attempts", "-".to_string())]);
    }
}
