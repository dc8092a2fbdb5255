//! HTTP byte ranges (RFC 9110 §14): which bytes of a file a `GET` answers with.
//!
//! One `bytes` range is served as a 206. Everything else a client may send is answered as RFC 9110
//! allows: a header in another unit, a malformed one or several ranges are ignored (the whole file,
//! 200; a multipart answer would only make both sides bigger, and the fetch client never asks for
//! one), an `If-Range` that does not match the file's current validator means the whole file too,
//! and only a well-formed range wholly past the end is refused (416).
use std::ops::Range;

/// A well-formed range with no byte inside the file: the one case answered with 416.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("range {0:?} lies outside the object")]
pub struct Unsatisfiable(pub String);

/// What identifies the current contents of a file, for `If-Range`.
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    /// The strong entity tag sent in `ETag`, quotes included.
    pub etag: &'a str,
    /// The `Last-Modified` value sent, if any (an HTTP-date).
    pub last_modified: Option<&'a str>,
}

/// The bytes of a file of `len` bytes to send: `None` for the whole file, else a half-open range.
/// `range` and `if_range` are the request's headers.
pub fn select(range: Option<&str>, if_range: Option<&str>, validators: Validators<'_>, len: u64) -> Result<Option<Range<u64>>, Unsatisfiable> {
    match range {
        Some(range) if if_range.is_none_or(|v| still_current(v, validators)) => parse(range, len),
        _ => Ok(None),
    }
}

/// Whether an `If-Range` value names the file as it is now: an entity tag must equal ours and be
/// strong (a weak tag never matches, RFC 9110 §13.1.5), a date must equal our `Last-Modified`.
fn still_current(if_range: &str, validators: Validators<'_>) -> bool {
    let v = if_range.trim();
    if v.starts_with('"') || v.starts_with("W/") {
        v == validators.etag
    } else {
        validators.last_modified == Some(v)
    }
}

/// The single range `header` asks for in a file of `len` bytes; `None` when the header is to be
/// ignored (another unit, malformed, several ranges).
pub fn parse(header: &str, len: u64) -> Result<Option<Range<u64>>, Unsatisfiable> {
    let Some((unit, spec)) = header.trim().split_once('=') else { return Ok(None) };
    let spec = spec.trim();
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else { return Ok(None) };
    let number = |s: &str| if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
    let unsatisfiable = || Unsatisfiable(spec.to_string());
    match (first.trim(), last.trim()) {
        ("", suffix) => {
            let Some(n) = number(suffix) else { return Ok(None) };
            if n == 0 || len == 0 {
                return Err(unsatisfiable());
            }
            Ok(Some(len.saturating_sub(n)..len))
        }
        (first, last) => {
            let Some(start) = number(first) else { return Ok(None) };
            let end = match last {
                "" => u64::MAX,
                last => match number(last) {
                    Some(end) if end >= start => end,
                    _ => return Ok(None),
                },
            };
            if start >= len {
                return Err(unsatisfiable());
            }
            Ok(Some(start..end.min(len - 1) + 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: Validators<'static> = Validators { etag: "\"abc\"", last_modified: Some("Sun, 29 Nov 2026 20:00:00 GMT") };

    #[test]
    fn single_ranges_are_clamped_to_the_object() {
        assert_eq!(parse("bytes=0-99", 1000), Ok(Some(0..100)));
        assert_eq!(parse("bytes=900-", 1000), Ok(Some(900..1000)));
        assert_eq!(parse("bytes=900-5000", 1000), Ok(Some(900..1000)));
        assert_eq!(parse("bytes=-100", 1000), Ok(Some(900..1000)));
        assert_eq!(parse("bytes=-5000", 1000), Ok(Some(0..1000)));
        assert_eq!(parse(" bytes= 5-5 ", 1000), Ok(Some(5..6)));
        assert_eq!(parse("Bytes=1-1", 1000), Ok(Some(1..2)), "range units are case-insensitive");
    }

    #[test]
    fn other_units_malformed_and_multiple_ranges_are_ignored() {
        for ignored in ["items=0-5", "bytes=", "bytes=-", "bytes=a-b", "bytes=5-4", "bytes=+1-2", "bytes=0-99999999999999999999999", "bytes=0-1,5-6", "bytes 0-1", ""] {
            assert_eq!(parse(ignored, 1000), Ok(None), "{ignored}");
        }
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        for out in ["bytes=1000-", "bytes=1000-2000", "bytes=-0"] {
            assert!(parse(out, 1000).is_err(), "{out}");
        }
        assert!(parse("bytes=-1", 0).is_err());
    }

    #[test]
    fn if_range_applies_the_range_only_to_the_same_file() {
        let range = Some("bytes=0-9");
        assert_eq!(select(range, None, TAG, 100), Ok(Some(0..10)));
        assert_eq!(select(range, Some("\"abc\""), TAG, 100), Ok(Some(0..10)));
        assert_eq!(select(range, Some("Sun, 29 Nov 2026 20:00:00 GMT"), TAG, 100), Ok(Some(0..10)));
        for stale in ["\"abd\"", "W/\"abc\"", "Sun, 29 Nov 2026 19:59:59 GMT", "yesterday"] {
            assert_eq!(select(range, Some(stale), TAG, 100), Ok(None), "{stale}");
        }
        assert_eq!(select(None, Some("\"abc\""), TAG, 100), Ok(None));
        assert_eq!(select(Some("bytes=200-"), Some("\"old\""), TAG, 100), Ok(None), "a stale If-Range means the whole file, not 416");
    }
}
