//! The VM test harness (DESIGN.md §7): a private network namespace with a bridge, one tap per VM,
//! dnsmasq answering DHCP with an iPXE boot URL on `fountain serve` (which runs in the namespace too),
//! and qemu TCG guests whose serial consoles are captured to files and can be typed into.
//!
//! Everything a test starts is owned by a guard: dropping a [`Vm`] kills its qemu, dropping the
//! [`Lab`] kills dnsmasq and the server and deletes the namespace with its bridge and taps. A run that
//! was killed before its guards ran is cleaned up by the next one (namespaces carry the owner's pid).
//! Boot files are built once per content hash of the `fountain` binary and the host's kernel, and the
//! Debian image install tests deploy once per content hash of its recipe.
mod bootcache;
mod console;
mod image;
mod lab;
pub mod layouts;
mod netns;
pub mod nfs;
mod process;
mod vm;

use std::process::{Command, Stdio};

pub use bootcache::boot_files;
pub use console::Console;
pub use lab::{Lab, SESSION_GROUP};
pub use image::{DebianImage, IMAGE, SUITE, WrittenDisk, debian_image, image_unavailable_reason, install_fountain, write_disk};
pub use vm::{DirectBoot, Firmware, Vm, VmSpec, ovmf, uefi_disk_slot};

/// Why VMs cannot run here, or `None` where they can: qemu must start, and the namespace, bridge,
/// tap and DHCP server the lab needs must be available.
pub fn unavailable_reason() -> Option<String> {
    let probe = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-machine", "none", "-display", "none", "-S", "-monitor", "none", "-serial", "none", "-version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return Some("qemu-system-x86_64 cannot start (install qemu-system-x86)".into());
    }
    if vm::PXE_ROMS.iter().all(|r| !std::path::Path::new(r).exists()) {
        return Some("no iPXE ROM for the e1000 boot NIC (install ipxe-qemu)".into());
    }
    for (tool, package) in [("dnsmasq", "dnsmasq"), ("ip", "iproute2")] {
        if Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
            return Some(format!("{tool} is not installed ({package})"));
        }
    }
    netns::probe().err().map(|e| format!("cannot create a network namespace with a tap (root needed): {e}"))
}
