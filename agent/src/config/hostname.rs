//! The host name: `/etc/hostname`, read by systemd on both families.
use super::{Checked, Family, FileToWrite, Plugin, Rendered};

/// Writes `/etc/hostname` when the config names one.
pub struct Hostname;

impl Plugin for Hostname {
    fn name(&self) -> &'static str {
        "hostname"
    }

    fn render(&self, config: Checked<'_>, _family: Family, out: &mut Rendered) {
        if let Some(h) = &config.hostname {
            out.files.push(FileToWrite { path: "/etc/hostname".into(), mode: 0o644, contents: format!("{h}\n").into_bytes() });
        }
    }
}
