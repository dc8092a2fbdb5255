//! Kernel modules for the initramfs: the ones a node needs, with every dependency `modules.dep` names,
//! in an order that `insmod` can load one by one (dependencies first), since the initramfs has no
//! `modprobe` database of its own.
use std::collections::{BTreeMap, BTreeSet};

/// `modules.dep` is unreadable or lacks a module the node needs.
#[derive(Debug, thiserror::Error)]
#[error("kernel modules: {0}")]
pub struct ModulesError(pub String);

/// Modules a node needs to find its disks and NIC, assemble RAID and LVM, and mount what it installs:
/// virtio (with the failover pair virtio_net needs), NVMe, AHCI/SCSI disks, common server NICs, MD
/// RAID of every level, device-mapper, the filesystems layouts make and images ship as (with the
/// code pages vfat mounts with: Debian's default iocharset is ascii), and loop.
/// `crc32c_generic` comes first: libcrc32c (needed by raid456, xfs, erofs) fails to load without a
/// crc32c implementation, and modules.dep cannot say so.
pub const NODE_MODULES: &[&str] = &[
    "crc32c_generic", "virtio_pci", "virtio_blk", "virtio_net", "virtio_scsi", "failover", "net_failover",
    "nvme", "ahci", "sd_mod",
    "e1000", "e1000e", "igb", "ixgbe",
    "md_mod", "raid0", "raid1", "raid10", "raid456", "dm_mod",
    "ext4", "xfs", "vfat", "nls_cp437", "nls_ascii", "nls_iso8859_1", "squashfs", "erofs", "overlay", "loop",
];

/// Module names compare with `-` and `_` alike (`dm-mod` is `dm_mod`).
fn normalise(name: &str) -> String {
    name.replace('-', "_")
}

/// A module's name from its path in `modules.dep` (`kernel/drivers/md/dm-mod.ko.xz` → `dm_mod`).
fn name_of(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    normalise(file.split(".ko").next().unwrap_or(file))
}

/// `modules.dep` read into name → (path, dependency paths).
#[derive(Debug)]
pub struct ModuleDeps {
    modules: BTreeMap<String, (String, Vec<String>)>,
    builtin: BTreeSet<String>,
}

impl ModuleDeps {
    /// Parses `modules.dep` and `modules.builtin` (paths relative to the module directory).
    pub fn parse(dep: &str, builtin: &str) -> Result<Self, ModulesError> {
        let mut modules = BTreeMap::new();
        for (i, line) in dep.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let (path, deps) = line.split_once(':').ok_or_else(|| ModulesError(format!("modules.dep line {}: no ':' in {line:?}", i + 1)))?;
            let deps = deps.split_whitespace().map(str::to_string).collect();
            modules.insert(name_of(path), (path.to_string(), deps));
        }
        let builtin = builtin.lines().filter(|l| !l.trim().is_empty()).map(name_of).collect();
        Ok(ModuleDeps { modules, builtin })
    }

    /// Paths of `wanted` and all their dependencies, each once, dependencies before the modules that
    /// need them. Built-in modules need no file; a module that is neither is an error.
    pub fn load_order(&self, wanted: &[&str]) -> Result<Vec<String>, ModulesError> {
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        for name in wanted {
            let name = normalise(name);
            if self.builtin.contains(&name) && !self.modules.contains_key(&name) {
                continue;
            }
            self.visit(&name, &mut seen, &mut order)?;
        }
        Ok(order)
    }

    /// Splits `wanted` into the modules this kernel has (as a file or built in) and those it lacks: an
    /// image's own kernel may be built without one the agent's carries, and a node then boots
    /// without it rather than not at all.
    pub fn split_known<'a>(&self, wanted: &[&'a str]) -> (Vec<&'a str>, Vec<&'a str>) {
        wanted.iter().partition(|name| {
            let name = normalise(name);
            self.modules.contains_key(&name) || self.builtin.contains(&name)
        })
    }

    fn visit(&self, name: &str, seen: &mut BTreeSet<String>, order: &mut Vec<String>) -> Result<(), ModulesError> {
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        let (path, deps) = self.modules.get(name).ok_or_else(|| ModulesError(format!("module {name} is neither in modules.dep nor built in")))?;
        for dep in deps {
            self.visit(&name_of(dep), seen, order)?;
        }
        order.push(path.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/drivers/md/raid1.ko: kernel/drivers/md/md-mod.ko\n\
        kernel/drivers/md/md-mod.ko:\n\
        kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz kernel/net/core/failover.ko.xz\n\
        kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz\n\
        kernel/net/core/failover.ko.xz:\n";

    #[test]
    fn dependencies_load_first_and_once() {
        let deps = ModuleDeps::parse(DEP, "kernel/drivers/block/loop.ko\n").unwrap();
        let order = deps.load_order(&["virtio_net", "raid1", "md-mod", "loop"]).unwrap();
        assert_eq!(
            order,
            [
                "kernel/net/core/failover.ko.xz".to_string(),
                "kernel/drivers/net/net_failover.ko.xz".into(),
                "kernel/drivers/net/virtio_net.ko.xz".into(),
                "kernel/drivers/md/md-mod.ko".into(),
                "kernel/drivers/md/raid1.ko".into(),
            ]
        );
    }

    #[test]
    fn modules_a_kernel_lacks_are_set_apart() {
        let deps = ModuleDeps::parse(DEP, "kernel/drivers/block/loop.ko\n").unwrap();
        let (known, missing) = deps.split_known(&["raid1", "loop", "erofs", "virtio-net"]);
        assert_eq!((known, missing), (vec!["raid1", "loop", "virtio-net"], vec!["erofs"]));
    }

    #[test]
    fn a_missing_module_is_named() {
        let deps = ModuleDeps::parse(DEP, "").unwrap();
        let err = deps.load_order(&["nvme"]).unwrap_err().to_string();
        assert!(err.contains("module nvme is neither"), "{err}");
        assert!(ModuleDeps::parse("no colon here\n", "").is_err());
    }
}
