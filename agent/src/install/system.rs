//! What the installed system needs to find its own disks, rendered without I/O: its fstab by UUID,
//! its mdadm.conf, the kernel arguments in /etc/default/grub, and a unit that says on the console
//! which image it runs. LVM needs nothing written: the image's lvm.conf scans every device, and its
//! initramfs activates the volume group that holds root from the `root=` grub gives it.
use control::layout::FsType;

use crate::config::{FileToWrite, LinkToMake};
use crate::plan::FstabEntry;

/// The unit that prints the console line.
pub const INSTALLED_UNIT: &str = "/etc/systemd/system/fountain-installed.service";
/// Its enabling link.
pub const INSTALLED_WANTS: &str = "/etc/systemd/system/multi-user.target.wants/fountain-installed.service";
/// What the installed system's console line starts with.
pub const INSTALLED_PREFIX: &str = "fountain: ";

/// `/etc/fstab` for `entries`, each with the UUID its device carries.
pub fn fstab(entries: &[(FstabEntry, String)]) -> String {
    let mut out = String::from("# /etc/fstab: written by the fountain agent at install, from the node's disk layout.\n");
    for (e, uuid) in entries {
        let (mount, options, pass) = match (&e.mount, e.fs) {
            (_, FsType::Swap) => ("none", "sw", 0),
            (Some(m), FsType::Vfat) => (m.as_str(), "umask=0077", 2),
            (Some(m), _) if m == "/" => ("/", "defaults", 1),
            (Some(m), _) => (m.as_str(), "defaults", 2),
            (None, _) => continue,
        };
        out.push_str(&format!("UUID={uuid} {mount} {} {options} 0 {pass}\n", e.fs.as_str()));
    }
    out
}

/// `/etc/mdadm/mdadm.conf` from what `mdadm --detail --scan` printed, or `None` without arrays.
/// Arrays keep the names the layout gave them whatever host assembles them (`HOMEHOST <ignore>`), so
/// the installed system sees `/dev/md/boot`, not `/dev/md127`.
pub fn mdadm_conf(scan: &str) -> Option<String> {
    let arrays: Vec<&str> = scan.lines().map(str::trim).filter(|l| l.starts_with("ARRAY ")).collect();
    if arrays.is_empty() {
        return None;
    }
    let mut out = String::from("# mdadm.conf: written by the fountain agent at install (mdadm --detail --scan).\nHOMEHOST <ignore>\nMAILADDR root\n");
    for a in arrays {
        out.push_str(a);
        out.push('\n');
    }
    Some(out)
}

/// `/etc/default/grub` with `GRUB_CMDLINE_LINUX` set to `args` (the line replaced where it is, or
/// added): the kernel arguments of every kernel grub-mkconfig lists, now and after kernel updates.
/// When `args` put the kernel's console on a serial port (`console=ttyS<n>[,<baud>...]`), grub's
/// menu and messages go to that port too (and to the screen): a node run from a serial console
/// shows its boot from the firmware on, so a stuck grub is seen, not a silent console.
pub fn grub_default(existing: &str, args: &[String]) -> String {
    let mut settings = vec![("GRUB_CMDLINE_LINUX", format!("\"{}\"", args.join(" ")))];
    if let Some((unit, speed)) = serial_console(args) {
        settings.push(("GRUB_TERMINAL", "\"serial console\"".into()));
        settings.push(("GRUB_SERIAL_COMMAND", format!("\"serial --unit={unit} --speed={speed}\"")));
    }
    let keys: Vec<&str> = settings.iter().map(|(key, _)| *key).collect();
    // Each setting replaces its first line and drops any later one; those the file lacks go last.
    let mut pending = settings;
    let mut out = String::new();
    for l in existing.lines() {
        match l.trim_start().split_once('=').filter(|(key, _)| keys.contains(key)) {
            Some((key, _)) => {
                if let Some(i) = pending.iter().position(|(k, _)| *k == key) {
                    out.push_str(&format!("{key}={}\n", pending.remove(i).1));
                }
            }
            None => {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    for (key, value) in pending {
        out.push_str(&format!("{key}={value}\n"));
    }
    out
}

/// The serial port and speed of the last `console=ttyS<n>[,<baud>...]` in `args` (the kernel's
/// main console is its last), 115200 baud when none is given.
fn serial_console(args: &[String]) -> Option<(u32, u32)> {
    let last = args.iter().rev().filter_map(|a| a.strip_prefix("console=")).next()?;
    let (port, options) = last.split_once(',').unwrap_or((last, ""));
    let unit = port.strip_prefix("ttyS")?.parse().ok()?;
    let digits: String = options.chars().take_while(char::is_ascii_digit).collect();
    Some((unit, digits.parse().unwrap_or(115_200)))
}

/// The script the unit runs.
pub const INSTALLED_SCRIPT: &str = "/etc/fountain/installed.sh";

/// A unit (and the script it runs) that prints, once the system reaches multi-user,
/// `fountain: IMAGE@VERSION on HOSTNAME`, then the node's IPv4 addresses and NFS mounts (and each NFS
/// mount of its fstab that is not mounted), on the console. The agent writes it because the agent
/// knows what it installed; the host name and addresses are read at boot, so the lines also show
/// what the node config gave the node.
pub fn installed_unit(image: &str, version: u32) -> (Vec<FileToWrite>, LinkToMake) {
    let unit = format!(
        "[Unit]\n\
         Description=Say on the console which image this node runs\n\
         Wants=network-online.target\n\
         After=network-online.target remote-fs.target\n\n\
         [Service]\n\
         Type=oneshot\n\
         StandardOutput=journal+console\n\
         ExecStart=/bin/sh {INSTALLED_SCRIPT}\n\n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    );
    let script = format!(
        "#!/bin/sh\n\
         # Written by the fountain agent at install.\n\
         echo \"{INSTALLED_PREFIX}{image}@{version} on $(hostname)\"\n\
         ip -4 -o addr show scope global | while read -r _ dev _ addr _; do echo \"{INSTALLED_PREFIX}address $dev $addr\"; done\n\
         findmnt -n -t nfs,nfs4 -o SOURCE,TARGET | while read -r source target; do echo \"{INSTALLED_PREFIX}nfs $source on $target\"; done\n\
         awk '$3 ~ /^nfs/ {{print $1, $2}}' /etc/fstab | while read -r source target; do findmnt -n \"$target\" >/dev/null || echo \"{INSTALLED_PREFIX}nfs $source NOT mounted on $target\"; done\n\
         exit 0\n"
    );
    (
        vec![
            FileToWrite { path: INSTALLED_UNIT.into(), mode: 0o644, contents: unit.into_bytes() },
            FileToWrite { path: INSTALLED_SCRIPT.into(), mode: 0o755, contents: script.into_bytes() },
        ],
        LinkToMake { path: INSTALLED_WANTS.into(), target: INSTALLED_UNIT.into() },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(device: &str, fs: FsType, mount: Option<&str>) -> FstabEntry {
        FstabEntry { device: device.into(), fs, mount: mount.map(Into::into) }
    }

    #[test]
    fn fstab_names_every_filesystem_and_swap_by_uuid() {
        let entries = [
            (entry("/dev/vg0/root", FsType::Xfs, Some("/")), "r-1".to_string()),
            (entry("/dev/md/boot", FsType::Ext4, Some("/boot")), "b-2".to_string()),
            (entry("/dev/vda1", FsType::Vfat, Some("/boot/efi")), "E-3".to_string()),
            (entry("/dev/vg0/swap", FsType::Swap, None), "s-4".to_string()),
        ];
        let text = fstab(&entries);
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            ["UUID=r-1 / xfs defaults 0 1", "UUID=b-2 /boot ext4 defaults 0 2", "UUID=E-3 /boot/efi vfat umask=0077 0 2", "UUID=s-4 none swap sw 0 0"]
        );
        assert!(text.starts_with("# /etc/fstab"));
    }

    #[test]
    fn mdadm_conf_keeps_the_array_lines_and_their_names() {
        let scan = "ARRAY /dev/md/boot metadata=1.2 name=boot UUID=1:2:3:4\nmdadm: some warning\nARRAY /dev/md/sys metadata=1.2 name=sys UUID=5:6:7:8\n";
        let conf = mdadm_conf(scan).unwrap();
        assert!(conf.contains("\nHOMEHOST <ignore>\n"), "{conf}");
        assert!(conf.ends_with("ARRAY /dev/md/boot metadata=1.2 name=boot UUID=1:2:3:4\nARRAY /dev/md/sys metadata=1.2 name=sys UUID=5:6:7:8\n"), "{conf}");
        assert!(!conf.contains("warning"));
        assert_eq!(mdadm_conf(""), None);
    }

    #[test]
    fn grub_cmdline_is_replaced_once_or_added() {
        let args = vec!["net.ifnames=0".to_string()];
        let debian = "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n# GRUB_CMDLINE_LINUX=\"old\"\nGRUB_CMDLINE_LINUX=\"again\"\n";
        assert_eq!(grub_default(debian, &args), "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"net.ifnames=0\"\n# GRUB_CMDLINE_LINUX=\"old\"\n");
        assert_eq!(grub_default("GRUB_TIMEOUT=5", &[]), "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"\"\n");
    }

    #[test]
    fn a_serial_kernel_console_puts_grub_on_that_port_too() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let debian = "GRUB_TIMEOUT=5\n#GRUB_TERMINAL=console\nGRUB_CMDLINE_LINUX=\"\"\n";
        assert_eq!(
            grub_default(debian, &args(&["console=tty0", "console=ttyS0", "no_timer_check"])),
            "GRUB_TIMEOUT=5\n#GRUB_TERMINAL=console\nGRUB_CMDLINE_LINUX=\"console=tty0 console=ttyS0 no_timer_check\"\nGRUB_TERMINAL=\"serial console\"\nGRUB_SERIAL_COMMAND=\"serial --unit=0 --speed=115200\"\n"
        );
        let replaced = grub_default("GRUB_TERMINAL=console\nGRUB_SERIAL_COMMAND=\"serial\"\n", &args(&["console=ttyS1,9600n8"]));
        assert_eq!(replaced, "GRUB_TERMINAL=\"serial console\"\nGRUB_SERIAL_COMMAND=\"serial --unit=1 --speed=9600\"\nGRUB_CMDLINE_LINUX=\"console=ttyS1,9600n8\"\n");
        assert!(!grub_default("", &args(&["console=ttyS0", "console=tty0"])).contains("GRUB_TERMINAL"), "the screen is the main console");
        assert_eq!(serial_console(&args(&["console=ttyUSB0"])), None);
    }

    #[test]
    fn the_console_unit_names_image_and_version_and_is_enabled() {
        let (files, link) = installed_unit("deb", 2);
        let unit = String::from_utf8(files[0].contents.clone()).unwrap();
        let script = String::from_utf8(files[1].contents.clone()).unwrap();
        assert!(unit.contains(&format!("ExecStart=/bin/sh {INSTALLED_SCRIPT}\n")), "{unit}");
        assert!(unit.contains("WantedBy=multi-user.target"));
        assert!(script.contains("echo \"fountain: deb@2 on $(hostname)\""), "{script}");
        assert_eq!((link.path.as_str(), link.target.as_str()), (INSTALLED_WANTS, INSTALLED_UNIT));
    }
}
