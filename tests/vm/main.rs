//! VM tests: qemu TCG guests PXE-boot `fountain serve`'s agent through iPXE on a private bridge (see
//! the `vmtest` crate). They skip with a message where qemu cannot start. TCG guests are CPU-bound,
//! so the tests share two VM slots (one per core of the CI host, see `util::setup_for`): two one-VM
//! tests run side by side, the two-VM install test alone until its last round, which needs one.
//! libtest starts tests in the order of their names, so a module's name also places its test.
mod discovery;
mod forger;
mod image_boot;
mod install;
mod install_resume;
mod layout;
mod stateless;
mod util;
