//! API errors: every refusal has a status that says whose fault it is and a message that says what to
//! fix, as `{"error": "...", "details": [...]}`.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::layout::LayoutError;
use crate::store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request could not be read: malformed JSON, bad query, missing parameter.
    #[error("{0}")]
    BadRequest(String),
    /// The request was read but its content is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// A layout broke one or more rules; each is listed in `details`.
    #[error("invalid layout: {} problem(s)", .0.len())]
    Layout(Vec<LayoutError>),
    /// The request body is larger than the route takes.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The change conflicts with the stored state.
    #[error("{0}")]
    Conflict(String),
    /// No usable token was presented.
    #[error("missing or wrong token: send 'Authorization: Bearer <token>'")]
    Unauthorized,
    /// The token is valid but not for this resource (a node asking for another node).
    #[error("this token may not access this resource")]
    Forbidden,
    /// A `Range` header that cannot be served; the object's size goes back in `Content-Range`.
    #[error("{reason}; the object holds {object_bytes} bytes")]
    RangeNotSatisfiable {
        /// What was wrong with the range.
        reason: String,
        /// Size of the object, so the client can ask again.
        object_bytes: u64,
    },
    /// Nothing can serve the request right now (no healthy stateless server).
    #[error("{0}")]
    Unavailable(String),
    /// A failure of ours; the details go to the log, not to the client.
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct Body {
    error: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    details: Vec<String>,
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) | ApiError::Layout(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Invalid(m) => ApiError::Invalid(m),
            e @ (StoreError::Corrupt(_) | StoreError::Sqlite(_) | StoreError::Io(_)) => ApiError::Internal(e.to_string()),
        }
    }
}

/// A response that refuses the request: any 4xx or 5xx.
fn is_refusal(status: StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

/// Longest plain-text refusal rewritten by [`uniform_refusals`]; axum's own are one line.
const PLAIN_REFUSAL_MAX_BYTES: usize = 16 << 10;

/// Gives every refusal the `{"error": ...}` body, including those axum writes itself before a
/// handler runs (a body over the size limit, a method not allowed) as plain text or empty; their
/// status and headers (`Allow`, `Content-Range`) are kept.
pub async fn uniform_refusals(response: Response) -> Response {
    use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
    let status = response.status();
    let json = response.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json || !is_refusal(status) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, PLAIN_REFUSAL_MAX_BYTES).await.map(|b| String::from_utf8_lossy(&b).trim().to_string()).unwrap_or_default();
    let reason = status.canonical_reason().unwrap_or("refused").to_lowercase();
    let mut out = match (status, text.is_empty()) {
        (StatusCode::PAYLOAD_TOO_LARGE, _) => ApiError::PayloadTooLarge(format!("request body too large: {text}")).into_response(),
        (_, true) => (status, axum::Json(Body { error: reason, details: Vec::new() })).into_response(),
        (_, false) => (status, axum::Json(Body { error: text, details: Vec::new() })).into_response(),
    };
    for (name, value) in parts.headers.iter().filter(|(name, _)| **name != CONTENT_TYPE && **name != CONTENT_LENGTH) {
        out.headers_mut().insert(name, value.clone());
    }
    out
}

/// Closes the connection after refusing a request that carried a body, and says so
/// (`Connection: close`). A refusal made before the body is read (a wrong token, a body over the
/// limit) leaves the body on the connection; hyper drains it if it has already arrived and
/// otherwise closes the connection once the response is out, a response that promised nothing of
/// the kind. A client that pooled the connection then sends its next request into a closed socket,
/// and a POST, which it may not resend, fails with "Unexpected EOF" (seen in CI: a test agent's
/// POST after a refused POST). Told, the client opens a new connection instead. Requests without a
/// body keep theirs.
pub async fn close_after_refused_body(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
    let headers = request.headers();
    let has_body = headers.contains_key(TRANSFER_ENCODING) || headers.get(CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0");
    let mut response = next.run(request).await;
    if has_body && is_refusal(response.status()) {
        response.headers_mut().insert(CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let details = match &self {
            ApiError::Layout(errors) => errors.iter().map(ToString::to_string).collect(),
            _ => Vec::new(),
        };
        let mut response = (self.status(), axum::Json(Body { error: self.to_string(), details })).into_response();
        if let ApiError::RangeNotSatisfiable { object_bytes, .. } = self {
            let value = axum::http::HeaderValue::from_str(&format!("bytes */{object_bytes}")).expect("ASCII header");
            response.headers_mut().insert(axum::http::header::CONTENT_RANGE, value);
        }
        response
    }
}
