//! Reading an image root's metadata from the root itself (not from what the build asked for), so that
//! built and captured images are described the same way.
use std::path::Path;
use std::process::Command;

use super::{BuildError, now_unix_s};
use crate::command;
use crate::meta::{Family, ImageMeta, Source};
use crate::rootfs;

/// Metadata of the root at `root`: release from os-release, kernels from `/lib/modules`, packages from
/// the image's own package database (read with the host's dpkg-query or rpm).
pub fn inspect(root: &Path, family: Family, role: Option<String>, source: Source) -> Result<ImageMeta, BuildError> {
    Ok(ImageMeta {
        family,
        release: release(root),
        kernels: kernels(root)?,
        packages: packages(root, family)?,
        role,
        source,
        parent_version: None,
        size_bytes: 0,
        created_unix_s: now_unix_s(),
    })
}

/// `VERSION_ID` of os-release; Debian testing and sid have none, so `etc/debian_version` then.
fn release(root: &Path) -> String {
    let from_os_release = rootfs::os_release(root).into_iter().find(|(k, _)| k == "VERSION_ID").map(|(_, v)| v);
    from_os_release
        .or_else(|| std::fs::read_to_string(root.join("etc/debian_version")).ok().map(|s| s.trim().to_owned()))
        .unwrap_or_default()
}

/// Kernel versions: the folders of `/lib/modules` (through the image's `lib -> usr/lib` link) that hold
/// a kernel's module list, sorted.
fn kernels(root: &Path) -> Result<Vec<String>, BuildError> {
    let modules = rootfs::resolve(root, Path::new("/lib/modules")).map_err(|e| BuildError::Io {
        what: "finding /lib/modules".into(),
        source: std::io::Error::other(e),
    })?;
    let Ok(entries) = std::fs::read_dir(&modules) else { return Ok(Vec::new()) };
    let mut kernels = Vec::new();
    for entry in entries {
        let entry = entry.map_err(BuildError::io("reading /lib/modules"))?;
        if entry.path().join("modules.order").exists() || entry.path().join("kernel").is_dir() {
            kernels.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    kernels.sort();
    Ok(kernels)
}

/// Installed packages as `name version`, sorted.
fn packages(root: &Path, family: Family) -> Result<Vec<String>, BuildError> {
    let out = match family {
        Family::Debian => {
            let mut cmd = Command::new("dpkg-query");
            cmd.arg("--admindir").arg(root.join("var/lib/dpkg"));
            cmd.args(["-W", "-f", "${db:Status-Abbrev} ${Package} ${Version}\n"]);
            command::run("listing the image's packages", &mut cmd)?
        }
        Family::El => {
            let mut cmd = el_rpm();
            cmd.arg("--root").arg(root).args(["-qa", "--qf", "ii %{NAME} %{VERSION}-%{RELEASE}\n"]);
            command::run("listing the image's packages", &mut cmd)?
        }
    };
    let mut packages: Vec<String> = String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.strip_prefix("ii "))
        .map(|l| l.trim().to_owned())
        .collect();
    packages.sort();
    Ok(packages)
}

/// The host's `rpm`, told where an EL system keeps its database: Debian's rpm keeps its own in
/// `~/.rpmdb`, so without this it would read (and dnf would write) the wrong place.
pub(crate) fn el_rpm() -> Command {
    let mut cmd = Command::new("rpm");
    cmd.args(["--define", "_dbpath /var/lib/rpm", "--define", "_db_backend sqlite"]);
    cmd
}
