//! Kernel release strings, ordered as releases: numbers compare as numbers (`6.1.0-57` after
//! `6.1.0-9`), so "the newest kernel" of a host or an image is the one its package manager installed
//! last.
use std::cmp::Ordering;

/// Compares two release strings, digit runs as numbers.
pub fn release_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    for (x, y) in chunks(a).into_iter().zip(chunks(b)) {
        let o = match (x, y) {
            ((true, x), (true, y)) => x.parse::<u64>().unwrap_or(0).cmp(&y.parse::<u64>().unwrap_or(0)),
            ((_, x), (_, y)) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_as_numbers() {
        assert_eq!(release_cmp("6.1.0-57-amd64", "6.1.0-9-amd64"), Ordering::Greater);
        assert_eq!(release_cmp("5.14.0-427.el9.x86_64", "5.14.0-70.el9.x86_64"), Ordering::Greater);
        assert_eq!(release_cmp("6.1.0-50-amd64", "6.1.0-50-amd64"), Ordering::Equal);
    }
}
