//! Operator routes for the image store: list stored versions with the space each holds alone, diff
//! two, verify, gc, and serve one to nodes (see [`crate::served`]). The store's work is file I/O and
//! hashing, so it runs on the blocking pool.
use std::sync::Arc;

use ::image::meta::ImageMeta;
use ::image::store::{Diff, GcReport, VerifyReport, parse_label};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::extract::{Admin, ApiJson, ApiQuery};
use super::state::AppState;
use crate::error::ApiError;
use crate::image::ImageVersion;
use crate::served::{self, Swept, image_store, store_error};

/// One stored version, as `GET /api/v1/store/versions` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredVersion {
    /// `NAME@V`.
    pub label: String,
    /// Artifact size.
    pub artifact_bytes: u64,
    /// Bytes no other stored version shares: what removing it would free.
    pub exclusive_bytes: u64,
    /// blake3 of the artifact.
    pub artifact_blake3: String,
    /// When it was published.
    pub published_unix_s: u64,
    /// Its metadata.
    pub meta: ImageMeta,
}

/// Query of `GET /api/v1/store/versions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionsQuery {
    /// Only this image.
    pub name: Option<String>,
}

/// Query of `GET /api/v1/store/diff`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// `NAME@V`.
    pub a: String,
    /// `NAME@V`.
    pub b: String,
}

/// Body of `POST /api/v1/store/serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeStored {
    /// The stored version, `NAME@V`.
    pub version: String,
    /// Make it the image's default version (true unless said otherwise).
    #[serde(default = "yes")]
    pub make_default: bool,
}

fn yes() -> bool {
    true
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::Internal(e.to_string()))?
}

/// `GET /api/v1/store/versions[?name=N]`
pub async fn versions(_: Admin, State(st): State<Arc<AppState>>, ApiQuery(q): ApiQuery<VersionsQuery>) -> Result<Json<Vec<StoredVersion>>, ApiError> {
    let data_dir = st.data_dir.clone();
    blocking(move || {
        let store = image_store(&data_dir)?;
        let all = store.versions(None).map_err(store_error)?;
        let usage = ::image::store::usage(&all);
        Ok(Json(
            all.into_iter()
                .zip(usage)
                .filter(|(v, _)| q.name.as_ref().is_none_or(|n| *n == v.name))
                .map(|(v, u)| StoredVersion {
                    label: v.label(),
                    artifact_bytes: v.artifact_bytes,
                    exclusive_bytes: u.exclusive_bytes,
                    artifact_blake3: v.artifact_blake3,
                    published_unix_s: v.published_unix_s,
                    meta: v.meta,
                })
                .collect(),
        ))
    })
    .await
}

/// `GET /api/v1/store/diff?a=NAME@V&b=NAME@V`
pub async fn diff(_: Admin, State(st): State<Arc<AppState>>, ApiQuery(q): ApiQuery<DiffQuery>) -> Result<Json<Diff>, ApiError> {
    let data_dir = st.data_dir.clone();
    blocking(move || {
        let (a, b) = (parse_label(&q.a).map_err(store_error)?, parse_label(&q.b).map_err(store_error)?);
        Ok(Json(image_store(&data_dir)?.diff((&a.0, a.1), (&b.0, b.1)).map_err(store_error)?))
    })
    .await
}

/// `POST /api/v1/store/verify`: re-hashes every chunk.
pub async fn verify(_: Admin, State(st): State<Arc<AppState>>) -> Result<Json<VerifyReport>, ApiError> {
    let data_dir = st.data_dir.clone();
    blocking(move || Ok(Json(image_store(&data_dir)?.verify().map_err(store_error)?))).await
}

/// Reply of `POST /api/v1/store/gc`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreGc {
    /// What the store's gc removed.
    #[serde(flatten)]
    pub store: GcReport,
    /// The materialised copies removed.
    #[serde(flatten)]
    pub served: Swept,
}

/// `POST /api/v1/store/gc`: drops chunks no stored version holds, and materialised copies no image
/// version refers to.
pub async fn gc(_: Admin, State(st): State<Arc<AppState>>) -> Result<Json<StoreGc>, ApiError> {
    blocking(move || {
        let store = image_store(&st.data_dir)?.gc().map_err(store_error)?;
        Ok(Json(StoreGc { store, served: served::sweep_materialised(&st.data_dir, &st.store)? }))
    })
    .await
}

/// `DELETE /api/v1/store/versions/{name}/{version}`: drops a version from the store's listing; its
/// chunks go at the next gc. A copy already served to nodes is not touched.
pub async fn remove(_: Admin, State(st): State<Arc<AppState>>, Path((name, version)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    let data_dir = st.data_dir.clone();
    let version: u32 = version.parse().map_err(|_| ApiError::BadRequest(format!("invalid version {version:?}: expected a number")))?;
    blocking(move || image_store(&data_dir)?.remove(&name, version).map_err(store_error)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/store/serve`: materialises a stored version and publishes it to nodes.
pub async fn serve(_: Admin, State(st): State<Arc<AppState>>, ApiJson(body): ApiJson<ServeStored>) -> Result<(StatusCode, Json<ImageVersion>), ApiError> {
    let st2 = st.clone();
    let v = blocking(move || served::serve(&st2.data_dir, &st2.store, &body.version, body.make_default, st2.mtu)).await?;
    Ok((StatusCode::CREATED, Json(v)))
}
