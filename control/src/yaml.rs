//! YAML request bodies: bounded before they are parsed, and parsed off the async runtime.
//!
//! A YAML parser spends time that grows faster than linearly with nesting (100 KB of `[[[…` took
//! seconds), and a request handler that parses on the runtime stalls every other request meanwhile,
//! `/healthz` included. So a body is read up to [`YAML_BODY_MAX_BYTES`] and no further, and then, on a
//! blocking thread ([`parse_blocking`]), its nesting is measured by a linear scan ([`check_depth`]) and
//! refused past [`YAML_DEPTH_MAX`] before the parser ever sees it.
use axum::extract::{FromRequest, Request};

use crate::error::ApiError;
use crate::layout::LAYOUT_MAX_BYTES;

/// Largest YAML body read; a layout is the largest YAML document the API takes.
pub const YAML_BODY_MAX_BYTES: usize = LAYOUT_MAX_BYTES;
/// Deepest nesting accepted; a disk layout needs fewer than ten levels.
pub const YAML_DEPTH_MAX: usize = 32;
/// YAML bodies checked and parsed at once; more wait their turn, so a flood of bodies takes at most
/// this many cores from everything else.
pub const YAML_PARSERS_MAX: usize = 2;

static PARSERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(YAML_PARSERS_MAX);

/// Why a YAML body was refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// The body is longer than [`YAML_BODY_MAX_BYTES`].
    #[error("YAML body is larger than {YAML_BODY_MAX_BYTES} bytes")]
    TooLarge,
    /// The body is not UTF-8.
    #[error("YAML body is not UTF-8")]
    NotUtf8,
    /// The body nests deeper than [`YAML_DEPTH_MAX`].
    #[error("YAML nests deeper than {YAML_DEPTH_MAX} levels (line {line})")]
    TooDeep {
        /// 1-based line where the limit was passed.
        line: usize,
    },
}

impl From<YamlError> for ApiError {
    fn from(e: YamlError) -> Self {
        match e {
            YamlError::TooLarge => ApiError::PayloadTooLarge(e.to_string()),
            YamlError::NotUtf8 => ApiError::BadRequest(e.to_string()),
            YamlError::TooDeep { .. } => ApiError::Invalid(e.to_string()),
        }
    }
}

/// Refuses `text` if it nests deeper than `max`: block nesting by indentation and leading `- `, flow
/// nesting by every `[` and `{` not yet closed. One pass, constant memory per level. It ignores quotes
/// and comments on purpose: a scanner that tried to skip them could be fooled into under-counting,
/// while counting brackets inside them only refuses documents with dozens of unclosed brackets in
/// their text, which no layout has.
pub fn check_depth(text: &str, max: usize) -> Result<(), YamlError> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    for (i, line) in text.lines().enumerate() {
        let too_deep = || YamlError::TooDeep { line: i + 1 };
        let indent = line.bytes().take_while(|&b| b == b' ').count();
        let rest = &line[indent..];
        if flow == 0 && !rest.is_empty() && !rest.starts_with('#') {
            while indents.last().is_some_and(|&top| top > indent) {
                indents.pop();
            }
            if indents.last() != Some(&indent) {
                indents.push(indent);
            }
            // `- - - x` opens a sequence per dash on one line.
            let dashes = rest.as_bytes().chunks(2).take_while(|c| *c == b"- " || *c == b"-").count();
            if indents.len() + dashes > max {
                return Err(too_deep());
            }
        }
        for b in rest.bytes() {
            match b {
                b'[' | b'{' => {
                    flow += 1;
                    if indents.len() + flow > max {
                        return Err(too_deep());
                    }
                }
                b']' | b'}' => flow = flow.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

/// A YAML request body, read up to [`YAML_BODY_MAX_BYTES`]; [`parse_blocking`] checks and parses it.
pub struct YamlBody(pub String);

impl<S: Send + Sync> FromRequest<S> for YamlBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(req.into_body(), YAML_BODY_MAX_BYTES).await.map_err(|_| YamlError::TooLarge)?;
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| YamlError::NotUtf8)?;
        Ok(YamlBody(text))
    }
}

/// Checks `text`'s depth and runs `parse` on it, both on a blocking thread, so neither a long scan nor
/// a slow parse holds up the runtime, and at most [`YAML_PARSERS_MAX`] at a time.
pub async fn parse_blocking<T: Send + 'static>(text: String, parse: impl FnOnce(&str) -> T + Send + 'static) -> Result<(String, T), ApiError> {
    let _permit = PARSERS.acquire().await.map_err(|e| ApiError::Internal(format!("YAML parsers: {e}")))?;
    let (text, parsed) = tokio::task::spawn_blocking(move || {
        let parsed = check_depth(&text, YAML_DEPTH_MAX).map(|()| parse(&text));
        (text, parsed)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("YAML parser thread: {e}")))?;
    Ok((text, parsed?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_pass_and_deep_nesting_is_refused() {
        let layout = "disks:\n  - match: { size: \">=1G\" }\n    partitions:\n      - { size: 512M, mount: /boot } # a comment\n";
        assert_eq!(check_depth(layout, 8), Ok(()));
        assert_eq!(check_depth("a: \"[[[[]]]]\"\nb: '{{}}'\n", 6), Ok(()), "closed brackets in text cost nothing");
        assert_eq!(check_depth(&format!("a: {}", "[".repeat(100_000)), YAML_DEPTH_MAX), Err(YamlError::TooDeep { line: 1 }));
        assert!(check_depth("a: \"x\" # [[[[[[[[[[[[\n", 4).is_err(), "counted even in comments: a scanner cannot be fooled");
        let block: String = (0..40).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert_eq!(check_depth(&block, YAML_DEPTH_MAX), Err(YamlError::TooDeep { line: YAML_DEPTH_MAX + 1 }));
        assert!(check_depth(&format!("{}x\n", "- ".repeat(40)), YAML_DEPTH_MAX).is_err(), "one line of dashes");
        let flow_lines = format!("a:\n{}", "  [\n".repeat(40));
        assert!(check_depth(&flow_lines, YAML_DEPTH_MAX).is_err(), "flow nesting over lines");
    }
}
