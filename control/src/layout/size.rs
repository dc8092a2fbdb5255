//! Sizes in layouts: `512M`, `1.5T`, `40GB`, `rest` for the remaining space, and `>=400G`-style bounds
//! for matching disks.
//!
//! Units: `K`, `M`, `G`, `T`, `P` and `KiB` … `PiB` are binary (powers of 1024), as partitioning tools
//! read them; `kB`/`KB`, `MB`, `GB`, `TB`, `PB` are decimal SI units (powers of 1000), as disk vendors
//! label capacity, so `40GB` is 40,000,000,000 bytes and never silently 40 GiB. A fraction is allowed
//! when it comes to whole bytes (`1.5T`, `0.5G`); anything else is refused with the reason.
use std::fmt;

/// Fractional digits a size may have (`1.125T`).
const FRACTION_DIGITS_MAX: usize = 6;

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

/// Parses `<number><unit>`: a whole or decimal number and one of the units in the module docs.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || (number.contains('.') && fraction.is_empty()) || fraction.contains('.') {
        return Err("expected a number followed by a unit, like 512M, 1.5T or 40GB".into());
    }
    if fraction.len() > FRACTION_DIGITS_MAX {
        return Err(format!("at most {FRACTION_DIGITS_MAX} digits after the point"));
    }
    let unit_bytes: u128 = match unit {
        "" | "B" => 1,
        "K" | "k" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        "P" | "PiB" => 1 << 50,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "PB" => 1_000_000_000_000_000,
        other => return Err(format!("unknown unit {other:?}: use K, M, G, T, P (binary, also KiB…PiB) or kB, MB, GB, TB, PB (decimal)")),
    };
    let scale = 10u128.pow(fraction.len() as u32);
    let digits: u128 = format!("{whole}{fraction}").parse().map_err(|_| "too large".to_string())?;
    let scaled = digits.checked_mul(unit_bytes).ok_or_else(|| "too large".to_string())?;
    if scaled % scale != 0 {
        return Err("not a whole number of bytes".into());
    }
    u64::try_from(scaled / scale).map_err(|_| "too large".to_string())
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
        assert!(parse_bytes("99999999999P").unwrap_err().contains("too large"));
        assert_eq!(Human(512 << 20).to_string(), "512 MiB");
    }

    #[test]
    fn decimal_units_are_si_and_fractions_must_be_whole_bytes() {
        assert_eq!(parse_bytes("40GB").unwrap(), 40_000_000_000, "GB is decimal, never GiB");
        assert_eq!(parse_bytes("40G").unwrap(), 40 << 30);
        assert_eq!(parse_bytes("1.5T").unwrap(), 3 << 39);
        assert_eq!(parse_bytes("2.5kB").unwrap(), 2_500);
        assert!(parse_bytes("1.5B").unwrap_err().contains("not a whole number of bytes"));
        assert!(parse_bytes("1.").unwrap_err().contains("expected a number"));
        assert!(parse_bytes("1.2.3G").unwrap_err().contains("expected a number"));
        assert!(parse_bytes("3Gb").unwrap_err().contains("unknown unit \"Gb\""));
    }
}
