//! One qemu TCG guest on a tap of the lab's bridge: it network-boots with the iPXE ROM, its serial
//! console goes to a file and a socket, SeaBIOS's log to `seabios.log` beside it, and its disks are raw
//! files with serial numbers.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::console::Console;
use crate::lab::Lab;
use crate::process::Guard;

/// Where Debian's ipxe-qemu puts the e1000 boot ROM. The boot NIC is an e1000: SeaBIOS does not run
/// ipxe-qemu's virtio-net ROM (it boots straight to the disks), while the e1000 one PXE-boots.
pub const PXE_ROMS: &[&str] = &["/usr/lib/ipxe/qemu/efi-e1000.rom", "/usr/share/qemu/efi-e1000.rom"];

/// What a VM looks like.
#[derive(Debug, Clone)]
pub struct VmSpec {
    /// Name (files and messages).
    pub name: String,
    /// NIC MAC, `52:54:00:..`.
    pub mac: String,
    /// Raw disk image files, each with the serial number the guest sees.
    pub disks: Vec<(PathBuf, String)>,
    /// Memory in MiB.
    pub memory_mib: u32,
    /// The firmware it boots with.
    pub firmware: Firmware,
}

/// A VM's firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS, qemu's default.
    Bios,
    /// OVMF (UEFI), from Debian's `ovmf`; its variables live in the image, so nothing persists
    /// between boots (the agent writes no boot entries; disks boot by the removable-media path).
    Uefi,
}

/// Where Debian's `ovmf` puts the whole firmware (code and variables) in one file for `-bios`.
pub const OVMF: &[&str] = &["/usr/share/ovmf/OVMF.fd", "/usr/share/qemu/OVMF.fd"];

/// The PCI slot of a UEFI VM's disk `i` (its place in [`VmSpec::disks`]): fixed, so a test can tell
/// from the firmware's "BdsDxe: starting Boot0001 ... from PciRoot(0x0)/Pci(0x10,0x0)" which disk
/// it booted.
pub fn uefi_disk_slot(i: usize) -> usize {
    0x10 + i
}

/// The first OVMF image that exists, if any: a UEFI test skips without one.
pub fn ovmf() -> Option<&'static str> {
    OVMF.iter().copied().find(|p| std::path::Path::new(p).exists())
}

/// A kernel, initrd and command line for qemu to boot directly.
#[derive(Debug, Clone)]
pub struct DirectBoot {
    /// The kernel.
    pub kernel: PathBuf,
    /// The initramfs.
    pub initrd: PathBuf,
    /// The kernel command line.
    pub append: String,
}

/// A running VM, killed on drop.
#[derive(Debug)]
pub struct Vm {
    guard: Guard,
    /// Its console.
    pub console: Console,
}

impl Vm {
    /// Starts `spec` on a new tap of `lab`'s bridge; it boots from the network.
    pub fn start(lab: &Lab, spec: &VmSpec) -> anyhow::Result<Vm> {
        Self::spawn(lab, spec, None)
    }

    /// Starts `spec` on a new tap of `lab`'s bridge, booting `boot`'s kernel and initrd directly
    /// (qemu `-kernel`/`-initrd`/`-append`) instead of from the network.
    pub fn start_direct(lab: &Lab, spec: &VmSpec, boot: &DirectBoot) -> anyhow::Result<Vm> {
        Self::spawn(lab, spec, Some(boot))
    }

    fn spawn(lab: &Lab, spec: &VmSpec, direct: Option<&DirectBoot>) -> anyhow::Result<Vm> {
        let dir = lab.dir().join(&spec.name);
        std::fs::create_dir_all(&dir)?;
        let (log, socket) = (dir.join("console.log"), dir.join("console.sock"));
        let _ = std::fs::remove_file(&log);
        let _ = std::fs::remove_file(&socket);
        let tap = lab.add_tap()?;
        let rom = PXE_ROMS.iter().find(|r| std::path::Path::new(r).exists()).context("no iPXE ROM (install ipxe-qemu)")?;
        let mut cmd = lab.netns().command("qemu-system-x86_64");
        cmd.args(["-accel", "tcg", "-cpu", "max", "-smp", "1", "-nodefaults", "-display", "none", "-no-reboot"])
            .args(["-m", &spec.memory_mib.to_string()])
            .args(["-chardev", &format!("socket,id=con,path={},server=on,wait=on", socket.display())])
            .args(["-serial", "chardev:con"])
            // SeaBIOS's own log (which boot device it tried, whether an option ROM returned): it
            // prints nothing on the serial console.
            .args(["-chardev", &format!("file,id=bios,path={}", dir.join("seabios.log").display())])
            .args(["-device", "isa-debugcon,iobase=0x402,chardev=bios"])
            .args(["-netdev", &format!("tap,id=n0,ifname={tap},script=no,downscript=no")]);
        if spec.firmware == Firmware::Uefi {
            cmd.args(["-bios", ovmf().context("no OVMF firmware (install ovmf)")?]);
        }
        match direct {
            None => cmd.args(["-device", &format!("e1000,netdev=n0,mac={},romfile={rom},bootindex=1", spec.mac)]),
            Some(boot) => cmd
                .args(["-device", &format!("e1000,netdev=n0,mac={},romfile=", spec.mac)])
                .arg("-kernel")
                .arg(&boot.kernel)
                .arg("-initrd")
                .arg(&boot.initrd)
                .args(["-append", &boot.append]),
        };
        for (i, (file, serial)) in spec.disks.iter().enumerate() {
            cmd.args(["-drive", &format!("file={},if=none,id=d{i},format=raw", file.display())]);
            // OVMF orders its boot options by qemu's boot order: the disks come right after the NIC
            // (iPXE's `exit` for next boot local falls through to them). SeaBIOS tries them unnamed.
            let order = if spec.firmware == Firmware::Uefi { format!(",bootindex={},addr={:#x}", i + 2, uefi_disk_slot(i)) } else { String::new() };
            cmd.args(["-device", &format!("virtio-blk-pci,drive=d{i},serial={serial}{order}")]);
        }
        cmd.stdin(std::process::Stdio::null()).stdout(std::fs::File::create(dir.join("qemu.out"))?).stderr(std::fs::File::create(dir.join("qemu.err"))?);
        let mut guard = Guard::spawn(&format!("qemu ({})", spec.name), &mut cmd)?;
        let console = Console::attach(log, &socket, &mut || guard.check_running())?;
        Ok(Vm { guard, console })
    }

    /// Waits for a whole console line containing `needle` (anywhere in the console so far). Only
    /// lines ended by a newline count: the serial port delivers a line over several reads, and a
    /// test that checks how a line ends must not be handed its first half.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let guard = &mut self.guard;
        self.console.wait_until(0, &format!("{needle:?}"), timeout, &mut || guard.check_running(), |text| {
            let whole = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
            whole.lines().find(|l| l.contains(needle)).map(str::to_string)
        })
    }

    /// Waits for a shell prompt containing `needle`. A prompt is the one thing on a console that no
    /// newline ends, so unlike [`Vm::wait_for`] the line still being written counts.
    pub fn wait_for_prompt(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        let guard = &mut self.guard;
        self.console.wait_until(0, &format!("the prompt {needle:?}"), timeout, &mut || guard.check_running(), |text| {
            text.lines().any(|l| l.contains(needle)).then_some(())
        })
    }

    /// Runs a shell command on the console (the agent initramfs leaves a shell there).
    pub fn shell(&mut self, command: &str, timeout: Duration) -> anyhow::Result<(i32, String)> {
        let guard = &mut self.guard;
        self.console.run(command, timeout, &mut || guard.check_running())
    }

    /// Like [`Vm::shell`], failing unless the command exits 0.
    pub fn shell_ok(&mut self, command: &str, timeout: Duration) -> anyhow::Result<String> {
        let (status, out) = self.shell(command, timeout)?;
        anyhow::ensure!(status == 0, "`{command}` exited {status}:\n{out}");
        Ok(out)
    }

    /// Waits for the guest to end qemu by rebooting or powering off (qemu runs with -no-reboot), so
    /// the test can start it again from the same disks, as a power cycle would.
    pub fn wait_exit(mut self, timeout: Duration) -> anyhow::Result<()> {
        self.guard.wait_exit(timeout).map(drop)
    }

    /// Powers the VM off from its shell and waits for qemu to exit (it was started with -no-reboot,
    /// so the guest's reboot ends qemu).
    pub fn power_off(mut self, timeout: Duration) -> anyhow::Result<()> {
        let _ = self.console.run("sync; echo b > /proc/sysrq-trigger", Duration::from_secs(1), &mut || Ok(()));
        self.guard.wait_exit(timeout).map(drop)
    }
}
