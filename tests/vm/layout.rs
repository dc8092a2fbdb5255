//! Nodes set to re-image PXE-boot the agent, which lays out their disks as their layout says: RAID1
//! /boot and RAID1 -> LVM, checked from inside the VM and reported; a second run converges; a protected
//! disk and a layout that does not fit are never written.
use std::path::Path;
use std::time::{Duration, Instant};

use vmtest::{Firmware, Lab, Vm, VmSpec};

use crate::util::{add_layout, blank_disk, setup};

/// Boot plus mkfs and RAID creation under TCG on a loaded 2-core machine.
const APPLY_TIMEOUT: Duration = Duration::from_secs(600);
const SHELL_TIMEOUT: Duration = Duration::from_secs(120);
const SYSTEM_DISK_BYTES: u64 = 2 << 30;
const PROTECTED_DISK_BYTES: u64 = 64 << 20;

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
  - { id: keep, match: { serial: 'keep-*' }, protected: true }
raid:
  - { id: boot, level: 1, members: [a2, b2], fs: ext4, mount: /boot }
  - { id: sys, level: 1, members: [a3, b3] }
lvm:
  - vg: vg0
    pvs: [sys]
    lvs:
      - { name: root, size: 1G, fs: xfs, mount: / }
      - { name: var, size: 25%, fs: ext4, mount: /var }
      - { name: swap, size: rest, fs: swap }
";

const THREE_DISKS: &str = "bootloader: bios
disks:
  - id: a
    match: { size: '>=512M' }
    partitions: [{ id: a1, size: 1M, flags: [bios_grub] }, { id: a2, size: rest }]
  - id: b
    match: { size: '>=512M' }
    partitions: [{ id: b1, size: 1M, flags: [bios_grub] }, { id: b2, size: rest }]
  - id: c
    match: { size: '>=512M' }
    partitions: [{ id: c1, size: 1M, flags: [bios_grub] }, { id: c2, size: rest }]
raid:
  - { id: md0, level: 5, members: [a2, b2, c2], fs: ext4, mount: / }
";

/// A disk image whose every byte is known: a repeating pattern seeded by `seed`.
fn patterned_disk(lab: &Lab, name: &str, bytes: u64, seed: u8) -> std::path::PathBuf {
    let path = lab.dir().join(format!("{name}.img"));
    let block: Vec<u8> = (0..1u32 << 20).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
    let mut data = Vec::with_capacity(bytes as usize);
    while (data.len() as u64) < bytes {
        data.extend_from_slice(&block);
    }
    data.truncate(bytes as usize);
    std::fs::write(&path, data).unwrap();
    path
}

fn hash(path: &Path) -> String {
    let mut h = blake3::Hasher::new();
    h.update_reader(std::fs::File::open(path).unwrap()).unwrap();
    h.finalize().to_hex().to_string()
}

/// Publishes a stand-in image (installing it is the next issue's job) and adds layout `name`.
fn image_and_layout(lab: &Lab, name: &str, yaml: &str) {
    let images = lab.data_dir().join("images");
    std::fs::create_dir_all(&images).unwrap();
    if !images.join("stand-in.img").exists() {
        std::fs::write(images.join("stand-in.img"), vec![7u8; 1 << 20]).unwrap();
        lab.fountain(&["image", "add", "stand-in", "--artifact", "stand-in.img"]).unwrap();
    }
    add_layout(lab, name, yaml);
}

/// Adds node `name` set to re-image with `layout`, its console on the serial port; its agent stops
/// after the layout and leaves the shell (the install is tests/vm/install.rs's).
fn reimaging_node(lab: &Lab, name: &str, mac: &str, layout: &str) {
    let config = lab.dir().join(format!("{name}.yaml"));
    std::fs::write(&config, format!("kernel_args: [console=ttyS0, {}]\n", agent::install::BREAK_AFTER_LAYOUT)).unwrap();
    let args = ["node", "add", name, "--mac", mac, "--image", "stand-in", "--layout", layout, "--next-boot", "reimage", "--config", config.to_str().unwrap()];
    lab.fountain(&args).unwrap();
}

pub fn mirror_layout_applies_converges_and_spares_the_protected_disk() {
    let Some(s) = setup() else { return };
    let started = Instant::now();
    let lab = &s.lab;
    image_and_layout(lab, "mirror", MIRROR);
    reimaging_node(lab, "vm1", "52:54:00:fd:01:01", "mirror");
    let keep = patterned_disk(lab, "keep", PROTECTED_DISK_BYTES, 5);
    let keep_before = hash(&keep);
    let disks = vec![(blank_disk(lab, "sys-a", SYSTEM_DISK_BYTES), "sys-a".into()), (blank_disk(lab, "sys-b", SYSTEM_DISK_BYTES), "sys-b".into()), (keep.clone(), "keep-1".into())];
    let mut vm = Vm::start(lab, &VmSpec { name: "vm1".into(), mac: "52:54:00:fd:01:01".into(), disks, memory_mib: 1024, firmware: Firmware::Bios }).unwrap();
    vm.wait_for("fountain-agent: layout mirror applied", APPLY_TIMEOUT).unwrap();
    vm.wait_for("shell on the console", SHELL_TIMEOUT).unwrap();
    let applied_at = started.elapsed();

    let mdstat = vm.shell_ok("cat /proc/mdstat", SHELL_TIMEOUT).unwrap();
    assert_eq!(mdstat.matches(" : active raid1 ").count(), 2, "{mdstat}");
    for member in ["vda2", "vdb2", "vda3", "vdb3"] {
        assert!(mdstat.contains(member), "{member} not in an array:\n{mdstat}");
    }
    assert!(!mdstat.contains("vdc"), "{mdstat}");
    let lvs = vm.shell_ok("lvs --noheadings -o vg_name,lv_name", SHELL_TIMEOUT).unwrap();
    let lvs: Vec<String> = lvs.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|l| !l.is_empty()).collect();
    assert_eq!(lvs, ["vg0 root", "vg0 swap", "vg0 var"], "{lvs:?}");
    let blkid = vm.shell_ok("blkid", SHELL_TIMEOUT).unwrap();
    for (dev, fs) in [("/dev/mapper/vg0-root", "xfs"), ("/dev/mapper/vg0-var", "ext4"), ("/dev/mapper/vg0-swap", "swap"), ("/dev/vda3", "linux_raid_member")] {
        let line = blkid.lines().find(|l| l.starts_with(&format!("{dev}:"))).unwrap_or_else(|| panic!("{dev} not in blkid:\n{blkid}"));
        assert!(line.contains(&format!("TYPE=\"{fs}\"")), "{line}");
    }
    assert!(!blkid.lines().any(|l| l.starts_with("/dev/vdc")), "the protected disk got a signature:\n{blkid}");
    let mounts = vm.shell_ok("cat /proc/mounts", SHELL_TIMEOUT).unwrap();
    for (target, fs) in [("/target", "xfs"), ("/target/boot", "ext4"), ("/target/var", "ext4")] {
        assert!(mounts.lines().any(|l| l.split_whitespace().nth(1) == Some(target) && l.split_whitespace().nth(2) == Some(fs)), "{target} ({fs}) not mounted:\n{mounts}");
    }
    let shown = lab.fountain_json(&["node", "show", "vm1"]).unwrap();
    let message = shown["agent"]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.starts_with("layout mirror applied"), "{shown}");
    assert_eq!(shown["agent"]["inventory"]["disks"].as_array().map(Vec::len), Some(3), "{shown}");

    let rerun_started = Instant::now();
    let rerun = vm.shell_ok("fountain agent 2>&1 | grep 'fountain-agent: layout'", APPLY_TIMEOUT).unwrap();
    assert!(rerun.contains("layout mirror converged"), "{rerun}");
    let rerun_took = rerun_started.elapsed();
    let shown = lab.fountain_json(&["node", "show", "vm1"]).unwrap();
    assert!(shown["agent"]["message"].as_str().unwrap_or_default().starts_with("layout mirror converged"), "{shown}");
    assert_eq!(shown["agent"]["last_error"], serde_json::Value::Null, "{shown}");

    vm.power_off(SHELL_TIMEOUT).unwrap();
    assert_eq!(hash(&keep), keep_before, "the protected disk changed");
    eprintln!(
        "vm test mirror_layout: {:.1} s wall (boot to applied {:.1} s, converging rerun {:.1} s)",
        started.elapsed().as_secs_f64(),
        applied_at.as_secs_f64(),
        rerun_took.as_secs_f64()
    );
}

pub fn a_layout_needing_three_disks_fails_on_two_before_any_write() {
    let Some(s) = setup() else { return };
    let started = Instant::now();
    let lab = &s.lab;
    image_and_layout(lab, "three", THREE_DISKS);
    reimaging_node(lab, "vm2", "52:54:00:fd:02:01", "three");
    let disks: Vec<_> = (0..2).map(|i| patterned_disk(lab, &format!("two-{i}"), 1 << 30, i)).collect();
    let before: Vec<String> = disks.iter().map(|d| hash(d)).collect();
    let spec = VmSpec { name: "vm2".into(), mac: "52:54:00:fd:02:01".into(), disks: disks.iter().enumerate().map(|(i, d)| (d.clone(), format!("two-{i}"))).collect(), memory_mib: 1024, firmware: Firmware::Bios };
    let mut vm = Vm::start(lab, &spec).unwrap();
    let failed = vm.wait_for("fountain-agent: failed:", APPLY_TIMEOUT).unwrap();
    assert!(failed.contains("need 3 different disks"), "{failed}");
    let shown = lab.fountain(&["node", "show", "vm2"]).unwrap();
    assert!(shown.lines().any(|l| l.starts_with("last error") && l.contains("need 3 different disks")), "{shown}");
    vm.wait_for("shell on the console", SHELL_TIMEOUT).unwrap();
    vm.power_off(SHELL_TIMEOUT).unwrap();
    let after: Vec<String> = disks.iter().map(|d| hash(d)).collect();
    assert_eq!(after, before, "a disk changed although the layout was refused");
    eprintln!("vm test three_disks_on_two: {:.1} s wall", started.elapsed().as_secs_f64());
}
