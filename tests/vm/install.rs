//! The main job end to end: two nodes set to re-image PXE-boot the agent, lay out RAID1 /boot and
//! RAID1 -> LVM, receive a Debian image by multicast in one session, unpack it, get their own
//! host name and static address from node config, install grub on both disks, report, reboot, and
//! boot from disk (iPXE's script for next boot local exits to the disks) into multi-user, where a
//! unit says on the console which image, version and host it is, its static address and its NFS
//! mount. Each node's phase times must all reach the control plane.
//!
//! While the two agents receive, a forger on the host's side of the bridge sends data symbols into
//! their session without its key ([`crate::forger`]); each agent must count them as rejected, no
//! block may fail its check, and the install must still boot.
//!
//! Then both nodes are re-imaged by unicast across a version change and a rollback: version 2
//! (version 1 plus one file, published through `image add`) becomes the default and vm1 takes it;
//! once vm1 has named the version it receives, the image is rolled back (`image rollback`) and vm2
//! starts, so vm2 must get version 1, where without the rollback it would get version 2. The control
//! plane resolves a node's version when its agent asks, so vm2's part ends there (the rest of its
//! install would repeat vm1's): it is powered off and the test gives its VM slot to another test
//! while vm1 installs alone and boots from disk naming version 2. Unicast is forced per re-image:
//! multicast delivery was proven in the first round, and what a version change must show (a node
//! gets the image's current default when it asks, the disks it already laid out are emptied and
//! re-filled, and the booted system names the version) does not depend on the route; unicast moves
//! the image in ~15 s, and the two nodes start minutes apart, too far for one session. Sharing this
//! test's lab, image, layout and first install saves what a separate rollback test would repeat.
//! Wall time under TCG on a loaded 2-core host: see docs/benchmarks.md.
use std::time::{Duration, Instant};

use vmtest::nfs::NfsServer;
use vmtest::{Firmware, Lab, Vm, VmSpec};

use crate::forger::forge_into;
use crate::util::{Setup, add_layout, blank_disk, count_before, phase_times, publish_debian, publish_debian_plus, setup_for, wait_installed_banner};

/// Boot, layout, transfer, unpack, initramfs and grub under TCG, two guests on a loaded 2-core host.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(2400);
/// From the agent's last line to qemu exiting on the guest's reboot.
const REBOOT_TIMEOUT: Duration = Duration::from_secs(300);
/// SeaBIOS, iPXE asking the control plane, grub, Debian's initramfs assembling RAID and LVM, systemd.
const DISK_BOOT_TIMEOUT: Duration = Duration::from_secs(1200);
const DISK_BYTES: u64 = 3 << 30;
const MEMORY_MIB: u32 = 2048;
/// Where the installed nodes mount the lab's NFS share.
const NFS_MOUNT: &str = "/mnt/share";

/// The layout test's mirror, sized for an installed Debian root.
const MIRROR: &str = "bootloader: bios
disks:
  - id: a
    match: { serial: 'sys-a' }
    partitions:
      - { id: a1, size: 1M, flags: [bios_grub] }
      - { id: a2, size: 256M }
      - { id: a3, size: rest }
  - id: b
    match: { serial: 'sys-b' }
    partitions:
      - { id: b1, size: 1M, flags: [bios_grub] }
      - { id: b2, size: 256M }
      - { id: b3, size: rest }
raid:
  - { id: boot, level: 1, members: [a2, b2], fs: ext4, mount: /boot }
  - { id: sys, level: 1, members: [a3, b3] }
lvm:
  - vg: vg0
    pvs: [sys]
    lvs:
      - { name: root, size: 2G, fs: xfs, mount: / }
      - { name: var, size: 384M, fs: ext4, mount: /var }
      - { name: swap, size: rest, fs: swap }
";

/// A unit the node config adds (through its files plugin, started by `systemd.wants=` on the kernel
/// line) that prints, once boot has finished, where the disk boot's time went: the slowest units and
/// systemd's own summary, each line marked [`BOOT_TIMES_MARK`]. The test prints them; they
/// are figures, not checks.
const BOOT_TIMES_UNIT: &str = "fountain-test-boot-times.service";
const BOOT_TIMES_MARK: &str = "boot-times: ";
/// From the NFS line to systemd's summary (~10 s in session 11): a missing summary costs the test
/// no more than this.
const BOOT_TIMES_TIMEOUT: Duration = Duration::from_secs(180);
const BOOT_TIMES: &str = "[Unit]
Description=Print where the boot's time went (fountain VM test)
[Service]
Type=simple
StandardOutput=journal+console
ExecStart=/bin/sh -c 'timeout 600 systemctl is-system-running --wait >/dev/null; { systemd-analyze blame --no-pager | head -n 12; systemd-analyze; } 2>&1 | sed \"s/^/boot-times: /\"'
";

struct Node {
    name: &'static str,
    mac: &'static str,
    address: &'static str,
}

const NODES: [Node; 2] = [
    Node { name: "vm1", mac: "52:54:00:fd:11:01", address: "10.78.0.51/24" },
    Node { name: "vm2", mac: "52:54:00:fd:11:02", address: "10.78.0.52/24" },
];

/// Adds node `n` and sets it to re-image by multicast: with the server's `auto` delivery a VM that
/// registers after the window closed would silently turn the one session into two unicasts.
/// `no_timer_check`: a TCG guest on an overloaded host can miss the
/// kernel's IO-APIC timer check at boot and panic ("IO-APIC + timer doesn't work!"); the check
/// proves nothing about the install.
/// The node's NFS mount of the lab's share comes from its config too.
fn add_node(lab: &Lab, n: &Node, nfs: &NfsServer) {
    let config = lab.dir().join(format!("{}.yaml", n.name));
    let yaml = format!(
        "hostname: {}-installed\ninterfaces:\n  - {{ name: lan, mac: '{}', addresses: ['{}'] }}\nnfs_mounts:\n  - {{ server: '{}', export: {}, mount_point: {NFS_MOUNT}, options: ro }}\nkernel_args: [console=ttyS0, no_timer_check, systemd.wants={BOOT_TIMES_UNIT}]\nfiles:\n  - path: /etc/systemd/system/{BOOT_TIMES_UNIT}\n    content: |\n{}",
        n.name,
        n.mac,
        n.address,
        nfs.addr(),
        NfsServer::EXPORT,
        BOOT_TIMES.lines().map(|l| format!("      {l}\n")).collect::<String>()
    );
    std::fs::write(&config, yaml).unwrap();
    let args = ["node", "add", n.name, "--mac", n.mac, "--image", "deb", "--layout", "mirror", "--config", config.to_str().unwrap()];
    lab.fountain(&args).unwrap();
    lab.fountain(&["node", "reimage", n.name, "--delivery", "multicast"]).unwrap();
}

fn spec(lab: &Lab, n: &Node, boot: &str) -> VmSpec {
    let disk = |d: &str| (lab.dir().join(format!("{}-{d}.img", n.name)), d.to_string());
    VmSpec { name: format!("{}-{boot}", n.name), mac: n.mac.into(), disks: vec![disk("sys-a"), disk("sys-b")], memory_mib: MEMORY_MIB, firmware: Firmware::Bios }
}

/// The session number in an agent's "receiving ..." line.
fn session_of(line: &str) -> String {
    line.split(" in session ").nth(1).and_then(|s| s.split_whitespace().next()).unwrap_or_default().to_string()
}

pub fn two_nodes_install_debian_by_multicast_and_boot_it_from_disk() {
    let Some(s) = setup_for(NODES.len() as u32) else { return };
    let started = Instant::now();
    let lab = &s.lab;
    publish_debian(lab);
    let image_ready = started.elapsed();
    add_layout(lab, "mirror", MIRROR);
    let nfs = NfsServer::start(lab).expect("starting the lab's NFS server");
    for n in &NODES {
        add_node(lab, n, &nfs);
        for d in ["sys-a", "sys-b"] {
            blank_disk(lab, &format!("{}-{d}", n.name), DISK_BYTES);
        }
    }

    let mut vms: Vec<Vm> = NODES.iter().map(|n| Vm::start(lab, &spec(lab, n, "agent")).unwrap()).collect();
    let mut sessions = Vec::new();
    for vm in &mut vms {
        let receiving = vm.wait_for("fountain-agent: receiving deb@1", INSTALL_TIMEOUT).unwrap();
        assert!(receiving.contains(" by multicast "), "{receiving}");
        sessions.push(session_of(&receiving));
    }
    assert!(!sessions[0].is_empty() && sessions[0] == sessions[1], "the nodes were not in one session: {sessions:?}");
    // "receiving" is said before the agent joins the session's group; its first progress line
    // ("received 0 of N blocks") comes after the join. A datagram sent before the join would be
    // dropped by the guest and counted nowhere.
    for vm in &mut vms {
        vm.wait_for("fountain-agent: received ", INSTALL_TIMEOUT).unwrap();
    }
    let forged = forge_into(lab, sessions[0].parse().expect("a session id"));
    let mut rejected = Vec::new();
    for vm in &mut vms {
        let symbols = vm.wait_for("fountain-agent: session symbols: ", INSTALL_TIMEOUT).unwrap();
        let (count, failed) = (count_before(&symbols, " rejected"), count_before(&symbols, " blocks failed their check"));
        // Every forged datagram the node's kernel did not drop at a full buffer was rejected (the
        // drop count is the kernel's, for all sockets; no forged datagram can be kept).
        let dropped = count_before(&symbols, " datagrams dropped by the kernel");
        assert!(count > 0 && count + dropped >= forged, "the agent rejected {count} of the {forged} forged datagrams ({dropped} dropped by its kernel): {symbols}");
        assert_eq!(failed, 0, "a block failed its check (a forged symbol reached a decoder): {symbols}");
        rejected.push(count);
        let received = vm.wait_for("fountain-agent: image received: ", INSTALL_TIMEOUT).unwrap();
        let (session, http) = (count_before(&received, " from the session"), count_before(&received, " over HTTP"));
        assert!(session > http, "the session delivered less than the HTTP fallback: {received}");
        vm.wait_for("fountain-agent: installed deb@1; rebooting from disk", INSTALL_TIMEOUT).unwrap();
    }
    let installed_at = started.elapsed();
    for vm in vms {
        vm.wait_exit(REBOOT_TIMEOUT).unwrap();
    }
    assert_installed(lab, &[(&NODES[0], 1), (&NODES[1], 1)]);
    let phase_lines: Vec<String> = NODES.iter().map(|n| format!("{}: {}", n.name, phase_times(lab, n.name))).collect();
    let transfers = lab.fountain_json(&["image", "transfers"]).unwrap();
    let session = transfers.as_array().unwrap().iter().find(|t| t["id"].as_u64().is_some_and(|id| id.to_string() == sessions[0])).unwrap_or_else(|| panic!("{transfers}"));
    for n in &NODES {
        assert_eq!(session["receivers"][n.name]["state"], "done", "{session}");
    }

    // Power on again: the control plane now says "boot local", and iPXE exits to the disks.
    let mut vms: Vec<Vm> = NODES.iter().map(|n| Vm::start(lab, &spec(lab, n, "disk")).unwrap()).collect();
    for (vm, n) in vms.iter_mut().zip(&NODES) {
        wait_installed_banner(vm, "deb@1", &format!("{}-installed", n.name), DISK_BOOT_TIMEOUT);
        let address = vm.wait_for("fountain: address ", DISK_BOOT_TIMEOUT).unwrap();
        assert!(address.contains(n.address), "{address}");
        let mounted = vm.wait_for("fountain: nfs ", DISK_BOOT_TIMEOUT).unwrap();
        assert!(mounted.trim_end().ends_with(&format!("fountain: nfs {}:{} on {NFS_MOUNT}", nfs.addr(), NfsServer::EXPORT)), "{mounted}");
    }
    for (vm, n) in vms.iter_mut().zip(&NODES) {
        match vm.wait_for(&format!("{BOOT_TIMES_MARK}Startup finished"), BOOT_TIMES_TIMEOUT) {
            Ok(_) => vm.console.text().lines().filter(|l| l.contains(BOOT_TIMES_MARK)).for_each(|l| eprintln!("vm test install: {} disk boot: {}", n.name, l.split(BOOT_TIMES_MARK).nth(1).unwrap_or_default())),
            Err(e) => eprintln!("vm test install: {} printed no boot times: {e}", n.name),
        }
    }
    let first_round = started.elapsed();

    // Version 2 for vm1; the rollback to version 1 before vm2 asks for its image.
    let v2 = publish_debian_plus(lab, "fountain-test-v2");
    assert_eq!(v2, 2, "the marked image is not the image's second version");
    drop(reinstall_across_a_rollback(&s, vms));

    for line in &phase_lines {
        eprintln!("vm test install: phases {line}");
    }
    eprintln!("vm test install: forged {forged} datagrams into session {}; rejected by the agents: {rejected:?}", sessions[0]);
    eprintln!(
        "vm test install: {:.1} s wall (image ready {:.1} s, both installed {:.1} s, booted from disk {:.1} s; version 2 and rollback {:.1} s)",
        started.elapsed().as_secs_f64(),
        image_ready.as_secs_f64(),
        installed_at.as_secs_f64(),
        (first_round - installed_at).as_secs_f64(),
        (started.elapsed() - first_round).as_secs_f64()
    );
}

/// Re-images both nodes (running `vms`, powered off here) by unicast with the image's default when
/// each asks: vm1 first; once it names `deb@2` as the image it receives, the image is rolled back and
/// vm2 starts, which must name `deb@1`. What the rollback decides ends there (the control plane
/// resolves a node's version when its agent asks), so vm2 is powered off: the rest of its install
/// would repeat vm1's steps. vm1 installs and boots from disk alone, naming version 2, while the
/// test's second VM slot goes to another test. Returns vm1, booted.
fn reinstall_across_a_rollback(s: &Setup, vms: Vec<Vm>) -> Vm {
    let lab = &s.lab;
    for n in &NODES {
        lab.fountain(&["node", "reimage", n.name, "--delivery", "unicast"]).unwrap();
    }
    // A power cut: the installed systems are not shut down; the re-image empties what they left.
    drop(vms);
    let start_agent = |n: &Node, label: &str| {
        let mut vm = Vm::start(lab, &spec(lab, n, &format!("agent-{}", label.replace('@', "-")))).unwrap();
        let receiving = vm.wait_for(&format!("fountain-agent: receiving {label}"), INSTALL_TIMEOUT).unwrap();
        assert!(receiving.contains(" by unicast "), "{receiving}");
        vm
    };
    let mut vm1 = start_agent(&NODES[0], "deb@2");
    let rolled = lab.fountain_json(&["image", "rollback", "deb"]).unwrap();
    assert_eq!((rolled["from"].as_u64(), rolled["to"].as_u64()), (Some(2), Some(1)), "{rolled}");
    drop(start_agent(&NODES[1], "deb@1"));
    s.keep_one_slot();
    // The control plane's side of it: vm2's newest session is a unicast one of version 1.
    let transfers = lab.fountain_json(&["image", "transfers"]).unwrap();
    let with_vm2 = transfers.as_array().unwrap().iter().filter(|t| t["receivers"].get(NODES[1].name).is_some());
    let newest = with_vm2.max_by_key(|t| t["id"].as_u64()).unwrap_or_else(|| panic!("{transfers}"));
    assert_eq!((newest["image"].as_str(), newest["version"].as_u64(), newest["delivery"].as_str()), (Some("deb"), Some(1), Some("unicast")), "{newest}");

    vm1.wait_for("fountain-agent: installed deb@2; rebooting from disk", INSTALL_TIMEOUT).unwrap();
    vm1.wait_exit(REBOOT_TIMEOUT).unwrap();
    assert_installed(lab, &[(&NODES[0], 2)]);
    eprintln!("vm test install: phases deb@2 {}: {}", NODES[0].name, phase_times(lab, NODES[0].name));
    let mut vm1 = Vm::start(lab, &spec(lab, &NODES[0], "disk-deb-2")).unwrap();
    wait_installed_banner(&mut vm1, "deb@2", &format!("{}-installed", NODES[0].name), DISK_BOOT_TIMEOUT);
    vm1
}

/// Checks that `node list` shows each node on `deb` at its version with next boot local.
fn assert_installed(lab: &Lab, installed: &[(&Node, u64)]) {
    let nodes = lab.fountain_json(&["node", "list"]).unwrap();
    for &(n, version) in installed {
        let node = nodes.as_array().unwrap().iter().find(|v| v["name"] == n.name).unwrap_or_else(|| panic!("{nodes}"));
        assert_eq!((node["next_boot"].as_str(), node["installed"]["image"].as_str(), node["installed"]["version"].as_u64()), (Some("local"), Some("deb"), Some(version)), "{node}");
    }
}
