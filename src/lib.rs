//! The `fountain` command line as a library, so end-to-end tests drive exactly what users run.
#![forbid(unsafe_code)]

pub mod cli;
