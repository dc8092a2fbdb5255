//! A diskless VM PXE-boots a real Debian image (built by `fountain image build --debootstrap`)
//! statelessly: the agent loads the image into RAM, mounts it under a tmpfs overlay and switch_roots
//! into its systemd, which reaches multi-user and prints the image and version on the serial console.
//! The node runs the image's own kernel, so `modprobe` works after switch_root.
//! A file written on the node is gone after a power cycle; the token of the boot no longer opens the
//! API, and no file an unprivileged user can read holds it.
use std::time::{Duration, Instant};

use vmtest::{Firmware, IMAGE, Lab, Vm, VmSpec};

use crate::util::setup;

const MAC: &str = "52:54:00:5e:00:01";
const NODE: &str = "sl1";
/// The image in RAM plus the booted system; the node has no disk.
const MEMORY_MIB: u32 = 1536;
/// PXE, agent, the image over the emulated NIC and systemd to multi-user, under TCG on a loaded
/// 2-core machine (one run at load ~10 reached the banner after 8 minutes).
const BOOT_TIMEOUT: Duration = Duration::from_secs(900);
const SHELL_TIMEOUT: Duration = Duration::from_secs(120);
/// The node's config: the serial console, and a root login on it for the test's commands. systemd
/// waits 90 s for a device by default; under TCG at load ~10 udev's coldplug (now that the image's
/// modules match its kernel, it loads the drivers it finds) took longer, `dev-ttyS0.device` timed out
/// and the serial getty never started.
const CONFIG: &str = r#"hostname: sl1
kernel_args: [console=ttyS0, systemd.default_device_timeout_sec=600]
files:
  - path: /etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf
    content: "[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200,38400,9600 %I $TERM\n"
"#;

/// Boots the node once, up to its root shell on the console; returns the VM and the banner line.
fn boot(lab: &Lab, name: &str) -> (Vm, String) {
    let mut vm = Vm::start(lab, &VmSpec { name: name.into(), mac: MAC.into(), disks: Vec::new(), memory_mib: MEMORY_MIB, firmware: Firmware::Bios }).unwrap();
    let banner = vm.wait_for(&format!("fountain: node {NODE} running {IMAGE}@1 stateless"), BOOT_TIMEOUT).unwrap();
    vm.wait_for_prompt("root@sl1:~# ", BOOT_TIMEOUT).unwrap();
    (vm, banner)
}

pub fn a_diskless_vm_boots_debian_from_ram_and_forgets_everything_at_power_off() {
    if let Some(reason) = vmtest::image_unavailable_reason() {
        eprintln!("SKIPPED: {reason}");
        return;
    }
    let Some(s) = setup() else { return };
    let started = Instant::now();
    let lab = &s.lab;
    let image = vmtest::debian_image(&std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vmtest")).expect("building the Debian image");
    eprintln!("{}", lab.publish_artifact(IMAGE, &image.artifact).unwrap());
    // The appliance is one of the stateless servers.
    lab.fountain(&["server", "add", &lab.server_url(), "--healthy", "true"]).unwrap();
    let config = lab.dir().join("sl1.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    lab.fountain(&["node", "add", NODE, "--mac", MAC, "--image", IMAGE, "--mode", "stateless", "--config", config.to_str().unwrap()]).unwrap();
    let ready = started.elapsed();

    let (mut vm, banner) = boot(lab, "sl1-a");
    eprintln!("banner: {banner}");
    let first_boot = started.elapsed() - ready;
    assert!(vm.console.text().contains("fountain-agent: node token exchanged (and revoked)"));
    // Alone in its window, the node downloads from the server chosen for it (no multicast session).
    assert!(vm.console.text().contains("blocks) from http://"), "a lone node loads over HTTP from its server");
    // Bash's bracketed-paste codes would interleave with command output.
    vm.shell_ok("bind 'set enable-bracketed-paste off'", SHELL_TIMEOUT).unwrap();
    let root = vm.shell_ok("echo root=$(findmnt -n -o FSTYPE /) disks=$(ls /dev/vd* 2>/dev/null | wc -l); losetup -l -n -O RO,BACK-FILE", SHELL_TIMEOUT).unwrap();
    assert!(root.contains("root=overlay disks=0"), "an overlay root on a node without disks: {root}");
    let loops: Vec<String> = root.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert!(loops.iter().any(|l| l == "1 /run/fountain/image/root.squashfs"), "the artifact in RAM, mounted read-only: {root}");
    // The token of this boot: on the kernel command line, dead, and in no file a user can read.
    let cmdline = vm.shell_ok("cat /proc/cmdline", SHELL_TIMEOUT).unwrap();
    let token = cmdline.split_whitespace().find_map(|w| w.strip_prefix("fountain.token=")).unwrap_or_else(|| panic!("no token in {cmdline}")).to_string();
    let config_url = format!("{}/api/v1/agent/nodes/{NODE}/config", lab.server_url());
    let refused = lab.exec("busybox", &["wget", "-q", "-O", "-", "--header", &format!("Authorization: Bearer {token}"), &config_url]).unwrap_err().to_string();
    assert!(refused.contains("401"), "the boot's token must no longer open the API: {refused}");
    // Nor buy the boot's reply again: that is only for a lost reply, before the boot finishes.
    let exchange_url = format!("{}/api/v1/agent/nodes/{NODE}/stateless/exchange", lab.server_url());
    let refused = lab.exec("busybox", &["wget", "-q", "-O", "-", "--post-data", "", "--header", &format!("Authorization: Bearer {token}"), &exchange_url]).unwrap_err().to_string();
    assert!(refused.contains("401"), "the boot's token must not be exchanged again after switch_root: {refused}");
    // Every file an unprivileged user can read under the writable and runtime trees (the lower layer
    // is the published image, which predates the token).
    let grep = format!("setpriv --reuid=nobody --regid=nogroup --clear-groups grep -rlsF {token} /etc /run /var /tmp /home /root; echo end-of-list");
    let found = vm.shell(&grep, SHELL_TIMEOUT).unwrap().1;
    let files: Vec<&str> = found.lines().map(str::trim).filter(|l| l.starts_with('/')).collect();
    assert!(files.is_empty() && found.contains("end-of-list"), "a user can read the token in {files:?}");
    // The node runs the image's own kernel (not the agent's, which differs here: 6.1.0-50 in the
    // image, the host's newer one in the agent), so after switch_root a module that is neither built
    // in nor loaded yet loads from the image's /lib/modules.
    let agent_kernel = agent::bootfiles::kernel::find(std::path::Path::new("/")).unwrap().version;
    let probe = "echo release=$(uname -r); echo carried=$(ls /lib/modules); test ! -e /sys/module/dummy && ! grep -qw dummy /lib/modules/$(uname -r)/modules.builtin && echo dummy-absent; modprobe dummy && test -d /sys/module/dummy && echo dummy-loaded";
    let out = vm.shell_ok(probe, SHELL_TIMEOUT).unwrap();
    let release = out.lines().find_map(|l| l.trim().strip_prefix("release=")).unwrap_or_else(|| panic!("no release in {out}")).to_string();
    let carried = out.lines().find_map(|l| l.trim().strip_prefix("carried=")).unwrap_or_default().to_string();
    eprintln!("stateless node: kernel {release}, image carries {carried}, agent kernel {agent_kernel}");
    assert!(carried.split_whitespace().any(|k| k == release), "the running kernel {release} is one the image carries ({carried})");
    assert!(out.contains("dummy-absent") && out.contains("dummy-loaded"), "modprobe of a module not yet loaded works after switch_root: {out}");
    assert!(vm.console.text().contains(&format!("kernel {release}: the image carries its modules")), "the agent said so before switching");
    if release == agent_kernel {
        eprintln!("note: the image's kernel is the agent's ({release}); the test shows no mismatch this time");
    }
    vm.shell_ok("echo scratch > /root/written-before-reboot && sync", SHELL_TIMEOUT).unwrap();
    vm.power_off(SHELL_TIMEOUT).unwrap();

    let (mut vm, _) = boot(lab, "sl1-b");
    let (status, out) = vm.shell("test -e /root/written-before-reboot", SHELL_TIMEOUT).unwrap();
    assert_eq!(status, 1, "the file survived the power cycle: {out}");
    vm.power_off(SHELL_TIMEOUT).unwrap();
    let status = lab.fountain(&["node", "show", NODE]).unwrap();
    assert!(status.contains("switching root"), "{status}");
    eprintln!(
        "vm test stateless: {:.1} s wall (setup {:.1} s, first boot to multi-user {:.1} s)",
        started.elapsed().as_secs_f64(),
        ready.as_secs_f64(),
        first_boot.as_secs_f64()
    );
}
