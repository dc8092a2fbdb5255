//! SSH keys: root's `authorized_keys`, mode 0600 in a 0700 `.ssh`, as sshd's StrictModes expects.
use super::{Checked, Family, FileToWrite, Plugin, Rendered};

/// Writes `/root/.ssh/authorized_keys` when the config has keys.
pub struct SshKeys;

impl Plugin for SshKeys {
    fn name(&self) -> &'static str {
        "ssh_keys"
    }

    fn render(&self, config: Checked<'_>, _family: Family, out: &mut Rendered) {
        if config.ssh_authorized_keys.is_empty() {
            return;
        }
        let contents: String = config.ssh_authorized_keys.iter().map(|k| format!("{k}\n")).collect();
        out.files.push(FileToWrite { path: "/root/.ssh/authorized_keys".into(), mode: 0o600, contents: contents.into_bytes() });
    }
}
