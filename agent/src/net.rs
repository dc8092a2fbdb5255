//! Bringing up the boot NIC: DHCP with busybox's udhcpc on the NIC the node booted from when the
//! command line names it, otherwise on each NIC in turn until one gets a lease. The lease's MTU
//! (option 26) is asked for and applied, so a jumbo-frame network's sessions reach the node.
use std::path::Path;
use std::process::Command;

use control::inventory::InventoryNic;
use control::mac::Mac;

/// udhcpc's hook script in the initramfs (it sets the address and route udhcpc leases).
pub const UDHCPC_SCRIPT: &str = "/etc/fountain/udhcpc.sh";
/// DHCP discovers per NIC before trying the next one.
const DHCP_TRIES: &str = "5";
/// Seconds between discovers.
const DHCP_TRY_S: &str = "2";

/// Why no NIC got an address.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The node has no network interface the kernel found a driver for.
    #[error("no network interface found (is the NIC's driver in the initramfs?)")]
    NoNic,
    /// DHCP failed on every NIC.
    #[error("no DHCP lease on {tried}: {reason}")]
    NoLease {
        /// NICs tried.
        tried: String,
        /// Last failure.
        reason: String,
    },
}

/// The NICs to try, the one with `boot_mac` first.
pub fn order(nics: &[InventoryNic], boot_mac: Option<Mac>) -> Vec<String> {
    let boot = boot_mac.map(|m| m.to_string());
    let mut names: Vec<&InventoryNic> = nics.iter().collect();
    names.sort_by_key(|n| (Some(&n.mac) != boot.as_ref(), !n.link, n.name.clone()));
    names.into_iter().map(|n| n.name.clone()).collect()
}

/// Runs DHCP on the NICs in `order` until one gets a lease; returns its name.
pub fn bring_up(order: &[String], say: &mut dyn FnMut(&str)) -> Result<String, NetError> {
    if order.is_empty() {
        return Err(NetError::NoNic);
    }
    let mut reason = String::new();
    for nic in order {
        say(&format!("DHCP on {nic}"));
        let _ = Command::new("ip").args(["link", "set", nic, "up"]).status();
        let out = Command::new("udhcpc").args(["-i", nic, "-f", "-q", "-n", "-t", DHCP_TRIES, "-T", DHCP_TRY_S, "-O", "mtu", "-s"]).arg(Path::new(UDHCPC_SCRIPT)).output();
        match out {
            Ok(o) if o.status.success() => return Ok(nic.clone()),
            Ok(o) => reason = format!("{nic}: {}", String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("udhcpc failed")),
            Err(e) => reason = format!("running udhcpc: {e}"),
        }
    }
    Err(NetError::NoLease { tried: order.join(", "), reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_nic_goes_first_then_those_with_link() {
        let nic = |name: &str, mac: &str, link: bool| InventoryNic { name: name.into(), mac: mac.into(), link, speed_mbps: None };
        let nics = [nic("eth0", "52:54:00:00:00:01", false), nic("eth1", "52:54:00:00:00:02", true), nic("eth2", "52:54:00:00:00:03", false)];
        assert_eq!(order(&nics, Some("52:54:00:00:00:03".parse().unwrap())), ["eth2", "eth1", "eth0"]);
        assert_eq!(order(&nics, None), ["eth1", "eth0", "eth2"]);
        assert!(matches!(bring_up(&[], &mut |_| {}), Err(NetError::NoNic)));
    }
}
