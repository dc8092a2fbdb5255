//! Routes a node downloads an image version with over plain HTTP: the last resort when neither the
//! multicast nor its peers can deliver (networks without multicast, a node everyone else has left
//! behind). The client asks for runs of blocks by `Range` and checks each block against the manifest
//! before writing it, so the server only streams bytes and never holds an object in memory.
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use super::extract::NodeToken;
use super::file_body::FileAnswer;
use super::state::AppState;
use crate::error::ApiError;
use crate::image::{IMAGES_DIR, ImageVersion};
use crate::node::ImageRef;
use crate::transfer::manifest_file;

/// Bytes read from the artifact per body chunk: each read is a hop to tokio's blocking pool, so at
/// 256 KiB a 10 Gbit/s stream costs ~5,000 hops a second, while a thousand concurrent fetches hold
/// only a quarter of a GiB of buffers.
const READ_CHUNK_BYTES: usize = 256 << 10;
/// Response header naming the version served, so a client that asked for `default` pins the number
/// for its range requests even if the default moves meanwhile.
pub const VERSION_HEADER: &str = "fountain-image-version";
/// The `{version}` that means the image's default version.
pub const DEFAULT_VERSION: &str = "default";

/// `GET /api/v1/agent/nodes/{name}/images/{image}/versions/{version}/manifest`: the binary fountain
/// manifest (layout and per-block blake3) the client verifies every block against.
pub async fn manifest(
    State(st): State<Arc<AppState>>,
    Path((name, image, version)): Path<(String, String, String)>,
    NodeToken(t): NodeToken,
) -> Result<Response, ApiError> {
    st.check_node_token(&name, &t)?;
    let v = resolve(&st, image, &version)?;
    super::agent::check_download(&st, &name, &v)?;
    manifest_response(&st, &v).await
}

/// The manifest of `v`, checked against what was published, with the version header.
pub(crate) async fn manifest_response(st: &AppState, v: &ImageVersion) -> Result<Response, ApiError> {
    let path = st.data_dir.join(IMAGES_DIR).join(&v.manifest);
    let expected = v.manifest_blake3.clone();
    let manifest = tokio::task::spawn_blocking(move || manifest_file::read(&path, Some(&expected)))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .manifest;
    if manifest.layout().object_size() != v.artifact_bytes {
        return Err(ApiError::Internal(format!("{}: describes {} bytes, the artifact was published with {}", v.manifest, manifest.layout().object_size(), v.artifact_bytes)));
    }
    Ok(([(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::HeaderName::from_static(VERSION_HEADER), v.version.to_string())], manifest.encode())
        .into_response())
}

/// `GET|HEAD /api/v1/agent/nodes/{name}/images/{image}/versions/{version}/object`: the artifact,
/// whole (200) or one byte range (206), streamed from the file.
pub async fn object(
    State(st): State<Arc<AppState>>,
    Path((name, image, version)): Path<(String, String, String)>,
    NodeToken(t): NodeToken,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    st.check_node_token(&name, &t)?;
    let v = resolve(&st, image, &version)?;
    super::agent::check_download(&st, &name, &v)?;
    object_response(&st, &v, &method, &headers).await
}

/// The artifact of `v` (whole or one range) with the version header.
pub(crate) async fn object_response(st: &AppState, v: &ImageVersion, method: &Method, headers: &HeaderMap) -> Result<Response, ApiError> {
    let path = st.data_dir.join(IMAGES_DIR).join(&v.artifact);
    let internal = |e: String| ApiError::Internal(format!("{}: {e}", path.display()));
    let file = tokio::fs::File::open(&path).await.map_err(|e| internal(e.to_string()))?;
    let len = file.metadata().await.map_err(|e| internal(e.to_string()))?.len();
    if len != v.artifact_bytes {
        return Err(internal(format!("holds {len} bytes, {} when published", v.artifact_bytes)));
    }
    let answer = FileAnswer { method, headers, etag: format!("\"{}\"", v.manifest_blake3), last_modified: None, chunk_bytes: READ_CHUNK_BYTES };
    let mut response = answer.respond(file, len, &path.display().to_string()).await?;
    response.headers_mut().insert(VERSION_HEADER, HeaderValue::from(v.version));
    Ok(response)
}

/// The version `{version}` names: a number, or [`DEFAULT_VERSION`].
pub(crate) fn resolve(st: &AppState, image: String, version: &str) -> Result<ImageVersion, ApiError> {
    let version = match version {
        DEFAULT_VERSION => None,
        v => Some(v.parse().map_err(|_| ApiError::BadRequest(format!("version {v:?} is neither a number nor '{DEFAULT_VERSION}'")))?),
    };
    Ok(st.store.resolve(&ImageRef { name: image, version })?)
}
