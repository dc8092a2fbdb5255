//! systemd-networkd files for Debian images: one `.network` per link, one `.netdev` per bond or VLAN,
//! and the symlinks `systemctl enable systemd-networkd` would make (the agent has no systemctl for
//! the target). NICs are matched by `PermanentMACAddress`, because a bond gives its members the
//! MAC of its first member, after which a plain `MACAddress` match would pick the wrong file.
use std::fmt::Write as _;

use super::network::{Kind, Link};
use super::{FileToWrite, LinkToMake, Rendered};

/// Where the files go: /etc, so they win over anything the image ships under /lib.
const DIR: &str = "/etc/systemd/network";
/// File name prefix: sorts before distribution defaults (networkd uses the first match).
const PREFIX: &str = "10-fountain-";
/// Link monitoring interval for bonds: without one, the bond never notices a dead member.
const BOND_MII_MONITOR: &str = "100ms";

/// The symlinks of `systemctl enable systemd-networkd` on Debian (its `[Install]` section).
const ENABLE: &[(&str, &str)] = &[
    ("/etc/systemd/system/multi-user.target.wants/systemd-networkd.service", "/lib/systemd/system/systemd-networkd.service"),
    ("/etc/systemd/system/dbus-org.freedesktop.network1.service", "/lib/systemd/system/systemd-networkd.service"),
    ("/etc/systemd/system/sockets.target.wants/systemd-networkd.socket", "/lib/systemd/system/systemd-networkd.socket"),
    (
        "/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service",
        "/lib/systemd/system/systemd-networkd-wait-online.service",
    ),
];

/// Adds the files for `links` and the symlinks that enable networkd.
pub(super) fn render(links: &[Link<'_>], out: &mut Rendered) {
    for link in links {
        if let Some(netdev) = netdev(link) {
            out.files.push(file(link.name, "netdev", netdev));
        }
        out.files.push(file(link.name, "network", network(link)));
    }
    out.links.extend(ENABLE.iter().map(|(path, target)| LinkToMake { path: (*path).into(), target: (*target).into() }));
}

fn file(name: &str, ext: &str, contents: String) -> FileToWrite {
    FileToWrite { path: format!("{DIR}/{PREFIX}{name}.{ext}"), mode: 0o644, contents: contents.into_bytes() }
}

/// The `.netdev` that creates a bond or a VLAN; none for a NIC.
fn netdev(link: &Link<'_>) -> Option<String> {
    let mut s = format!("[NetDev]\nName={}\n", link.name);
    match link.kind {
        Kind::Bond(b) => {
            let _ = write!(s, "Kind=bond\n\n[Bond]\nMode={}\nMIIMonitorSec={BOND_MII_MONITOR}\n", b.mode.as_str());
        }
        Kind::Vlan(v) => {
            let _ = write!(s, "Kind=vlan\n\n[VLAN]\nId={}\n", v.id);
        }
        Kind::Ethernet { .. } | Kind::Member { .. } => return None,
    }
    Some(s)
}

/// The `.network` that matches the link and sets its addresses.
fn network(link: &Link<'_>) -> String {
    let mut s = String::from("[Match]\n");
    match link.kind {
        Kind::Ethernet { mac: Some(mac) } | Kind::Member { mac, .. } => {
            let _ = writeln!(s, "PermanentMACAddress={mac}");
        }
        Kind::Ethernet { mac: None } | Kind::Bond(_) | Kind::Vlan(_) => {
            let _ = writeln!(s, "Name={}", link.name);
        }
    }
    if let Some(mtu) = link.mtu {
        let _ = write!(s, "\n[Link]\nMTUBytes={mtu}\n");
    }
    s.push_str("\n[Network]\n");
    if let Kind::Member { bond, .. } = link.kind {
        let _ = writeln!(s, "Bond={bond}");
        return s;
    }
    if link.dhcp {
        s.push_str("DHCP=yes\n");
    } else {
        // Static or unaddressed: no autoconfiguration, as the EL keyfiles say with method=manual.
        s.push_str("IPv6AcceptRA=no\n");
        if link.addresses.is_empty() {
            s.push_str("LinkLocalAddressing=no\n");
        }
    }
    for a in link.addresses {
        let _ = writeln!(s, "Address={a}");
    }
    if let Some(gw) = link.gateway {
        let _ = writeln!(s, "Gateway={gw}");
    }
    for v in &link.vlans {
        let _ = writeln!(s, "VLAN={}", v.name);
    }
    s
}
