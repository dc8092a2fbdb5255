//! What every image version carries besides its bytes: enough to tell, without opening the artifact,
//! what OS it is, what it was made from and what it descends from (the control plane picks the config
//! renderer by `family`; rollback and `image diff` read `parent` and `packages`).
use serde::{Deserialize, Serialize};

/// The OS family, which decides how node config is rendered and how the initramfs is regenerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Debian and derivatives (apt/dpkg, update-initramfs, ifupdown or systemd-networkd).
    Debian,
    /// Enterprise Linux: RHEL, Rocky, Alma (dnf/rpm, dracut, NetworkManager).
    El,
}

impl Family {
    /// The name the metadata, the API and the CLI use (`debian`, `el`).
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Debian => "debian",
            Family::El => "el",
        }
    }
}

/// Where a version's root filesystem came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Installed with `dnf --installroot` from an ISO held by the appliance.
    Iso {
        /// blake3 of the ISO, hex: its id in the ISO store.
        iso_blake3: String,
    },
    /// Built with debootstrap.
    Debootstrap {
        /// Debian suite (`bookworm`).
        suite: String,
        /// Mirror it was built from.
        mirror: String,
    },
    /// Captured from a running node.
    Captured {
        /// The node's name (or host name when it is not a known node).
        node: String,
    },
}

/// Metadata of one image version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageMeta {
    /// OS family.
    pub family: Family,
    /// Distribution release (`12`, `9.4`).
    pub release: String,
    /// Kernel versions found under `/lib/modules` (`uname -r` form).
    pub kernels: Vec<String>,
    /// Installed packages as `name version`, sorted.
    pub packages: Vec<String>,
    /// Role applied at build time, if any.
    pub role: Option<String>,
    /// What the root filesystem was made from.
    pub source: Source,
    /// Version this one was derived from (a capture of a node installed from it, a rebuild).
    pub parent_version: Option<u32>,
    /// Artifact size in bytes.
    pub size_bytes: u64,
    /// Creation time, seconds since the Unix epoch.
    pub created_unix_s: u64,
}

#[cfg(test)]
mod tests {
    use super::Family;

    #[test]
    fn family_names_are_the_serialised_ones() {
        for f in [Family::Debian, Family::El] {
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
        }
    }
}
