//! Operator routes for captures of running nodes: start, stream each filesystem, finish.
use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use futures_util::TryStreamExt;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::extract::{Admin, ApiJson};
use super::state::AppState;
use ::image::publish::publish_root;
use ::image::store::{Published, Store};

use crate::capture::{CAPTURES_DIR, Capture, CaptureDone, FinishCapture, IMAGE_STORE_DIR, NewCapture};
use crate::error::ApiError;

/// What a capture's folder holds besides `root/`: the request, and one marker per filesystem received.
const REQUEST_FILE: &str = "capture.json";

/// `POST /api/v1/captures`
pub async fn start(_: Admin, State(st): State<Arc<AppState>>, ApiJson(new): ApiJson<NewCapture>) -> Result<(StatusCode, Json<Capture>), ApiError> {
    new.check().map_err(ApiError::Invalid)?;
    let id = format!("{:032x}", rand::random::<u128>());
    let dir = st.data_dir.join(CAPTURES_DIR).join(&id);
    let internal = |e: std::io::Error| ApiError::Internal(format!("creating capture {id}: {e}"));
    std::fs::create_dir_all(dir.join("root")).map_err(internal)?;
    let json = serde_json::to_vec_pretty(&new).map_err(|e| ApiError::Internal(e.to_string()))?;
    std::fs::write(dir.join(REQUEST_FILE), json).map_err(internal)?;
    Ok((StatusCode::CREATED, Json(Capture { id, request: new })))
}

/// `PUT /api/v1/captures/{id}/filesystems/{index}`: the body is the tar stream of the capture's
/// filesystem number `index`, unpacked into the staging root as it arrives.
pub async fn put_filesystem(
    _: Admin,
    State(st): State<Arc<AppState>>,
    Path((id, index)): Path<(String, usize)>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let (dir, request) = open(&st, &id)?;
    let mount = request.filesystems.get(index).cloned().ok_or_else(|| ApiError::NotFound(format!("filesystem {index} of capture {id}")))?;
    let received = dir.join(format!("received-{index}"));
    if received.exists() {
        return Err(ApiError::Conflict(format!("filesystem {index} ({mount}) of capture {id} was already received")));
    }
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let mut reader = SyncIoBridge::new(StreamReader::new(stream));
    let root = dir.join("root");
    let result = tokio::task::spawn_blocking(move || ::image::capture::receive_filesystem(&root, &mount, &mut reader))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    result.map_err(|e| ApiError::BadRequest(format!("capture {id}, filesystem {index}: {e}")))?;
    std::fs::write(&received, b"").map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/captures/{id}/finish`: once every filesystem arrived, scrubs the node's identity from
/// the staging root, describes it and publishes it to the image store as the next version of the
/// image (created when new); a layout sent along is checked first.
pub async fn finish(
    _: Admin,
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    ApiJson(finish): ApiJson<FinishCapture>,
) -> Result<Json<CaptureDone>, ApiError> {
    let (dir, request) = open(&st, &id)?;
    let missing: Vec<&str> = (0..request.filesystems.len())
        .filter(|i| !dir.join(format!("received-{i}")).exists())
        .map(|i| request.filesystems[i].as_str())
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::Conflict(format!("capture {id} is missing filesystems {missing:?}")));
    }
    let layout = finish.layout.as_deref().map(crate::layout::parse).transpose().map_err(ApiError::Layout)?;
    let store_dir = st.data_dir.join(IMAGE_STORE_DIR);
    let (image, node) = (request.image.clone(), request.node.clone());
    let published = tokio::task::spawn_blocking(move || -> Result<Published, ApiError> {
        let root = dir.join("root");
        let meta = ::image::capture::finish(&root, &node).map_err(|e| ApiError::Invalid(format!("capture of {node}: {e}")))?;
        let store = Store::open(store_dir).map_err(|e| ApiError::Internal(e.to_string()))?;
        let published = publish_root(&store, &image, &root, &meta, &dir.join("artifact")).map_err(|e| ApiError::Internal(e.to_string()))?;
        // Published: the staging tree is of no further use (a failure to remove it costs only space).
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), "removing a finished capture: {e}");
        }
        Ok(published)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let v = published.version;
    Ok(Json(CaptureDone {
        id,
        image: request.image,
        version: v.version,
        artifact_bytes: v.artifact_bytes,
        new_bytes: published.new_bytes,
        meta: v.meta,
        layout,
    }))
}

/// The folder and request of capture `id`.
fn open(st: &AppState, id: &str) -> Result<(PathBuf, NewCapture), ApiError> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::NotFound(format!("capture {id}")));
    }
    let dir = st.data_dir.join(CAPTURES_DIR).join(id);
    let text = std::fs::read(dir.join(REQUEST_FILE)).map_err(|_| ApiError::NotFound(format!("capture {id}")))?;
    let request = serde_json::from_slice(&text).map_err(|e| ApiError::Internal(format!("capture {id}: {e}")))?;
    Ok((dir, request))
}
