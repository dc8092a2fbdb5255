//! The node's hardware read from sysfs and procfs (no udev runs in the initramfs): whole disks with
//! size, model, serial, a by-path name derived the way udev's `path_id` does, and rotation; NICs with
//! MAC, carrier and speed; memory; CPUs. Roots are parameters so tests can read a made-up tree.
use std::path::Path;

use control::inventory::{Inventory, InventoryDisk, InventoryNic};

/// Kernel name prefixes of block devices that are not disks a layout can use.
const VIRTUAL_DISKS: &[&str] = &["loop", "ram", "zram", "sr", "fd", "md", "dm-", "nbd"];
/// sysfs reports sizes in these units whatever the disk's sector size.
const SYSFS_SECTOR_BYTES: u64 = 512;

/// Reads the inventory from `sys` (`/sys`) and `proc` (`/proc`).
pub fn collect(sys: &Path, proc: &Path) -> Inventory {
    let cpuinfo = read(&proc.join("cpuinfo"));
    Inventory {
        disks: disks(sys),
        nics: nics(sys),
        memory_bytes: read(&proc.join("meminfo"))
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024),
        cpus: cpuinfo.lines().filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor")).count() as u32,
        cpu_model: cpuinfo.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == "model name").map(|(_, v)| v.trim().to_string())).unwrap_or_default(),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).map(|d| d.filter_map(Result::ok).filter_map(|e| e.file_name().into_string().ok()).collect()).unwrap_or_default();
    names.sort();
    names
}

fn disks(sys: &Path) -> Vec<InventoryDisk> {
    let block = sys.join("block");
    names(&block)
        .into_iter()
        .filter(|n| !VIRTUAL_DISKS.iter().any(|p| n.starts_with(p)))
        .filter(|n| block.join(n).join("device").exists())
        .map(|name| {
            let dir = block.join(&name);
            let serial = [dir.join("serial"), dir.join("device/serial")].iter().map(|p| read(p)).find(|s| !s.is_empty()).unwrap_or_else(|| vpd_serial(&dir.join("device/vpd_pg80")));
            InventoryDisk {
                path: format!("/dev/{name}"),
                size_bytes: read(&dir.join("size")).parse::<u64>().unwrap_or(0) * SYSFS_SECTOR_BYTES,
                model: read(&dir.join("device/model")),
                serial,
                by_path: std::fs::canonicalize(&dir).ok().and_then(|p| by_path(&p.to_string_lossy(), &name, sys)),
                rotational: read(&dir.join("queue/rotational")) == "1",
                name,
            }
        })
        .collect()
}

/// The unit serial number from SCSI VPD page 0x80 (SATA and SAS disks): a 4-byte header, then ASCII.
fn vpd_serial(path: &Path) -> String {
    std::fs::read(path).ok().filter(|b| b.len() > 4).map(|b| String::from_utf8_lossy(&b[4..]).trim_matches(|c: char| c.is_whitespace() || c == '\0').to_string()).unwrap_or_default()
}

fn is_pci_address(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12 && b[4] == b':' && b[7] == b':' && b[10] == b'.' && s.chars().enumerate().all(|(i, c)| [4, 7, 10].contains(&i) || c.is_ascii_hexdigit())
}

/// `/dev/disk/by-path/...` for the disk at sysfs device path `dev` (canonical), as udev names it:
/// `pci-<addr>` for virtio, `pci-<addr>-nvme-<ns>`, `pci-<addr>-ata-<port>`, `pci-<addr>-scsi-0:<c>:<t>:<l>`.
fn by_path(dev: &str, name: &str, sys: &Path) -> Option<String> {
    let parts: Vec<&str> = dev.split('/').collect();
    let pci = parts.iter().rev().find(|p| is_pci_address(p))?;
    let hctl = parts.iter().find(|p| p.split(':').count() == 4 && p.split(':').all(|n| n.parse::<u32>().is_ok()));
    let suffix = if let Some(ns) = name.strip_prefix("nvme").and_then(|r| r.split_once('n')).map(|(_, ns)| ns) {
        format!("-nvme-{ns}")
    } else if let Some(ata) = parts.iter().find_map(|p| p.strip_prefix("ata").filter(|n| n.parse::<u32>().is_ok())) {
        let port = read(&sys.join(format!("class/ata_port/ata{ata}/port_no")));
        format!("-ata-{}", if port.is_empty() { ata.to_string() } else { port })
    } else if let Some(hctl) = hctl {
        let ctl: Vec<&str> = hctl.split(':').skip(1).collect();
        format!("-scsi-0:{}", ctl.join(":"))
    } else {
        String::new()
    };
    Some(format!("/dev/disk/by-path/pci-{pci}{suffix}"))
}

fn nics(sys: &Path) -> Vec<InventoryNic> {
    let net = sys.join("class/net");
    names(&net)
        .into_iter()
        .filter(|n| n != "lo" && net.join(n).join("device").exists())
        .map(|name| {
            let dir = net.join(&name);
            InventoryNic {
                mac: read(&dir.join("address")).to_ascii_lowercase(),
                link: read(&dir.join("carrier")) == "1",
                speed_mbps: read(&dir.join("speed")).parse::<i64>().ok().filter(|s| *s > 0).map(|s| s as u32),
                name,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    /// A sysfs tree as a VM with two virtio disks, an NVMe disk, a SATA disk, a loop device and one
    /// virtio NIC shows it.
    #[test]
    fn reads_a_made_up_sysfs() {
        let t = tempfile::tempdir().unwrap();
        let (sys, proc) = (t.path().join("sys"), t.path().join("proc"));
        let pci = "devices/pci0000:00";
        for (name, dev) in [
            ("vda", format!("{pci}/0000:00:04.0/virtio2/block/vda")),
            ("vdb", format!("{pci}/0000:00:05.0/virtio3/block/vdb")),
            ("nvme0n1", format!("{pci}/0000:00:06.0/nvme/nvme0/nvme0n1")),
            ("sda", format!("{pci}/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0/block/sda")),
        ] {
            fs::create_dir_all(sys.join(&dev).join("device")).unwrap();
            write(&sys, &format!("{dev}/size"), "16777216\n");
            write(&sys, &format!("{dev}/queue/rotational"), if name == "sda" { "1\n" } else { "0\n" });
            fs::create_dir_all(sys.join("block")).unwrap();
            std::os::unix::fs::symlink(format!("../{dev}"), sys.join("block").join(name)).unwrap();
        }
        write(&sys, &format!("{pci}/0000:00:04.0/virtio2/block/vda/serial"), "disk-a\n");
        write(&sys, &format!("{pci}/0000:00:06.0/nvme/nvme0/nvme0n1/device/serial"), "  NV123  \n");
        write(&sys, &format!("{pci}/0000:00:06.0/nvme/nvme0/nvme0n1/device/model"), "QEMU NVMe Ctrl\n");
        let mut vpd = vec![0, 0x80, 0, 8];
        vpd.extend_from_slice(b"SATA42  ");
        fs::write(sys.join(format!("{pci}/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0/block/sda/device/vpd_pg80")), vpd).unwrap();
        write(&sys, "class/ata_port/ata3/port_no", "1\n");
        fs::create_dir_all(sys.join("devices/virtual/block/loop0")).unwrap();
        std::os::unix::fs::symlink("../devices/virtual/block/loop0", sys.join("block/loop0")).unwrap();
        for (nic, mac, carrier) in [("eth0", "52:54:00:AA:BB:01", "1"), ("lo", "00:00:00:00:00:00", "1")] {
            fs::create_dir_all(sys.join(format!("class/net/{nic}/device"))).unwrap();
            write(&sys, &format!("class/net/{nic}/address"), mac);
            write(&sys, &format!("class/net/{nic}/carrier"), carrier);
        }
        write(&sys, "class/net/eth0/speed", "-1\n");
        write(&proc, "meminfo", "MemTotal:        1012345 kB\nMemFree: 1 kB\n");
        write(&proc, "cpuinfo", "processor\t: 0\nmodel name\t: QEMU TCG CPU\n\nprocessor\t: 1\nmodel name\t: QEMU TCG CPU\n");

        let inv = collect(&sys, &proc);
        let names: Vec<_> = inv.disks.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["nvme0n1", "sda", "vda", "vdb"]);
        let by_path: Vec<_> = inv.disks.iter().map(|d| d.by_path.clone().unwrap()).collect();
        assert_eq!(
            by_path,
            [
                "/dev/disk/by-path/pci-0000:00:06.0-nvme-1",
                "/dev/disk/by-path/pci-0000:00:1f.2-ata-1",
                "/dev/disk/by-path/pci-0000:00:04.0",
                "/dev/disk/by-path/pci-0000:00:05.0",
            ]
        );
        let serials: Vec<_> = inv.disks.iter().map(|d| d.serial.as_str()).collect();
        assert_eq!(serials, ["NV123", "SATA42", "disk-a", ""]);
        assert_eq!(inv.disks[0].model, "QEMU NVMe Ctrl");
        assert!(inv.disks.iter().all(|d| d.size_bytes == 8 << 30 && d.path == format!("/dev/{}", d.name)));
        assert_eq!(inv.disks.iter().map(|d| d.rotational).collect::<Vec<_>>(), [false, true, false, false]);
        assert_eq!(inv.nics, [InventoryNic { name: "eth0".into(), mac: "52:54:00:aa:bb:01".into(), link: true, speed_mbps: None }]);
        assert_eq!((inv.memory_bytes, inv.cpus, inv.cpu_model.as_str()), (1012345 * 1024, 2, "QEMU TCG CPU"));
    }

    #[test]
    fn the_host_has_memory_and_cpus() {
        let inv = collect(Path::new("/sys"), Path::new("/proc"));
        assert!(inv.memory_bytes > 0 && inv.cpus > 0, "{inv:?}");
    }
}
