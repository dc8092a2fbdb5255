//! Routes a booting machine uses before it has any credentials: the iPXE script and the agent's kernel
//! and initramfs.
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::extract::ApiQuery;
use super::state::AppState;
use crate::sync::lock;
use crate::error::ApiError;
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

/// `GET /boot/ipxe?mac=...`: the script for the machine with this MAC (iPXE sends `${net0/mac}`).
pub async fn ipxe_script(State(st): State<Arc<AppState>>, ApiQuery(q): ApiQuery<BootQuery>) -> Result<impl IntoResponse, ApiError> {
    let mac: Mac = q.mac.ok_or_else(|| ApiError::BadRequest("missing query parameter 'mac'".into()))?.parse().map_err(|e: crate::mac::MacError| ApiError::BadRequest(e.to_string()))?;
    let script = script_for(&st, mac)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], script))
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
        AgentBoot::Reimage { image: &image.image, version: image.version, session: lock(&st.gatherer).assign(&node.name, key) }
    } else {
        server = lock(&st.pool).assign(boot.stateless_server).ok_or_else(|| ApiError::Unavailable("no healthy stateless server".into()))?;
        if boot.stateless_server != Some(server.id) {
            st.store.set_stateless_server(&node.name, Some(server.id))?;
        }
        AgentBoot::Stateless { image: &image.image, version: image.version, server: &server.url }
    };
    Ok(ipxe::render(&st.public_url, &Script::Agent { node: &node.name, token: &token, job, kernel_args: &node.config.kernel_args }))
}

/// `GET /boot/files/{file}`: the agent kernel or initramfs from `<data>/boot`.
pub async fn file(State(st): State<Arc<AppState>>, Path(file): Path<String>) -> Result<impl IntoResponse, ApiError> {
    if file != KERNEL_FILE && file != INITRD_FILE {
        return Err(ApiError::NotFound(format!("boot file {file:?}")));
    }
    let bytes = tokio::fs::read(st.data_dir.join(BOOT_DIR).join(&file))
        .await
        .map_err(|e| ApiError::NotFound(format!("boot file {file} ({e}; put it in the data directory's {BOOT_DIR}/ folder)")))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}
