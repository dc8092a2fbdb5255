//! Request extractors that turn axum's rejections into [`ApiError`]s and check tokens.
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::Query;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::state::AppState;
use crate::error::ApiError;

/// A JSON body whose rejections say what was wrong: malformed JSON is a 400, a body that does not fit
/// the schema (unknown field, invalid MAC, wrong type) a 422, each with serde's message.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::Invalid(format!("invalid request body: {}", e.body_text()))),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::BadRequest(format!("malformed JSON: {}", e.body_text()))),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::BadRequest("expected 'Content-Type: application/json'".into())),
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::PayloadTooLarge(format!("request body too large: {}", e.body_text()))),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// A query string whose rejections are 400s with serde's message.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// The bearer token of a request, if it has one; the scheme name is case-insensitive (RFC 9110
/// §11.1), so `bearer` and `BEARER` work as `Bearer` does.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let (scheme, token) = parts.headers.get(AUTHORIZATION)?.to_str().ok()?.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Proof that the request carries the admin token.
pub struct Admin;

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        match bearer(parts) {
            Some(t) if state.auth.is_admin(t) => Ok(Admin),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// Proof that the request carries the image servers' token or the admin token: what reading a
/// published version for a copy needs.
pub struct ServerOrAdmin;

impl FromRequestParts<Arc<AppState>> for ServerOrAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        match bearer(parts) {
            Some(t) if state.auth.is_server(t) || state.auth.is_admin(t) => Ok(ServerOrAdmin),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// The token of an agent request, checked by [`AppState::check_node_token`] once the node is known.
pub struct NodeToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for NodeToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        bearer(parts).map(|t| NodeToken(t.to_string())).ok_or(ApiError::Unauthorized)
    }
}
