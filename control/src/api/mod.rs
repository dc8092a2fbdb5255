//! The JSON HTTP API: operator routes under `/api/v1` (admin token), agent routes under
//! `/api/v1/agent` (node token), and the unauthenticated boot routes under `/boot`. The OpenAPI
//! description is served at `/openapi.json`; a test checks that it and the router agree.
pub mod agent;
pub mod boot;
pub mod captures;
pub mod carry;
pub mod extract;
pub mod file_body;
pub mod image_store;
pub mod images;
pub mod isos;
pub mod layouts;
pub mod mirrors;
pub mod nodes;
pub mod objects;
pub mod servers;
pub mod state;
pub mod stateless_boot;
pub mod transfers;
pub mod window_peers;

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};

use crate::error::ApiError;
pub use state::AppState;

/// The OpenAPI 3 description of every route.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The router with every route.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v1/nodes", get(nodes::list).post(nodes::add))
        .route("/api/v1/nodes/{name}", get(nodes::show).patch(nodes::set).delete(nodes::delete))
        .route("/api/v1/nodes/{name}/reimage", post(nodes::reimage))
        .route("/api/v1/nodes/{name}/agent", get(nodes::agent_status))
        .route("/api/v1/nodes/{name}/reimages", get(nodes::reimages))
        .route("/api/v1/discovered", get(nodes::discovered))
        .route("/api/v1/images", get(images::list).post(images::add))
        .route("/api/v1/images/{name}", get(images::show).delete(images::delete))
        .route("/api/v1/images/{name}/versions", post(images::add_version))
        .route("/api/v1/images/{name}/versions/{version}", axum::routing::delete(images::delete_version))
        .route("/api/v1/images/{name}/rollback", post(images::rollback))
        .route("/api/v1/images/{name}/versions/{version}/manifest", get(carry::manifest))
        .route("/api/v1/images/{name}/versions/{version}/object", get(carry::object))
        .route("/api/v1/store/versions", get(image_store::versions))
        .route("/api/v1/store/versions/{name}/{version}", axum::routing::delete(image_store::remove))
        .route("/api/v1/store/diff", get(image_store::diff))
        .route("/api/v1/store/verify", post(image_store::verify))
        .route("/api/v1/store/gc", post(image_store::gc))
        .route("/api/v1/store/serve", post(image_store::serve))
        .route("/api/v1/isos", get(isos::list).post(isos::upload))
        .route("/api/v1/layouts", get(layouts::list))
        .route("/api/v1/layouts/validate", post(layouts::validate))
        .route("/api/v1/layouts/{name}", put(layouts::put).get(layouts::show).delete(layouts::delete))
        .route("/api/v1/servers", get(servers::list).post(servers::add))
        .route("/api/v1/servers/{id}", axum::routing::patch(servers::set).delete(servers::delete))
        .route("/api/v1/transfers", get(transfers::list))
        .route("/api/v1/captures", post(captures::start))
        .route("/api/v1/captures/{id}/filesystems/{index}", put(captures::put_filesystem))
        .route("/api/v1/captures/{id}/finish", post(captures::finish))
        .route("/api/v1/agent/nodes/{name}/config", get(agent::config))
        .route("/api/v1/agent/nodes/{name}/register", post(agent::register))
        .route("/api/v1/agent/nodes/{name}/progress", post(agent::progress))
        .route("/api/v1/agent/nodes/{name}/report", post(agent::report))
        .route("/api/v1/agent/nodes/{name}/status", post(agent::status))
        .route("/api/v1/agent/nodes/{name}/stateless/exchange", post(stateless_boot::exchange))
        .route("/api/v1/agent/nodes/{name}/stateless/finish", post(stateless_boot::finish))
        .route("/api/v1/agent/discovered/{mac}/inventory", post(agent::discovered_inventory))
        .route("/api/v1/agent/nodes/{name}/servers", post(mirrors::choose))
        .route("/api/v1/agent/nodes/{name}/images/{image}/versions/{version}/manifest", get(objects::manifest))
        .route("/api/v1/agent/nodes/{name}/images/{image}/versions/{version}/object", get(objects::object))
        .route("/boot/ipxe", get(boot::ipxe_script))
        .route("/boot/files/{file}", get(boot::file))
        .route("/boot/images/{key}/{file}", get(boot::image_file))
        .route("/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON) }))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { ApiError::NotFound("route".into()).into_response() })
        .layer(axum::middleware::map_response(crate::error::uniform_refusals))
        .layer(axum::middleware::from_fn(crate::error::close_after_refused_body))
        .with_state(state)
}
