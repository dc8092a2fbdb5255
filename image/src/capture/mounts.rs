//! The node's mounts, from `/proc/self/mountinfo`.
use std::path::PathBuf;

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `major:minor` of the filesystem's device.
    pub device: String,
    /// The folder of the filesystem that is mounted (`/` unless a bind mount of a subfolder).
    pub fs_root: PathBuf,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Filesystem type (`ext4`, `nfs4`, `fuse.sshfs`).
    pub fs_type: String,
}

/// Reads the calling process's mounts.
pub fn read() -> std::io::Result<Vec<Mount>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

/// Parses mountinfo text (proc(5)): `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`.
/// Lines that do not have the fields are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let fs_type = after.split(' ').next()?;
            Some(Mount {
                device: fields.get(2)?.to_string(),
                fs_root: unescape(fields.get(3)?).into(),
                mount_point: unescape(fields.get(4)?).into(),
                fs_type: fs_type.to_owned(),
            })
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash in paths as `\040`-style octal escapes.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_escapes() {
        let text = "22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
                    40 22 0:36 /sub /mnt/with\\040space rw shared:2 - xfs /dev/sdb rw\n\
                    41 22 0:40 / /home rw - nfs4 srv:/home rw\nbroken line\n";
        let m = parse(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0], Mount { device: "252:1".into(), fs_root: "/".into(), mount_point: "/".into(), fs_type: "ext4".into() });
        assert_eq!(m[1].mount_point, PathBuf::from("/mnt/with space"));
        assert_eq!(m[1].fs_root, PathBuf::from("/sub"));
        assert_eq!(m[2].fs_type, "nfs4");
    }
}
