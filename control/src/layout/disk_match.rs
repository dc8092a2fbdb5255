//! Whether a disk from a node's inventory satisfies a layout disk's match rules.
use super::DiskMatch;
use super::size::{Bound, parse_bound};
use crate::inventory::InventoryDisk;

/// Folder of the stable by-path names, which `by_path` may leave out.
const BY_PATH_DIR: &str = "/dev/disk/by-path/";

impl DiskMatch {
    /// True when every rule given holds for `disk`. A rule that does not parse matches nothing (layouts
    /// are checked on upload, so that only happens to a hand-made one).
    pub fn matches(&self, disk: &InventoryDisk) -> bool {
        let path_ok = self.path.as_deref().is_none_or(|p| p == disk.path || disk.by_path.as_deref() == Some(p));
        let by_path_ok = self.by_path.as_deref().is_none_or(|want| {
            let want = want.strip_prefix(BY_PATH_DIR).unwrap_or(want);
            disk.by_path.as_deref().is_some_and(|have| glob(want, have.strip_prefix(BY_PATH_DIR).unwrap_or(have)))
        });
        let model_ok = self.model.as_deref().is_none_or(|m| glob(m, &disk.model));
        let serial_ok = self.serial.as_deref().is_none_or(|s| glob(s, &disk.serial));
        let size_ok = self.size.as_deref().is_none_or(|s| match parse_bound(s) {
            Ok(Bound::AtLeast(n)) => disk.size_bytes >= n,
            Ok(Bound::AtMost(n)) => disk.size_bytes <= n,
            Ok(Bound::Exactly(n)) => disk.size_bytes == n,
            Err(_) => false,
        });
        path_ok && by_path_ok && model_ok && serial_ok && size_ok
    }
}

/// Matches `text` against `pattern`, where `*` stands for any run of characters (as in shell globs).
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let middle: Vec<&str> = parts.collect();
    let Some((last, middle)) = middle.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk() -> InventoryDisk {
        InventoryDisk {
            name: "sda".into(),
            path: "/dev/sda".into(),
            size_bytes: 480 << 30,
            model: "SAMSUNG MZ7LH480".into(),
            serial: "S45NNA0M123456".into(),
            by_path: Some("/dev/disk/by-path/pci-0000:00:1f.2-ata-1".into()),
            rotational: false,
        }
    }

    #[test]
    fn globs() {
        assert!(glob("SAMSUNG*", "SAMSUNG MZ7"));
        assert!(glob("*MZ7*", "SAMSUNG MZ7LH"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "abc"));
        assert!(!glob("a*b*c", "acb"));
        assert!(!glob("ab*ba", "aba"), "the prefix and suffix may not share characters");
        assert!(!glob("SAMSUNG", "SAMSUNG MZ7"), "no wildcard: whole string");
    }

    #[test]
    fn every_rule_must_hold() {
        let m = |yaml: &str| serde_norway::from_str::<DiskMatch>(yaml).unwrap().matches(&disk());
        assert!(m("{ size: '>=400G', model: 'SAMSUNG*' }"));
        assert!(!m("{ size: '>=500G', model: 'SAMSUNG*' }"));
        assert!(m("{ size: '<=480G' }"));
        assert!(m("{ size: 480G }"));
        assert!(m("{ serial: 'S45NNA0M*' }"));
        assert!(!m("{ serial: 'X*' }"));
        assert!(m("{ path: /dev/sda }"));
        assert!(m("{ path: '/dev/disk/by-path/pci-0000:00:1f.2-ata-1' }"));
        assert!(m("{ by_path: 'pci-0000:00:1f.2-ata-*' }"));
        assert!(m("{ by_path: '/dev/disk/by-path/pci-0000:00:1f.2-ata-1' }"));
        assert!(!m("{ by_path: 'pci-0000:00:04.0' }"));
        assert!(!m("{ path: /dev/sdb }"));
        assert!(!m("{ size: 'lots' }"));
    }
}
