//! Routes a booting machine uses before it has any credentials: the iPXE script and the agent's kernel
//! and initramfs.
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::file_body::FileAnswer;
use super::state::AppState;
use crate::sync::lock;
use crate::error::ApiError;
use crate::image_boot;
use crate::ipxe::{self, AgentBoot, INITRD_FILE, KERNEL_FILE, Script};
use crate::mac::Mac;
use crate::node::NextBoot;
use crate::transfer::SessionKey;

/// Folder under the data directory holding the agent's kernel and initramfs.
pub const BOOT_DIR: &str = "boot";

/// Query of `GET /boot/ipxe`.
#[derive(Deserialize)]
pub struct BootQuery {
    mac: Option<String>,
}

/// `GET /boot/ipxe[?mac=...]`: the script for the machine with this MAC (iPXE sends `${net0/mac}`).
/// Firmware runs only a script, so every answer is one (200): without a MAC it asks again with it,
/// and when the machine cannot be booted now (a bad MAC, no healthy stateless server, a failure of
/// ours) it prints why, waits and asks again.
pub async fn ipxe_script(State(st): State<Arc<AppState>>, query: Result<Query<BootQuery>, QueryRejection>) -> impl IntoResponse {
    let mac = query.map(|Query(q)| q.mac).map_err(|e| ApiError::BadRequest(e.body_text()));
    let script = match mac {
        Ok(None) => ipxe::render(&st.public_url, &Script::AskWithMac),
        mac => match answer(&st, mac).await {
            Ok(script) => script,
            Err(e) => {
                match &e {
                    ApiError::Internal(detail) => tracing::error!(%detail, "boot script failed"),
                    e => tracing::info!(reason = %e, "boot script: asking the machine again later"),
                }
                ipxe::render(&st.public_url, &Script::AskAgain { reason: &e.to_string() })
            }
        },
    };
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], script)
}

/// The script for a MAC, on the blocking pool: a stateless boot may first take its image's kernel out
/// of the artifact ([`image_boot::ensure`]).
async fn answer(st: &Arc<AppState>, mac: Result<Option<String>, ApiError>) -> Result<String, ApiError> {
    let mac = mac?.unwrap_or_default().parse::<Mac>().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let st = Arc::clone(st);
    tokio::task::spawn_blocking(move || script_for(&st, mac)).await.map_err(|e| ApiError::Internal(format!("boot script task: {e}")))?
}

fn script_for(st: &AppState, mac: Mac) -> Result<String, ApiError> {
    let Some(boot) = st.store.node_by_mac(mac)? else {
        st.store.record_discovery(mac)?;
        return Ok(ipxe::render(&st.public_url, &Script::Discovery { mac }));
    };
    let node = &boot.node;
    if node.next_boot == NextBoot::Local {
        return Ok(ipxe::render(&st.public_url, &Script::Local { node: &node.name }));
    }
    let image_ref = node.image.as_ref().ok_or_else(|| ApiError::Conflict(format!("node {} has no image assigned", node.name)))?;
    let image = st.store.resolve(image_ref)?;
    let token = st.auth.node_token(&node.name, boot.token_generation);
    let server;
    let job = if node.next_boot == NextBoot::Reimage {
        let key = SessionKey { image: image.image.clone(), version: image.version };
        AgentBoot::Reimage { image: &image.image, version: image.version, session: lock(&st.gatherer).assign(&node.name, key, node.delivery) }
    } else {
        server = lock(&st.pool).assign(boot.stateless_server).ok_or_else(|| ApiError::Unavailable("no healthy stateless server".into()))?;
        if boot.stateless_server != Some(server.id) {
            st.store.set_stateless_server(&node.name, Some(server.id))?;
        }
        let kernel = image_boot::ensure(&st.data_dir, &image).map_err(|e| ApiError::Internal(format!("taking the kernel out of {}@{}: {e}", image.image, image.version)))?;
        AgentBoot::Stateless { image: &image.image, version: image.version, server: &server.url, kernel }
    };
    Ok(ipxe::render(&st.public_url, &Script::Agent { node: &node.name, token: &token, job, kernel_args: &node.config.kernel_args }))
}

/// Bytes read from disk per body chunk of a boot file: a boot storm is hundreds of downloads at
/// once, each holding about one chunk in flight, so chunks stay small.
const BOOT_FILE_CHUNK_BYTES: usize = 64 << 10;

/// `GET|HEAD /boot/files/{file}`: the agent kernel or initramfs from `<data>/boot`, whole or one
/// byte range, streamed from disk.
pub async fn file(State(st): State<Arc<AppState>>, Path(file): Path<String>, method: Method, headers: HeaderMap) -> Result<Response, ApiError> {
    if file != KERNEL_FILE && file != INITRD_FILE {
        return Err(ApiError::NotFound(format!("boot file {file:?}")));
    }
    let path = st.data_dir.join(BOOT_DIR).join(&file);
    let missing = |e: std::io::Error| ApiError::NotFound(format!("boot file {file} ({e}; put it in the data directory's {BOOT_DIR}/ folder)"));
    serve(&path, missing, &method, &headers).await
}

/// `GET|HEAD /boot/images/{key}/{file}`: an image's own kernel or its modules initramfs, as
/// [`file`] serves the agent's, for its stateless nodes.
pub async fn image_file(State(st): State<Arc<AppState>>, Path((key, file)): Path<(String, String)>, method: Method, headers: HeaderMap) -> Result<Response, ApiError> {
    let path = image_boot::file(&st.data_dir, &key, &file).ok_or_else(|| ApiError::NotFound(format!("image boot file {key}/{file}")))?;
    let missing = |e: std::io::Error| ApiError::NotFound(format!("image boot file {key}/{file} ({e}; the boot script of a node of that version makes it)"));
    serve(&path, missing, &method, &headers).await
}

/// Streams `path`, whole or one byte range.
async fn serve(path: &std::path::Path, missing: impl Fn(std::io::Error) -> ApiError, method: &Method, headers: &HeaderMap) -> Result<Response, ApiError> {
    let opened = tokio::fs::File::open(&path).await.map_err(&missing)?;
    let meta = opened.metadata().await.map_err(missing)?;
    let modified = meta.modified().ok();
    let since_epoch = modified.and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default();
    let etag = format!("\"{:x}-{:x}\"", meta.len(), since_epoch.as_nanos());
    let answer = FileAnswer { method, headers, etag, last_modified: modified, chunk_bytes: BOOT_FILE_CHUNK_BYTES };
    answer.respond(opened, meta.len(), &path.display().to_string()).await
}
