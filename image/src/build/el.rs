//! EL images (RHEL, Rocky, Alma 8/9) from an install ISO: the disc's own repositories (named by its
//! `.treeinfo`) are extracted with xorriso (the build host need not mount iso9660) and installed from
//! with `dnf --installroot`: the `core` group and what a node needs to boot from its own disk, then the
//! role's packages and comps groups; identity scrubbed.
//!
//! Packages are not GPG-checked: they come from an ISO whose hash the appliance checked when it was
//! added, and repository metadata checksums tie every package to that disc.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::treeinfo::{Treeinfo, TreeinfoError};
use super::{BuildError, BuiltRoot, inspect, scrub};
use crate::command::{self, CommandError};
use crate::meta::{Family, Source};
use crate::role::{self, PackageInstaller, Role};

/// Comps groups of the base system.
pub const BASE_GROUPS: &[&str] = &["core"];

/// Packages of the base system on top of `core`: a kernel, an initramfs generator and the tools to
/// boot from a disk laid out with GPT, MD RAID and LVM under BIOS or UEFI, networking, sshd, NFS.
pub const BASE_PACKAGES: &[&str] = &[
    "kernel",
    "dracut",
    "grub2-pc",
    "grub2-efi-x64",
    "shim-x64",
    "mdadm",
    "lvm2",
    "xfsprogs",
    "dosfstools",
    "NetworkManager",
    "openssh-server",
    "nfs-utils",
];

/// What to build from.
#[derive(Debug, Clone)]
pub struct ElSpec {
    /// The ISO file.
    pub iso: PathBuf,
    /// Its blake3, hex (its id in the appliance's ISO store), recorded as the image's source.
    pub iso_blake3: String,
}

/// Builds `role` from the ISO into `work/root` (scratch files go to `work` too).
pub fn build(spec: &ElSpec, role: &Role, work: &Path) -> Result<BuiltRoot, BuildError> {
    let media = work.join("media");
    let tree = extract_repositories(&spec.iso, &media)?;
    tracing::info!(family = tree.family, release = tree.release, repos = ?tree.repositories, "ISO read");
    let config = work.join("dnf.conf");
    write_dnf_config(&config, &media, &tree, work)?;
    let root = work.join("root");
    std::fs::create_dir_all(&root).map_err(BuildError::io(format!("creating {}", root.display())))?;
    let mut dnf = Dnf { root: &root, config: &config, releasever: tree.major().to_owned(), home: work.join("home") };
    std::fs::create_dir_all(&dnf.home).map_err(BuildError::io("creating dnf's home"))?;
    // Debian's rpm keeps its database in ~/.rpmdb; an EL system has it in /var/lib/rpm.
    std::fs::write(dnf.home.join(".rpmmacros"), "%_dbpath /var/lib/rpm\n%_db_backend sqlite\n")
        .map_err(BuildError::io("writing .rpmmacros"))?;
    let base: Vec<String> = BASE_PACKAGES.iter().map(|p| p.to_string()).collect();
    let groups: Vec<String> = BASE_GROUPS.iter().map(|g| g.to_string()).collect();
    dnf.install(&base, &groups)?;
    role::apply(&root, role, &mut dnf)?;
    std::fs::remove_dir_all(&media).map_err(BuildError::io("removing the extracted repositories"))?;

    let scrubbed = scrub::scrub(&root).map_err(BuildError::io("scrubbing identity"))?;
    tracing::info!(files = scrubbed.len(), "identity scrubbed");
    let source = Source::Iso { iso_blake3: spec.iso_blake3.clone() };
    let meta = inspect(&root, Family::El, Some(role.name.clone()), source)?;
    Ok(BuiltRoot { root, meta })
}

/// Extracts `.treeinfo` and the repositories it names (not the installer images) into `media`.
fn extract_repositories(iso: &Path, media: &Path) -> Result<Treeinfo, BuildError> {
    std::fs::create_dir_all(media).map_err(BuildError::io(format!("creating {}", media.display())))?;
    let extract = |inside: &str| {
        let mut cmd = Command::new("xorriso");
        cmd.args(["-osirrox", "on", "-indev"]).arg(iso);
        cmd.args(["-extract", &format!("/{inside}")]).arg(media.join(inside));
        cmd
    };
    if command::run("reading .treeinfo from the ISO", &mut extract(".treeinfo")).is_err() {
        return Err(TreeinfoError::Missing.into());
    }
    let text = std::fs::read_to_string(media.join(".treeinfo")).map_err(BuildError::io("reading .treeinfo"))?;
    let tree = Treeinfo::parse(&text)?;
    for repo in &tree.repositories {
        command::run(&format!("extracting repository {repo} from the ISO"), &mut extract(repo))?;
    }
    Ok(tree)
}

/// A dnf configuration that sees only the disc's repositories, none of the host's.
fn write_dnf_config(path: &Path, media: &Path, tree: &Treeinfo, work: &Path) -> Result<(), BuildError> {
    let empty = work.join("repos.d");
    std::fs::create_dir_all(&empty).map_err(BuildError::io("creating an empty repos.d"))?;
    let mut conf = String::new();
    let _ = write!(
        conf,
        "[main]\ngpgcheck=0\ninstall_weak_deps=False\nkeepcache=0\nreposdir={}\n\
         module_platform_id=platform:el{}\nzchunk=False\n",
        empty.display(),
        tree.major()
    );
    for repo in &tree.repositories {
        let id: String = repo.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        let _ = write!(conf, "\n[iso-{id}]\nname=ISO {repo}\nbaseurl=file://{}\nenabled=1\n", media.join(repo).display());
    }
    std::fs::write(path, conf).map_err(BuildError::io("writing dnf.conf"))
}

/// `dnf --installroot` with the disc's repositories.
struct Dnf<'a> {
    root: &'a Path,
    config: &'a Path,
    releasever: String,
    home: PathBuf,
}

impl PackageInstaller for Dnf<'_> {
    fn install(&mut self, packages: &[String], groups: &[String]) -> Result<(), CommandError> {
        let mut cmd = Command::new("dnf");
        cmd.env("HOME", &self.home).env("LC_ALL", "C");
        cmd.arg("--config").arg(self.config).arg("--installroot").arg(self.root);
        cmd.args(["--releasever", &self.releasever, "--assumeyes", "--quiet", "install"]);
        cmd.args(packages).args(groups.iter().map(|g| format!("@{g}")));
        let names: Vec<String> = packages.iter().cloned().chain(groups.iter().map(|g| format!("@{g}"))).collect();
        command::run(&format!("dnf install {}", names.join(" ")), &mut cmd).map(drop)
    }
}
