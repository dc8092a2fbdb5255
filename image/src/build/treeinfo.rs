//! `.treeinfo`, the INI file at the top of EL install media (productmd format) that names the
//! distribution, its release and the repositories on the disc (`[variant-BaseOS] repository = BaseOS`).
//!
//! ```ini
//! [general]
//! family = Rocky Linux
//! version = 9.4
//! arch = x86_64
//! [release]
//! name = Rocky Linux
//! version = 9.4
//! [tree]
//! variants = AppStream,BaseOS
//! [variant-BaseOS]
//! repository = BaseOS
//! ```

/// What a build needs from `.treeinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Treeinfo {
    /// Distribution name (`Rocky Linux`).
    pub family: String,
    /// Release (`9.4`).
    pub release: String,
    /// Architecture (`x86_64`).
    pub arch: String,
    /// Repository folders, relative to the top of the disc, in the order listed.
    pub repositories: Vec<String>,
}

/// A `.treeinfo` a build cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeinfoError {
    /// The medium has none: not EL 8/9 install media.
    #[error("the ISO has no .treeinfo: not EL install media (BaseOS/AppStream)")]
    Missing,
    /// No `[release]` nor `[general]` name and version.
    #[error(".treeinfo names no distribution and release")]
    NoRelease,
    /// No `[variant-*] repository` entries.
    #[error(".treeinfo names no repositories")]
    NoRepositories,
    /// A repository path that is absolute or climbs out of the disc.
    #[error(".treeinfo: repository path {0:?} is outside the disc")]
    BadRepository(String),
}

impl Treeinfo {
    /// Parses `.treeinfo` text: name, release and arch as the ISO store detects them, plus the
    /// repositories of its variants.
    pub fn parse(text: &str) -> Result<Treeinfo, TreeinfoError> {
        let detected = crate::iso::detect::parse(".treeinfo", text).ok_or(TreeinfoError::NoRelease)?;
        let mut repositories = Vec::new();
        for (section, key, value) in crate::iso::detect::ini_entries(text) {
            if !section.starts_with("variant-") || key != "repository" {
                continue;
            }
            let value = value.to_owned();
            if value.starts_with('/') || value.split('/').any(|c| c == "..") {
                return Err(TreeinfoError::BadRepository(value));
            }
            if !repositories.contains(&value) {
                repositories.push(value);
            }
        }
        if repositories.is_empty() {
            return Err(TreeinfoError::NoRepositories);
        }
        Ok(Treeinfo {
            family: detected.distribution,
            release: detected.release,
            arch: detected.arch.unwrap_or_default(),
            repositories,
        })
    }

    /// The major release (`9` of `9.4`), which is what `$releasever` and module platform ids use.
    pub fn major(&self) -> &str {
        self.release.split('.').next().unwrap_or(&self.release)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROCKY: &str = "[header]\ntype = productmd.treeinfo\nversion = 1.2\n\n[release]\nname = Rocky Linux\n\
        short = Rocky\nversion = 9.4\n\n[general]\nfamily = Rocky Linux\nversion = 9.4\narch = x86_64\n\n\
        [tree]\narch = x86_64\nvariants = AppStream,BaseOS\n\n[variant-AppStream]\nid = AppStream\n\
        packages = AppStream/Packages\nrepository = AppStream\n\n[variant-BaseOS]\nid = BaseOS\n\
        packages = BaseOS/Packages\nrepository = BaseOS\n";

    #[test]
    fn reads_release_and_repositories() {
        let t = Treeinfo::parse(ROCKY).unwrap();
        assert_eq!(t.family, "Rocky Linux");
        assert_eq!(t.release, "9.4");
        assert_eq!(t.major(), "9");
        assert_eq!(t.arch, "x86_64");
        assert_eq!(t.repositories, ["AppStream", "BaseOS"]);
    }

    #[test]
    fn refuses_what_a_build_cannot_use() {
        assert_eq!(Treeinfo::parse("[general]\nfamily = R\nversion = 9\n"), Err(TreeinfoError::NoRepositories));
        assert_eq!(Treeinfo::parse("[variant-B]\nrepository = B\n"), Err(TreeinfoError::NoRelease));
        let escape = "[general]\nfamily = R\nversion = 9\n[variant-B]\nrepository = ../../etc\n";
        assert_eq!(Treeinfo::parse(escape), Err(TreeinfoError::BadRepository("../../etc".into())));
    }
}
