//! Files the operator places by path: written as given, owned by root.
use super::{Checked, Family, FileToWrite, Plugin, Rendered};

/// Writes every file of the config's `files`.
pub struct Files;

impl Plugin for Files {
    fn name(&self) -> &'static str {
        "files"
    }

    fn render(&self, config: Checked<'_>, _family: Family, out: &mut Rendered) {
        for f in &config.files {
            // Checked::new already refused a mode that does not parse.
            let mode = f.mode_bits().unwrap_or(0o644);
            out.files.push(FileToWrite { path: f.path.clone(), mode, contents: f.content.clone().into_bytes() });
        }
    }
}
