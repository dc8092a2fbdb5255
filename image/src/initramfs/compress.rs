//! The compressors an initramfs needs, run as the system's tools: `xz`/`zstd -dc` for compressed
//! modules (busybox's insmod reads plain `.ko`), and zstd for the archive itself, single-threaded so
//! the bytes never depend on the machine.
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// An external tool failed or is missing.
#[derive(Debug, thiserror::Error)]
#[error("{tool}: {reason}")]
pub struct ToolError {
    /// The tool and what it worked on.
    pub tool: String,
    /// Its error.
    pub reason: String,
}

/// The plain bytes of a module file, unpacked when its name says `.xz` or `.zst`; returns the name
/// without that suffix and the bytes.
pub fn plain_module(rel: &str, path: &Path) -> Result<(String, Vec<u8>), ToolError> {
    match rel.rsplit_once('.') {
        Some((stem, "xz")) => Ok((stem.to_string(), decompress("xz", path)?)),
        Some((stem, "zst")) => Ok((stem.to_string(), decompress("zstd", path)?)),
        _ => Ok((rel.to_string(), std::fs::read(path).map_err(|e| ToolError { tool: format!("reading {}", path.display()), reason: e.to_string() })?)),
    }
}

/// `tool -dc path`.
pub fn decompress(tool: &str, path: &Path) -> Result<Vec<u8>, ToolError> {
    let out = Command::new(tool).arg("-dc").arg(path).output().map_err(|e| ToolError { tool: tool.into(), reason: e.to_string() })?;
    if !out.status.success() {
        return Err(ToolError { tool: format!("{tool} -dc {}", path.display()), reason: String::from_utf8_lossy(&out.stderr).trim().to_string() });
    }
    Ok(out.stdout)
}

/// zstd at `level`, single-threaded so the bytes never depend on the machine.
pub fn zstd(data: &[u8], level: u32) -> Result<Vec<u8>, ToolError> {
    let tool = || ToolError { tool: "zstd".into(), reason: "not installed (Debian package zstd)".into() };
    let mut child = Command::new("zstd")
        .args([format!("-{level}"), "-q".into(), "-c".into(), "--no-progress".into()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|_| tool())?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let out = std::thread::scope(|s| {
        let writer = s.spawn(move || stdin.write_all(data));
        let out = child.wait_with_output();
        (writer.join().expect("the writer does not panic"), out)
    });
    match out {
        (Ok(()), Ok(out)) if out.status.success() => Ok(out.stdout),
        (_, Ok(out)) => Err(ToolError { tool: "zstd".into(), reason: String::from_utf8_lossy(&out.stderr).trim().to_string() }),
        (_, Err(e)) => Err(ToolError { tool: "zstd".into(), reason: e.to_string() }),
    }
}
