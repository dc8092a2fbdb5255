//! A node's hardware as its agent reports it: what layouts are matched against (disks by size, model,
//! serial or by-path) and what an admin reads in `fountain node discovered` before adopting a machine.
//! The agent fills it from sysfs and procfs; the control plane stores it as JSON.
use serde::{Deserialize, Serialize};

/// Everything the agent reports about a node's hardware.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Block devices that can hold a layout (whole disks, not partitions, loop or ram devices).
    pub disks: Vec<InventoryDisk>,
    /// Network interfaces other than loopback.
    pub nics: Vec<InventoryNic>,
    /// Installed memory in bytes (`MemTotal`).
    pub memory_bytes: u64,
    /// Logical CPUs.
    pub cpus: u32,
    /// CPU model name, as `/proc/cpuinfo` gives it.
    pub cpu_model: String,
}

/// One whole disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDisk {
    /// Kernel name (`vda`, `nvme0n1`, `sda`).
    pub name: String,
    /// Device node (`/dev/vda`).
    pub path: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Model string, trimmed; empty when the device gives none.
    pub model: String,
    /// Serial number, trimmed; empty when the device gives none.
    pub serial: String,
    /// Stable path (`/dev/disk/by-path/pci-0000:00:04.0`), when it can be derived.
    pub by_path: Option<String>,
    /// Spinning disk (`queue/rotational`).
    pub rotational: bool,
}

/// One network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryNic {
    /// Kernel name (`eth0`, `enp0s3`).
    pub name: String,
    /// MAC address, lower-case `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// Carrier up.
    pub link: bool,
    /// Link speed in Mbit/s when the driver reports it.
    pub speed_mbps: Option<u32>,
}
