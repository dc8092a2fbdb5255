//! What can be wrong with a layout, one variant per rule, each message naming the entries involved.
use super::size::Human;

/// One problem in a layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// Not YAML, or not the layout schema (unknown field, wrong type); the message has line and column.
    #[error("{0}")]
    Syntax(String),
    /// No disks at all.
    #[error("a layout needs at least one disk")]
    NoDisks,
    /// An id, VG name or LV name that breaks the naming rules.
    #[error("{0}")]
    BadName(String),
    /// Two entries share an id.
    #[error("id {0:?} is used more than once")]
    DuplicateId(String),
    /// A disk without any match rule would match any disk.
    #[error("disk {0:?} has an empty match: give at least one of path, model, size")]
    EmptyMatch(String),
    /// A size that does not parse.
    #[error("{place}: invalid size {value:?}: {reason}")]
    BadSize {
        /// Where.
        place: String,
        /// What was written.
        value: String,
        /// Why it is wrong.
        reason: String,
    },
    /// `rest` before the end.
    #[error("{0}: only the last entry may use size 'rest'")]
    RestNotLast(String),
    /// Two partitions share space.
    #[error("disk {disk:?}: partition {second:?} starts at {start} but partition {first:?} ends at {end}: they overlap")]
    Overlap {
        /// Disk id.
        disk: String,
        /// The earlier partition.
        first: String,
        /// The partition that starts inside it.
        second: String,
        /// Where the second starts.
        start: Human,
        /// Where the first ends.
        end: Human,
    },
    /// Partitions larger than the smallest disk the match allows.
    #[error("disk {disk:?}: partitions need {need} but a matching disk may be only {have}")]
    TooBig {
        /// Disk id.
        disk: String,
        /// Bytes the partitions need.
        need: Human,
        /// Smallest matching disk.
        have: Human,
    },
    /// A reference to an id that does not exist.
    #[error("{user} refers to unknown device {id:?}")]
    UnknownRef {
        /// Who refers.
        user: String,
        /// The missing id.
        id: String,
    },
    /// One device given to two users.
    #[error("device {id:?} is used by both {first} and {second}")]
    UsedTwice {
        /// The device.
        id: String,
        /// First user.
        first: String,
        /// Second user.
        second: String,
    },
    /// A whole disk used by RAID or LVM while it also has partitions.
    #[error("disk {0:?} has partitions, so it cannot also be used whole by RAID or LVM")]
    PartitionedDiskUsedWhole(String),
    /// Unsupported RAID level.
    #[error("raid {id:?}: level {level} is not supported (use 0, 1, 5, 6 or 10)")]
    RaidLevel {
        /// Array id.
        id: String,
        /// Level given.
        level: u8,
    },
    /// Too few members for the level.
    #[error("raid {id:?}: RAID {level} needs at least {need} members, it has {have}")]
    RaidMembers {
        /// Array id.
        id: String,
        /// Level.
        level: u8,
        /// Members given.
        have: usize,
        /// Members needed.
        need: usize,
    },
    /// A volume group without physical volumes.
    #[error("vg {0:?} has no physical volumes")]
    EmptyVg(String),
    /// A device that is consumed by RAID or LVM also carries a filesystem.
    #[error("{device} is used by {user}, so it cannot carry a filesystem or mount point")]
    FsOnConsumed {
        /// The device.
        device: String,
        /// Its user.
        user: String,
    },
    /// A mount point without a filesystem to mount.
    #[error("{0}: a mount point needs a filesystem (fs)")]
    MountWithoutFs(String),
    /// Swap with a mount point.
    #[error("{0}: swap cannot have a mount point")]
    SwapMounted(String),
    /// A mount point that is not an absolute path.
    #[error("{place}: invalid mount point {mount:?}: expected an absolute path")]
    BadMount {
        /// Where.
        place: String,
        /// What was written.
        mount: String,
    },
    /// Two filesystems on one mount point.
    #[error("mount point {mount:?} is used by both {first} and {second}")]
    DuplicateMount {
        /// The mount point.
        mount: String,
        /// First user.
        first: String,
        /// Second user.
        second: String,
    },
    /// Nothing mounted at `/`.
    #[error("no filesystem is mounted at \"/\"")]
    NoRoot,
    /// UEFI without an EFI system partition.
    #[error("bootloader uefi needs an EFI system partition: a vfat partition with flags [esp]")]
    MissingEsp,
    /// BIOS without a bios_grub partition.
    #[error("bootloader bios on GPT needs a partition with flags [bios_grub]")]
    MissingBiosGrub,
}
