//! Human units on the command line: rates in bits per second, sizes in bytes, durations in
//! seconds.

/// Parses a number with an optional k/M/G/T suffix (powers of `base`) and optional `unit`.
fn parse_scaled(text: &str, base: u64, unit: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let trimmed = lower.strip_suffix(unit).unwrap_or(&lower);
    let (digits, scale) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], base),
        Some('m') => (&trimmed[..trimmed.len() - 1], base.pow(2)),
        Some('g') => (&trimmed[..trimmed.len() - 1], base.pow(3)),
        Some('t') => (&trimmed[..trimmed.len() - 1], base.pow(4)),
        _ => (trimmed, 1),
    };
    let value: f64 = digits.parse().map_err(|_| format!("'{text}' is not a number with an optional k/M/G/T suffix"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("'{text}' must be a non-negative number"));
    }
    Ok((value * scale as f64) as u64)
}

/// A rate like `300M`, `1.5G` or `800mbit` in bits per second; `0` means unlimited.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    if text.eq_ignore_ascii_case("unlimited") {
        return Ok(0);
    }
    parse_scaled(text, 1000, "bit")
}

/// A size like `64M` or `4G` in bytes (binary multiples).
pub fn parse_size(text: &str) -> Result<u64, String> {
    parse_scaled(text, 1024, "b")
}

/// A duration in seconds, like `10` or `0.5`.
pub fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let seconds: f64 = text.trim().parse().map_err(|_| format!("'{text}' is not a number of seconds"))?;
    std::time::Duration::try_from_secs_f64(seconds).map_err(|_| format!("'{text}' must be a non-negative number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_sizes() {
        assert_eq!(parse_rate("300M"), Ok(300_000_000));
        assert_eq!(parse_rate("1.5g"), Ok(1_500_000_000));
        assert_eq!(parse_rate("800mbit"), Ok(800_000_000));
        assert_eq!(parse_rate("unlimited"), Ok(0));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1GB"), Ok(1 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_rate("fast").is_err());
        assert!(parse_size("-1k").is_err());
        assert_eq!(parse_seconds("0.5"), Ok(std::time::Duration::from_millis(500)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("NaN").is_err());
        assert!(parse_seconds("soon").is_err());
    }
}
