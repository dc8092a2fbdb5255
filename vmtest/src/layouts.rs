//! Disk layouts the VM tests and the deploy benchmark share.

/// One disk (serial `sys-a`), BIOS boot, the root on ext4: the smallest install, for tests about the
/// transfer rather than the disks.
pub const SINGLE_DISK: &str = "bootloader: bios
disks:
  - id: a
    match: { serial: 'sys-a' }
    partitions:
      - { id: a1, size: 1M, flags: [bios_grub] }
      - { id: a2, size: rest, fs: ext4, mount: / }
";
