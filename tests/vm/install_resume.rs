//! One node alone deploys by unicast, and a power cut in the middle of its transfer costs only what
//! was not yet on its disk: the node, set to re-image with the server's default (auto) delivery, is
//! the only one set to that version, so its window closes as soon as it registers and it downloads
//! the image over HTTP ranges from the control plane. When 60% of the blocks are in, qemu is killed (a
//! power cut: nothing is flushed or shut down; the agent has fsynced the image and its journal once a
//! second) and started again on the same disks. The
//! second boot finds its layout already on the disks (nothing is reformatted), resumes from the
//! journal beside the partial image, fetches only the rest, installs, reboots and comes up from its
//! disk naming the image and version.
//!
//! This node is the UEFI one (OVMF): two disks, an ESP on each and the root on RAID1
//! ([`vmtest::layouts::UEFI_MIRROR`]). grub goes onto both ESPs, and the disk boot puts the second
//! disk first in the firmware's boot order, so the node comes up through the spare ESP's grub (the
//! copy a mirror needs when its first disk dies). Without OVMF the test skips, saying so.
//!
//! The VM has 1 GiB of memory so the image (~240 MiB) goes to the scratch folder on the target, not
//! to RAM: the agent keeps 768 MiB free besides an image in RAM, and RAM would not survive the cut.
//!
//! It starts right after the install test (`tests/vm/main.rs`), to take the slot the install test
//! hands back for its one-VM last round; started last, its ~6 min ran alone with a core idle.
use std::time::{Duration, Instant};

use vmtest::{Firmware, Vm, VmSpec};

use crate::util::{add_layout, blank_disk, count_before, phase_times, publish_debian, setup, wait_installed_banner};

const NODE: &str = "vm3";
const MAC: &str = "52:54:00:fd:11:03";
/// Below the ~1 GiB the image needs in RAM besides its margin: the image goes to the target.
const MEMORY_MIB: u32 = 1024;
const DISK_BYTES: u64 = 3 << 30;
/// PXE, agent boot, layout and the first half of the transfer under TCG on a loaded host.
const CUT_TIMEOUT: Duration = Duration::from_secs(900);
/// Boot, resume, unpack, initramfs and grub.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(1800);
const REBOOT_TIMEOUT: Duration = Duration::from_secs(300);
const DISK_BOOT_TIMEOUT: Duration = Duration::from_secs(900);

/// `(done, total)` of an agent's "received DONE of TOTAL blocks" progress line.
fn progress(line: &str) -> Option<(u32, u32)> {
    let rest = line.split("fountain-agent: received ").nth(1)?;
    let mut words = rest.split_whitespace();
    let done = words.next()?.parse().ok()?;
    let total = (words.next()? == "of").then(|| words.next()?.parse().ok()).flatten()?;
    Some((done, total))
}

pub fn one_node_alone_deploys_by_unicast_and_resumes_after_a_power_cut() {
    let Some(s) = setup() else { return };
    if vmtest::ovmf().is_none() {
        eprintln!("skipping: no OVMF firmware (install ovmf)");
        return;
    }
    let started = Instant::now();
    let lab = &s.lab;
    publish_debian(lab);
    add_layout(lab, "uefi-mirror", vmtest::layouts::UEFI_MIRROR);
    let config = lab.dir().join(format!("{NODE}.yaml"));
    std::fs::write(&config, format!("hostname: {NODE}-installed\nkernel_args: [console=ttyS0, no_timer_check]\n")).unwrap();
    lab.fountain(&["node", "add", NODE, "--mac", MAC, "--image", "deb", "--layout", "uefi-mirror", "--config", config.to_str().unwrap()]).unwrap();
    lab.fountain(&["node", "reimage", NODE]).unwrap();
    let disks: Vec<_> = ["sys-a", "sys-b"].map(|d| (blank_disk(lab, &format!("{NODE}-{d}"), DISK_BYTES), d.to_string())).into();
    let spec = |boot: &str| VmSpec { name: format!("{NODE}-{boot}"), mac: MAC.into(), disks: disks.clone(), memory_mib: MEMORY_MIB, firmware: Firmware::Uefi };

    let mut vm = Vm::start(lab, &spec("agent")).unwrap();
    let receiving = vm.wait_for("fountain-agent: receiving deb@1", CUT_TIMEOUT).unwrap();
    assert!(receiving.contains(" by unicast ") && receiving.trim_end().ends_with("into a scratch folder on the target"), "{receiving}");
    // The VM test's own wait: lines are whole, and the transfer must not have ended yet.
    let (cut_at, total) = vm
        .console
        .wait_until(0, "60% of the blocks received", CUT_TIMEOUT, &mut || Ok(()), |text| {
            let whole = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
            whole.lines().filter_map(progress).find(|&(done, total)| 10 * done >= 6 * total)
        })
        .unwrap();
    assert!(cut_at < total, "the transfer ended before the test could cut the power ({cut_at} of {total} blocks)");
    drop(vm);
    let cut = started.elapsed();

    let mut vm = Vm::start(lab, &spec("resumed")).unwrap();
    let layout = vm.wait_for("fountain-agent: layout uefi-mirror ", INSTALL_TIMEOUT).unwrap();
    assert!(layout.contains(" converged"), "the second boot changed the disk it was resuming on: {layout}");
    let receiving = vm.wait_for("fountain-agent: receiving deb@1", INSTALL_TIMEOUT).unwrap();
    assert!(receiving.contains(" by unicast ") && receiving.trim_end().ends_with("into a scratch folder on the target"), "{receiving}");
    let received = vm.wait_for("fountain-agent: image received: ", INSTALL_TIMEOUT).unwrap();
    let (journal, http) = (count_before(&received, " from the journal"), count_before(&received, " over HTTP"));
    assert!(journal > 0 && journal + http == u64::from(total), "resumed {journal} blocks and fetched {http} of {total}: {received}");
    vm.wait_for("in the target: grub-install --target=x86_64-efi --efi-directory=/boot/efi.spare ", INSTALL_TIMEOUT).unwrap();
    vm.wait_for("fountain-agent: installed deb@1; rebooting from disk", INSTALL_TIMEOUT).unwrap();
    let installed = started.elapsed();
    vm.wait_exit(REBOOT_TIMEOUT).unwrap();

    let shown = lab.fountain_json(&["node", "show", NODE]).unwrap();
    assert_eq!(shown["node"]["next_boot"], "local", "{shown}");
    assert_eq!((shown["node"]["installed"]["image"].as_str(), shown["node"]["installed"]["version"].as_u64()), (Some("deb"), Some(1)), "{shown}");
    let phases = phase_times(lab, NODE);
    // Two sessions, both unicast: the cut one ended by the node registering again, then the one that
    // finished.
    let transfers = lab.fountain_json(&["image", "transfers"]).unwrap();
    let sessions = transfers.as_array().unwrap();
    let states: Vec<(&str, &str, &str)> =
        sessions.iter().map(|t| (t["delivery"].as_str().unwrap_or("?"), t["state"]["state"].as_str().unwrap_or("?"), t["receivers"][NODE]["state"].as_str().unwrap_or("?"))).collect();
    assert_eq!(states, [("unicast", "failed", "failed"), ("unicast", "finished", "done")], "{transfers}");

    // The second disk first: the firmware boots the spare ESP's grub.
    let spare_first = VmSpec { disks: disks.iter().rev().cloned().collect(), ..spec("disk") };
    let mut vm = Vm::start(lab, &spare_first).unwrap();
    wait_installed_banner(&mut vm, "deb@1", &format!("{NODE}-installed"), DISK_BOOT_TIMEOUT);
    let console = vm.console.text();
    let started_from = console.lines().flat_map(|l| l.split("BdsDxe: ").skip(1)).filter(|l| l.starts_with("starting ")).last().unwrap_or_default().to_string();
    let first_disk = format!("PciRoot(0x0)/Pci({:#x},0x0)", vmtest::uefi_disk_slot(0));
    assert!(started_from.trim_end().ends_with(&first_disk), "the firmware did not boot the first disk in its order (sys-b, the spare ESP) at {first_disk}: {started_from}");
    eprintln!("vm test install_resume: firmware {started_from}");
    eprintln!("vm test install_resume: cut at {cut_at} of {total} blocks ({:.1} s); after the cut {journal} from the journal, {http} over HTTP", cut.as_secs_f64());
    eprintln!("vm test install_resume: phases {NODE}: {phases}");
    eprintln!("vm test install_resume: {:.1} s wall (installed {:.1} s, booted from disk {:.1} s)", started.elapsed().as_secs_f64(), installed.as_secs_f64(), (started.elapsed() - installed).as_secs_f64());
}
