//! The Debian image built here boots, and a capture of it deploys the same system (issue 13).
//!
//! The image (debootstrap bookworm with the node packages, built once and cached, see
//! `vmtest::debian_image`) is unpacked onto a disk file the test lays out on the host: one
//! unpartitioned ext4 written through a loop device (loop devices get no partition nodes here), so
//! qemu boots the image's own kernel and initrd with `-kernel`/`-initrd` and `root=/dev/vda` rather
//! than grub. In the first VM a package the test built with dpkg-deb is installed and a file written
//! at the root shell on the console, then `fountain capture` runs there against the lab's control
//! plane; the captured version is written onto a second disk the same way, and the second VM must
//! list the same packages and hash the same files.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vmtest::{DirectBoot, Firmware, Vm, VmSpec, WrittenDisk, debian_image, install_fountain, write_disk};

use crate::util::setup;

/// A full systemd boot under TCG on a loaded 2-core machine (load 16 seen: 4+ minutes).
const BOOT_TIMEOUT: Duration = Duration::from_secs(900);
/// Streaming the root and packing it on the server.
const CAPTURE_TIMEOUT: Duration = Duration::from_secs(900);
const SHELL_TIMEOUT: Duration = Duration::from_secs(120);
const DISK_BYTES: u64 = 3 << 30;
/// Where the fountain binary goes in the first VM (left out of the capture).
const FOUNTAIN_DIR: &str = "/opt/fountain";
/// In systemd's line once the default target is reached ("Reached target multi-user.target - Multi-User
/// System", with colour codes around the unit name, so only the name is matched).
const MULTI_USER: &str = "multi-user.target";
/// Units masked on the test's disks: the VMs need neither sshd nor a weekly ext4 check.
const MASKED: &[&str] = &["ssh.service", "fountain-ssh-host-keys.service", "e2scrub_reap.service"];
/// The end of the root shell's prompt (`root@localhost:~# `).
const PROMPT: &str = ":~# ";
/// The console's shell: root logged in on ttyS0 without a password (the image's root has none).
const AUTOLOGIN: &str = "[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200 %I vt220\n";
/// What the hand-made changes are checked by: every installed package, and the files changed.
const PACKAGES: &str = "dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\\n'";
const HASHES: &str = "sha256sum /etc/fountain-by-hand /usr/share/hello-fountain/greeting /usr/bin/dpkg /etc/os-release";

/// A package of one file, built with dpkg-deb.
fn make_deb(dir: &Path) -> PathBuf {
    let tree = dir.join("hello-fountain");
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(tree.join("usr/share/hello-fountain")).unwrap();
    std::fs::write(
        tree.join("DEBIAN/control"),
        "Package: hello-fountain\nVersion: 1.0-1\nArchitecture: all\nMaintainer: fountain tests <tests@localhost>\nDescription: installed by hand in a VM, then captured\n",
    )
    .unwrap();
    std::fs::write(tree.join("usr/share/hello-fountain/greeting"), "hello from a package installed by hand\n").unwrap();
    let deb = dir.join("hello-fountain_1.0-1_all.deb");
    let out = Command::new("dpkg-deb").args(["--root-owner-group", "--build"]).arg(&tree).arg(&deb).output().unwrap();
    assert!(out.status.success(), "dpkg-deb: {}", String::from_utf8_lossy(&out.stderr));
    deb
}

/// What every disk gets besides the image: a root shell on the console, DHCP on eth0, and none of the
/// services that only slow a TCG boot down (host key generation for sshd alone takes minutes there).
fn console_and_network(root: &Path) -> anyhow::Result<()> {
    for unit in MASKED {
        let link = root.join("etc/systemd/system").join(unit);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/dev/null", link)?;
    }
    let dropin = root.join("etc/systemd/system/serial-getty@ttyS0.service.d");
    std::fs::create_dir_all(&dropin)?;
    std::fs::write(dropin.join("autologin.conf"), AUTOLOGIN)?;
    std::fs::create_dir_all(root.join("etc/network/interfaces.d"))?;
    std::fs::write(root.join("etc/network/interfaces.d/eth0"), "auto eth0\niface eth0 inet dhcp\n")?;
    Ok(())
}

fn boot(lab: &vmtest::Lab, name: &str, mac: &str, disk: &WrittenDisk) -> Vm {
    let spec = VmSpec { name: name.into(), mac: mac.into(), disks: vec![(disk.disk.clone(), "root".into())], memory_mib: 1024, firmware: Firmware::Bios };
    let direct = DirectBoot {
        kernel: disk.kernel.clone(),
        initrd: disk.initrd.clone(),
        append: "root=/dev/vda rw console=ttyS0,115200 net.ifnames=0 systemd.show_status=1".into(),
    };
    let mut vm = Vm::start_direct(lab, &spec, &direct).expect("starting the VM");
    let line = vm.wait_for(MULTI_USER, BOOT_TIMEOUT).expect("booting to multi-user");
    println!("{name}: {}", line.trim());
    // getty flushes what was typed before it started: type only once the shell prompts.
    vm.wait_for_prompt(PROMPT, SHELL_TIMEOUT).expect("the console's root shell");
    vm
}

pub fn the_debian_image_boots_and_a_capture_of_it_deploys_the_same_system() {
    let Some(setup) = setup() else { return };
    if let Some(reason) = vmtest::image_unavailable_reason() {
        println!("SKIPPED: {reason}");
        return;
    }
    let lab = &setup.lab;
    let image = debian_image(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vmtest")).expect("building the Debian image");
    println!("image: {} packages, kernels {:?}", image.meta.packages.len(), image.meta.kernels);
    let deb = make_deb(lab.dir());
    let fountain = Path::new(env!("CARGO_BIN_EXE_fountain"));

    // The first node: the image as built, plus the fountain client and the package to install.
    let disk1 = write_disk(&image.artifact, &lab.dir().join("vm1.img"), DISK_BYTES, |root| {
        console_and_network(root)?;
        install_fountain(fountain, root, FOUNTAIN_DIR)?;
        std::fs::copy(&deb, root.join("root/hello-fountain.deb"))?;
        Ok(())
    })
    .expect("writing the first disk");
    let mut vm1 = boot(lab, "vm1", "52:54:00:13:00:01", &disk1);
    // Changed by hand at the console.
    vm1.shell_ok("dpkg -i /root/hello-fountain.deb && rm /root/hello-fountain.deb", SHELL_TIMEOUT).unwrap();
    vm1.shell_ok("echo 'written by hand' > /etc/fountain-by-hand", SHELL_TIMEOUT).unwrap();
    vm1.shell_ok("ip -4 addr show eth0 | grep -q inet || dhclient eth0", SHELL_TIMEOUT).unwrap();
    let admin = std::fs::read_to_string(lab.data_dir().join("admin.token")).unwrap();
    let capture = format!(
        "FOUNTAIN_TOKEN={} {FOUNTAIN_DIR}/fountain capture --server {} --image captured --node vm1 --exclude {FOUNTAIN_DIR}",
        admin.trim(),
        lab.server_url()
    );
    let out = vm1.shell_ok(&capture, CAPTURE_TIMEOUT).expect("capturing the first VM");
    println!("capture:\n{out}");
    let (packages1, hashes1) = (vm1.shell_ok(PACKAGES, SHELL_TIMEOUT).unwrap(), vm1.shell_ok(HASHES, SHELL_TIMEOUT).unwrap());
    assert!(packages1.contains("ii  hello-fountain 1.0-1"), "{packages1}");
    vm1.power_off(SHELL_TIMEOUT).unwrap();

    // The second node: the captured version, deployed the same way.
    let store = image::store::Store::open(lab.data_dir().join("store")).unwrap();
    let versions = store.versions(Some("captured")).unwrap();
    assert_eq!(versions.len(), 1, "{versions:?}");
    let captured = lab.dir().join("captured.sqfs");
    store.materialise("captured", versions[0].version, &captured).unwrap();
    std::fs::remove_file(&disk1.disk).unwrap();
    let disk2 = write_disk(&captured, &lab.dir().join("vm2.img"), DISK_BYTES, |root| {
        assert!(!root.join(FOUNTAIN_DIR.trim_start_matches('/')).exists(), "an excluded path was captured");
        assert_eq!(std::fs::read(root.join("etc/machine-id")).unwrap(), b"", "the node's identity was captured");
        console_and_network(root)
    })
    .expect("writing the second disk");
    let mut vm2 = boot(lab, "vm2", "52:54:00:13:00:02", &disk2);
    let (packages2, hashes2) = (vm2.shell_ok(PACKAGES, SHELL_TIMEOUT).unwrap(), vm2.shell_ok(HASHES, SHELL_TIMEOUT).unwrap());
    assert_eq!(packages2, packages1, "the deployed capture lists other packages");
    assert_eq!(hashes2, hashes1, "the deployed capture holds other files");
    println!("{} packages and {} file hashes the same on both VMs", packages1.lines().count(), hashes1.lines().count());
    vm2.power_off(SHELL_TIMEOUT).unwrap();
}
