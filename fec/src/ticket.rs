//! The session ticket: everything a receiver needs to join one transfer.
//!
//! The object's [`Manifest`] plus the session id, the multicast group and the optional packet
//! key. `fountain send` writes it; the control plane hands it to node agents over its
//! authenticated channel. It holds the key, so it is as secret as the session.

use crate::manifest::{Manifest, ManifestError, expect_header};
use crate::wire::{Reader, SessionKey, WireError, Writer};
use std::net::{Ipv4Addr, SocketAddrV4};

const MAGIC: &[u8; 4] = b"FTNT";
const TICKET_VERSION: u16 = 1;

/// How to join one transfer, and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTicket {
    /// The session's id on the wire.
    pub session_id: u64,
    /// The multicast group and port the data goes to; or, where the network does not route
    /// multicast, the sender's own unicast address, which receivers join and take seeds from
    /// (each forwards what it gets to the others).
    pub group: SocketAddrV4,
    /// The packet-authentication key, if the session tags packets.
    pub key: Option<SessionKey>,
    /// The object.
    pub manifest: Manifest,
}

impl SessionTicket {
    /// Encodes the ticket.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf);
        w.bytes(MAGIC).u16(TICKET_VERSION).u64(self.session_id).bytes(&self.group.ip().octets()).u16(self.group.port());
        match &self.key {
            Some(key) => w.u8(1).bytes(key.as_bytes()),
            None => w.u8(0),
        };
        w.bytes(&self.manifest.encode());
        buf
    }

    /// Decodes and validates a ticket (the manifest inside is fully checked).
    pub fn decode(bytes: &[u8]) -> Result<Self, ManifestError> {
        let mut r = Reader::new(bytes);
        expect_header(&mut r, MAGIC, TICKET_VERSION)?;
        let session_id = r.u64()?;
        let ip = Ipv4Addr::from(r.array::<4>()?);
        let group = SocketAddrV4::new(ip, r.u16()?);
        let key = match r.u8()? {
            0 => None,
            1 => Some(SessionKey::new(r.array()?)),
            _ => return Err(WireError::Range("key flag").into()),
        };
        let manifest = Manifest::decode(r.take_rest())?;
        Ok(Self { session_id, group, key, manifest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObjectLayout;

    #[test]
    fn round_trips_and_rejects_corruption() {
        let layout = ObjectLayout::new(5000, 64, 16).unwrap();
        let manifest = Manifest::hash_object(layout, &[5u8; 5000][..]).unwrap();
        let ticket = SessionTicket {
            session_id: 77,
            group: "239.1.2.3:9000".parse().unwrap(),
            key: Some(SessionKey::new([4; 32])),
            manifest,
        };
        let bytes = ticket.encode();
        assert_eq!(SessionTicket::decode(&bytes).unwrap(), ticket);
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(SessionTicket::decode(&bad).is_err());
        assert!(SessionTicket::decode(&bytes[..10]).is_err());
    }
}
