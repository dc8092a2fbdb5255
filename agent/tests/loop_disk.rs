//! The executor and probe against real tools on a real loop device: wipefs, sgdisk, mkfs.*, mkswap,
//! blkid. The host's loop devices get no partition nodes and it has no MD or device-mapper, so RAID,
//! LVM and filesystems on partitions are left to the VM tests; what is here runs for real.
use std::process::Command;

use agent::exec::{self, ApplyError, SystemRunner};
use agent::layout::{Mode, apply};
use agent::plan::Step;
use control::inventory::{Inventory, InventoryDisk};
use control::layout::{FsType, Protected};

/// Size of the backing file: room for a GPT, a bios_grub partition and a small root.
const LOOP_BYTES: u64 = 64 << 20;
/// mkfs.xfs refuses devices under 300 MiB (the file is sparse).
const XFS_LOOP_BYTES: u64 = 320 << 20;

/// A loop device over a temporary file, detached on drop.
struct Loop {
    path: String,
    bytes: u64,
    _file: tempfile::NamedTempFile,
}

impl Loop {
    /// A fresh loop device of `bytes`, or `None` (with the reason printed) where this host cannot make one.
    fn new(bytes: u64) -> Option<Loop> {
        let file = tempfile::NamedTempFile::new().ok()?;
        file.as_file().set_len(bytes).ok()?;
        let out = Command::new("losetup").args(["--find", "--show"]).arg(file.path()).output();
        match out {
            Ok(o) if o.status.success() => Some(Loop { path: String::from_utf8_lossy(&o.stdout).trim().to_string(), bytes, _file: file }),
            Ok(o) => {
                println!("SKIPPED: losetup failed (needs root and loop devices): {}", String::from_utf8_lossy(&o.stderr).trim());
                None
            }
            Err(e) => {
                println!("SKIPPED: losetup cannot run: {e}");
                None
            }
        }
    }

    fn inventory(&self) -> Inventory {
        let name = self.path.trim_start_matches("/dev/").to_string();
        Inventory { disks: vec![InventoryDisk { name, path: self.path.clone(), size_bytes: self.bytes, ..Default::default() }], ..Default::default() }
    }

    fn sgdisk_print(&self) -> String {
        String::from_utf8_lossy(&Command::new("sgdisk").arg("-p").arg(&self.path).output().unwrap().stdout).into_owned()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("--detach").arg(&self.path).status();
    }
}

fn layout(disk: &str) -> control::layout::Layout {
    control::layout::parse(&format!(
        "bootloader: bios
disks:
  - id: sys
    match: {{ path: {disk} }}
    partitions:
      - {{ id: grub, size: 1M, flags: [bios_grub] }}
      - {{ id: root, size: rest, fs: ext4, mount: / }}
"
    ))
    .unwrap()
}

#[test]
fn mkfs_and_wipe_steps_leave_what_the_probe_reads() {
    let Some(lo) = Loop::new(XFS_LOOP_BYTES) else { return };
    let inv = lo.inventory();
    let mut runner = SystemRunner;
    let mut log = Vec::new();
    let plan = |steps: Vec<Step>| agent::plan::Plan {
        target: "/nonexistent".into(),
        disks: vec![],
        disk_paths: vec![lo.path.clone()],
        protected: vec![],
        rebuild: Some("test".into()),
        warnings: vec![],
        steps,
        fstab: vec![],
        boot_disks: vec![],
        spare_esps: vec![],
    };
    for (fs, blkid) in [(FsType::Ext4, "ext4"), (FsType::Xfs, "xfs"), (FsType::Vfat, "vfat"), (FsType::Swap, "swap")] {
        let mkfs = Step::Mkfs { device: lo.path.clone(), fs, size: lo.bytes };
        exec::execute(&plan(vec![mkfs]), &mut runner, &mut log).unwrap_or_else(|e| panic!("{e}"));
        let current = exec::probe(&inv, &mut runner, &mut log).unwrap();
        let found = current.filesystems.get(&lo.path).unwrap_or_else(|| panic!("no {blkid} on {}: {log:#?}", lo.path));
        assert_eq!(found.fs_type, blkid);
        assert!(!found.uuid.is_empty(), "{blkid} has a UUID");
    }
    exec::execute(&plan(vec![Step::Wipe { device: lo.path.clone() }]), &mut runner, &mut log).unwrap();
    let current = exec::probe(&inv, &mut runner, &mut log).unwrap();
    assert_eq!(current.filesystems.get(&lo.path), None, "wipefs removed the signature");
    assert!(log.iter().all(|l| !l.command.is_empty()));
}

#[test]
fn the_planned_partition_table_is_written_exactly_and_then_converges() {
    let Some(lo) = Loop::new(LOOP_BYTES) else { return };
    let inv = lo.inventory();
    let l = layout(&lo.path);
    let mut runner = SystemRunner;
    let mut log = Vec::new();
    let current = exec::probe(&inv, &mut runner, &mut log).unwrap();
    let plan = agent::plan::plan(&l, &inv, &Protected::default(), &current, "/nonexistent").unwrap();
    assert_eq!(plan.rebuild, Some(format!("{} has no GPT", lo.path)));
    // Run the steps up to the first that needs a partition node, which loop devices here lack.
    let first_partition = agent::plan::partition_path(&lo.path, 1);
    let upto = plan.steps.iter().position(|s| s.argv().contains(&first_partition)).unwrap();
    let tables = agent::plan::Plan { steps: plan.steps[..upto].to_vec(), ..plan.clone() };
    exec::execute(&tables, &mut runner, &mut log).unwrap_or_else(|e| panic!("{e}"));

    let current = exec::probe(&inv, &mut runner, &mut log).unwrap();
    let disk = current.disk(&lo.path).unwrap();
    assert!(disk.gpt);
    assert_eq!(disk.partitions.iter().map(|p| (p.start, p.size, p.type_code.as_str(), p.name.as_str())).collect::<Vec<_>>(), [
        (1 << 20, 1 << 20, "EF02", "grub"),
        (2 << 20, 61 << 20, "8300", "root")
    ]);
    let again = agent::plan::plan(&l, &inv, &Protected::default(), &current, "/nonexistent").unwrap();
    assert_eq!(again.rebuild, Some(format!("{} holds no ext4", agent::plan::partition_path(&lo.path, 2))), "the table already matches");
}

#[test]
fn a_failed_step_leaves_the_disk_without_a_partition_table() {
    let Some(lo) = Loop::new(LOOP_BYTES) else { return };
    let inv = lo.inventory();
    let mut runner = SystemRunner;
    // An old filesystem on the disk, which the plan's wipe must remove.
    let old = Command::new("mkfs.ext4").args(["-F", "-q", &lo.path]).status().unwrap();
    assert!(old.success());
    let err = apply(&layout(&lo.path), &inv, &Protected::default(), "/nonexistent", Mode::Apply, &mut runner).unwrap_err();
    let ApplyError::Step(f) = &err else { panic!("{err}") };
    // The first step that needs a partition node fails: there are none for loop devices here.
    let p1 = agent::plan::partition_path(&lo.path, 1);
    assert_eq!(f.command, format!("wipefs --all --force {p1}"));
    assert!(f.output.contains(&p1), "the tool's own message: {}", f.output);
    assert_eq!(f.cleared, std::slice::from_ref(&lo.path));
    assert!(f.cleanup_errors.is_empty());
    assert!(lo.sgdisk_print().contains("Creating new GPT entries"), "no partition table left:\n{}", lo.sgdisk_print());
    let blkid = Command::new("blkid").args(["-c", "/dev/null", "-p", &lo.path]).output().unwrap();
    assert!(!String::from_utf8_lossy(&blkid.stdout).contains("ext4"), "the old filesystem was wiped");
}

#[test]
fn a_dry_run_writes_nothing() {
    let Some(lo) = Loop::new(LOOP_BYTES) else { return };
    let inv = lo.inventory();
    assert!(Command::new("mkfs.ext4").args(["-F", "-q", &lo.path]).status().unwrap().success());
    let before = std::fs::read(&lo.path).unwrap();
    let report = apply(&layout(&lo.path), &inv, &Protected::default(), "/nonexistent", Mode::DryRun, &mut SystemRunner).unwrap();
    assert!(report.plan.destructive());
    assert!(report.plan.to_string().contains(&format!("wipefs --all --force {}", lo.path)));
    assert!(std::fs::read(&lo.path).unwrap() == before, "not one byte changed");
}

/// The UUID `blkid` reads from `device` now (no cache).
fn uuid(device: &str) -> String {
    let out = Command::new("blkid").args(["-c", "/dev/null", "-s", "UUID", "-o", "value", device]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_converged_layouts_filesystems_are_made_again_and_mounted_back_empty() {
    let (Some(root), Some(var)) = (Loop::new(LOOP_BYTES), Loop::new(XFS_LOOP_BYTES)) else { return };
    let target = tempfile::tempdir().unwrap();
    let t = target.path();
    let fstab = vec![
        agent::plan::FstabEntry { device: root.path.clone(), fs: FsType::Ext4, mount: Some("/".into()) },
        agent::plan::FstabEntry { device: var.path.clone(), fs: FsType::Xfs, mount: Some("/var".into()) },
    ];
    // The previous install: both filesystems made and mounted as the layout step does, then filled.
    for (e, at) in [(&fstab[0], t.to_path_buf()), (&fstab[1], t.join("var"))] {
        for step in [Step::Mkfs { device: e.device.clone(), fs: e.fs, size: 0 }, Step::Mkdir { path: at.display().to_string() }, Step::Mount { device: e.device.clone(), fs: e.fs, target: at.display().to_string() }] {
            let argv = step.argv();
            assert!(Command::new(&argv[0]).args(&argv[1..]).status().unwrap().success(), "{step}");
        }
    }
    for dir in ["etc/ssh", "var/lib/old"] {
        std::fs::create_dir_all(t.join(dir)).unwrap();
    }
    for file in ["etc/ssh/key", "var/lib/old/state", "old"] {
        std::fs::write(t.join(file), b"previous install").unwrap();
    }
    let before = (uuid(&root.path), uuid(&var.path));

    let remade = agent::install::remake::remake(t, &fstab);
    let list = |dir: &std::path::Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir).map(|r| r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
        names.sort();
        names
    };
    let (in_root, in_var) = (list(t), list(&t.join("var")));
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let mounted: Vec<String> = mounts.lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|m| m.starts_with(&t.display().to_string())).map(String::from).collect();
    for m in mounted.iter().rev() {
        let _ = Command::new("umount").arg(m).status();
    }
    remade.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mounted, [t.display().to_string(), t.join("var").display().to_string()], "both mounted back, / first");
    assert_eq!((in_root, in_var), (vec!["lost+found".to_string(), "var".to_string()], Vec::<String>::new()), "nothing of the previous install is left");
    let after = (uuid(&root.path), uuid(&var.path));
    assert!(after.0 != before.0 && after.1 != before.1 && !after.0.is_empty() && !after.1.is_empty(), "new filesystems: {before:?} -> {after:?}");
}
