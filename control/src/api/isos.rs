//! Operator routes for distribution ISOs: a streamed upload (the body is hashed and written as it
//! arrives, refused past the size limit and when it does not hash to the `blake3` the client
//! announced) and the listing.
use std::sync::Arc;

use ::image::iso::{DEFAULT_MAX_ISO_BYTES, IsoError, IsoInfo, IsoStore, Upload};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::extract::{Admin, ApiQuery};
use super::state::AppState;
use crate::error::ApiError;
use crate::served::ISOS_DIR;

/// Bytes gathered from the body before one write on the blocking pool: each write is a hop there.
const WRITE_BATCH_BYTES: usize = 1 << 20;

/// Query of `POST /api/v1/isos`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The ISO's file name.
    pub name: String,
    /// blake3 of the ISO, hex: the upload is refused unless the bytes hash to it.
    pub blake3: Option<String>,
}

/// Reply of `POST /api/v1/isos`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IsoAdded {
    /// The stored ISO.
    #[serde(flatten)]
    pub iso: IsoInfo,
    /// False when the same ISO was already stored (nothing was written).
    pub new: bool,
}

fn iso_error(e: IsoError) -> ApiError {
    match e {
        IsoError::Io { .. } => ApiError::Internal(e.to_string()),
        IsoError::NotFound(id) => ApiError::NotFound(format!("ISO {id}")),
        e => ApiError::Invalid(e.to_string()),
    }
}

fn iso_store(st: &AppState) -> Result<IsoStore, ApiError> {
    IsoStore::open(st.data_dir.join(ISOS_DIR)).map_err(iso_error)
}

async fn write(mut upload: Upload, batch: Vec<u8>) -> Result<Upload, ApiError> {
    tokio::task::spawn_blocking(move || upload.write(&batch).map(|()| upload))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(iso_error)
}

/// `POST /api/v1/isos?name=N[&blake3=H]` with the ISO as the body.
pub async fn upload(
    _: Admin,
    State(st): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<IsoAdded>), ApiError> {
    let announced = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(n) = announced.filter(|&n| n > DEFAULT_MAX_ISO_BYTES) {
        return Err(ApiError::Invalid(format!("the ISO ({n} bytes) is larger than the limit of {DEFAULT_MAX_ISO_BYTES} bytes")));
    }
    let mut upload = iso_store(&st)?.begin(&q.name, DEFAULT_MAX_ISO_BYTES).map_err(iso_error)?;
    let mut stream = body.into_data_stream();
    let mut batch = Vec::with_capacity(WRITE_BATCH_BYTES);
    while let Some(data) = stream.next().await {
        let data = data.map_err(|e| ApiError::BadRequest(format!("reading the upload: {e}")))?;
        batch.extend_from_slice(&data);
        if batch.len() >= WRITE_BATCH_BYTES {
            upload = write(upload, std::mem::replace(&mut batch, Vec::with_capacity(WRITE_BATCH_BYTES))).await?;
        }
    }
    upload = write(upload, batch).await?;
    let (iso, new) = tokio::task::spawn_blocking(move || upload.finish(q.blake3.as_deref()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(iso_error)?;
    Ok((if new { StatusCode::CREATED } else { StatusCode::OK }, Json(IsoAdded { iso, new })))
}

/// `GET /api/v1/isos`
pub async fn list(_: Admin, State(st): State<Arc<AppState>>) -> Result<Json<Vec<IsoInfo>>, ApiError> {
    Ok(Json(iso_store(&st)?.list().map_err(iso_error)?))
}
