//! Running squashfs-tools: their output is kept only to explain a failure.
use std::process::Command;

use super::ArtifactError;

/// How much of a failing tool's stderr an error carries.
const STDERR_TAIL_BYTES: usize = 2000;

/// Runs `command` (named `tool` in errors) to completion; a non-zero exit is an error that carries
/// the end of its stderr (squashfs-tools exit 2 on "non-fatal" errors such as an xattr not restored,
/// which for an OS image is not acceptable).
pub(super) fn run(tool: &'static str, command: &mut Command) -> Result<(), ArtifactError> {
    let out = command.output().map_err(|source| ArtifactError::Spawn { tool, source })?;
    if out.status.success() {
        return Ok(());
    }
    let text = if out.stderr.iter().all(u8::is_ascii_whitespace) { &out.stdout } else { &out.stderr };
    let tail = String::from_utf8_lossy(&text[text.len().saturating_sub(STDERR_TAIL_BYTES)..]).trim().to_string();
    Err(ArtifactError::Tool { tool, status: out.status, stderr: tail })
}
