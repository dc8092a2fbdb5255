//! Answering a `GET` or `HEAD` with a file on disk: whole (200) or one byte range (206), streamed in
//! chunks, never read whole. What one download holds in memory is one chunk in flight plus the
//! socket's buffers, so the server's memory grows with the connection cap, not with file sizes.
use std::io::SeekFrom;
use std::time::SystemTime;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::error::ApiError;
use crate::range::{self, Validators};

/// How to answer for one open file.
pub struct FileAnswer<'a> {
    /// The request's method (`HEAD` gets the headers only).
    pub method: &'a Method,
    /// The request's headers (`Range`, `If-Range`).
    pub headers: &'a HeaderMap,
    /// Strong entity tag of the file's current contents, quotes included.
    pub etag: String,
    /// When the file last changed, sent as `Last-Modified` and accepted in `If-Range`.
    pub last_modified: Option<SystemTime>,
    /// Bytes read from disk per body chunk.
    pub chunk_bytes: usize,
}

impl FileAnswer<'_> {
    /// The response for `file`, which holds `len` bytes; `what` names it in errors.
    pub async fn respond(self, mut file: tokio::fs::File, len: u64, what: &str) -> Result<Response, ApiError> {
        let last_modified = self.last_modified.map(httpdate::fmt_http_date);
        let header_text = |name| self.headers.get(name).and_then(|v| v.to_str().ok());
        let validators = Validators { etag: &self.etag, last_modified: last_modified.as_deref() };
        let range = range::select(header_text(header::RANGE), header_text(header::IF_RANGE), validators, len)
            .map_err(|e| ApiError::RangeNotSatisfiable { reason: e.to_string(), object_bytes: len })?;
        let bytes = range.clone().unwrap_or(0..len);
        let mut response = Response::builder()
            .status(if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK })
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::CONTENT_LENGTH, bytes.end - bytes.start)
            .header(header::ETAG, &self.etag);
        if let Some(date) = &last_modified {
            response = response.header(header::LAST_MODIFIED, date);
        }
        if range.is_some() {
            response = response.header(header::CONTENT_RANGE, format!("bytes {}-{}/{len}", bytes.start, bytes.end - 1));
        }
        let body = if *self.method == Method::HEAD {
            Body::empty()
        } else {
            file.seek(SeekFrom::Start(bytes.start)).await.map_err(|e| ApiError::Internal(format!("{what}: {e}")))?;
            Body::from_stream(ReaderStream::with_capacity(file.take(bytes.end - bytes.start), self.chunk_bytes))
        };
        response.body(body).map_err(|e| ApiError::Internal(e.to_string()))
    }
}
