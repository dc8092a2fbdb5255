//! VM tests: qemu TCG guests PXE-boot `fountain serve`'s agent through iPXE on a private bridge (see
//! the `vmtest` crate). They skip with a message where qemu cannot start. TCG guests are CPU-bound,
//! so the tests share two VM slots (one per core of the CI host, see `util::setup_for`): two one-VM
//! tests run side by side, the two-VM deploy test alone.
//!
//! libtest starts tests in the order of their names, and a test waiting for two slots holds its
//! thread (one of two on the CI host) and keeps one-VM tests from starting. The deploy test's name
//! sorts first so it takes both slots at once, before any one-VM test holds one: third in the order,
//! it waited ~6 min beside the one-VM image test with a core idle.
mod deploy;
mod discovery;
mod forger;
mod image_boot;
mod layout;
mod stateless;
mod unicast;
mod util;
