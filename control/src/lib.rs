//! The fountain control plane: decides what every node does when it boots, and starts the transfers.
//!
//! One process and one data directory: an SQLite store ([`store`]), a JSON HTTP API ([`api`]) served by
//! [`serve`], iPXE boot scripts ([`ipxe`]), the stateless server pool ([`selection`]), the gathering of
//! re-imaging nodes into multicast sessions ([`transfer`]) and the operator CLI ([`cli`], talking to the
//! API through [`client`]). Everything that decides (validation, selection, windowing, scripts) is plain
//! logic without I/O, so it is tested without a server; the API tests then run the real thing.
pub mod api;
pub mod auth;
pub mod capture;
pub mod cli;
pub mod client;
pub mod error;
pub mod health;
pub mod http;
pub mod image;
pub mod image_boot;
pub mod image_server;
pub mod inventory;
pub mod ipxe;
pub mod layout;
pub mod mac;
pub mod names;
pub mod node;
pub mod node_config;
pub mod publish;
pub mod range;
pub mod selection;
pub mod served;
pub mod stateless;
pub mod serve;
pub mod store;
pub mod sync;
pub mod transfer;
pub mod yaml;
