//! The link an address sends by, for a sender's defaults: the interface whose connected route holds
//! the address (`/proc/net/route`), then its `/sys/class/net/IF/speed` (the rate ceiling) and
//! `/sys/class/net/IF/mtu` (the symbol size). Loopback (its routes are not in the main table),
//! virtual links without a speed and other systems: unknown.

use std::net::Ipv4Addr;

/// The link speed of the interface that owns `local`, in bits/s, where the system says.
pub fn link_speed_bps(local: Ipv4Addr) -> Option<u64> {
    parse_speed_mbps(&link_attribute(local, "speed")?).map(|mbps| mbps * 1_000_000)
}

/// Ethernet's MTU: what a sender assumes where neither its user nor the link says.
const ETHERNET_MTU: u16 = 1500;

/// The MTU of the interface that owns `local`, where the system says: a jumbo-frame network's
/// 9000 lets each datagram carry six times the symbol bytes of Ethernet's 1500.
fn link_mtu(local: Ipv4Addr) -> Option<u16> {
    link_attribute(local, "mtu")?.trim().parse().ok()
}

/// A given MTU the link cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--mtu {given} is above the MTU of the link {local} is on ({link}): its datagrams would be cut into fragments, and one lost fragment loses the whole symbol; raise the link's MTU first, or leave --mtu out to use the link's")]
pub struct MtuAboveLink {
    /// The MTU asked for.
    pub given: u16,
    /// The link's MTU.
    pub link: u16,
    /// The sending address.
    pub local: Ipv4Addr,
}

/// The MTU a sender on `local` cuts its symbols for: `given`, else its link's, else Ethernet's.
/// A given MTU above the link's is refused rather than fragmented.
pub fn sending_mtu(given: Option<u16>, local: Ipv4Addr) -> Result<u16, MtuAboveLink> {
    choose_mtu(given, link_mtu(local), local)
}

fn choose_mtu(given: Option<u16>, link: Option<u16>, local: Ipv4Addr) -> Result<u16, MtuAboveLink> {
    match (given, link) {
        (Some(given), Some(link)) if given > link => Err(MtuAboveLink { given, link, local }),
        (Some(given), _) => Ok(given),
        (None, link) => Ok(link.unwrap_or(ETHERNET_MTU)),
    }
}

/// `/sys/class/net/IF/<name>` of the interface that owns `local`.
fn link_attribute(local: Ipv4Addr, name: &str) -> Option<String> {
    let routes = std::fs::read_to_string("/proc/net/route").ok()?;
    let iface = interface_for(local, &routes)?;
    std::fs::read_to_string(format!("/sys/class/net/{iface}/{name}")).ok()
}

/// The interface of the most specific route in `routes` (the text of `/proc/net/route`) whose
/// network holds `addr`, default routes left out: the link `addr` lives on.
fn interface_for(addr: Ipv4Addr, routes: &str) -> Option<String> {
    let addr = u32::from(addr);
    routes
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (iface, dest, mask) = (fields.first()?, fields.get(1)?, fields.get(7)?);
            // The kernel writes each address as the hex of a native integer holding its bytes.
            let parse = |hex: &str| u32::from_str_radix(hex, 16).ok().map(|v| u32::from(Ipv4Addr::from(v.to_ne_bytes())));
            let (dest, mask) = (parse(dest)?, parse(mask)?);
            (mask != 0 && addr & mask == dest & mask).then_some((mask.count_ones(), (*iface).to_owned()))
        })
        .max_by_key(|(bits, _)| *bits)
        .map(|(_, iface)| iface)
}

/// `/sys/class/net/IF/speed`: Mbit/s, or -1 (or an error on read) when the link does not say.
fn parse_speed_mbps(text: &str) -> Option<u64> {
    text.trim().parse::<i64>().ok().filter(|&mbps| mbps > 0).map(|mbps| mbps as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
        eth0\t0000000A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
        eth1\t00004D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

    #[cfg(target_endian = "little")]
    #[test]
    fn the_most_specific_connected_route_names_the_link() {
        assert_eq!(interface_for(Ipv4Addr::new(10, 77, 0, 1), ROUTES).as_deref(), Some("eth1"));
        assert_eq!(interface_for(Ipv4Addr::new(10, 0, 3, 4), ROUTES).as_deref(), Some("eth0"));
        assert_eq!(interface_for(Ipv4Addr::new(192, 168, 1, 1), ROUTES), None, "the default route is no link of its own");
    }

    #[test]
    fn speeds_the_kernel_does_not_know_are_none() {
        assert_eq!(parse_speed_mbps("10000\n"), Some(10_000));
        assert_eq!(parse_speed_mbps("-1\n"), None);
        assert_eq!(parse_speed_mbps(""), None);
    }

    #[test]
    fn a_given_mtu_wins_unless_the_link_cannot_carry_it() {
        let local = Ipv4Addr::new(10, 78, 0, 1);
        assert_eq!(choose_mtu(None, Some(9000), local), Ok(9000));
        assert_eq!(choose_mtu(None, None, local), Ok(1500), "loopback and links that do not say");
        assert_eq!(choose_mtu(Some(1400), Some(9000), local), Ok(1400));
        assert_eq!(choose_mtu(Some(9000), None, local), Ok(9000), "nothing to check against");
        let err = choose_mtu(Some(9000), Some(1500), local).unwrap_err();
        assert_eq!(err, MtuAboveLink { given: 9000, link: 1500, local });
        assert!(err.to_string().starts_with("--mtu 9000 is above the MTU of the link 10.78.0.1 is on (1500)"), "{err}");
    }
}
