//! Initramfs parts shared by the agent's own boot files (`agent::bootfiles`) and the control plane,
//! which takes an image's kernel and its early modules out of the artifact for a stateless boot
//! ([`image_kernel`]): a reproducible cpio writer, the node's module set in load order, kernel
//! release ordering and the compressors.
pub mod compress;
pub mod cpio;
pub mod image_kernel;
pub mod modules;
pub mod release;

use std::path::PathBuf;

use compress::ToolError;
use cpio::{Archive, Entry};

/// Where `/init` finds the list of modules to load, in order (a later archive's list replaces an
/// earlier one's).
pub const MODULE_LIST: &str = "etc/fountain/modules";

/// Adds the modules of `order` (paths relative to a kernel's module directory, each read from the
/// host file `source` gives) to `archive` under `dest_dir`, unpacked since busybox's insmod reads
/// plain `.ko`, and the list `/init` loads them from, in that order.
pub fn add_modules<E: From<ToolError>>(archive: &mut Archive, order: &[String], dest_dir: &str, source: impl Fn(&str) -> Result<PathBuf, E>) -> Result<(), E> {
    let mut list = String::new();
    for rel in order {
        let (plain, data) = compress::plain_module(rel, &source(rel)?)?;
        let dest = format!("{dest_dir}/{plain}");
        list.push_str(&format!("/{dest}\n"));
        archive.insert(&dest, Entry::File { data, mode: 0o644 });
    }
    archive.insert(MODULE_LIST, Entry::File { data: list.into_bytes(), mode: 0o644 });
    Ok(())
}
