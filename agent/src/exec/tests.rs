//! Executor, probe and `apply` tests with a scripted runner: the command sequences, the cleanup after
//! a failure, and the parsers on real tool output.
use control::inventory::{Inventory, InventoryDisk};
use control::layout::Protected;

use super::probe::{parse_blkid, parse_lvm, parse_md_scan, parse_mounts, parse_sgdisk};
use super::*;
use crate::layout::{Mode, apply};

/// Records every command; answers from a list of (command prefix, output), succeeding by default. An
/// answer may wait until a command with another prefix has run.
#[derive(Default)]
struct Script {
    answers: Vec<(String, Option<String>, CommandOutput)>,
    ran: Vec<String>,
}

impl Script {
    fn answer(mut self, prefix: &str, out: CommandOutput) -> Self {
        self.answers.push((prefix.to_string(), None, out));
        self
    }

    fn answer_after(mut self, prefix: &str, after: &str, out: CommandOutput) -> Self {
        self.answers.push((prefix.to_string(), Some(after.to_string()), out));
        self
    }
}

impl Runner for Script {
    fn run(&mut self, argv: &[String]) -> std::io::Result<CommandOutput> {
        let line = argv.join(" ");
        self.ran.push(line.clone());
        if line.starts_with("missing-tool") {
            return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"));
        }
        let armed = |after: &Option<String>| after.as_ref().is_none_or(|a| self.ran.iter().any(|r| r.starts_with(a.as_str())));
        let answer = self.answers.iter().find(|(p, after, _)| line.starts_with(p.as_str()) && armed(after));
        Ok(answer.map_or_else(|| CommandOutput::ok(""), |(_, _, o)| o.clone()))
    }
}

const G: u64 = 1 << 30;

fn inventory() -> Inventory {
    let d = |name: &str, serial: &str| InventoryDisk { name: name.into(), path: format!("/dev/{name}"), size_bytes: 8 * G, serial: serial.into(), ..Default::default() };
    Inventory { disks: vec![d("vda", "a"), d("vdb", "b"), d("vdc", "keep")], ..Default::default() }
}

const LAYOUT: &str = "bootloader: bios
disks:
  - { id: a, match: { size: '>=4G' }, partitions: [ { id: g, size: 1M, flags: [bios_grub] }, { id: a2, size: rest } ] }
  - { id: b, match: { size: '>=4G' }, partitions: [ { id: b2, size: rest } ] }
raid: [ { id: md0, level: 1, members: [a2, b2], fs: ext4, mount: / } ]
";

/// sgdisk -p of a blank disk, as sgdisk prints it.
const BLANK: &str = "Creating new GPT entries in memory.
Disk /dev/vda: 16777216 sectors, 8.0 GiB
Sector size (logical): 512 bytes
Number  Start (sector)    End (sector)  Size       Code  Name
";

fn blank_disks(s: Script) -> Script {
    s.answer("sgdisk -p", CommandOutput::ok(BLANK))
}

fn is_probe(c: &str) -> bool {
    ["sgdisk -p", "mdadm --examine --scan", "mdadm --detail --scan", "pvs ", "lvs ", "blkid ", "cat /proc/self/mounts"].iter().any(|p| c.starts_with(p))
}

#[test]
fn a_dry_run_only_reads() {
    let layout = control::layout::parse(LAYOUT).unwrap();
    let mut script = blank_disks(Script::default());
    let report = apply(&layout, &inventory(), &Protected(vec!["keep".into()]), "/target", Mode::DryRun, &mut script).unwrap();
    assert!(report.plan.destructive());
    assert!(script.ran.iter().all(|c| is_probe(c)), "{:#?}", script.ran);
    assert_eq!(script.ran.iter().filter(|c| c.starts_with("sgdisk -p")).count(), 3, "every disk is read, protected ones too (reading is allowed)");
    assert_eq!(report.log.len(), script.ran.len(), "every command is logged");
}

#[test]
fn apply_runs_the_plan_after_the_probe() {
    let layout = control::layout::parse(LAYOUT).unwrap();
    let mut script = blank_disks(Script::default());
    let report = apply(&layout, &inventory(), &Protected(vec!["keep".into()]), "/target", Mode::Apply, &mut script).unwrap();
    let steps: Vec<&String> = script.ran.iter().skip_while(|c| is_probe(c)).collect();
    let planned: Vec<String> = report.plan.steps.iter().map(|s| s.argv().join(" ")).collect();
    assert_eq!(steps, planned.iter().collect::<Vec<_>>());
    assert!(script.ran.iter().all(|c| !c.contains("vdc") || c == "sgdisk -p /dev/vdc"), "the protected disk is only read");
}

#[test]
fn a_failed_step_clears_the_tables_and_keeps_the_first_error() {
    let layout = control::layout::parse(LAYOUT).unwrap();
    let mut script = blank_disks(Script::default())
        .answer("mdadm --create", CommandOutput::failed(1, "mdadm: cannot open /dev/vda2: Device or resource busy\n"))
        .answer_after("sgdisk --zap-all /dev/vdb", "mdadm --create", CommandOutput::failed(4, "Problem opening /dev/vdb for writing!"));
    let err = apply(&layout, &inventory(), &Protected(vec!["keep".into()]), "/target", Mode::Apply, &mut script).unwrap_err();
    let ApplyError::Step(f) = &err else { panic!("{err}") };
    assert_eq!(f.command, "mdadm --create /dev/md/md0 --run --metadata=1.2 --assume-clean --name=md0 --level=1 --raid-devices=2 /dev/vda2 /dev/vdb1");
    assert_eq!(f.output, "exit status 1: mdadm: cannot open /dev/vda2: Device or resource busy");
    assert_eq!(f.cleared, ["/dev/vda"]);
    assert_eq!(f.cleanup_errors, ["`sgdisk --zap-all /dev/vdb`: exit status 4: Problem opening /dev/vdb for writing!"]);
    assert_eq!(
        err.to_string(),
        format!(
            "step {} (RAID 1 /dev/md/md0 of /dev/vda2, /dev/vdb1) failed: `{}`: exit status 1: mdadm: cannot open /dev/vda2: Device or resource busy; partition tables cleared on /dev/vda; cleanup also failed: `sgdisk --zap-all /dev/vdb`: exit status 4: Problem opening /dev/vdb for writing!",
            f.number, f.command
        )
    );
    let after: Vec<&String> = script.ran.iter().skip_while(|c| !c.starts_with("mdadm --create")).collect();
    assert_eq!(after, ["mdadm --create /dev/md/md0 --run --metadata=1.2 --assume-clean --name=md0 --level=1 --raid-devices=2 /dev/vda2 /dev/vdb1", "sgdisk --zap-all /dev/vda", "sgdisk --zap-all /dev/vdb"]);
}

#[test]
fn a_failed_mount_on_converged_disks_clears_nothing() {
    let plan = crate::plan::Plan {
        target: "/t".into(),
        disks: vec![],
        disk_paths: vec!["/dev/vda".into()],
        protected: vec![],
        rebuild: None,
        warnings: vec![],
        steps: vec![
            crate::plan::Step::Mkdir { path: "/t".into() },
            crate::plan::Step::Mount { device: "/dev/vda2".into(), fs: control::layout::FsType::Ext4, target: "/t".into() },
        ],
        fstab: vec![],
        boot_disks: vec!["/dev/vda".into()],
        spare_esps: Vec::new(),
    };
    let mut script = Script::default().answer("mount", CommandOutput::failed(32, "mount: /t: wrong fs type"));
    let mut log = Vec::new();
    let err = execute(&plan, &mut script, &mut log).unwrap_err();
    assert!(err.to_string().ends_with("exit status 32: mount: /t: wrong fs type; no disk had been changed"), "{err}");
    assert_eq!(script.ran, ["mkdir -p /t", "mount -t ext4 /dev/vda2 /t"]);
}

#[test]
fn a_probe_that_cannot_run_is_an_error_before_any_write() {
    let layout = control::layout::parse(LAYOUT).unwrap();
    let mut script = blank_disks(Script::default()).answer("pvs", CommandOutput::failed(5, "  /dev/mapper/control: open failed"));
    let err = apply(&layout, &inventory(), &Protected::default(), "/target", Mode::Apply, &mut script).unwrap_err();
    assert_eq!(
        err.to_string(),
        "probing the disks: `pvs --reportformat json -o pv_name,vg_name` failed: exit status 5: /dev/mapper/control: open failed"
    );
    assert!(script.ran.iter().all(|c| is_probe(c)));
    let mut log = Vec::new();
    assert_eq!(run_logged(&mut Script::default(), &["missing-tool".into()], &mut log).unwrap_err(), "could not run it: No such file or directory");
}

#[test]
fn a_layout_that_does_not_fit_is_refused_before_even_probing() {
    let layout = control::layout::parse(&LAYOUT.replace("'>=4G'", "'>=1T'")).unwrap();
    let mut script = Script::default();
    let err = apply(&layout, &inventory(), &Protected::default(), "/target", Mode::Apply, &mut script).unwrap_err();
    assert!(matches!(err, ApplyError::Plan(crate::plan::PlanError::NoMatch { .. })), "{err}");
    assert!(script.ran.is_empty());
}

#[test]
fn stopped_arrays_and_inactive_groups_on_the_chosen_disks_are_brought_up_before_planning() {
    let layout = control::layout::parse(LAYOUT).unwrap();
    let gpt = |x: &str| {
        format!(
            "Disk /dev/vd{x}: 16777216 sectors, 8.0 GiB\nSector size (logical): 512 bytes\n\nNumber  Start (sector)    End (sector)  Size       Code  Name\n   1            2048         16775167   8.0 GiB     FD00  {x}2\n"
        )
    };
    let examine = "ARRAY /dev/md/md0  level=raid1 metadata=1.2 num-devices=2 UUID=1:2:3:4 name=node1:md0\n   devices=/dev/vda1,/dev/vdb1\nARRAY /dev/md/old  level=raid1 metadata=1.2 num-devices=2 UUID=5:6:7:8 name=node1:old\n   devices=/dev/vdc1\n";
    let mut script = Script::default()
        .answer("sgdisk -p /dev/vda", CommandOutput::ok(&gpt("a")))
        .answer("sgdisk -p /dev/vdb", CommandOutput::ok(&gpt("b")))
        .answer("sgdisk -p /dev/vdc", CommandOutput::ok(&gpt("c")))
        .answer("mdadm --examine", CommandOutput::ok(examine))
        .answer_after("mdadm --detail", "mdadm --assemble", CommandOutput::ok(&examine[..examine.find("ARRAY /dev/md/old").unwrap()]))
        .answer_after("pvs", "mdadm --assemble", CommandOutput::ok(r#"{"report":[{"pv":[{"pv_name":"/dev/md/md0","vg_name":"vg0"}]}]}"#))
        .answer_after(
            "lvs",
            "vgchange",
            CommandOutput::ok(r#"{"report":[{"lv":[{"vg_name":"vg0","lv_name":"root","lv_size":"4194304","lv_path":"/dev/vg0/root","lv_active":"active"}]}]}"#),
        )
        .answer_after(
            "lvs",
            "mdadm --assemble",
            CommandOutput::ok(r#"{"report":[{"lv":[{"vg_name":"vg0","lv_name":"root","lv_size":"4194304","lv_path":"/dev/vg0/root","lv_active":""}]}]}"#),
        );
    let _ = apply(&layout, &inventory(), &Protected(vec!["keep".into()]), "/target", Mode::DryRun, &mut script);
    let assembled: Vec<&String> = script.ran.iter().filter(|c| c.starts_with("mdadm --assemble")).collect();
    assert_eq!(assembled, ["mdadm --assemble --run /dev/md/md0 /dev/vda1 /dev/vdb1"], "the array on the protected disk stays down");
    let activated: Vec<&String> = script.ran.iter().filter(|c| c.starts_with("vgchange")).collect();
    assert_eq!(activated, ["vgchange --activate y vg0"], "then the group on the array");
    assert_eq!(script.ran.iter().filter(|c| c.starts_with("sgdisk -p /dev/vda")).count(), 3, "probed again after each round of activation");
}

#[test]
fn parsers_read_real_tool_output() {
    let out = "Disk /dev/vda: 16777216 sectors, 8.0 GiB
Sector size (logical): 512 bytes
Disk identifier (GUID): 72DFCB60-9B2A-4A4C-8EDB-0850823143FA
Partition table holds up to 128 entries

Number  Start (sector)    End (sector)  Size       Code  Name
   1            2048            4095   1024.0 KiB  EF02  grub
   2            4096        16775167   8.0 GiB     8300  my root
";
    let d = parse_sgdisk("/dev/nvme0n1", out);
    assert!(d.gpt);
    assert_eq!(d.partitions.len(), 2);
    assert_eq!((d.partitions[0].start, d.partitions[0].size, d.partitions[0].type_code.as_str()), (1 << 20, 1 << 20, "EF02"));
    assert_eq!((d.partitions[1].path.as_str(), d.partitions[1].name.as_str()), ("/dev/nvme0n1p2", "my root"));
    assert!(!parse_sgdisk("/dev/sda", BLANK).gpt);
    assert!(!parse_sgdisk("/dev/sda", "Found invalid GPT and valid MBR; converting MBR to GPT format\nin memory.\n").gpt);

    let md = parse_md_scan("ARRAY /dev/md/boot level=raid1 num-devices=2 metadata=1.2 name=fountain:boot UUID=a:b:c:d\n   devices=/dev/vda2,/dev/vdb2\n");
    assert_eq!(md.len(), 1);
    assert_eq!((md[0].0.as_str(), md[0].1.name.as_str(), md[0].1.level, md[0].2.as_str()), ("/dev/md/boot", "boot", 1, "a:b:c:d"));
    assert_eq!(md[0].1.members, ["/dev/vda2", "/dev/vdb2"]);
    assert_eq!(parse_md_scan("ARRAY /dev/md10 level=raid10 UUID=x\n")[0].1.name, "md10");

    let pvs = r#"  {
      "report": [ { "pv": [ {"pv_name":"/dev/md126", "vg_name":"vg0"}, {"pv_name":"/dev/sdz", "vg_name":""} ] } ]
  }"#;
    let lvs = r#"{"report":[{"lv":[{"vg_name":"vg0","lv_name":"root","lv_size":"2147483648","lv_path":"/dev/vg0/root","lv_active":"active"},
        {"vg_name":"vg0","lv_name":"swap","lv_size":"1073741824","lv_path":"/dev/vg0/swap","lv_active":""}]}]}"#;
    let mut aliases = Default::default();
    let vgs = parse_lvm(pvs, lvs, &mut aliases);
    assert_eq!(vgs.len(), 1, "a PV in no group is no group");
    assert_eq!(vgs[0].pvs, ["/dev/md126"]);
    assert_eq!((vgs[0].lvs[0].size, vgs[0].lvs[0].device.as_deref()), (2 << 30, Some("/dev/vg0/root")));
    assert_eq!(vgs[0].lvs[1].device, None, "inactive");
    assert_eq!(aliases.len(), 1);

    let fs = parse_blkid("DEVNAME=/dev/vda2\nUUID=1234\nBLOCK_SIZE=4096\nTYPE=ext4\n\nDEVNAME=/dev/vda1\nPARTLABEL=grub\n\nDEVNAME=/dev/md127\nLABEL=boot\nUUID=9\nTYPE=xfs\n");
    assert_eq!(fs.len(), 2, "devices without a signature are left out");
    assert_eq!((fs["/dev/vda2"].fs_type.as_str(), fs["/dev/vda2"].uuid.as_str()), ("ext4", "1234"));
    assert_eq!(fs["/dev/md127"].label, "boot");

    let m = parse_mounts("proc /proc proc rw 0 0\n/dev/vda2 /target ext4 rw 0 0\n/dev/vda3 /target/my\\040data xfs rw 0 0\n");
    assert_eq!(m.len(), 2);
    assert_eq!(m["/target/my data"], "/dev/vda3");
}

#[test]
fn a_running_array_is_known_by_its_layout_name_whatever_mdadm_called_it() {
    let scan = "ARRAY /dev/md/node1:md0 level=raid1 num-devices=2 metadata=1.2 name=node1:md0 UUID=1:2:3:4\n   devices=/dev/vda1,/dev/vdb1\n";
    let mut script = blank_disks(Script::default()).answer("mdadm --examine", CommandOutput::ok(scan)).answer("mdadm --detail", CommandOutput::ok(scan));
    let current = probe(&inventory(), &mut script, &mut Vec::new()).unwrap();
    assert_eq!(current.arrays[0].device.as_deref(), Some("/dev/md/node1:md0"));
    assert_eq!(current.canonical("/dev/md/md0"), "/dev/md/node1:md0");
}
