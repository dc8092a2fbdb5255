//! Planner tests: every layout feature and every refusal, without disks.
use control::inventory::{Inventory, InventoryDisk};
use control::layout::{Layout, Protected};

use super::current::{Current, CurrentArray, CurrentDisk, CurrentFs, CurrentLv, CurrentPartition, CurrentVg};
use super::*;

const G: u64 = 1 << 30;

fn disk(name: &str, size: u64, model: &str, serial: &str) -> InventoryDisk {
    InventoryDisk {
        name: name.into(),
        path: format!("/dev/{name}"),
        size_bytes: size,
        model: model.into(),
        serial: serial.into(),
        by_path: Some(format!("/dev/disk/by-path/virtio-pci-{name}")),
        rotational: false,
    }
}

fn inventory(disks: &[InventoryDisk]) -> Inventory {
    Inventory { disks: disks.to_vec(), ..Default::default() }
}

fn layout(yaml: &str) -> Layout {
    control::layout::parse(yaml).unwrap_or_else(|e| panic!("{e:?}"))
}

/// The VM layout: RAID1 /boot and RAID1 -> LVM root, var, swap on two disks.
const MIRROR: &str = "bootloader: bios
disks:
  - id: a
    match: { size: '>=4G' }
    partitions:
      - { id: a1, size: 1M, flags: [bios_grub] }
      - { id: a2, size: 512M }
      - { id: a3, size: rest }
  - id: b
    match: { size: '>=4G' }
    partitions:
      - { id: b1, size: 1M, flags: [bios_grub] }
      - { id: b2, size: 512M }
      - { id: b3, size: rest }
raid:
  - { id: boot, level: 1, members: [a2, b2], fs: ext4, mount: /boot }
  - { id: sys, level: 1, members: [a3, b3] }
lvm:
  - vg: vg0
    pvs: [sys]
    lvs:
      - { name: root, size: 2G, fs: xfs, mount: / }
      - { name: var, size: 25%, fs: ext4, mount: /var }
      - { name: swap, size: rest, fs: swap }
";

fn commands(plan: &Plan) -> Vec<String> {
    plan.steps.iter().map(|s| s.argv().join(" ")).collect()
}

fn two_disks_and_a_protected_one() -> (Inventory, Protected) {
    let inv = inventory(&[disk("vda", 8 * G, "QEMU", "a"), disk("vdb", 8 * G, "QEMU", "b"), disk("vdc", 8 * G, "QEMU", "keep")]);
    (inv, Protected(vec!["keep".into()]))
}

#[test]
fn mirror_on_blank_disks_plans_every_step_in_order() {
    let (inv, protected) = two_disks_and_a_protected_one();
    let plan = plan(&layout(MIRROR), &inv, &protected, &Current::default(), "/target").unwrap();
    println!("{plan}");
    assert_eq!(plan.disk_paths, ["/dev/vda", "/dev/vdb"]);
    assert_eq!(plan.protected.len(), 1);
    assert!(plan.protected[0].why.contains("\"keep\""));
    assert_eq!(plan.rebuild.as_deref(), Some("/dev/vda has no GPT"));
    // 8 GiB less 1 MiB GPT at each end, 1 MiB bios_grub and 512 MiB: 7677 MiB for a3, less mdadm's
    // 4 MiB headroom + 1 MiB, less LVM's 1 MiB: 7671 MiB = 1917 extents.
    let vg_extents = 1917;
    let var = vg_extents / 4;
    let expected = [
        "wipefs --all --force /dev/vda",
        "sgdisk --zap-all /dev/vda",
        "wipefs --all --force /dev/vdb",
        "sgdisk --zap-all /dev/vdb",
        "sgdisk --clear /dev/vda",
        "sgdisk --new=1:1024K:+1024K --typecode=1:EF02 --change-name=1:a1 /dev/vda",
        "sgdisk --new=2:2048K:+524288K --typecode=2:FD00 --change-name=2:a2 /dev/vda",
        "sgdisk --new=3:526336K:+7861248K --typecode=3:FD00 --change-name=3:a3 /dev/vda",
        "sgdisk --clear /dev/vdb",
        "sgdisk --new=1:1024K:+1024K --typecode=1:EF02 --change-name=1:b1 /dev/vdb",
        "sgdisk --new=2:2048K:+524288K --typecode=2:FD00 --change-name=2:b2 /dev/vdb",
        "sgdisk --new=3:526336K:+7861248K --typecode=3:FD00 --change-name=3:b3 /dev/vdb",
        "wipefs --all --force /dev/vda1",
        "wipefs --all --force /dev/vda2",
        "wipefs --all --force /dev/vda3",
        "wipefs --all --force /dev/vdb1",
        "wipefs --all --force /dev/vdb2",
        "wipefs --all --force /dev/vdb3",
        "mdadm --create /dev/md/boot --run --metadata=1.2 --name=boot --level=1 --raid-devices=2 /dev/vda2 /dev/vdb2",
        "mdadm --create /dev/md/sys --run --metadata=1.2 --name=sys --level=1 --raid-devices=2 /dev/vda3 /dev/vdb3",
        "pvcreate --force --force --yes /dev/md/sys",
        "vgcreate --yes vg0 /dev/md/sys",
        "lvcreate --yes --wipesignatures y --zero y --extents 512 --name root vg0",
        "lvcreate --yes --wipesignatures y --zero y --extents 25%VG --name var vg0",
        "lvcreate --yes --wipesignatures y --zero y --extents 100%FREE --name swap vg0",
        "mkfs.ext4 -F -q /dev/md/boot",
        "mkfs.xfs -f -q /dev/vg0/root",
        "mkfs.ext4 -F -q /dev/vg0/var",
        "mkswap /dev/vg0/swap",
        "mkdir -p /target",
        "mount -t xfs /dev/vg0/root /target",
        "mkdir -p /target/boot",
        "mount -t ext4 /dev/md/boot /target/boot",
        "mkdir -p /target/var",
        "mount -t ext4 /dev/vg0/var /target/var",
    ];
    assert_eq!(commands(&plan), expected);
    assert!(plan.to_string().contains(&format!("logical volume vg0/var: {} (25% of the group)", control::layout::size::Human(var * 4 << 20))));
    assert!(commands(&plan).iter().all(|c| !c.contains("vdc")), "the protected disk is never named");
}
