//! POSIX ACLs through the artifact. squashfs stores only the user, trusted and security xattr
//! namespaces, so the `system.posix_acl_access` / `system.posix_acl_default` xattrs that hold ACLs
//! would be lost (mksquashfs warns "Unrecognised xattr prefix" and drops them). Instead, a pack
//! writes the tree's extended ACLs as a `getfacl` dump into the artifact itself, as the file
//! [`ACL_FILE`] at its root, and an unpack restores them with `setfacl --restore` and removes the
//! file. The dump travels inside the artifact, so it reaches every node the artifact does, whatever
//! path carried it; a tree without extended ACLs gets no file, and its artifact stays as it was.
use std::path::Path;
use std::process::Command;

use super::{ArtifactError, tool};

/// The dump's name at the artifact's root.
pub const ACL_FILE: &str = ".fountain-posix-acls";

/// The extended ACLs of every file and folder under `root` (symlinks not followed, owners as
/// numbers), as `getfacl` writes them with paths relative to `root`, sorted by path so that the same
/// tree gives the same dump whatever order its folders list in; `None` when there are none.
pub fn dump(root: &Path) -> Result<Option<Vec<u8>>, ArtifactError> {
    let out = Command::new("getfacl")
        .args(["--recursive", "--skip-base", "--physical", "--numeric", "."])
        .current_dir(root)
        .output()
        .map_err(|source| ArtifactError::Spawn { tool: "getfacl", source })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(ArtifactError::Tool { tool: "getfacl", status: out.status, stderr });
    }
    // One block per file, blank-line separated, starting with "# file: PATH" (PATH escaped, so one
    // line).
    let text = String::from_utf8_lossy(&out.stdout);
    let mut blocks: Vec<&str> = text.split("\n\n").map(str::trim).filter(|b| !b.is_empty()).collect();
    if blocks.is_empty() {
        return Ok(None);
    }
    blocks.sort_unstable();
    let mut sorted = blocks.join("\n\n");
    sorted.push_str("\n\n");
    Ok(Some(sorted.into_bytes()))
}

/// Restores the ACLs a pack recorded in `target` (an unpacked artifact), then removes the dump;
/// nothing to do when the artifact had none.
pub fn restore(target: &Path) -> Result<(), ArtifactError> {
    let file = target.join(ACL_FILE);
    if !file.exists() {
        return Ok(());
    }
    let mut cmd = Command::new("setfacl");
    cmd.args(["--physical", "--restore"]).arg(ACL_FILE).current_dir(target);
    tool::run("setfacl", &mut cmd)?;
    std::fs::remove_file(&file).map_err(|source| ArtifactError::Io { what: "removing", path: file, source })
}
