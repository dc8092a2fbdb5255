//! MAC addresses: the key by which a booting machine is recognised.
use std::fmt;
use std::str::FromStr;

/// An Ethernet MAC address, always shown in lower-case colon form so that one machine has one spelling
/// in the store, whatever the firmware or the operator typed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac([u8; 6]);

/// Why a string is not the MAC address of a machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    /// Not six hex pairs.
    #[error("invalid MAC address {input:?}: expected six hex pairs separated by ':' or '-', like 52:54:00:12:34:56")]
    Malformed {
        /// What was given (at most 64 characters of it).
        input: String,
    },
    /// Well-formed, but no network card has it: all zero, broadcast or multicast (group bit set).
    #[error("invalid MAC address {mac}: {kind} addresses belong to no single machine")]
    NotUnicast {
        /// The address, normalised.
        mac: String,
        /// `all-zero`, `broadcast` or `multicast`.
        kind: &'static str,
    },
}

impl Mac {
    /// The six octets.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }
}

impl FromStr for Mac {
    type Err = MacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacError::Malformed { input: s.chars().take(64).collect() };
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut octets = [0u8; 6];
        let mut parts = s.split(sep);
        for octet in &mut octets {
            let part = parts.next().ok_or_else(err)?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        let mac = Mac(octets);
        let kind = match octets {
            [0, 0, 0, 0, 0, 0] => "all-zero",
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] => "broadcast",
            [first, ..] if first & 1 == 1 => "multicast",
            _ => return Ok(mac),
        };
        Err(MacError::NotUnicast { mac: mac.to_string(), kind })
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_colon_and_dash_forms_and_normalises_case() {
        let a: Mac = "52:54:00:AB:cd:0F".parse().unwrap();
        let b: Mac = "52-54-00-ab-CD-0f".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "52:54:00:ab:cd:0f");
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in ["", "52:54:00:ab:cd", "52:54:00:ab:cd:0f:11", "52:54:00:ab:cd:0g", "525400abcd0f", "5:54:00:ab:cd:0f0", "52:54-00:ab:cd:0f"] {
            let err = bad.parse::<Mac>().unwrap_err();
            assert!(err.to_string().contains("invalid MAC address"), "{bad}: {err}");
        }
    }

    #[test]
    fn rejects_addresses_no_machine_has() {
        for (bad, kind) in [("00:00:00:00:00:00", "all-zero"), ("FF:FF:FF:FF:FF:FF", "broadcast"), ("01:00:5e:00:00:01", "multicast"), ("33:33:00:00:00:01", "multicast")] {
            let err = bad.parse::<Mac>().unwrap_err().to_string();
            assert!(err.contains(kind) && err.contains("belong to no single machine"), "{bad}: {err}");
        }
        assert!("02:00:00:00:00:01".parse::<Mac>().is_ok(), "locally administered unicast is fine");
    }
}
