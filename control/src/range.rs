//! HTTP byte ranges (RFC 9110 §14.1.2), one range per request: the fetch client asks for one run of
//! blocks at a time, and a multipart answer would only make both sides bigger.
use std::ops::Range;

/// Why a `Range` header cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Not `bytes=first-last`, `bytes=first-` or `bytes=-suffix`.
    #[error("malformed Range header {0:?}: expected 'bytes=FIRST-LAST', 'bytes=FIRST-' or 'bytes=-SUFFIX'")]
    Malformed(String),
    /// More than one range.
    #[error("Range header {0:?} asks for several ranges; send one range per request")]
    Multiple(String),
    /// Well formed, but no byte of it lies in the object.
    #[error("range {0:?} lies outside the object")]
    Unsatisfiable(String),
}

/// The bytes of an object of `len` bytes that `header` asks for, as a half-open range.
pub fn parse(header: &str, len: u64) -> Result<Range<u64>, RangeError> {
    let malformed = || RangeError::Malformed(header.to_string());
    let spec = header.trim().strip_prefix("bytes=").ok_or_else(malformed)?.trim();
    if spec.contains(',') {
        return Err(RangeError::Multiple(header.to_string()));
    }
    let (first, last) = spec.split_once('-').ok_or_else(malformed)?;
    let number = |s: &str| if s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u64>().map_err(|_| malformed()) } else { Err(malformed()) };
    let unsatisfiable = || RangeError::Unsatisfiable(spec.to_string());
    match (first.trim(), last.trim()) {
        ("", "") => Err(malformed()),
        ("", suffix) => {
            let n = number(suffix)?;
            if n == 0 || len == 0 {
                return Err(unsatisfiable());
            }
            Ok(len.saturating_sub(n)..len)
        }
        (first, last) => {
            let start = number(first)?;
            let end = if last.is_empty() { u64::MAX } else { number(last)? };
            if end < start {
                return Err(malformed());
            }
            if start >= len {
                return Err(unsatisfiable());
            }
            Ok(start..end.min(len - 1) + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_are_clamped_to_the_object() {
        assert_eq!(parse("bytes=0-99", 1000), Ok(0..100));
        assert_eq!(parse("bytes=900-", 1000), Ok(900..1000));
        assert_eq!(parse("bytes=900-5000", 1000), Ok(900..1000));
        assert_eq!(parse("bytes=-100", 1000), Ok(900..1000));
        assert_eq!(parse("bytes=-5000", 1000), Ok(0..1000));
        assert_eq!(parse(" bytes= 5-5 ", 1000), Ok(5..6));
    }

    #[test]
    fn bad_and_unsatisfiable_ranges_say_which() {
        for bad in ["bytes=", "bytes=-", "bytes=a-b", "items=0-1", "bytes=5-4", "bytes=+1-2", "bytes=0-99999999999999999999999"] {
            assert!(matches!(parse(bad, 1000), Err(RangeError::Malformed(_))), "{bad}");
        }
        assert!(matches!(parse("bytes=0-1,5-6", 1000), Err(RangeError::Multiple(_))));
        for out in ["bytes=1000-", "bytes=1000-2000", "bytes=-0"] {
            assert!(matches!(parse(out, 1000), Err(RangeError::Unsatisfiable(_))), "{out}");
        }
        assert!(matches!(parse("bytes=-1", 0), Err(RangeError::Unsatisfiable(_))));
    }
}
