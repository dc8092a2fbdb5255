//! Tests against the real HTTP server and a real SQLite file (one binary, to link once).
mod util;
#[path = "../raw_http/mod.rs"]
mod raw_http;

mod auth;
mod bad_input;
mod captures;
mod captures_kill9;
mod cli;
mod delivery;
mod reimage_attempts;
mod health;
mod boot;
mod fetch;
mod hardening;
mod image_servers;
mod image_store;
mod images;
mod layouts;
mod lifecycle;
mod limits;
mod openapi;
mod restart;
mod selection;
mod stateless_boot;
mod transfer;
