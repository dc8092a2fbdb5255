//! Layout validation on upload: good examples are stored, each bad one is refused with its message.
use crate::util::{Body, TestServer, layout_file};

/// Each bad example and the message it must produce.
const BAD: &[(&str, &str)] = &[
    ("overlap.yaml", "disk \"sda\": partition \"root\" starts at 1 MiB but partition \"grub\" ends at 2 MiB: they overlap"),
    ("too-big.yaml", "disk \"sda\": partitions need 120.0 GiB but a matching disk may be only 100 GiB"),
    ("unknown-ref.yaml", "raid \"md0\" refers to unknown device \"sdz9\""),
    ("raid-members.yaml", "raid \"md0\": RAID 6 needs at least 4 members, it has 3"),
    ("raid-level.yaml", "raid \"md0\": level 4 is not supported (use 0, 1, 5, 6 or 10)"),
    ("no-root.yaml", "no filesystem is mounted at \"/\""),
    ("used-twice.yaml", "device \"a3\" is used by both raid \"md0\" and vg \"vg0\""),
    ("missing-esp.yaml", "bootloader uefi needs an EFI system partition mounted at /boot/efi: a vfat partition with flags [esp] and mount /boot/efi"),
    ("rest-not-last.yaml", "disk \"sda\" partition \"root\": only the last entry may use size 'rest'"),
    ("swap-mounted.yaml", "partition \"swap\": swap cannot have a mount point"),
    ("fs-on-member.yaml", "partition \"a2\" is used by raid \"md0\", so it cannot carry a filesystem or mount point"),
    ("duplicate-mount.yaml", "mount point \"/\" is used by both partition \"r1\" and partition \"r2\""),
    ("bad-size.yaml", "disk \"sda\" partition \"root\": invalid size \"1.5Gb\": unknown unit \"Gb\": use K, M, G, T, P (binary, also KiB…PiB) or kB, MB, GB, TB, PB (decimal)"),
    ("unknown-field.yaml", "unknown field `sise`"),
    ("lv-too-big.yaml", "vg \"vg0\": logical volumes need 2 TiB but its physical volumes hold only 0 B (after LVM metadata)"),
    ("raid-mismatch.yaml", "raid \"md0\": member \"small\" is 1 GiB but \"big\" is 100 GiB"),
    ("vg-too-small.yaml", "vg \"vg0\": logical volumes need 500 GiB but its physical volumes may hold only 399.9 GiB (after LVM metadata)"),
    ("protected-used.yaml", "disk \"keep\" is protected, so it cannot have partitions or be used by RAID or LVM"),
];

#[test]
fn good_layouts_are_stored_as_written() {
    let ts = TestServer::start();
    for (name, file) in [("mirror", "good/uefi-raid1-lvm.yaml"), ("bios", "good/bios-single.yaml"), ("r6", "good/raid6-whole-disks.yaml")] {
        let body = layout_file(file);
        let r = ts.request("POST", "/api/v1/layouts/validate", Some(&ts.admin), Body::Raw("application/yaml", &body));
        assert_eq!(r.expect(200).json()["valid"], true, "{file}");
        ts.put_layout(name, file).expect(201);
        assert_eq!(ts.get(&format!("/api/v1/layouts/{name}")).expect(200).body, body, "comments and all");
    }
    assert_eq!(ts.put_layout("bios", "good/bios-single.yaml").expect(409).error(), "layout bios already exists (use --replace, or ?replace=true, to overwrite it)");
    let body = layout_file("good/uefi-raid1-lvm.yaml");
    ts.request("PUT", "/api/v1/layouts/bios?replace=true", Some(&ts.admin), Body::Raw("application/yaml", &body)).expect(201);
    assert_eq!(ts.get("/api/v1/layouts/bios").body, body);
}

#[test]
fn each_bad_layout_is_refused_with_its_message() {
    let ts = TestServer::start();
    for (file, message) in BAD {
        let r = ts.put_layout("bad", &format!("bad/{file}")).expect(422);
        let details: Vec<String> = r.json()["details"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect();
        assert!(details.iter().any(|d| d.contains(message)), "{file}: expected {message:?} in {details:#?}");
        let v = ts.request("POST", "/api/v1/layouts/validate", Some(&ts.admin), Body::Raw("application/yaml", &layout_file(&format!("bad/{file}"))));
        assert_eq!(v.expect(422).json()["details"], r.json()["details"], "{file}: validate and upload agree");
    }
    assert_eq!(ts.get("/api/v1/layouts").json(), serde_json::json!([]), "nothing stored");
}

#[test]
fn all_problems_are_reported_at_once() {
    let yaml = "bootloader: uefi\ndisks:\n  - id: a\n    match: {}\n    partitions:\n      - { id: p, size: 0M }\n";
    let errors: Vec<String> = control::layout::parse(yaml).unwrap_err().iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        vec![
            "disk \"a\" has an empty match: give at least one of path, by_path, model, serial, size",
            "disk \"a\" partition \"p\": invalid size \"0M\": size must be greater than zero",
            "no filesystem is mounted at \"/\"",
            "bootloader uefi needs an EFI system partition mounted at /boot/efi: a vfat partition with flags [esp] and mount /boot/efi",
        ]
    );
}
