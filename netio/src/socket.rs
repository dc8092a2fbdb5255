//! Socket construction with the options fountain needs.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

/// Socket buffer size asked for: enough for tens of milliseconds at 10 Gbit/s. The kernel clamps
/// it to `net.core.{r,w}mem_max`, except a receive buffer asked for with `CAP_NET_ADMIN` (root:
/// the node agent, a provisioning service).
pub const SOCKET_BUFFER_BYTES: usize = 32 << 20;

/// Where multicast goes out and how far.
#[derive(Debug, Clone, Copy)]
pub struct MulticastOptions {
    /// Local address of the interface multicast leaves and is joined on. The default,
    /// 127.0.0.1, keeps all traffic on `lo`.
    pub interface: Ipv4Addr,
    /// Multicast TTL: 1 keeps it on the local segment.
    pub ttl: u32,
}

impl Default for MulticastOptions {
    fn default() -> Self {
        Self { interface: Ipv4Addr::LOCALHOST, ttl: 1 }
    }
}

fn udp_socket() -> io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a smaller buffer still works, only with more loss at high rates.
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    // The receive side passes the sysctl cap where it may: its default (208 KiB) holds a few
    // milliseconds at line rate, and any pause of the receiving thread (a block decode, a journal
    // write) would drop what arrives meanwhile. The sender paces and needs no such reserve.
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, SOCKET_BUFFER_BYTES).is_err() {
        let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    }
    Ok(socket)
}

/// The sender's socket: bound to the interface on an ephemeral port (feedback comes back to
/// it), multicast out of that interface with the given TTL.
pub fn bind_sender(options: MulticastOptions) -> io::Result<UdpSocket> {
    let socket = udp_socket()?;
    socket.bind(&SockAddr::from(SocketAddrV4::new(options.interface, 0)))?;
    socket.set_multicast_if_v4(&options.interface)?;
    socket.set_multicast_ttl_v4(options.ttl)?;
    socket.set_multicast_loop_v4(true)?;
    Ok(socket.into())
}

/// The sender's socket without multicast: bound to `addr`, which the session ticket names, so
/// receivers can reach it before they have heard from it.
pub fn bind_unicast(addr: SocketAddrV4) -> io::Result<UdpSocket> {
    let socket = udp_socket()?;
    socket.bind(&SockAddr::from(addr))?;
    Ok(socket.into())
}

/// Sends `datagram` to `to` the way the network would carry it: a full socket buffer or a peer
/// that is gone (ICMP port unreachable) loses it, like any loss, which repair makes good; other
/// errors are real.
pub fn send_lossy(socket: &UdpSocket, datagram: &[u8], to: SocketAddr) -> io::Result<()> {
    match socket.send_to(datagram, to) {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionRefused) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A receiver's data socket: bound to the group's address and port (so it sees only that group)
/// with address reuse, so several receivers on one host all get every datagram.
pub fn bind_group(group: SocketAddrV4, options: MulticastOptions) -> io::Result<UdpSocket> {
    let socket = udp_socket()?;
    socket.set_reuse_address(true)?;
    let bind_ip = if group.ip().is_multicast() { *group.ip() } else { Ipv4Addr::UNSPECIFIED };
    socket.bind(&SockAddr::from(SocketAddrV4::new(bind_ip, group.port())))?;
    if group.ip().is_multicast() {
        socket.join_multicast_v4(group.ip(), &options.interface)?;
    }
    Ok(socket.into())
}

/// A receiver's feedback socket: unicast to the sender from an ephemeral port of its own, so
/// acknowledgements reach this receiver and no other on the same host.
pub fn bind_feedback(options: MulticastOptions) -> io::Result<UdpSocket> {
    let socket = udp_socket()?;
    socket.bind(&SockAddr::from(SocketAddr::from((options.interface, 0))))?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As root the receive buffer is the one asked for even where `net.core.rmem_max` is lower
    /// (its default is 208 KiB); the kernel reports twice the size set, its bookkeeping share.
    #[test]
    fn as_root_the_receive_buffer_passes_the_sysctl_cap() {
        if !rustix::process::geteuid().is_root() {
            println!("SKIPPED: not root, the kernel caps the buffers at net.core.rmem_max");
            return;
        }
        let socket = bind_feedback(MulticastOptions::default()).unwrap();
        let socket = Socket::from(socket);
        assert!(socket.recv_buffer_size().unwrap() >= 2 * SOCKET_BUFFER_BYTES, "{}", socket.recv_buffer_size().unwrap());
    }
}
