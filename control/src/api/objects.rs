//! Routes a node downloads an image version with over plain HTTP: the last resort when neither the
//! multicast nor its peers can deliver (networks without multicast, a node everyone else has left
//! behind). The client asks for runs of blocks by `Range` and checks each block against the manifest
//! before writing it, so the server only streams bytes and never holds an object in memory.
use std::io::SeekFrom;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::extract::NodeToken;
use super::images::MANIFEST_MAX_BYTES;
use super::state::AppState;
use crate::error::ApiError;
use crate::image::{IMAGES_DIR, ImageVersion, decode_manifest};
use crate::node::ImageRef;
use crate::range;

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
    let path = st.data_dir.join(IMAGES_DIR).join(&v.manifest);
    let internal = |e: String| ApiError::Internal(format!("{}: {e}", path.display()));
    let size = tokio::fs::metadata(&path).await.map_err(|e| internal(e.to_string()))?.len();
    if size > MANIFEST_MAX_BYTES {
        return Err(internal(format!("larger than {MANIFEST_MAX_BYTES} bytes")));
    }
    let bytes = tokio::fs::read(&path).await.map_err(|e| internal(e.to_string()))?;
    let manifest = decode_manifest(&bytes, &v.manifest_blake3).map_err(internal)?;
    if manifest.layout().object_size() != v.artifact_bytes {
        return Err(internal(format!("describes {} bytes, the artifact was published with {}", manifest.layout().object_size(), v.artifact_bytes)));
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
    let path = st.data_dir.join(IMAGES_DIR).join(&v.artifact);
    let internal = |e: String| ApiError::Internal(format!("{}: {e}", path.display()));
    let mut file = tokio::fs::File::open(&path).await.map_err(|e| internal(e.to_string()))?;
    let len = file.metadata().await.map_err(|e| internal(e.to_string()))?.len();
    if len != v.artifact_bytes {
        return Err(internal(format!("holds {len} bytes, {} when published", v.artifact_bytes)));
    }
    let unsatisfiable = |reason: String| ApiError::RangeNotSatisfiable { reason, object_bytes: len };
    let range = match headers.get(header::RANGE) {
        None => None,
        Some(h) => {
            let h = h.to_str().map_err(|_| unsatisfiable("the Range header is not ASCII".into()))?;
            Some(range::parse(h, len).map_err(|e| unsatisfiable(e.to_string()))?)
        }
    };
    let bytes = range.clone().unwrap_or(0..len);
    let mut response = Response::builder()
        .status(if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK })
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_LENGTH, bytes.end - bytes.start)
        .header(header::ETAG, format!("\"{}\"", v.manifest_blake3))
        .header(VERSION_HEADER, v.version);
    if range.is_some() {
        response = response.header(header::CONTENT_RANGE, format!("bytes {}-{}/{len}", bytes.start, bytes.end - 1));
    }
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        file.seek(SeekFrom::Start(bytes.start)).await.map_err(|e| internal(e.to_string()))?;
        Body::from_stream(ReaderStream::with_capacity(file.take(bytes.end - bytes.start), READ_CHUNK_BYTES))
    };
    response.body(body).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The version `{version}` names: a number, or [`DEFAULT_VERSION`].
fn resolve(st: &AppState, image: String, version: &str) -> Result<ImageVersion, ApiError> {
    let version = match version {
        DEFAULT_VERSION => None,
        v => Some(v.parse().map_err(|_| ApiError::BadRequest(format!("version {v:?} is neither a number nor '{DEFAULT_VERSION}'")))?),
    };
    Ok(st.store.resolve(&ImageRef { name: image, version })?)
}
