//! NFS mounts: fstab lines, the same on both families (systemd's fstab generator orders them after the
//! network and creates missing mount points).
use std::net::IpAddr;

use super::{Checked, Family, Plugin, Rendered};

/// Adds one fstab line per NFS mount.
pub struct Nfs;

impl Plugin for Nfs {
    fn name(&self) -> &'static str {
        "nfs"
    }

    fn render(&self, config: Checked<'_>, _family: Family, out: &mut Rendered) {
        for m in &config.nfs_mounts {
            // An IPv6 server goes in brackets, or mount.nfs reads its colons as the export separator.
            let server = match m.server.parse::<IpAddr>() {
                Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
                _ => m.server.clone(),
            };
            let options = m.options.as_deref().unwrap_or("defaults");
            out.fstab.push(format!("{server}:{} {} nfs {options} 0 0", m.export, m.mount_point));
        }
    }
}
