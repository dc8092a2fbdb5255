//! Unpacking an artifact onto a stateful node's target (its root filesystem mounted at a directory,
//! the other filesystems mounted below it). unsquashfs restores owners, modes, times, xattrs
//! (SELinux labels and capabilities included), hard links, and leaves zero blocks as holes; POSIX
//! ACLs, which squashfs cannot hold, come back from the dump the pack put in (see [`super::acls`]).
use std::path::Path;
use std::process::Command;

use super::{ArtifactError, acls, tool};

/// unsquashfs's data and fragment queues, MiB each (its default is 256): when the target writes
/// slower than the artifact reads, the queues fill, and at the default a node agent in 1 GiB of RAM
/// was killed for memory.
const QUEUE_MIB: &str = "64";

/// Unpacks `artifact` into `target`, which must exist (a mount point, usually empty). Existing files
/// are overwritten; any error, an xattr that could not be set included, fails the unpack.
pub fn unpack(artifact: &Path, target: &Path) -> Result<(), ArtifactError> {
    if !target.is_dir() {
        return Err(ArtifactError::NotADirectory(target.to_path_buf()));
    }
    let mut cmd = Command::new("unsquashfs");
    cmd.args(["-no-progress", "-quiet", "-force", "-xattrs", "-strict-errors", "-da", QUEUE_MIB, "-fr", QUEUE_MIB, "-dest"]).arg(target).arg(artifact);
    tool::run("unsquashfs", &mut cmd)?;
    acls::restore(target)
}
