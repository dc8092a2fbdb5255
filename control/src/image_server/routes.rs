//! What an image server answers: its load at `/` and `/healthz`, and the node routes of the control
//! plane (manifest and object of a version) for the versions it holds complete copies of.
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::ImageServerConfig;
use super::authorize::Authorizer;
use super::copies::{CopyReport, Copies, Ready};
use super::load::{self, Load, LoadReport};
use crate::api::extract::NodeToken;
use crate::api::file_body::FileAnswer;
use crate::api::objects::VERSION_HEADER;
use crate::error::ApiError;

/// Bytes read from a copy per body chunk (as the control plane's object route).
const READ_CHUNK_BYTES: usize = 256 << 10;

/// What the routes share.
#[derive(Debug)]
pub struct ServerState {
    /// The copies.
    pub copies: Copies,
    /// Token checks at the upstream.
    pub authorizer: Authorizer,
    /// Load counters.
    pub load: Arc<Load>,
}

impl ServerState {
    /// State for `config`, with no copy yet.
    pub fn new(config: &ImageServerConfig) -> Self {
        ServerState { copies: Copies::default(), authorizer: Authorizer::new(&config.upstream), load: Arc::default() }
    }
}

/// Answer of `/healthz`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// Load.
    #[serde(flatten)]
    pub load: LoadReport,
    /// Carried versions.
    pub copies: Vec<CopyReport>,
}

/// The routes.
pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/", get(health))
        .route("/healthz", get(health))
        .route("/api/v1/agent/nodes/{name}/images/{image}/versions/{version}/manifest", get(manifest))
        .route("/api/v1/agent/nodes/{name}/images/{image}/versions/{version}/object", get(object))
        .with_state(state)
}

async fn health(State(st): State<Arc<ServerState>>) -> axum::Json<Health> {
    axum::Json(Health { load: st.load.report(), copies: st.copies.report() })
}

/// The complete copy `name` may read, after checking its token at the upstream.
async fn authorized(st: &Arc<ServerState>, name: String, token: String, image: String, version: &str) -> Result<(Arc<Ready>, u32), ApiError> {
    let version: u32 = version.parse().map_err(|_| ApiError::NotFound(format!("version {version:?}: an image server is asked for version numbers only")))?;
    let ready = st.copies.ready(&image, version).ok_or_else(|| ApiError::NotFound(format!("{image}@{version} is not (yet) held here")))?;
    let s = st.clone();
    tokio::task::spawn_blocking(move || s.authorizer.check(&name, &token, &image, version)).await.map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok((ready, version))
}

/// `GET|HEAD .../manifest`
async fn manifest(State(st): State<Arc<ServerState>>, Path((name, image, version)): Path<(String, String, String)>, NodeToken(t): NodeToken) -> Result<Response, ApiError> {
    let (ready, version) = authorized(&st, name, t, image, &version).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::HeaderName::from_static(VERSION_HEADER), version.to_string())], ready.manifest.clone())
        .into_response())
}

/// `GET|HEAD .../object`: whole or one byte range, streamed from the copy and counted in the load.
async fn object(
    State(st): State<Arc<ServerState>>,
    Path((name, image, version)): Path<(String, String, String)>,
    NodeToken(t): NodeToken,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (ready, version) = authorized(&st, name.clone(), t, image, &version).await?;
    let what = ready.object.display().to_string();
    let file = tokio::fs::File::open(&ready.object).await.map_err(|e| ApiError::Internal(format!("{what}: {e}")))?;
    let answer = FileAnswer { method: &method, headers: &headers, etag: ready.etag.clone(), last_modified: None, chunk_bytes: READ_CHUNK_BYTES };
    let response = answer.respond(file, ready.len, &what).await?;
    let (mut parts, body) = response.into_parts();
    parts.headers.insert(VERSION_HEADER, HeaderValue::from(version));
    Ok(Response::from_parts(parts, load::count(&st.load, &name, body)))
}
