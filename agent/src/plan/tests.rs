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
        "mdadm --create /dev/md/boot --run --metadata=1.2 --assume-clean --name=boot --level=1 --raid-devices=2 /dev/vda2 /dev/vdb2",
        "mdadm --create /dev/md/sys --run --metadata=1.2 --assume-clean --name=sys --level=1 --raid-devices=2 /dev/vda3 /dev/vdb3",
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
    assert!(plan.to_string().contains(&format!("logical volume vg0/var: {} (25% of the group)", control::layout::size::Human((var * 4) << 20))));
    assert!(commands(&plan).iter().all(|c| !c.contains("vdc")), "the protected disk is never named");
}

#[test]
fn uefi_gets_an_esp_mounted_after_root_and_fat32() {
    let l = layout(
        "bootloader: uefi
disks:
  - id: sys
    match: { model: 'SAMSUNG*' }
    partitions:
      - { id: esp, size: 512M, flags: [esp], fs: vfat, mount: /boot/efi }
      - { id: boot, size: 1G, fs: ext4, mount: /boot, flags: [boot] }
      - { id: swap, size: 1G, fs: swap }
      - { id: root, size: rest, fs: ext4, mount: / }
",
    );
    let inv = inventory(&[disk("sda", 100 * G, "WDC", "w"), disk("nvme0n1", 100 * G, "SAMSUNG PM9A3", "s")]);
    let plan = plan(&l, &inv, &Protected::default(), &Current::default(), "/mnt").unwrap();
    let c = commands(&plan);
    assert!(c.contains(&"sgdisk --new=1:1024K:+524288K --typecode=1:EF00 --change-name=1:esp /dev/nvme0n1".to_string()), "{c:#?}");
    assert!(plan.spare_esps.is_empty(), "the one ESP is mounted: {:?}", plan.spare_esps);
    assert!(c.contains(&"sgdisk --new=2:525312K:+1048576K --typecode=2:8300 --change-name=2:boot --attributes=2:set:2 /dev/nvme0n1".to_string()));
    assert!(c.contains(&"sgdisk --new=3:1573888K:+1048576K --typecode=3:8200 --change-name=3:swap /dev/nvme0n1".to_string()));
    assert!(c.contains(&"mkfs.vfat -F 32 /dev/nvme0n1p1".to_string()), "nvme partitions take a p");
    let small_esp = Step::Mkfs { device: "/dev/sda1".into(), fs: control::layout::FsType::Vfat, size: 32 << 20 };
    assert_eq!(small_esp.argv(), ["mkfs.vfat", "/dev/sda1"], "too few clusters for FAT32: mkfs.vfat picks");
    assert!(c.contains(&"mkswap /dev/nvme0n1p3".to_string()));
    let mounts: Vec<&String> = c.iter().filter(|c| c.starts_with("mount")).collect();
    assert_eq!(
        mounts,
        ["mount -t ext4 /dev/nvme0n1p4 /mnt", "mount -t ext4 /dev/nvme0n1p2 /mnt/boot", "mount -t vfat /dev/nvme0n1p1 /mnt/boot/efi"],
        "parents before children"
    );
    assert!(c.iter().all(|c| !c.contains("/dev/sda")), "the WDC disk matches nothing and is left alone");
}

#[test]
fn disks_are_matched_by_size_model_serial_and_by_path_each_to_its_own() {
    let inv = inventory(&[disk("sda", 500 * G, "SAMSUNG X", "S1"), disk("sdb", 500 * G, "SAMSUNG X", "S2"), disk("sdc", 100 * G, "INTEL", "I1")]);
    let two = |a: &str, b: &str| {
        layout(&format!(
            "bootloader: bios
disks:
  - {{ id: a, match: {a}, partitions: [ {{ id: g, size: 1M, flags: [bios_grub] }}, {{ id: r, size: rest, fs: ext4, mount: / }} ] }}
  - {{ id: b, match: {b}, partitions: [ {{ id: d, size: rest, fs: xfs, mount: /data }} ] }}
"
        ))
    };
    let chosen = |l: &Layout| plan(l, &inv, &Protected::default(), &Current::default(), "/t").map(|p| p.disk_paths);
    // Greedy would give `a` sda and leave `b` (only sda matches) nothing: the search backtracks.
    assert_eq!(chosen(&two("{ model: 'SAMSUNG*' }", "{ serial: S1 }")).unwrap(), ["/dev/sdb", "/dev/sda"]);
    assert_eq!(chosen(&two("{ size: '<=200G' }", "{ by_path: virtio-pci-sdb }")).unwrap(), ["/dev/sdc", "/dev/sdb"]);
    assert_eq!(chosen(&two("{ path: /dev/sdc }", "{ size: '>=400G', model: 'SAMSUNG*' }")).unwrap(), ["/dev/sdc", "/dev/sda"]);

    let err = chosen(&two("{ serial: S1 }", "{ serial: 'S1*' }")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "layout disks a, b need 2 different disks, but this node's disks cannot provide them: /dev/sda (500 GiB, model \"SAMSUNG X\", serial \"S1\"), /dev/sdb (500 GiB, model \"SAMSUNG X\", serial \"S2\"), /dev/sdc (100 GiB, model \"INTEL\", serial \"I1\")"
    );
    let err = chosen(&two("{ model: 'SAMSUNG*' }", "{ model: 'WDC*' }")).unwrap_err();
    assert!(matches!(&err, PlanError::NoMatch { id, .. } if id == "b"), "{err}");
    assert!(err.to_string().starts_with("layout disk \"b\" (match {\"model\":\"WDC*\"}) matches none of this node's disks: /dev/sda"));
}

#[test]
fn a_layout_needing_three_disks_on_two_is_refused() {
    let l = layout(
        "bootloader: bios
disks:
  - { id: a, match: { size: '>=1G' }, partitions: [ { id: g, size: 1M, flags: [bios_grub] }, { id: a2, size: rest } ] }
  - { id: b, match: { size: '>=1G' }, partitions: [ { id: b2, size: rest } ] }
  - { id: c, match: { size: '>=1G' }, partitions: [ { id: c2, size: rest } ] }
raid: [ { id: md0, level: 5, members: [a2, b2, c2], fs: ext4, mount: / } ]
",
    );
    let inv = inventory(&[disk("vda", 8 * G, "QEMU", "a"), disk("vdb", 8 * G, "QEMU", "b")]);
    let err = plan(&l, &inv, &Protected::default(), &Current::default(), "/t").unwrap_err();
    assert!(matches!(err, PlanError::NotEnoughDisks { need: 3, .. }), "{err}");
}

#[test]
fn protected_disks_are_never_chosen_nor_named_by_a_step() {
    let l = |extra: &str| {
        layout(&format!(
            "bootloader: bios
disks:
  - {{ id: a, match: {{ size: '>=1G' }}, partitions: [ {{ id: g, size: 1M, flags: [bios_grub] }}, {{ id: r, size: rest, fs: ext4, mount: / }} ] }}
{extra}"
        ))
    };
    let inv = inventory(&[disk("vda", 8 * G, "QEMU", "data-1"), disk("vdb", 8 * G, "QEMU", "sys-1")]);
    // By the node's list (first disk in order would otherwise be chosen).
    let p = plan(&l(""), &inv, &Protected(vec!["/dev/vda".into()]), &Current::default(), "/t").unwrap();
    assert_eq!(p.disk_paths, ["/dev/vdb"]);
    assert!(commands(&p).iter().all(|c| !c.contains("vda")));
    // By a protected layout entry.
    let p = plan(&l("  - { id: keep, match: { serial: 'data-*' }, protected: true }\n"), &inv, &Protected::default(), &Current::default(), "/t").unwrap();
    assert_eq!(p.disk_paths, ["/dev/vdb"]);
    assert_eq!(p.protected[0].why, "layout disk \"keep\" (protected: true)");
    assert!(p.to_string().contains("protected: /dev/vda (8 GiB, model \"QEMU\", serial \"data-1\") (by layout disk \"keep\" (protected: true))"));
    // When only protected disks match, the refusal says so.
    let err = plan(&l(""), &inv, &Protected(vec!["data-1".into(), "vdb".into()]), &Current::default(), "/t").unwrap_err();
    assert!(err.to_string().contains("/dev/vdb (8 GiB, model \"QEMU\", serial \"sys-1\") kept out by the node's protected list (\"vdb\")"), "{err}");
}

#[test]
fn a_layout_too_big_for_the_real_disks_is_refused_naming_what() {
    let l = layout(
        "bootloader: bios
disks:
  - { id: a, match: { model: QEMU }, partitions: [ { id: g, size: 1M, flags: [bios_grub] }, { id: r, size: 20G, fs: ext4, mount: / } ] }
",
    );
    let inv = inventory(&[disk("vda", 8 * G, "QEMU", "a")]);
    let err = plan(&l, &inv, &Protected::default(), &Current::default(), "/t").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the layout does not fit this node's disks (\"a\" -> /dev/vda (8 GiB, model \"QEMU\", serial \"a\")): disk \"a\": partitions need 20.0 GiB but the disk is only 8 GiB"
    );
    // The same through LVM: a fixed LV larger than the mirror under it.
    let lvm = MIRROR.replace("size: 2G, fs: xfs", "size: 9G, fs: xfs").replace("size: '>=4G'", "model: Q");
    let err = plan(&layout(&lvm), &inventory(&[disk("vda", 8 * G, "Q", "a"), disk("vdb", 8 * G, "Q", "b")]), &Protected::default(), &Current::default(), "/t")
        .unwrap_err();
    assert!(err.to_string().ends_with("vg \"vg0\": logical volumes need 10.9 GiB but its physical volumes hold only 7.5 GiB (after LVM metadata)"), "{err}");
}

#[test]
fn the_first_assignment_that_fits_is_taken() {
    let l = layout(
        "bootloader: bios
disks:
  - { id: a, match: { model: QEMU }, partitions: [ { id: g, size: 1M, flags: [bios_grub] }, { id: r, size: 20G, fs: ext4, mount: / } ] }
",
    );
    let inv = inventory(&[disk("vda", 8 * G, "QEMU", "a"), disk("vdb", 32 * G, "QEMU", "b")]);
    assert_eq!(plan(&l, &inv, &Protected::default(), &Current::default(), "/t").unwrap().disk_paths, ["/dev/vdb"]);
}

#[test]
fn raid_levels_and_member_counts() {
    let raid = |level: u8, n: usize| {
        let disks: String = (0..n)
            .map(|i| format!("  - {{ id: d{i}, match: {{ serial: s{i} }} }}\n"))
            .collect();
        let members: Vec<String> = (0..n).map(|i| format!("d{i}")).collect();
        format!(
            "bootloader: bios
disks:
  - {{ id: sys, match: {{ serial: sys }}, partitions: [ {{ id: g, size: 1M, flags: [bios_grub] }}, {{ id: r, size: rest, fs: ext4, mount: / }} ] }}
{disks}raid: [ {{ id: data, level: {level}, members: [{}], fs: xfs, mount: /data }} ]
",
            members.join(", ")
        )
    };
    let mut disks = vec![disk("sda", 8 * G, "Q", "sys")];
    disks.extend((0..6).map(|i| disk(&format!("sd{}", (b'b' + i) as char), 4 * G, "Q", &format!("s{i}"))));
    let inv = inventory(&disks);
    for (level, n) in [(0, 2), (1, 2), (5, 3), (6, 4), (10, 4), (10, 6)] {
        let p = plan(&layout(&raid(level, n)), &inv, &Protected::default(), &Current::default(), "/t").unwrap();
        let create = commands(&p).into_iter().find(|c| c.starts_with("mdadm --create")).unwrap();
        assert!(create.contains(&format!("--level={level} --raid-devices={n} /dev/sdb /dev/sdc")), "{create}");
        assert_eq!(create.contains(" --assume-clean "), matches!(level, 1 | 10), "only mirrors skip the initial resync: {create}");
        assert!(commands(&p).contains(&"wipefs --all --force /dev/sdb".to_string()), "whole-disk members are wiped");
        assert!(commands(&p).iter().all(|c| !c.contains("--clear /dev/sdb")), "and get no partition table");
    }
    for (level, n, need) in [(5, 2, 3), (6, 3, 4), (10, 3, 4), (1, 1, 2)] {
        let yaml = raid(level, n);
        let err = plan(&serde_norway::from_str(&yaml).unwrap(), &inv, &Protected::default(), &Current::default(), "/t").unwrap_err();
        assert_eq!(err.to_string(), format!("the layout is invalid: raid \"data\": RAID {level} needs at least {need} members, it has {n}"));
    }
    let err = plan(&serde_norway::from_str(&raid(4, 4)).unwrap(), &inv, &Protected::default(), &Current::default(), "/t").unwrap_err();
    assert!(err.to_string().contains("level 4 is not supported"));
}

#[test]
fn raid_members_of_different_real_sizes_are_refused_or_warned() {
    let l = |a: &str, b: &str| {
        layout(&format!(
            "bootloader: bios
disks:
  - {{ id: a, match: {{ serial: {a} }}, partitions: [ {{ id: g, size: 1M, flags: [bios_grub] }}, {{ id: a2, size: rest }} ] }}
  - {{ id: b, match: {{ serial: {b} }}, partitions: [ {{ id: b2, size: rest }} ] }}
raid: [ {{ id: md0, level: 1, members: [a2, b2], fs: ext4, mount: / }} ]
"
        ))
    };
    let inv = inventory(&[disk("sda", G, "Q", "small"), disk("sdb", 100 * G, "Q", "big"), disk("sdc", 80 * G, "Q", "mid")]);
    let err = plan(&l("small", "big"), &inv, &Protected::default(), &Current::default(), "/t").unwrap_err();
    assert!(err.to_string().contains("raid \"md0\": member \"a2\" is 1021 MiB but \"b2\" is 100.0 GiB"), "{err}");
    let p = plan(&l("mid", "big"), &inv, &Protected::default(), &Current::default(), "/t").unwrap();
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.to_string().contains("warning: raid \"md0\": member \"a2\" is 80.0 GiB but \"b2\" is 100.0 GiB"));
}

const M: u64 = 1 << 20;

/// What the probe reads from two disks on which MIRROR was applied (arrays and LVs running under
/// their kernel names).
fn mirror_done() -> Current {
    let part = |disk: &str, n: u32, start: u64, size: u64, code: &str, name: &str| CurrentPartition {
        number: n,
        path: format!("{disk}{n}"),
        start,
        size,
        type_code: code.into(),
        name: name.into(),
    };
    let table = |disk: &str, x: &str| CurrentDisk {
        path: disk.into(),
        gpt: true,
        partitions: vec![
            part(disk, 1, M, M, "EF02", &format!("{x}1")),
            part(disk, 2, 2 * M, 512 * M, "FD00", &format!("{x}2")),
            part(disk, 3, 514 * M, 7677 * M, "FD00", &format!("{x}3")),
        ],
    };
    let fs = |t: &str| CurrentFs { fs_type: t.into(), uuid: "u".into(), label: String::new() };
    let lv = |name: &str, extents: u64, dm: &str| CurrentLv { name: name.into(), size: extents * 4 * M, device: Some(dm.into()) };
    Current {
        disks: vec![table("/dev/vda", "a"), table("/dev/vdb", "b"), CurrentDisk { path: "/dev/vdc".into(), gpt: false, partitions: vec![] }],
        arrays: vec![
            CurrentArray { device: Some("/dev/md127".into()), name: "boot".into(), level: 1, members: vec!["/dev/vda2".into(), "/dev/vdb2".into()] },
            CurrentArray { device: Some("/dev/md126".into()), name: "sys".into(), level: 1, members: vec!["/dev/vda3".into(), "/dev/vdb3".into()] },
        ],
        vgs: vec![CurrentVg {
            name: "vg0".into(),
            pvs: vec!["/dev/md126".into()],
            lvs: vec![lv("root", 512, "/dev/dm-0"), lv("var", 479, "/dev/dm-1"), lv("swap", 926, "/dev/dm-2")],
        }],
        filesystems: [("/dev/md127", "ext4"), ("/dev/dm-0", "xfs"), ("/dev/dm-1", "ext4"), ("/dev/dm-2", "swap"), ("/dev/vda3", "linux_raid_member")]
            .into_iter()
            .map(|(d, t)| (d.to_string(), fs(t)))
            .collect(),
        mounts: Default::default(),
        aliases: [
            ("/dev/md/boot", "/dev/md127"),
            ("/dev/md/sys", "/dev/md126"),
            ("/dev/vg0/root", "/dev/dm-0"),
            ("/dev/vg0/var", "/dev/dm-1"),
            ("/dev/vg0/swap", "/dev/dm-2"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect(),
    }
}

#[test]
fn a_finished_layout_converges_to_mounts_only_and_then_to_nothing() {
    let (inv, protected) = two_disks_and_a_protected_one();
    let mut current = mirror_done();
    let p = plan(&layout(MIRROR), &inv, &protected, &current, "/target").unwrap();
    assert_eq!(p.rebuild, None);
    assert!(!p.destructive());
    assert_eq!(
        commands(&p),
        [
            "mkdir -p /target",
            "mount -t xfs /dev/dm-0 /target",
            "mkdir -p /target/boot",
            "mount -t ext4 /dev/md127 /target/boot",
            "mkdir -p /target/var",
            "mount -t ext4 /dev/dm-1 /target/var",
        ]
    );
    assert!(p.to_string().contains("the disks already hold this layout: nothing to change"));
    current.mounts = [("/target", "/dev/dm-0"), ("/target/boot", "/dev/md127"), ("/target/var", "/dev/dm-1")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert!(plan(&layout(MIRROR), &inv, &protected, &current, "/target").unwrap().steps.is_empty(), "a rerun changes nothing");
}

#[test]
fn any_difference_rebuilds_after_taking_the_old_state_down() {
    let (inv, protected) = two_disks_and_a_protected_one();
    type Change = fn(&mut Current);
    let cases: [(Change, &str); 6] = [
        (|c| c.disks[0].gpt = false, "/dev/vda has no GPT"),
        (|c| c.disks[1].partitions[2].size -= M, "partition 3 of /dev/vdb differs from the layout's \"b3\""),
        (|c| c.arrays[0].level = 0, "RAID array boot has other members or another level"),
        // A stopped array hides the volume group on it.
        (
            |c| {
                c.arrays[1].device = None;
                c.vgs.clear();
            },
            "RAID array sys is not running",
        ),
        (|c| c.vgs[0].lvs[0].size += 4 * M, "logical volume vg0/root is 2151677952 bytes, the layout 2147483648"),
        (|c| drop(c.filesystems.remove("/dev/dm-1")), "/dev/vg0/var holds no ext4"),
    ];
    for (change, why) in cases {
        let mut current = mirror_done();
        change(&mut current);
        let vg_seen = !current.vgs.is_empty();
        if vg_seen {
            current.mounts.insert("/target/var".into(), "/dev/dm-1".into());
            current.mounts.insert("/target".into(), "/dev/dm-0".into());
        }
        current.mounts.insert("/srv".into(), "/dev/sdz1".into());
        let p = plan(&layout(MIRROR), &inv, &protected, &current, "/target").unwrap();
        assert_eq!(p.rebuild.as_deref(), Some(why));
        let c = commands(&p);
        let mut teardown: Vec<String> = Vec::new();
        if vg_seen {
            teardown.extend(["umount /target/var", "umount /target", "vgchange --activate n vg0", "vgremove --force --force --yes vg0"].map(String::from));
            teardown.push("wipefs --all --force /dev/md126".into());
        }
        teardown.extend(["wipefs --all --force /dev/md127", "mdadm --stop /dev/md127"].map(String::from));
        if current.arrays[1].device.is_some() {
            teardown.push("mdadm --stop /dev/md126".into());
        }
        for d in ["vda", "vdb"] {
            teardown.extend((1..=3).map(|n| format!("wipefs --all --force /dev/{d}{n}")));
            teardown.push(format!("wipefs --all --force /dev/{d}"));
            teardown.push(format!("sgdisk --zap-all /dev/{d}"));
        }
        assert_eq!(c[..teardown.len()], teardown, "{why}");
        assert_eq!(c[teardown.len()], "sgdisk --clear /dev/vda");
        assert!(c.iter().all(|c| !c.contains("vdc") && !c.contains("/srv")), "{why}: nothing else is touched");
    }
}

#[test]
fn old_arrays_or_groups_that_reach_a_protected_disk_are_refused() {
    let (inv, protected) = two_disks_and_a_protected_one();
    let mut current = mirror_done();
    current.disks[0].gpt = false;
    current.disks[2].partitions.push(CurrentPartition { number: 1, path: "/dev/vdc1".into(), ..Default::default() });
    current.arrays[0].members.push("/dev/vdc1".into());
    let err = plan(&layout(MIRROR), &inv, &protected, &current, "/target").unwrap_err();
    assert_eq!(err.to_string(), "RAID array boot on the chosen disks also uses protected disk /dev/vdc: taking it down would write to that disk");
    let mut current = mirror_done();
    current.disks[0].gpt = false;
    current.vgs[0].pvs.push("/dev/vdc".into());
    let err = plan(&layout(MIRROR), &inv, &protected, &current, "/target").unwrap_err();
    assert!(matches!(err, PlanError::SharedWithProtected { ref what, .. } if what == "volume group vg0"), "{err}");
}

#[test]
fn spares_explicit_starts_whole_disk_pvs_and_extent_rounding() {
    let l = layout(
        "bootloader: bios
disks:
  - id: a
    match: { serial: a }
    partitions:
      - { id: g, size: 1M, flags: [bios_grub] }
      - { id: a2, start: 100M, size: 1G }
      - { id: a3, size: 1G }
      - { id: a4, size: 1G }
      - { id: a5, size: rest, fs: ext4, mount: / }
  - { id: pv1, match: { serial: b } }
raid: [ { id: md0, level: 1, members: [a2, a3], spares: [a4], fs: ext4, mount: /srv } ]
lvm: [ { vg: data, pvs: [pv1], lvs: [ { name: one, size: 1025M, fs: ext4, mount: /data } ] } ]
",
    );
    let inv = inventory(&[disk("sda", 8 * G, "Q", "a"), disk("sdb", 4 * G, "Q", "b")]);
    let c = commands(&plan(&l, &inv, &Protected::default(), &Current::default(), "/t").unwrap());
    assert!(c.contains(&"sgdisk --new=2:102400K:+1048576K --typecode=2:FD00 --change-name=2:a2 /dev/sda".to_string()), "{c:#?}");
    assert!(c.contains(&"sgdisk --new=4:2199552K:+1048576K --typecode=4:FD00 --change-name=4:a4 /dev/sda".to_string()), "spares are RAID partitions too");
    assert!(c.contains(&"mdadm --create /dev/md/md0 --run --metadata=1.2 --assume-clean --name=md0 --level=1 --raid-devices=2 --spare-devices=1 /dev/sda2 /dev/sda3 /dev/sda4".to_string()));
    assert!(c.contains(&"pvcreate --force --force --yes /dev/sdb".to_string()), "a whole disk as physical volume");
    assert!(c.contains(&"lvcreate --yes --wipesignatures y --zero y --extents 257 --name one data".to_string()), "1025 MiB rounds up to 257 extents");
    assert!(c.iter().all(|c| !c.contains("--clear /dev/sdb")));

    let small_spare = l.clone();
    let mut small_spare = small_spare;
    small_spare.disks[0].partitions[3].size = "512M".into();
    let err = plan(&small_spare, &inv, &Protected::default(), &Current::default(), "/t").unwrap_err();
    assert!(err.to_string().contains("raid \"md0\": spare \"a4\" is 512 MiB, smaller than the members (1 GiB), so it could never replace one"), "{err}");
}

#[test]
fn the_installed_system_mounts_what_the_layout_mounts_and_boots_from_the_disks_under_boot() {
    use control::layout::FsType;
    let (inv, protected) = two_disks_and_a_protected_one();
    let entry = |device: &str, fs, mount: Option<&str>| FstabEntry { device: device.into(), fs, mount: mount.map(Into::into) };
    let fresh = plan(&layout(MIRROR), &inv, &protected, &Current::default(), "/target").unwrap();
    assert_eq!(
        fresh.fstab,
        [
            entry("/dev/vg0/root", FsType::Xfs, Some("/")),
            entry("/dev/md/boot", FsType::Ext4, Some("/boot")),
            entry("/dev/vg0/var", FsType::Ext4, Some("/var")),
            entry("/dev/vg0/swap", FsType::Swap, None),
        ]
    );
    // /boot is RAID1 of a2 and b2: both disks get the bootloader, the protected one never.
    assert_eq!(fresh.boot_disks, ["/dev/vda", "/dev/vdb"]);
    // Converged disks run under other names; the entries name the devices as they are mounted.
    let converged = plan(&layout(MIRROR), &inv, &protected, &mirror_done(), "/target").unwrap();
    assert_eq!(converged.fstab.iter().map(|e| e.device.as_str()).collect::<Vec<_>>(), ["/dev/dm-0", "/dev/md127", "/dev/dm-1", "/dev/vg0/swap"]);
    // Without a separate /boot the disks under / carry it.
    let single = layout(
        "bootloader: bios
disks:
  - id: a
    match: { serial: a }
    partitions: [{ id: a1, size: 1M, flags: [bios_grub] }, { id: a2, size: rest, fs: ext4, mount: / }]
",
    );
    assert_eq!(plan(&single, &inv, &protected, &Current::default(), "/target").unwrap().boot_disks, ["/dev/vda"]);
}

#[test]
fn a_mirror_with_an_esp_on_each_disk_mounts_one_and_keeps_the_other_spare() {
    let l = layout(
        "bootloader: uefi
disks:
  - id: a
    match: { serial: a }
    partitions:
      - { id: esp-a, size: 64M, flags: [esp], fs: vfat, mount: /boot/efi }
      - { id: a2, size: rest }
  - id: b
    match: { serial: b }
    partitions:
      - { id: esp-b, size: 64M, flags: [esp], fs: vfat }
      - { id: b2, size: rest }
raid:
  - { id: root, level: 1, members: [a2, b2], fs: ext4, mount: / }
",
    );
    let (inv, protected) = two_disks_and_a_protected_one();
    let plan = plan(&l, &inv, &protected, &Current::default(), "/target").unwrap();
    let c = commands(&plan);
    for (number, disk) in [(1, "/dev/vda"), (1, "/dev/vdb")] {
        assert!(c.iter().any(|s| s.starts_with(&format!("sgdisk --new={number}:")) && s.contains(&format!("--typecode={number}:EF00")) && s.ends_with(disk)), "{c:#?}");
    }
    assert!(c.contains(&"mkfs.vfat -F 32 /dev/vdb1".to_string()), "the spare ESP gets its filesystem: {c:#?}");
    assert_eq!(plan.fstab.iter().filter_map(|e| e.mount.as_deref().filter(|_| e.device == "/dev/vda1")).collect::<Vec<_>>(), ["/boot/efi"]);
    assert!(plan.fstab.iter().all(|e| e.device != "/dev/vdb1"), "the spare is not in the installed system's fstab: {:?}", plan.fstab);
    assert_eq!(plan.spare_esps, ["/dev/vdb1"]);
}
