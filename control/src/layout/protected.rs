//! A node's own list of disks that no layout may touch, kept with the node rather than the layout so
//! that one layout can serve machines whose data disks differ.
use serde::{Deserialize, Serialize};

use crate::inventory::InventoryDisk;

/// Disks of one node that are never chosen and never written: each entry is a device path
/// (`/dev/sdc`), a by-path path, a kernel name (`sdc`) or a serial number, compared exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Protected(pub Vec<String>);

impl Protected {
    /// The entry that names `disk`, if any.
    pub fn entry_for(&self, disk: &InventoryDisk) -> Option<&str> {
        self.0.iter().map(String::as_str).find(|e| {
            !e.is_empty() && (*e == disk.path || *e == disk.name || *e == disk.serial || disk.by_path.as_deref() == Some(*e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_disk_by_path_name_serial_or_by_path() {
        let disk = InventoryDisk {
            name: "vdc".into(),
            path: "/dev/vdc".into(),
            serial: "keep-me".into(),
            by_path: Some("/dev/disk/by-path/pci-0000:00:06.0".into()),
            ..Default::default()
        };
        for entry in ["/dev/vdc", "vdc", "keep-me", "/dev/disk/by-path/pci-0000:00:06.0"] {
            assert_eq!(Protected(vec!["x".into(), entry.into()]).entry_for(&disk), Some(entry));
        }
        assert_eq!(Protected(vec!["/dev/vdb".into(), String::new()]).entry_for(&InventoryDisk { serial: String::new(), ..disk }), None);
    }
}
