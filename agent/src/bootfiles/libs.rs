//! The shared libraries a binary needs, as `ldd` names them: no musl toolchain can be had here, so the
//! initramfs carries glibc binaries with their libraries, as dracut does.
use std::path::{Path, PathBuf};
use std::process::Command;

use super::BootFilesError;

/// Library paths `ldd` prints for `binary`; empty for a static binary.
pub fn needed(binary: &Path) -> Result<Vec<PathBuf>, BootFilesError> {
    let out = Command::new("ldd").arg(binary).output().map_err(|e| BootFilesError::Tool { tool: "ldd".into(), reason: e.to_string() })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // glibc's ldd says so and exits 1 for static binaries.
        let all = format!("{text}{}", String::from_utf8_lossy(&out.stderr));
        if all.contains("not a dynamic executable") || all.contains("statically linked") {
            return Ok(Vec::new());
        }
        return Err(BootFilesError::Tool { tool: format!("ldd {}", binary.display()), reason: all.trim().to_string() });
    }
    parse(&text).map_err(|lib| BootFilesError::MissingLibrary { binary: binary.to_path_buf(), lib })
}

/// Paths in `ldd` output; `Err(name)` for a library it could not find.
fn parse(text: &str) -> Result<Vec<PathBuf>, String> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(name.trim().to_string());
                }
                rest
            }
            None => line,
        };
        let path = target.split(" (").next().unwrap_or("").trim();
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_paths_and_skips_the_vdso() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd5b3e0000)\n\
            \tlibblkid.so.1 => /lib/x86_64-linux-gnu/libblkid.so.1 (0x00007f0c)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f0c4)\n";
        assert_eq!(parse(text).unwrap(), [PathBuf::from("/lib/x86_64-linux-gnu/libblkid.so.1"), PathBuf::from("/lib64/ld-linux-x86-64.so.2")]);
        assert_eq!(parse("\tlibfoo.so.2 => not found\n").unwrap_err(), "libfoo.so.2");
    }

    #[test]
    fn a_real_binary_needs_libc() {
        let libs = needed(Path::new("/bin/sh")).unwrap();
        assert!(libs.iter().any(|l| l.to_string_lossy().contains("libc.so")), "{libs:?}");
    }
}
