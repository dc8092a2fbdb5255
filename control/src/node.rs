//! Nodes: what the control plane knows about each machine and what it should do at its next boot.
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::mac::Mac;
use crate::names::check_name;
use crate::node_config::{addressed, Bond, NodeFile, Vlan};
use crate::transfer::DeliveryChoice;

/// Most MACs one node may have (a machine with more ports boots from one of a few anyway).
pub const MACS_PER_NODE_MAX: usize = 16;

/// Whether a node keeps an OS on its disks or runs one from RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BootMode {
    /// Installed on local disks by a re-image; boots from disk afterwards.
    #[default]
    Stateful,
    /// Unpacked into RAM from a stateless server at every boot.
    Stateless,
}

/// What the node's next network boot does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NextBoot {
    /// Leave the network boot and boot the local disk.
    Local,
    /// Boot the agent to partition the disks and install the assigned image.
    Reimage,
    /// Boot the agent in stateless mode from one of the stateless servers.
    Stateless,
}

impl std::fmt::Display for BootMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BootMode::Stateful => "stateful",
            BootMode::Stateless => "stateless",
        })
    }
}

impl std::fmt::Display for NextBoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NextBoot::Local => "local",
            NextBoot::Reimage => "reimage",
            NextBoot::Stateless => "stateless",
        })
    }
}

impl NextBoot {
    /// The action a node of this boot mode takes when the operator said nothing.
    pub fn default_for(mode: BootMode) -> Self {
        match mode {
            BootMode::Stateful => NextBoot::Local,
            BootMode::Stateless => NextBoot::Stateless,
        }
    }
}

/// An image a node is assigned; without a version it follows the image's default, so a rollback of
/// the default moves every such node at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRef {
    /// Image name.
    pub name: String,
    /// Pinned version, or `None` to follow the image's default version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

impl std::str::FromStr for ImageRef {
    type Err = String;

    /// Parses `name` or `name@version`, the form the CLI takes.
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (n, Some(v.parse().map_err(|_| format!("invalid image version {v:?} in {s:?}"))?)),
            None => (s, None),
        };
        check_name("image", name)?;
        Ok(ImageRef { name: name.to_string(), version })
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

addressed! {
    /// One network interface the installed or stateless OS should configure.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Interface {
        /// Interface name in the OS (`eno1`, `bond0`).
        pub name: String,
        /// Hardware address to match, when the name is not stable.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub mac: Option<Mac>,
    }
}

/// One NFS mount of the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NfsMount {
    /// Server host name or address.
    pub server: String,
    /// Exported path on the server.
    pub export: String,
    /// Where it is mounted on the node.
    pub mount_point: String,
    /// Mount options (`ro,vers=4.2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
}

/// Per-node configuration handed to the agent; only that node may read it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Host name to set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Interfaces and their addresses.
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    /// NFS mounts.
    #[serde(default)]
    pub nfs_mounts: Vec<NfsMount>,
    /// Extra kernel arguments for the agent and the installed OS.
    #[serde(default)]
    pub kernel_args: Vec<String>,
    /// Bonds of the interfaces above, members named by MAC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bonds: Vec<Bond>,
    /// VLANs on the interfaces or bonds above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vlans: Vec<Vlan>,
    /// Lines of root's `~/.ssh/authorized_keys`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_authorized_keys: Vec<String>,
    /// Files placed into the node's root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<NodeFile>,
    /// Disks the agent never opens for writing, whatever the layout says (a data disk, a disk of
    /// another system): each a device path, kernel name, serial or by-path name, as the inventory
    /// reports them. A layout that would need one is refused before any write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected_disks: Vec<String>,
}

/// The image that the agent last reported as installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// Image name.
    pub image: String,
    /// Image version.
    pub version: u32,
    /// Unix time of the report, seconds.
    pub at_unix_s: u64,
}

/// A node as stored and as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Unique name.
    pub name: String,
    /// Hardware addresses it may boot from; each belongs to one node only.
    pub macs: Vec<Mac>,
    /// Free-form groups for selecting nodes.
    pub groups: Vec<String>,
    /// Assigned image.
    pub image: Option<ImageRef>,
    /// Assigned disk layout (stateful nodes).
    pub layout: Option<String>,
    /// Stateful or stateless.
    pub boot_mode: BootMode,
    /// What the next network boot does.
    pub next_boot: NextBoot,
    /// Configuration for the agent.
    pub config: NodeConfig,
    /// What the agent last reported as installed.
    pub installed: Option<Installed>,
    /// How the operator asked the current (or last) re-image to be delivered; absent: the server's
    /// default. Set by each re-image request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryChoice>,
}

/// Body of `POST /api/v1/nodes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNode {
    /// Unique name.
    pub name: String,
    /// Hardware addresses (at least one).
    pub macs: Vec<Mac>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Assigned image.
    #[serde(default)]
    pub image: Option<ImageRef>,
    /// Assigned disk layout.
    #[serde(default)]
    pub layout: Option<String>,
    /// Stateful (default) or stateless.
    #[serde(default)]
    pub boot_mode: BootMode,
    /// Next boot; defaults to local for stateful and stateless for stateless nodes.
    #[serde(default)]
    pub next_boot: Option<NextBoot>,
    /// Configuration.
    #[serde(default)]
    pub config: NodeConfig,
}

/// Body of `PATCH /api/v1/nodes/{name}`: every field present replaces the stored one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePatch {
    /// New hardware addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macs: Option<Vec<Mac>>,
    /// New groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// New image assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
    /// New layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// New boot mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_mode: Option<BootMode>,
    /// New next-boot action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_boot: Option<NextBoot>,
    /// New configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<NodeConfig>,
}

impl NewNode {
    /// The node this request creates, checked.
    pub fn into_node(self) -> Result<Node, String> {
        let node = Node {
            next_boot: self.next_boot.unwrap_or(NextBoot::default_for(self.boot_mode)),
            name: self.name,
            macs: self.macs,
            groups: self.groups,
            image: self.image,
            layout: self.layout,
            boot_mode: self.boot_mode,
            config: self.config,
            installed: None,
            delivery: None,
        };
        node.check()?;
        Ok(node)
    }
}

impl Node {
    /// This node with `patch` applied, checked; a change of boot mode alone also moves the next boot
    /// to that mode's default, so `--mode stateless` does not leave a stateless node set to re-image.
    pub fn patched(&self, patch: NodePatch) -> Result<Node, String> {
        let mut node = self.clone();
        if let Some(mode) = patch.boot_mode {
            if mode != node.boot_mode && patch.next_boot.is_none() {
                node.next_boot = NextBoot::default_for(mode);
            }
            node.boot_mode = mode;
        }
        node.macs = patch.macs.unwrap_or(node.macs);
        node.groups = patch.groups.unwrap_or(node.groups);
        node.image = patch.image.or(node.image);
        node.layout = patch.layout.or(node.layout);
        node.next_boot = patch.next_boot.unwrap_or(node.next_boot);
        node.config = patch.config.unwrap_or(node.config);
        node.check()?;
        Ok(node)
    }

    /// Checks everything that does not need the store: names, addresses, and that the next boot fits
    /// the boot mode and has what it needs (re-image needs an image and a layout).
    pub fn check(&self) -> Result<(), String> {
        check_name("node", &self.name)?;
        if self.macs.is_empty() || self.macs.len() > MACS_PER_NODE_MAX {
            return Err(format!("a node needs 1 to {MACS_PER_NODE_MAX} MAC addresses"));
        }
        if self.macs.iter().collect::<BTreeSet<_>>().len() != self.macs.len() {
            return Err("duplicate MAC address in the node's list".into());
        }
        for g in &self.groups {
            check_name("group", g)?;
        }
        if let Some(image) = &self.image {
            check_name("image", &image.name)?;
        }
        if let Some(layout) = &self.layout {
            check_name("layout", layout)?;
        }
        match (self.boot_mode, self.next_boot) {
            (BootMode::Stateful, NextBoot::Stateless) => {
                return Err("a stateful node cannot boot stateless: set boot_mode to stateless first".into());
            }
            (BootMode::Stateless, NextBoot::Local | NextBoot::Reimage) => {
                return Err("a stateless node always boots stateless: set boot_mode to stateful first".into());
            }
            _ => {}
        }
        if matches!(self.next_boot, NextBoot::Reimage | NextBoot::Stateless) && self.image.is_none() {
            return Err(format!("node {} has no image assigned", self.name));
        }
        if self.next_boot == NextBoot::Reimage && self.layout.is_none() {
            return Err(format!("node {} has no disk layout assigned, so it cannot be re-imaged", self.name));
        }
        self.config.check().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_node() -> NewNode {
        NewNode {
            name: "n1".into(),
            macs: vec!["52:54:00:00:00:01".parse().unwrap()],
            groups: vec![],
            image: Some("rocky@2".parse().unwrap()),
            layout: Some("simple".into()),
            boot_mode: BootMode::Stateful,
            next_boot: None,
            config: NodeConfig::default(),
        }
    }

    #[test]
    fn defaults_next_boot_from_mode() {
        assert_eq!(new_node().into_node().unwrap().next_boot, NextBoot::Local);
        let n = NewNode { boot_mode: BootMode::Stateless, ..new_node() }.into_node().unwrap();
        assert_eq!(n.next_boot, NextBoot::Stateless);
    }

    #[test]
    fn reimage_needs_layout_and_mode_must_match() {
        let n = NewNode { layout: None, next_boot: Some(NextBoot::Reimage), ..new_node() };
        assert!(n.into_node().unwrap_err().contains("no disk layout"));
        let n = NewNode { next_boot: Some(NextBoot::Stateless), ..new_node() };
        assert!(n.into_node().unwrap_err().contains("stateful node cannot boot stateless"));
    }

    #[test]
    fn patch_of_mode_moves_next_boot() {
        let n = NewNode { next_boot: Some(NextBoot::Reimage), ..new_node() }.into_node().unwrap();
        let p = n.patched(NodePatch { boot_mode: Some(BootMode::Stateless), ..Default::default() }).unwrap();
        assert_eq!(p.next_boot, NextBoot::Stateless);
    }

    #[test]
    fn config_checks_addresses() {
        let mut c = NodeConfig::default();
        c.interfaces.push(Interface { name: "eno1".into(), mac: None, addresses: vec!["10.0.0.5/33".into()], dhcp: None, gateway: None, mtu: None });
        assert!(c.check().unwrap_err().to_string().contains("CIDR"));
        c.interfaces[0].addresses = vec!["10.0.0.5/24".into(), "fd00::5/64".into()];
        assert!(c.check().is_ok());
    }

    #[test]
    fn image_ref_parses_cli_form() {
        assert_eq!("rocky@3".parse::<ImageRef>().unwrap(), ImageRef { name: "rocky".into(), version: Some(3) });
        assert!("rocky@x".parse::<ImageRef>().is_err());
    }
}
