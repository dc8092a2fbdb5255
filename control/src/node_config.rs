//! The parts of a node's configuration that name bonds, VLANs, keys and files, and the checks that the
//! control plane runs on upload and the agent runs again before it renders anything into a root.
//!
//! Everything here ends up in files of the installed OS (networkd or NetworkManager files, fstab,
//! authorized_keys) or on its kernel command line, so every string is held to a small alphabet and
//! every reference (a bond's member MACs, a VLAN's link) must name something the same config declares.
//! Interfaces, bonds and VLANs get their addressing fields from one macro, [`addressed!`], rather than
//! a shared struct: serde cannot flatten a struct into one that denies unknown fields without losing
//! the "expected one of" list and the position in its errors.
use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::mac::Mac;
use crate::names::{check_abs_path, check_hostname, check_kernel_arg};
use crate::node::NodeConfig;

/// Smallest MTU accepted: IPv4's minimum datagram every link must carry.
pub const MTU_MIN_BYTES: u16 = 576;
/// Largest MTU accepted: the usual jumbo-frame ceiling of NICs.
pub const MTU_MAX_BYTES: u16 = 9216;
/// Longest Linux interface name (IFNAMSIZ less the NUL).
pub const IFNAME_MAX_CHARS: usize = 15;
/// Longest authorized key line accepted (an RSA 16384-bit key fits).
pub const SSH_KEY_MAX_CHARS: usize = 4096;
/// Largest file an operator may place through the node config; bigger things belong in the image.
pub const FILE_MAX_BYTES: usize = 256 * 1024;

/// How a bond spreads traffic over its members (the kernel bonding driver's mode names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BondMode {
    /// One member carries traffic, another takes over when its link drops; needs no switch support.
    #[default]
    #[serde(rename = "active-backup")]
    ActiveBackup,
    /// LACP: needs the switch ports configured as one link aggregation group.
    #[serde(rename = "802.3ad")]
    Lacp,
    /// Transmit load balancing with no switch support.
    #[serde(rename = "balance-alb")]
    BalanceAlb,
}

impl BondMode {
    /// The name the kernel, networkd and NetworkManager all use for the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            BondMode::ActiveBackup => "active-backup",
            BondMode::Lacp => "802.3ad",
            BondMode::BalanceAlb => "balance-alb",
        }
    }
}

/// Declares a struct that ends in the addressing fields every configured link has (`addresses`,
/// `dhcp`, `gateway`, `mtu`), with an [`Addressing`] view of them. Used for
/// [`crate::node::Interface`], [`Bond`] and [`Vlan`], so that the YAML keys, their order in errors
/// and their documentation are written once.
macro_rules! addressed {
    ($(#[$attr:meta])* pub struct $name:ident { $($(#[$field_attr:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$attr])*
        pub struct $name {
            $($(#[$field_attr])* pub $field: $ty,)*
            /// Addresses in CIDR form (`10.0.0.5/24`); empty means DHCP.
            #[serde(default)]
            pub addresses: Vec<String>,
            /// DHCP on or off; when absent, on exactly when `addresses` is empty. `false` with no
            /// addresses brings the link up unaddressed (a VLAN trunk).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub dhcp: Option<bool>,
            /// Default gateway.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub gateway: Option<std::net::IpAddr>,
            /// MTU in bytes.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub mtu: Option<u16>,
        }

        impl $name {
            /// Its addressing fields.
            pub fn addressing(&self) -> $crate::node_config::Addressing<'_> {
                $crate::node_config::Addressing { addresses: &self.addresses, dhcp: self.dhcp, gateway: self.gateway, mtu: self.mtu }
            }
        }
    };
}
pub(crate) use addressed;

/// The addressing fields of one interface, bond or VLAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addressing<'a> {
    /// Addresses in CIDR form.
    pub addresses: &'a [String],
    /// DHCP as given.
    pub dhcp: Option<bool>,
    /// Default gateway.
    pub gateway: Option<IpAddr>,
    /// MTU in bytes.
    pub mtu: Option<u16>,
}

impl Addressing<'_> {
    /// Whether DHCP runs: as the config says, else exactly when there is no static address.
    pub fn dhcp_on(&self) -> bool {
        self.dhcp.unwrap_or(self.addresses.is_empty())
    }
}

addressed! {
    /// A bond of the node's interfaces, named by MAC so the members do not depend on NIC naming.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Bond {
        /// Bond interface name (`bond0`).
        pub name: String,
        /// MACs of the member interfaces; each must be the `mac` of one of the config's `interfaces`.
        pub members: Vec<Mac>,
        /// Bonding mode; active-backup when absent.
        #[serde(default)]
        pub mode: BondMode,
    }
}

addressed! {
    /// An 802.1Q VLAN on top of an interface or a bond.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Vlan {
        /// VLAN interface name (`bond0.100`, `vlan100`).
        pub name: String,
        /// Name of the interface or bond it runs on.
        pub link: String,
        /// VLAN id, 1 to 4094.
        pub id: u16,
    }
}

/// A file placed into the node's root, owned by root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// Absolute path inside the node's root.
    pub path: String,
    /// The file's content.
    pub content: String,
    /// Octal mode, `"0644"` when absent; at most `0777` (no set-id bits from a config file).
    #[serde(default = "default_mode")]
    pub mode: String,
}

fn default_mode() -> String {
    "0644".into()
}

impl NodeFile {
    /// The mode as a number, checked.
    pub fn mode_bits(&self) -> Result<u32, ConfigError> {
        match u32::from_str_radix(&self.mode, 8) {
            Ok(m) if m <= 0o777 && !self.mode.is_empty() => Ok(m),
            _ => Err(ConfigError::FileMode { path: self.path.clone(), mode: self.mode.clone() }),
        }
    }
}

/// Why a node configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not an RFC 1123 host name.
    #[error("invalid hostname {0:?}: use dot-separated labels of letters, digits and inner '-'")]
    Hostname(String),
    /// A protected-disk entry that can name no disk.
    #[error("invalid protected disk {0:?}: give a device path, kernel name, serial or by-path name without spaces")]
    ProtectedDisk(String),
    /// An interface, bond or VLAN name the kernel would not take.
    #[error("invalid interface name {0:?}: use 1 to 15 letters, digits, '-', '_' or '.'")]
    InterfaceName(String),
    /// Two interfaces, bonds or VLANs with one name.
    #[error("interface name {0:?} is used twice")]
    DuplicateInterface(String),
    /// Two interfaces with one MAC.
    #[error("MAC {0} is given to two interfaces")]
    DuplicateMac(Mac),
    /// Not `address/prefix`.
    #[error("invalid address {0:?} on {1}: expected CIDR form like 10.0.0.5/24")]
    Cidr(String, String),
    /// A gateway of the other IP family than every address of its interface.
    #[error("gateway {gateway} on {interface} is in no address family of its addresses")]
    GatewayFamily {
        /// Interface name.
        interface: String,
        /// The gateway.
        gateway: IpAddr,
    },
    /// An MTU outside [`MTU_MIN_BYTES`]..=[`MTU_MAX_BYTES`].
    #[error("MTU {mtu} on {interface} is outside {MTU_MIN_BYTES}..={MTU_MAX_BYTES}")]
    Mtu {
        /// Interface name.
        interface: String,
        /// The MTU.
        mtu: u16,
    },
    /// A bond with no members.
    #[error("bond {0} has no members")]
    BondEmpty(String),
    /// A bond member MAC that no interface of the config has.
    #[error("bond {bond} names MAC {mac}, which no interface of this config has")]
    BondUnknownMac {
        /// Bond name.
        bond: String,
        /// The MAC.
        mac: Mac,
    },
    /// A MAC in two bonds, or twice in one.
    #[error("MAC {0} is a member of more than one bond")]
    BondMemberTwice(Mac),
    /// A bond member that also has addresses, a gateway or DHCP of its own.
    #[error("interface {0} is a bond member, so it cannot have addresses, a gateway or DHCP of its own")]
    BondMemberAddressed(String),
    /// A VLAN id outside 1..=4094.
    #[error("VLAN {name} has id {id}: VLAN ids are 1 to 4094")]
    VlanId {
        /// VLAN name.
        name: String,
        /// The id.
        id: u16,
    },
    /// A VLAN on an interface or bond the config does not declare.
    #[error("VLAN {vlan} runs on {link}, which is no interface or bond of this config")]
    VlanUnknownLink {
        /// VLAN name.
        vlan: String,
        /// The link named.
        link: String,
    },
    /// A bad NFS server, export, mount point or option string.
    #[error("NFS mount {mount_point:?}: invalid {what} {value:?}")]
    Nfs {
        /// The mount point as given.
        mount_point: String,
        /// `server`, `export`, `mount point` or `options`.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// Two NFS mounts on one mount point.
    #[error("two NFS mounts on {0}")]
    NfsDuplicate(String),
    /// A kernel argument with characters a boot script or the kernel would interpret.
    #[error("invalid kernel argument {0:?}: use letters, digits and - _ . , : = / + @ % only")]
    KernelArg(String),
    /// Not one `type base64 [comment]` line of a known key type.
    #[error("invalid SSH authorized key {0:?}: expected one line 'TYPE BASE64 [COMMENT]' of an ssh-*, ecdsa-* or sk-* key")]
    SshKey(String),
    /// A file path that is not absolute, has `..`, or is too long.
    #[error("invalid file path {0:?}: expected an absolute path without '..', spaces or control characters")]
    FilePath(String),
    /// A mode that is not octal or has bits above 0777.
    #[error("file {path}: invalid mode {mode:?}: expected octal 0000 to 0777")]
    FileMode {
        /// The path.
        path: String,
        /// The mode as given.
        mode: String,
    },
    /// A file larger than [`FILE_MAX_BYTES`].
    #[error("file {0}: larger than {FILE_MAX_BYTES} bytes")]
    FileSize(String),
    /// Two files with one path.
    #[error("file {0} is given twice")]
    FileDuplicate(String),
}

impl NodeConfig {
    /// Checks every part of the config and every reference between parts; the first problem found
    /// is returned.
    pub fn check(&self) -> Result<(), ConfigError> {
        if let Some(h) = &self.hostname {
            check_hostname(h).map_err(|_| ConfigError::Hostname(h.clone()))?;
        }
        self.check_network()?;
        let mut points = BTreeSet::new();
        for m in &self.nfs_mounts {
            let bad = |what, value: &str| ConfigError::Nfs { mount_point: m.mount_point.clone(), what, value: value.to_owned() };
            if check_hostname(&m.server).is_err() && m.server.parse::<IpAddr>().is_err() {
                return Err(bad("server", &m.server));
            }
            check_abs_path("", &m.export).map_err(|_| bad("export", &m.export))?;
            check_abs_path("", &m.mount_point).map_err(|_| bad("mount point", &m.mount_point))?;
            if let Some(o) = &m.options {
                check_kernel_arg(o).map_err(|_| bad("options", o))?;
            }
            if !points.insert(m.mount_point.as_str()) {
                return Err(ConfigError::NfsDuplicate(m.mount_point.clone()));
            }
        }
        for a in &self.kernel_args {
            check_kernel_arg(a).map_err(|_| ConfigError::KernelArg(a.clone()))?;
        }
        for k in &self.ssh_authorized_keys {
            check_ssh_key(k)?;
        }
        if let Some(bad) = self.protected_disks.iter().find(|d| d.is_empty() || d.len() > 255 || d.chars().any(|c| c.is_whitespace() || c.is_control())) {
            return Err(ConfigError::ProtectedDisk(bad.clone()));
        }
        let mut paths = BTreeSet::new();
        for f in &self.files {
            check_abs_path("", &f.path).map_err(|_| ConfigError::FilePath(f.path.clone()))?;
            if f.path.ends_with('/') || f.path == "/" {
                return Err(ConfigError::FilePath(f.path.clone()));
            }
            f.mode_bits()?;
            if f.content.len() > FILE_MAX_BYTES {
                return Err(ConfigError::FileSize(f.path.clone()));
            }
            if !paths.insert(f.path.trim_start_matches('/').split('/').filter(|c| !c.is_empty() && *c != ".").collect::<Vec<_>>()) {
                return Err(ConfigError::FileDuplicate(f.path.clone()));
            }
        }
        Ok(())
    }

    /// Interfaces, bonds and VLANs: names unique, addresses well formed, every reference resolved.
    fn check_network(&self) -> Result<(), ConfigError> {
        let mut names = BTreeSet::new();
        let mut name = |n: &str| {
            check_ifname(n)?;
            if names.insert(n.to_owned()) { Ok(()) } else { Err(ConfigError::DuplicateInterface(n.to_owned())) }
        };
        let mut macs = BTreeSet::new();
        for i in &self.interfaces {
            name(&i.name)?;
            check_l3(&i.name, i.addressing())?;
            if let Some(mac) = i.mac.filter(|m| !macs.insert(*m)) {
                return Err(ConfigError::DuplicateMac(mac));
            }
        }
        let mut members = BTreeSet::new();
        for b in &self.bonds {
            name(&b.name)?;
            check_l3(&b.name, b.addressing())?;
            if b.members.is_empty() {
                return Err(ConfigError::BondEmpty(b.name.clone()));
            }
            for mac in &b.members {
                let iface = self.interfaces.iter().find(|i| i.mac == Some(*mac));
                let iface = iface.ok_or_else(|| ConfigError::BondUnknownMac { bond: b.name.clone(), mac: *mac })?;
                if !members.insert(*mac) {
                    return Err(ConfigError::BondMemberTwice(*mac));
                }
                if !iface.addresses.is_empty() || iface.gateway.is_some() || iface.dhcp == Some(true) {
                    return Err(ConfigError::BondMemberAddressed(iface.name.clone()));
                }
            }
        }
        for v in &self.vlans {
            name(&v.name)?;
            check_l3(&v.name, v.addressing())?;
            if !(1..=4094).contains(&v.id) {
                return Err(ConfigError::VlanId { name: v.name.clone(), id: v.id });
            }
            let known = self.interfaces.iter().any(|i| i.name == v.link) || self.bonds.iter().any(|b| b.name == v.link);
            if !known {
                return Err(ConfigError::VlanUnknownLink { vlan: v.name.clone(), link: v.link.clone() });
            }
        }
        Ok(())
    }
}

/// Checks a kernel interface name: 1 to 15 of letters, digits, `-`, `_`, `.`.
fn check_ifname(n: &str) -> Result<(), ConfigError> {
    let ok = !n.is_empty() && n.len() <= IFNAME_MAX_CHARS && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok && n != "." && n != ".." { Ok(()) } else { Err(ConfigError::InterfaceName(n.to_owned())) }
}

/// Checks the addresses, gateway and MTU of one interface, bond or VLAN.
fn check_l3(iface: &str, Addressing { addresses, gateway, mtu, .. }: Addressing<'_>) -> Result<(), ConfigError> {
    let mut families = BTreeSet::new();
    for a in addresses {
        families.insert(parse_cidr(a).ok_or_else(|| ConfigError::Cidr(a.clone(), iface.to_owned()))?.0.is_ipv4());
    }
    if let Some(gw) = gateway.filter(|g| !addresses.is_empty() && !families.contains(&g.is_ipv4())) {
        return Err(ConfigError::GatewayFamily { interface: iface.to_owned(), gateway: gw });
    }
    match mtu {
        Some(m) if !(MTU_MIN_BYTES..=MTU_MAX_BYTES).contains(&m) => Err(ConfigError::Mtu { interface: iface.to_owned(), mtu: m }),
        _ => Ok(()),
    }
}

/// Parses `address/prefix` for IPv4 or IPv6.
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = s.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = prefix.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((addr, prefix))
}

/// Checks one authorized_keys line: a known key type, base64 key data, an optional plain comment.
/// Options before the type (`command=...`) are refused: they change what the key may do.
fn check_ssh_key(key: &str) -> Result<(), ConfigError> {
    let bad = || ConfigError::SshKey(key.chars().take(80).collect());
    if key.len() > SSH_KEY_MAX_CHARS || key.bytes().any(|b| b.is_ascii_control()) {
        return Err(bad());
    }
    let mut fields = key.split(' ');
    let kind = fields.next().unwrap_or_default();
    let data = fields.next().unwrap_or_default();
    let kind_ok = ["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"].contains(&kind)
        || kind.starts_with("sk-");
    let data_ok = data.len() >= 16 && data.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
    if kind_ok && data_ok { Ok(()) } else { Err(bad()) }
}

#[cfg(test)]
mod tests {
    use crate::node::{BootMode, NewNode};

    /// The API's create and patch paths run the same check, so a bad reference is refused on upload.
    #[test]
    fn upload_of_a_bond_with_an_unknown_mac_is_refused() {
        let config = serde_norway::from_str(
            "interfaces: [{name: eno1, mac: '52:54:00:00:00:01'}]\nbonds: [{name: bond0, members: ['52:54:00:00:00:02']}]",
        )
        .unwrap();
        let node = NewNode {
            name: "n1".into(),
            macs: vec!["52:54:00:00:00:01".parse().unwrap()],
            groups: vec![],
            image: None,
            layout: None,
            boot_mode: BootMode::Stateful,
            next_boot: None,
            config,
        };
        let err = node.into_node().unwrap_err();
        assert_eq!(err, "bond bond0 names MAC 52:54:00:00:00:02, which no interface of this config has");
    }
}
