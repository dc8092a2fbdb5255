//! VM tests: qemu TCG guests PXE-boot `fountain serve`'s agent through iPXE on a private bridge (see
//! the `vmtest` crate). They skip with a message where qemu cannot start. TCG guests are CPU-bound,
//! so the tests share two VM slots (one per core of the CI host, see `util::setup_for`): two one-VM
//! tests run side by side, the two-VM install test alone until its last round, which needs one.
//!
//! The binary has its own `main` (libtest-mimic, `harness = false`) so that the tests start in the
//! order of [`trials`], not of their names: libtest's threads take tests in name order, and the
//! suite's length is decided by that order.
use libtest_mimic::{Arguments, Trial};

mod discovery;
mod forger;
mod image_boot;
mod install;
mod install_resume;
mod layout;
mod stateless;
mod util;

/// A trial named `module::test`, as libtest would name it, so filters such as `install::` and
/// `two_nodes_install` select the same tests.
macro_rules! trial {
    ($module:ident :: $test:ident) => {{
        const NAME: &str = concat!(stringify!($module), "::", stringify!($test));
        Trial::test(NAME, || named_thread(NAME, $module::$test))
    }};
}

/// Runs `test` on a thread named `name`, as libtest does: the tests print their wall time under
/// that name (`util::Setup`), and a panic names the test. A panic is passed on for the harness to
/// report.
fn named_thread(name: &str, test: fn()) -> Result<(), libtest_mimic::Failed> {
    let thread = std::thread::Builder::new().name(name.to_string()).spawn(test).expect("starting a test thread");
    thread.join().map_err(|panic| std::panic::resume_unwind(panic))
}

/// Every test, in the order they start; each thread (two on the 2-core CI host) takes the next when
/// it is free. The two-VM install test goes first, while both slots are free; the power-cut test
/// next, to take the slot the install test gives back for its one-VM last round; then the rest,
/// longest first, so the suite does not end on a long test with a core idle. Against name order
/// (discovery and image_boot first, the install test waiting for both), ~2 min less.
fn trials() -> Vec<Trial> {
    vec![
        trial!(install::two_nodes_install_debian_by_multicast_and_boot_it_from_disk),
        trial!(install_resume::one_node_alone_deploys_by_unicast_and_resumes_after_a_power_cut),
        trial!(image_boot::the_debian_image_boots_and_a_capture_of_it_deploys_the_same_system),
        trial!(stateless::a_diskless_vm_boots_debian_from_ram_and_forgets_everything_at_power_off),
        trial!(layout::mirror_layout_applies_converges_and_spares_the_protected_disk),
        trial!(layout::a_layout_needing_three_disks_fails_on_two_before_any_write),
        trial!(discovery::unknown_vm_boots_discovery_and_appears_with_its_inventory),
        // Not a test: the install test runs it in its lab's namespace ([`forger::forge_into`]).
        trial!(forger::forging_child).with_ignored_flag(true),
    ]
}

fn main() -> std::process::ExitCode {
    libtest_mimic::run(&Arguments::from_args(), trials()).exit_code()
}
