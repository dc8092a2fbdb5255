//! An unknown machine boots discovery, reports its hardware, and is adopted with one command.
use std::time::{Duration, Instant};

use vmtest::{Firmware, Vm, VmSpec};

use crate::util::{blank_disk, setup};

const MAC: &str = "52:54:00:fd:00:01";
const DISK_BYTES: u64 = 256 << 20;
/// PXE, kernel and agent under TCG on a loaded 2-core machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

pub fn unknown_vm_boots_discovery_and_appears_with_its_inventory() {
    let Some(s) = setup() else { return };
    let started = Instant::now();
    let lab = &s.lab;
    let disk = blank_disk(lab, "disc", DISK_BYTES);
    let mut vm = Vm::start(lab, &VmSpec { name: "disc".into(), mac: MAC.into(), disks: vec![(disk, "disc-serial-1".into())], memory_mib: 768, firmware: Firmware::Bios }).unwrap();
    vm.wait_for("fountain-agent: inventory reported", BOOT_TIMEOUT).unwrap();

    let found = lab.fountain_json(&["node", "discovered"]).unwrap();
    let entry = found["discovered"].as_array().unwrap().iter().find(|d| d["mac"] == MAC).unwrap_or_else(|| panic!("{MAC} not discovered: {found}"));
    let inv = &entry["inventory"];
    let disks = inv["disks"].as_array().unwrap();
    assert_eq!(disks.len(), 1, "{inv}");
    assert_eq!(disks[0]["name"], "vda");
    assert_eq!(disks[0]["serial"], "disc-serial-1");
    assert_eq!(disks[0]["size_bytes"], DISK_BYTES);
    // qemu's virtio-blk gives no rotation hint, and Linux then calls a disk rotational.
    assert_eq!(disks[0]["rotational"], true);
    assert!(disks[0]["by_path"].as_str().unwrap().starts_with("/dev/disk/by-path/pci-0000:00:"), "{inv}");
    let nics = inv["nics"].as_array().unwrap();
    assert_eq!(nics.len(), 1, "{inv}");
    assert_eq!(nics[0]["mac"], MAC);
    assert_eq!(nics[0]["link"], true);
    assert_eq!(inv["cpus"], 1);
    let memory = inv["memory_bytes"].as_u64().unwrap();
    assert!((600 << 20..=768 << 20).contains(&memory), "{memory}");

    let table = lab.fountain(&["node", "discovered"]).unwrap();
    assert!(table.contains(MAC) && table.contains("vda 0.2G disc-serial-1 hdd"), "{table}");

    let adopted = lab.fountain(&["node", "add", "rack1-n1", "--from-discovered", MAC]).unwrap();
    assert!(adopted.contains("rack1-n1") && adopted.contains(MAC), "{adopted}");
    let script = lab.exec("busybox", &["wget", "-q", "-O", "-", &format!("{}/boot/ipxe?mac={MAC}", lab.server_url())]).unwrap();
    assert!(script.contains("node rack1-n1 boots from local disk"), "{script}");
    eprintln!("vm test unknown_vm_boots_discovery: {:.1} s wall", started.elapsed().as_secs_f64());
}
