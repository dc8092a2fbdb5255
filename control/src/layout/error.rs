//! What can be wrong with a layout, one variant per rule, each message naming the entries involved.
use super::capacity::may_be;
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
    #[error("disk {0:?} has an empty match: give at least one of path, by_path, model, serial, size")]
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
    /// Partitions larger than the disk (or the smallest disk the match allows).
    #[error("disk {disk:?}: partitions need {need} but {}only {have}", if *.exact { "the disk is " } else { "a matching disk may be " })]
    TooBig {
        /// Disk id.
        disk: String,
        /// Bytes the partitions need, GPT included.
        need: Human,
        /// The disk's size, or the smallest the match allows.
        have: Human,
        /// Whether `have` is the disk's real size.
        exact: bool,
    },
    /// `rest` with no space left for it.
    #[error("{place}: size 'rest' leaves it no space: the entries before it take everything")]
    NoRoomForRest {
        /// Where.
        place: String,
    },
    /// RAID members so different in size that most of the larger is lost.
    #[error("raid {id:?}: member {small:?} is {small_size} but {large:?} is {large_size}: an array uses only its smallest member's size on each member, so refuse mismatched members (make them about equal)")]
    RaidMismatch {
        /// Array id.
        id: String,
        /// Smallest member.
        small: String,
        /// Its size.
        small_size: Human,
        /// Largest member.
        large: String,
        /// Its size.
        large_size: Human,
    },
    /// A member too small to hold mdadm's superblock and data offset.
    #[error("raid {id:?}: member {member:?} {} only {size}, too small for mdadm's superblock and data offset", if *.exact { "is" } else { "may be" })]
    RaidMemberTooSmall {
        /// Array id.
        id: String,
        /// The member.
        member: String,
        /// Its size.
        size: Human,
        /// Whether `size` is certain.
        exact: bool,
    },
    /// A spare smaller than the members it would replace.
    #[error("raid {id:?}: spare {spare:?} is {have}, smaller than the members ({need}), so it could never replace one")]
    SpareTooSmall {
        /// Array id.
        id: String,
        /// The spare.
        spare: String,
        /// Its size.
        have: Human,
        /// The smallest member's size.
        need: Human,
    },
    /// A physical volume with no room for one extent after LVM's metadata.
    #[error("vg {vg:?}: physical volume {pv:?} {} {size}, too small for LVM (it needs at least {need})", if *.exact { "is" } else { "may be" })]
    PvTooSmall {
        /// Volume group.
        vg: String,
        /// The physical volume's id.
        pv: String,
        /// Its size.
        size: Human,
        /// Metadata plus one extent.
        need: Human,
        /// Whether `size` is certain.
        exact: bool,
    },
    /// Logical volumes that do not fit their volume group.
    #[error("vg {vg:?}: logical volumes need {need} but its physical volumes {}hold only {have} (after LVM metadata)", may_be(.exact))]
    VgTooSmall {
        /// Volume group.
        vg: String,
        /// Bytes the logical volumes need.
        need: Human,
        /// Bytes the volume group has.
        have: Human,
        /// Whether `have` is certain.
        exact: bool,
    },
    /// A filesystem its mkfs refuses to make on a device this small.
    #[error("{place}: {fs} needs at least {min} but the device {} {size}", if *.exact { "is" } else { "may be" })]
    FsTooSmall {
        /// Where.
        place: String,
        /// Filesystem type.
        fs: &'static str,
        /// Device size.
        size: Human,
        /// Smallest the filesystem allows.
        min: Human,
        /// Whether `size` is certain.
        exact: bool,
    },
    /// Percent sizes adding up to more than the whole.
    #[error("vg {vg:?}: logical volume percentages add up to {pct}%")]
    PercentOver {
        /// Volume group.
        vg: String,
        /// Their sum.
        pct: u64,
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
    /// A protected disk given partitions or used by RAID or LVM.
    #[error("disk {0:?} is protected, so it cannot have partitions or be used by RAID or LVM")]
    ProtectedUsed(String),
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
    #[error("bootloader uefi needs an EFI system partition mounted at /boot/efi: a vfat partition with flags [esp] and mount /boot/efi")]
    MissingEsp,
    /// BIOS without a bios_grub partition.
    #[error("bootloader bios on GPT needs a partition with flags [bios_grub]")]
    MissingBiosGrub,
}
