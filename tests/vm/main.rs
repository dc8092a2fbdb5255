//! VM tests: qemu TCG guests PXE-boot `fountain serve`'s agent through iPXE on a private bridge (see
//! the `vmtest` crate). They skip with a message where qemu cannot start; they run one at a time,
//! since TCG guests are CPU-bound.
mod discovery;
mod forger;
mod image_boot;
mod install;
mod layout;
mod stateless;
mod unicast;
mod util;
