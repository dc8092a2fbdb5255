//! What distribution an ISO holds, read from its own metadata: `.treeinfo` (EL, Fedora: INI with
//! `[release]` or the older `[general]`), `.discinfo` (timestamp, release, arch on three lines) or
//! Debian's `.disk/info` (one line: `Debian GNU/Linux 12.5.0 "Bookworm" - Official amd64 …`). The
//! parsers are pure; [`extract`] gets the files out with xorriso.
use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::meta::Family;

/// What was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detected {
    /// Distribution name (`Rocky Linux`, `Debian GNU/Linux`).
    pub distribution: String,
    /// Release (`9.4`, `12.5.0`).
    pub release: String,
    /// Architecture, when the metadata says.
    pub arch: Option<String>,
    /// OS family, when the name is one we know.
    pub family: Option<Family>,
    /// The file it was read from (`.treeinfo`, `.discinfo`, `.disk/info`).
    pub from: String,
}

/// The metadata files tried, in order of preference.
pub const METADATA_FILES: [&str; 3] = [".treeinfo", ".discinfo", ".disk/info"];

/// Reads `file` (one of [`METADATA_FILES`]) out of `iso` with xorriso; `None` when the ISO has no
/// such file or xorriso cannot read it.
pub fn extract(iso: &Path, file: &str, scratch: &Path) -> Option<String> {
    let out = scratch.join(file.replace('/', "_"));
    let status = Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(iso)
        .args(["-extract", &format!("/{file}")])
        .arg(&out)
        .output()
        .ok()?;
    if !status.status.success() {
        return None;
    }
    let text = std::fs::read_to_string(&out).ok();
    let _ = std::fs::remove_file(&out);
    text
}

/// Parses one metadata file's text.
pub fn parse(file: &str, text: &str) -> Option<Detected> {
    let (distribution, release, arch) = match file {
        ".treeinfo" => treeinfo(text)?,
        ".discinfo" => discinfo(text)?,
        ".disk/info" => disk_info(text)?,
        _ => return None,
    };
    Some(Detected { family: family_of(&distribution), distribution, release, arch, from: file.to_string() })
}

fn treeinfo(text: &str) -> Option<(String, String, Option<String>)> {
    let value = |section: &str, key: &str| ini_value(text, section, key);
    let name = value("release", "name").or_else(|| value("general", "family"))?;
    let version = value("release", "version").or_else(|| value("general", "version"))?;
    Some((name, version, value("tree", "arch").or_else(|| value("general", "arch"))))
}

/// `key = value` in `[section]` of an INI text.
fn ini_value(text: &str, section: &str, key: &str) -> Option<String> {
    ini_entries(text).find(|&(s, k, v)| s == section && k == key && !v.is_empty()).map(|(_, _, v)| v.to_string())
}

/// Every `key = value` of an INI text as `(section, key, value)`, trimmed, in order.
pub(crate) fn ini_entries(text: &str) -> impl Iterator<Item = (&str, &str, &str)> {
    let mut section = "";
    text.lines().map(str::trim).filter_map(move |line| {
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim();
            return None;
        }
        line.split_once('=').map(|(k, v)| (section, k.trim(), v.trim()))
    })
}

fn discinfo(text: &str) -> Option<(String, String, Option<String>)> {
    let mut lines = text.lines().map(str::trim);
    let _timestamp = lines.next()?;
    let release_line = lines.next().filter(|l| !l.is_empty())?;
    let arch = lines.next().filter(|l| !l.is_empty()).map(str::to_string);
    // "Rocky Linux 9.4" or just "9.4".
    let (name, version) = match release_line.rsplit_once(' ') {
        Some((n, v)) if v.starts_with(|c: char| c.is_ascii_digit()) => (n.to_string(), v.to_string()),
        _ if release_line.starts_with(|c: char| c.is_ascii_digit()) => ("unknown".to_string(), release_line.to_string()),
        _ => return None,
    };
    Some((name, version, arch))
}

fn disk_info(text: &str) -> Option<(String, String, Option<String>)> {
    let line = text.lines().next()?.trim();
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let arch = words.iter().find(|w| matches!(**w, "amd64" | "arm64" | "i386" | "ppc64el" | "s390x" | "riscv64")).map(|w| w.to_string());
    Some((words[..at].join(" "), words[at].to_string(), arch))
}

/// The family a distribution name belongs to.
fn family_of(distribution: &str) -> Option<Family> {
    let d = distribution.to_ascii_lowercase();
    if ["rocky", "red hat", "rhel", "alma", "centos", "oracle", "fedora"].iter().any(|n| d.contains(n)) {
        Some(Family::El)
    } else if ["debian", "ubuntu"].iter().any(|n| d.contains(n)) {
        Some(Family::Debian)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn treeinfo_release_section_wins() {
        let text = "[header]\ntype = productmd.treeinfo\nversion = 1.2\n\n[release]\nname = Rocky Linux\nshort = Rocky\nversion = 9.4\n\n[tree]\narch = x86_64\n";
        let d = parse(".treeinfo", text).unwrap();
        assert_eq!((d.distribution.as_str(), d.release.as_str(), d.arch.as_deref(), d.family), ("Rocky Linux", "9.4", Some("x86_64"), Some(Family::El)));
    }

    #[test]
    fn old_treeinfo_general_section() {
        let d = parse(".treeinfo", "[general]\nfamily = CentOS\nversion = 7\narch = x86_64\n").unwrap();
        assert_eq!((d.distribution.as_str(), d.release.as_str(), d.family), ("CentOS", "7", Some(Family::El)));
    }

    #[test]
    fn discinfo_and_debian_disk_info() {
        let d = parse(".discinfo", "1715000000.123\nAlmaLinux 8.10\nx86_64\n").unwrap();
        assert_eq!((d.distribution.as_str(), d.release.as_str(), d.arch.as_deref()), ("AlmaLinux", "8.10", Some("x86_64")));
        let d = parse(".disk/info", "Debian GNU/Linux 12.5.0 \"Bookworm\" - Official amd64 NETINST with firmware 20240210-11:27").unwrap();
        assert_eq!((d.distribution.as_str(), d.release.as_str(), d.arch.as_deref(), d.family), ("Debian GNU/Linux", "12.5.0", Some("amd64"), Some(Family::Debian)));
    }

    #[test]
    fn garbage_is_not_detected() {
        assert!(parse(".treeinfo", "[release]\nname = X\n").is_none());
        assert!(parse(".discinfo", "").is_none());
        assert!(parse(".discinfo", "123\nno version here\n").is_none());
        assert!(parse(".disk/info", "nothing numeric").is_none());
    }
}
