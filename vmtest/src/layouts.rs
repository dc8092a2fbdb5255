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

/// Two disks (serials `sys-a`, `sys-b`), UEFI: an ESP on each (the first mounted at /boot/efi, the
/// second a spare that gets grub too) and the root on RAID1 across the rest, so the node boots from
/// either disk.
pub const UEFI_MIRROR: &str = "bootloader: uefi
disks:
  - id: a
    match: { serial: 'sys-a' }
    partitions:
      - { id: esp-a, size: 64M, flags: [esp], fs: vfat, mount: /boot/efi }
      - { id: a2, size: rest }
  - id: b
    match: { serial: 'sys-b' }
    partitions:
      - { id: esp-b, size: 64M, flags: [esp], fs: vfat }
      - { id: b2, size: rest }
raid:
  - { id: root, level: 1, members: [a2, b2], fs: ext4, mount: / }
";
