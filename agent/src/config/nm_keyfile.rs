//! NetworkManager keyfiles for EL images: one `.nmconnection` per link, mode 0600 (NetworkManager
//! ignores keyfiles that others can read). Connection UUIDs are derived from the link's name, so a
//! re-render writes the same bytes and a VLAN names its parent by UUID, which works whatever the
//! kernel calls a NIC matched by MAC. `ethernet.mac-address` matches the permanent MAC, so bond
//! members stay matched after the bond changes their MAC.
use std::fmt::Write as _;

use super::network::{Kind, Link};
use super::{FileToWrite, Rendered};

/// Where NetworkManager reads keyfiles on EL 8 and 9.
const DIR: &str = "/etc/NetworkManager/system-connections";
/// Connection id and file name prefix, so ours are told apart from connections made by hand.
const PREFIX: &str = "fountain-";
/// Link monitoring interval for bonds, milliseconds.
const BOND_MIIMON_MS: u32 = 100;

/// Adds one keyfile per link.
pub(super) fn render(links: &[Link<'_>], out: &mut Rendered) {
    for link in links {
        out.files.push(FileToWrite {
            path: format!("{DIR}/{PREFIX}{}.nmconnection", link.name),
            mode: 0o600,
            contents: keyfile(link).into_bytes(),
        });
    }
}

fn keyfile(link: &Link<'_>) -> String {
    let kind = match link.kind {
        Kind::Ethernet { .. } | Kind::Member { .. } => "ethernet",
        Kind::Bond(_) => "bond",
        Kind::Vlan(_) => "vlan",
    };
    let mut s = format!("[connection]\nid={PREFIX}{}\nuuid={}\ntype={kind}\n", link.name, uuid(link.name));
    let mac = match link.kind {
        Kind::Ethernet { mac } => mac,
        Kind::Member { mac, .. } => Some(mac),
        Kind::Bond(_) | Kind::Vlan(_) => None,
    };
    if mac.is_none() {
        let _ = writeln!(s, "interface-name={}", link.name);
    }
    if let Kind::Member { bond, .. } = link.kind {
        let _ = writeln!(s, "master={bond}\nslave-type=bond");
    }
    if mac.is_some() || link.mtu.is_some() {
        s.push_str("\n[ethernet]\n");
        if let Some(mac) = mac {
            let _ = writeln!(s, "mac-address={}", mac.to_string().to_ascii_uppercase());
        }
        if let Some(mtu) = link.mtu {
            let _ = writeln!(s, "mtu={mtu}");
        }
    }
    match link.kind {
        Kind::Member { .. } => return s,
        Kind::Bond(b) => {
            let _ = write!(s, "\n[bond]\nmiimon={BOND_MIIMON_MS}\nmode={}\n", b.mode.as_str());
        }
        Kind::Vlan(v) => {
            let _ = write!(s, "\n[vlan]\nid={}\nparent={}\n", v.id, uuid(&v.link));
        }
        Kind::Ethernet { .. } => {}
    }
    for (section, v4) in [("ipv4", true), ("ipv6", false)] {
        let _ = write!(s, "\n[{section}]\n");
        let method = if link.dhcp {
            "auto"
        } else if link.has_family(v4) {
            "manual"
        } else {
            "disabled"
        };
        let _ = writeln!(s, "method={method}");
        for (n, a) in link.addresses_of(v4).enumerate() {
            let _ = writeln!(s, "address{}={a}", n + 1);
        }
        if let Some(gw) = link.gateway.filter(|g| g.is_ipv4() == v4) {
            let _ = writeln!(s, "gateway={gw}");
        }
    }
    s
}

/// A name-based UUID for the connection of link `name` (blake3 of the name, with the version 8 and
/// RFC 9562 variant bits set).
fn uuid(name: &str) -> String {
    let hash = blake3::hash(format!("fountain nm connection {name}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash.as_bytes()[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}
