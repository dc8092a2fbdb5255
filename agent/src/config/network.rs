//! Network: interfaces matched by MAC (or by name), static addresses or DHCP, MTU, bonds and VLANs,
//! turned into one neutral list of links that each family's renderer writes out: systemd-networkd
//! `.network`/`.netdev` files for Debian ([`super::networkd`]), NetworkManager keyfiles for EL
//! ([`super::nm_keyfile`]). With no interfaces in the config, nothing is written and the image's own
//! network setup stays.
use std::net::IpAddr;

use control::mac::Mac;
use control::node_config::{Addressing, Bond, Vlan};

use super::{networkd, nm_keyfile, Checked, Family, Plugin, Rendered};

/// Renders the node's interfaces, bonds and VLANs.
pub struct Network;

impl Plugin for Network {
    fn name(&self) -> &'static str {
        "network"
    }

    fn render(&self, config: Checked<'_>, family: Family, out: &mut Rendered) {
        if config.interfaces.is_empty() && config.bonds.is_empty() && config.vlans.is_empty() {
            return;
        }
        let links = links(config);
        match family {
            Family::Debian => networkd::render(&links, out),
            Family::El => nm_keyfile::render(&links, out),
        }
    }
}

/// What one configured link is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind<'a> {
    /// A NIC, matched by its permanent MAC when the config gives one, else by name.
    Ethernet {
        /// The MAC to match.
        mac: Option<Mac>,
    },
    /// A NIC enslaved to a bond; it carries no addresses of its own.
    Member {
        /// Its MAC.
        mac: Mac,
        /// The bond's name.
        bond: &'a str,
    },
    /// A bond the renderer creates.
    Bond(&'a Bond),
    /// A VLAN the renderer creates.
    Vlan(&'a Vlan),
}

/// One link with its layer-3 settings, in config order: interfaces, then bonds, then VLANs.
#[derive(Debug, Clone)]
pub(super) struct Link<'a> {
    /// Config name: the file name and, for bonds, VLANs and NICs without a MAC, the OS name.
    pub name: &'a str,
    /// What it is.
    pub kind: Kind<'a>,
    /// Static addresses, CIDR form.
    pub addresses: &'a [String],
    /// Default gateway.
    pub gateway: Option<IpAddr>,
    /// MTU in bytes.
    pub mtu: Option<u16>,
    /// Whether DHCP (and IPv6 autoconfiguration) runs on it.
    pub dhcp: bool,
    /// VLANs whose `link` is this one.
    pub vlans: Vec<&'a Vlan>,
}

impl<'a> Link<'a> {
    /// The link `name` with the config's addressing; a bond member runs no DHCP of its own.
    fn new(name: &'a str, kind: Kind<'a>, l3: Addressing<'a>, vlans: Vec<&'a Vlan>) -> Self {
        let dhcp = !matches!(kind, Kind::Member { .. }) && l3.dhcp_on();
        Link { name, kind, addresses: l3.addresses, gateway: l3.gateway, mtu: l3.mtu, dhcp, vlans }
    }

    /// The static addresses of one IP family.
    pub fn addresses_of(&self, v4: bool) -> impl Iterator<Item = &'a String> {
        let addresses: &'a [String] = self.addresses;
        addresses.iter().filter(move |a| a.split_once('/').and_then(|(ip, _)| ip.parse::<IpAddr>().ok()).is_some_and(|ip| ip.is_ipv4() == v4))
    }

    /// Whether any static address (or the gateway) is of the given family.
    pub fn has_family(&self, v4: bool) -> bool {
        self.addresses_of(v4).next().is_some() || self.gateway.is_some_and(|g| g.is_ipv4() == v4)
    }
}

/// The config's network as links; members of a bond are marked as such.
fn links<'a>(config: Checked<'a>) -> Vec<Link<'a>> {
    let config: &'a control::node::NodeConfig = config.0;
    let vlans_on = |name: &str| config.vlans.iter().filter(|v| v.link == name).collect::<Vec<_>>();
    let mut links = Vec::new();
    for i in &config.interfaces {
        let bond = i.mac.and_then(|mac| config.bonds.iter().find(|b| b.members.contains(&mac)).map(|b| (mac, b)));
        let kind = match bond {
            Some((mac, b)) => Kind::Member { mac, bond: &b.name },
            None => Kind::Ethernet { mac: i.mac },
        };
        links.push(Link::new(&i.name, kind, i.addressing(), vlans_on(&i.name)));
    }
    for b in &config.bonds {
        links.push(Link::new(&b.name, Kind::Bond(b), b.addressing(), vlans_on(&b.name)));
    }
    for v in &config.vlans {
        links.push(Link::new(&v.name, Kind::Vlan(v), v.addressing(), Vec::new()));
    }
    links
}
