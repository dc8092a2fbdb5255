//! Initramfs parts shared by the agent's own boot files (`agent::bootfiles`) and the control plane,
//! which takes an image's kernel and its early modules out of the artifact for a stateless boot
//! ([`image_kernel`]): a reproducible cpio writer, the node's module set in load order, kernel
//! release ordering and the compressors.
pub mod compress;
pub mod cpio;
pub mod image_kernel;
pub mod modules;
pub mod release;

/// Where `/init` finds the list of modules to load, in order (a later archive's list replaces an
/// earlier one's).
pub const MODULE_LIST: &str = "etc/fountain/modules";
