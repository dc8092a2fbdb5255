//! Routes for captures of running nodes: start, stream each filesystem, finish. The operator token
//! may capture any node into any image; a node's own token only itself, into an image of its own
//! ([`authorize`]).
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use futures_util::TryStreamExt;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::extract::{ApiJson, NodeToken};
use super::state::AppState;
use ::image::meta::Source;
use ::image::publish::{PublishError, publish_root};
use ::image::store::Published;

use crate::capture::staging::{self, IDLE_LIMIT, Staging, StagingError};
use crate::capture::{Capture, CaptureDone, FinishCapture, NewCapture};
use crate::error::ApiError;

/// `POST /api/v1/captures`
pub async fn start(
    NodeToken(token): NodeToken,
    State(st): State<Arc<AppState>>,
    ApiJson(new): ApiJson<NewCapture>,
) -> Result<(StatusCode, Json<Capture>), ApiError> {
    authorize(&st, &token, &new)?;
    new.check().map_err(ApiError::Invalid)?;
    let data_dir = st.data_dir.clone();
    let staging = tokio::task::spawn_blocking(move || {
        // Each new capture sweeps away those abandoned long ago.
        staging::clean(&data_dir, IDLE_LIMIT);
        Staging::create(&data_dir, new)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(staging_error)?;
    Ok((StatusCode::CREATED, Json(Capture { id: staging.id, request: staging.request })))
}

/// `PUT /api/v1/captures/{id}/filesystems/{index}`: the body is the tar stream of the capture's
/// filesystem number `index`, unpacked into the staging root as it arrives.
pub async fn put_filesystem(
    NodeToken(token): NodeToken,
    State(st): State<Arc<AppState>>,
    Path((id, index)): Path<(String, usize)>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let staging = open(&st, &token, &id)?;
    let mount = staging.request.filesystems.get(index).cloned().ok_or_else(|| ApiError::NotFound(format!("filesystem {index} of capture {id}")))?;
    let held = hold(&staging).await?;
    let received = staging.received(index);
    if received.exists() {
        return Err(ApiError::Conflict(format!("filesystem {index} ({mount}) of capture {id} was already received")));
    }
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let mut reader = SyncIoBridge::new(StreamReader::new(stream));
    let root = staging.root();
    let result = tokio::task::spawn_blocking(move || {
        let _held = held;
        ::image::capture::receive_filesystem(&root, &mount, &mut reader)
    })
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
    NodeToken(token): NodeToken,
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    ApiJson(finish): ApiJson<FinishCapture>,
) -> Result<Json<CaptureDone>, ApiError> {
    let staging = open(&st, &token, &id)?;
    let held = hold(&staging).await?;
    let missing = staging.missing();
    if !missing.is_empty() {
        return Err(ApiError::Conflict(format!("capture {id} is missing filesystems {missing:?}")));
    }
    let layout = finish.layout.as_deref().map(crate::layout::parse).transpose().map_err(ApiError::Layout)?;
    let data_dir = st.data_dir.clone();
    let request = staging.request.clone();
    let published = tokio::task::spawn_blocking(move || -> Result<Published, ApiError> {
        let (root, node) = (staging.root(), &staging.request.node);
        let meta = ::image::capture::finish(&root, node).map_err(|e| ApiError::Invalid(format!("capture of {node}: {e}")))?;
        let store = crate::served::image_store(&data_dir)?;
        let published = publish_root(&store, &staging.request.image, &root, &meta, &staging.dir.join("artifact")).map_err(|e| match e {
            PublishError::Store(e) => crate::served::store_error(e),
            e => ApiError::Internal(e.to_string()),
        })?;
        // Published: the staging tree is of no further use (a failure to remove it costs only space,
        // and the cleaner retries).
        if let Err(e) = std::fs::remove_dir_all(&staging.dir) {
            tracing::warn!(dir = %staging.dir.display(), "removing a finished capture: {e}");
        }
        drop(held);
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

/// Capture `id`, for a caller allowed to work on it.
fn open(st: &AppState, token: &str, id: &str) -> Result<Staging, ApiError> {
    let staging = Staging::open(&st.data_dir, id).map_err(staging_error)?;
    authorize(st, token, &staging.request)?;
    Ok(staging)
}

/// Whether `token` may make the capture `request`. The operator may capture anything. A node's own
/// token (issue 13: "node token or operator token") lets a hand-built node capture itself, but only
/// itself (`request.node` is the token's node) and only into a new image or one whose every stored
/// version is a capture of that same node. A node token sits on the node's disk, so a node taken
/// over must not be able to slip its files into the lineage of an image other nodes are built
/// from (a role image, another node's captures); what it captures stays in the store until the
/// operator serves it.
fn authorize(st: &AppState, token: &str, request: &NewCapture) -> Result<(), ApiError> {
    if st.auth.is_admin(token) {
        return Ok(());
    }
    st.check_node_token(&request.node, token)?;
    let store = crate::served::image_store(&st.data_dir)?;
    let versions = store.versions(Some(&request.image)).map_err(crate::served::store_error)?;
    let own = |s: &Source| matches!(s, Source::Captured { node } if *node == request.node);
    if versions.iter().all(|v| own(&v.meta.source)) { Ok(()) } else { Err(ApiError::Forbidden) }
}

/// How long a request waits for a capture whose hold is ending. The hold is a `flock` on the
/// capture's request file, and a child process the server forks elsewhere at that moment (mksquashfs
/// for another capture, unsquashfs for a stateless kernel) shares the lock's open file until it
/// execs: the `finish` a client sends right after its upload's answer could find the capture still
/// held for that instant (the API tests: 409 "busy" once in a fresh-clone CI). A real second request
/// streaming a filesystem holds it far longer and is still refused.
const HOLD_WAIT: Duration = Duration::from_secs(2);
/// How often a held capture is tried again meanwhile.
const HOLD_POLL: Duration = Duration::from_millis(20);

/// Takes `staging` for this request ([`Staging::lock`]), waiting up to [`HOLD_WAIT`] while it is busy.
async fn hold(staging: &Staging) -> Result<staging::Held, ApiError> {
    let deadline = tokio::time::Instant::now() + HOLD_WAIT;
    loop {
        match staging.lock() {
            Err(StagingError::Busy(_)) if tokio::time::Instant::now() < deadline => tokio::time::sleep(HOLD_POLL).await,
            other => return other.map_err(staging_error),
        }
    }
}

/// Maps staging failures onto API refusals.
fn staging_error(e: StagingError) -> ApiError {
    match e {
        StagingError::NotFound(_) => ApiError::NotFound(e.to_string()),
        StagingError::Busy(_) => ApiError::Conflict(e.to_string()),
        StagingError::Io { .. } => ApiError::Internal(e.to_string()),
    }
}
