//! Sizes in layouts: `512M`, `1.5T` is not accepted (binary units and whole numbers keep arithmetic
//! exact), `rest` for the remaining space, and `>=400G`-style bounds for matching disks.
use std::fmt;

/// One kibibyte; layout units are binary (K = KiB, M = MiB, ...), as disk tools use.
const KIB: u64 = 1024;

/// The size of a partition or logical volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Exactly this many bytes.
    Bytes(u64),
    /// Whatever is left of the disk or volume group.
    Rest,
}

/// How a disk's size must compare to a value to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `>=N`
    AtLeast(u64),
    /// `<=N`
    AtMost(u64),
    /// `N`
    Exactly(u64),
}

impl Bound {
    /// The smallest size a matching disk can have, if the bound says.
    pub fn min_bytes(self) -> Option<u64> {
        match self {
            Bound::AtLeast(n) | Bound::Exactly(n) => Some(n),
            Bound::AtMost(_) => None,
        }
    }
}

/// Parses `<digits><unit>` with unit one of B, K, M, G, T, P (optionally followed by `iB`).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return Err("expected a whole number followed by a unit, like 512M or 2T".into());
    }
    let shift = match unit.trim_end_matches("iB").trim_end_matches('B') {
        "" => 0,
        "K" | "k" => 1,
        "M" => 2,
        "G" => 3,
        "T" => 4,
        "P" => 5,
        other => return Err(format!("unknown unit {other:?}: use K, M, G, T or P (binary)")),
    };
    let n: u64 = digits.parse().map_err(|_| "number too large".to_string())?;
    n.checked_mul(KIB.pow(shift)).ok_or_else(|| "size too large".into())
}

/// Parses a partition or LV size.
pub fn parse_size(s: &str) -> Result<Size, String> {
    if s.trim() == "rest" {
        return Ok(Size::Rest);
    }
    match parse_bytes(s)? {
        0 => Err("size must be greater than zero".into()),
        n => Ok(Size::Bytes(n)),
    }
}

/// Parses a disk-size bound: `>=400G`, `<=2T` or `480G`.
pub fn parse_bound(s: &str) -> Result<Bound, String> {
    let s = s.trim();
    if let Some(v) = s.strip_prefix(">=") {
        Ok(Bound::AtLeast(parse_bytes(v)?))
    } else if let Some(v) = s.strip_prefix("<=") {
        Ok(Bound::AtMost(parse_bytes(v)?))
    } else {
        Ok(Bound::Exactly(parse_bytes(s)?))
    }
}

/// Bytes shown in the largest binary unit that keeps them whole-ish, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Human(pub u64);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        let mut v = self.0 as f64;
        let mut i = 0;
        while v >= 1024.0 && i + 1 < units.len() {
            v /= 1024.0;
            i += 1;
        }
        if v.fract() == 0.0 { write!(f, "{v} {}", units[i]) } else { write!(f, "{v:.1} {}", units[i]) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_bounds() {
        assert_eq!(parse_bytes("512M").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("2TiB").unwrap(), 2 << 40);
        assert_eq!(parse_size("rest").unwrap(), Size::Rest);
        assert_eq!(parse_bound(">=400G").unwrap(), Bound::AtLeast(400 << 30));
        assert!(parse_size("0M").is_err());
        assert!(parse_bytes("1.5G").unwrap_err().contains("unknown unit"));
        assert!(parse_bytes("99999999999P").unwrap_err().contains("too large"));
        assert_eq!(Human(512 << 20).to_string(), "512 MiB");
    }
}
