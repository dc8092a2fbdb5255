//! Kernel UDP counters, so a receiver can say when the kernel, not the network, dropped datagrams.

/// The host's `UdpRcvbufErrors`: datagrams dropped because a socket's receive buffer was full.
/// `None` where /proc/net/snmp is unreadable. System-wide, so compare before and after.
pub fn udp_rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|line| line.starts_with("Udp: "));
    let (names, values) = (udp.next()?, udp.next()?);
    let column = names.split_whitespace().position(|name| name == "RcvbufErrors")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_counter_on_linux() {
        assert!(super::udp_rcvbuf_errors().is_some());
    }
}
