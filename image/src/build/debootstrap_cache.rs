//! The debootstrapped base system, kept between builds: a debootstrap downloads and unpacks a few
//! hundred megabytes (~90 s here), and every build of the same suite, mirror and package set would
//! produce the same thing. Entries are keyed by a hash of those inputs and appear atomically (built
//! under a temporary name, then renamed), so a killed build never leaves a half base that a later one
//! would reuse.
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{BuildError, remove_work};
use crate::command;

/// How long a debootstrap may take before it is given up (a stalled mirror must not hang a build).
pub const DEBOOTSTRAP_TIMEOUT_S: u64 = 1800;

/// What a base system is made from.
#[derive(Debug, Clone)]
pub struct BaseSpec<'a> {
    /// Debian suite.
    pub suite: &'a str,
    /// Mirror URL.
    pub mirror: &'a str,
    /// Packages added to the minbase variant.
    pub include: &'a [&'a str],
}

impl BaseSpec<'_> {
    /// The cache key: a hash of everything that decides the result.
    pub fn key(&self) -> String {
        let mut include: Vec<&str> = self.include.to_vec();
        include.sort_unstable();
        let text = format!("minbase\namd64\n{}\n{}\n{}\n", self.suite, self.mirror, include.join(","));
        blake3::hash(text.as_bytes()).to_hex()[..16].to_owned()
    }
}

/// The root of the cached base system for `spec` under `cache_dir`, debootstrapping it first when it
/// is not there yet. Returns whether it was reused.
pub fn base(cache_dir: &Path, spec: &BaseSpec<'_>) -> Result<(PathBuf, bool), BuildError> {
    // debootstrap resolves a relative target by entering its parent, which does not exist yet.
    let cache_dir = &std::path::absolute(cache_dir).map_err(BuildError::io(format!("resolving {}", cache_dir.display())))?;
    let done = cache_dir.join(format!("debootstrap-{}", spec.key()));
    if done.join("root/var/lib/dpkg/status").exists() {
        tracing::info!(base = %done.display(), "reusing the debootstrapped base");
        return Ok((done.join("root"), true));
    }
    std::fs::create_dir_all(cache_dir).map_err(BuildError::io(format!("creating {}", cache_dir.display())))?;
    let partial = cache_dir.join(format!("debootstrap-{}.partial-{}", spec.key(), std::process::id()));
    if partial.exists() {
        remove_work(&partial)?;
    }
    // debootstrap mounts /proc and /sys in the target: in a private mount namespace those mounts go
    // away with it, even when it is killed, and a stale partial tree can be removed safely.
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "timeout", "--kill-after=10"]);
    cmd.args([&DEBOOTSTRAP_TIMEOUT_S.to_string(), "debootstrap", "--variant=minbase", "--arch=amd64"]);
    cmd.arg(format!("--include={}", spec.include.join(",")));
    cmd.arg(spec.suite).arg(partial.join("root")).arg(spec.mirror);
    let result = command::run(&format!("debootstrap {} from {}", spec.suite, spec.mirror), &mut cmd);
    if let Err(e) = result {
        // The partial tree is of no use; failing to remove it only costs disk space.
        let _ = remove_work(&partial);
        return Err(e.into());
    }
    match std::fs::rename(&partial, &done) {
        Ok(()) => {}
        // Another build of the same base finished first: use its copy.
        Err(_) if done.join("root/var/lib/dpkg/status").exists() => {
            let _ = remove_work(&partial);
        }
        Err(e) => return Err(BuildError::io("storing the debootstrapped base")(e)),
    }
    Ok((done.join("root"), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_ignores_package_order_and_sees_everything_else() {
        let a = BaseSpec { suite: "bookworm", mirror: "http://m/debian", include: &["lvm2", "mdadm"] };
        let b = BaseSpec { include: &["mdadm", "lvm2"], ..a.clone() };
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), BaseSpec { suite: "trixie", ..a.clone() }.key());
        assert_ne!(a.key(), BaseSpec { mirror: "http://n/debian", ..a.clone() }.key());
        assert_ne!(a.key(), BaseSpec { include: &["mdadm"], ..a.clone() }.key());
    }
}
