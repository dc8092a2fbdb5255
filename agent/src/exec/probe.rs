//! Reads the state of the node's disks for the planner, with read-only commands: `sgdisk -p` per
//! disk, `mdadm --examine/--detail --scan`, `pvs`/`lvs` as JSON, `blkid` and the mount table. Paths
//! are made canonical here (the planner compares them as strings).
use std::collections::BTreeMap;

use control::inventory::Inventory;
use serde::Deserialize;

use super::runner::{Logged, Runner};
use super::{ApplyError, failure, run_logged};
use crate::plan::current::{Current, CurrentArray, CurrentDisk, CurrentFs, CurrentLv, CurrentPartition, CurrentVg};
use crate::plan::partition_path;

/// blkid's exit status when it found nothing to report.
const BLKID_NOTHING_FOUND: i32 = 2;

/// The path with symlinks resolved, or itself when it does not resolve (a device not present).
fn canonical(path: &str) -> String {
    std::fs::canonicalize(path).map_or_else(|_| path.to_string(), |p| p.to_string_lossy().into_owned())
}

/// Reads the current state of every disk in `inventory`.
pub fn probe(inventory: &Inventory, runner: &mut dyn Runner, log: &mut Vec<Logged>) -> Result<Current, ApplyError> {
    let mut run = |args: &[&str], nothing_found: Option<i32>| -> Result<String, ApplyError> {
        let argv: Vec<String> = args.iter().map(ToString::to_string).collect();
        let probe_error = |output| ApplyError::Probe { command: argv.join(" "), output };
        let out = run_logged(runner, &argv, log).map_err(probe_error)?;
        match out.code {
            _ if out.success => Ok(out.stdout),
            Some(code) if Some(code) == nothing_found => Ok(String::new()),
            _ => Err(probe_error(failure(&out))),
        }
    };
    let mut current = Current::default();
    for disk in &inventory.disks {
        current.disks.push(parse_sgdisk(&disk.path, &run(&["sgdisk", "-p", &disk.path], None)?));
    }
    let examined = parse_md_scan(&run(&["mdadm", "--examine", "--scan", "--verbose"], None)?);
    let running = parse_md_scan(&run(&["mdadm", "--detail", "--scan", "--verbose"], None)?);
    for (path, mut array, uuid) in examined {
        array.device = running.iter().find(|(_, _, u)| *u == uuid).map(|(p, _, _)| canonical(p));
        if let Some(dev) = &array.device {
            // mdadm names an array from a foreign host `/dev/md/host:name`; the planner asks for
            // `/dev/md/<name>`.
            current.aliases.insert(format!("/dev/md/{}", array.name), dev.clone());
            current.aliases.insert(path, dev.clone());
        }
        current.arrays.push(array);
    }
    current.vgs = parse_lvm(
        &run(&["pvs", "--reportformat", "json", "-o", "pv_name,vg_name"], None)?,
        &run(&["lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "vg_name,lv_name,lv_size,lv_path,lv_active"], None)?,
        &mut current.aliases,
    );
    current.filesystems = parse_blkid(&run(&["blkid", "-c", "/dev/null", "-o", "export"], Some(BLKID_NOTHING_FOUND))?);
    current.mounts = parse_mounts(&run(&["cat", "/proc/self/mounts"], None)?);
    Ok(current)
}

/// Parses `sgdisk -p`: whether a GPT is there, the sector size and the partitions.
pub fn parse_sgdisk(disk: &str, out: &str) -> CurrentDisk {
    let gpt = !(out.contains("Creating new GPT entries") || out.contains("converting MBR to GPT") || out.contains("Found invalid GPT"));
    let sector: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("Sector size (logical): "))
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(512);
    let mut partitions = Vec::new();
    let rows = out.lines().skip_while(|l| !l.starts_with("Number")).skip(1);
    for row in rows {
        let f: Vec<&str> = row.split_whitespace().collect();
        let (Some(Ok(number)), Some(Ok(start)), Some(Ok(end))) =
            (f.first().map(|s| s.parse::<u32>()), f.get(1).map(|s| s.parse::<u64>()), f.get(2).map(|s| s.parse::<u64>()))
        else {
            continue;
        };
        partitions.push(CurrentPartition {
            number,
            path: partition_path(disk, number),
            start: start * sector,
            size: (end + 1 - start) * sector,
            type_code: f.get(5).unwrap_or(&"").to_string(),
            name: f.get(6..).map(|n| n.join(" ")).unwrap_or_default(),
        });
    }
    CurrentDisk { path: disk.to_string(), gpt, partitions }
}

/// Parses `mdadm --examine/--detail --scan --verbose` into (ARRAY path, array, UUID).
pub fn parse_md_scan(out: &str) -> Vec<(String, CurrentArray, String)> {
    let mut arrays: Vec<(String, CurrentArray, String)> = Vec::new();
    for line in out.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("ARRAY ") {
            let mut words = rest.split_whitespace();
            let path = words.next().unwrap_or_default().to_string();
            let mut array = CurrentArray::default();
            let mut uuid = String::new();
            for w in words {
                match w.split_once('=') {
                    Some(("level", l)) => array.level = l.trim_start_matches("raid").parse().unwrap_or(u8::MAX),
                    Some(("name", n)) => array.name = n.rsplit(':').next().unwrap_or(n).to_string(),
                    Some(("UUID", u)) => uuid = u.to_string(),
                    _ => {}
                }
            }
            if array.name.is_empty() {
                array.name = path.rsplit('/').next().unwrap_or_default().to_string();
            }
            arrays.push((path, array, uuid));
        } else if let (Some(devices), Some(last)) = (line.strip_prefix("devices="), arrays.last_mut()) {
            last.1.members = devices.split(',').filter(|d| !d.is_empty()).map(canonical).collect();
        }
    }
    arrays
}

#[derive(Deserialize)]
struct Report<T> {
    report: Vec<T>,
}

#[derive(Deserialize)]
struct PvReport {
    pv: Vec<PvRow>,
}

#[derive(Deserialize)]
struct PvRow {
    pv_name: String,
    vg_name: String,
}

#[derive(Deserialize)]
struct LvReport {
    lv: Vec<LvRow>,
}

#[derive(Deserialize)]
struct LvRow {
    vg_name: String,
    lv_name: String,
    lv_size: String,
    lv_path: String,
    lv_active: String,
}

/// Parses `pvs` and `lvs` JSON reports into volume groups, recording each LV's path as an alias.
pub fn parse_lvm(pvs: &str, lvs: &str, aliases: &mut BTreeMap<String, String>) -> Vec<CurrentVg> {
    let pvs: Vec<PvRow> = serde_json::from_str::<Report<PvReport>>(pvs).map(|r| r.report.into_iter().flat_map(|r| r.pv).collect()).unwrap_or_default();
    let lvs: Vec<LvRow> = serde_json::from_str::<Report<LvReport>>(lvs).map(|r| r.report.into_iter().flat_map(|r| r.lv).collect()).unwrap_or_default();
    let mut vgs: Vec<CurrentVg> = Vec::new();
    for pv in pvs.into_iter().filter(|p| !p.vg_name.is_empty()) {
        let dev = canonical(&pv.pv_name);
        match vgs.iter_mut().find(|v| v.name == pv.vg_name) {
            Some(vg) => vg.pvs.push(dev),
            None => vgs.push(CurrentVg { name: pv.vg_name, pvs: vec![dev], lvs: Vec::new() }),
        }
    }
    for lv in lvs {
        let device = (lv.lv_active == "active").then(|| canonical(&lv.lv_path));
        if let Some(dev) = &device {
            aliases.insert(lv.lv_path.clone(), dev.clone());
        }
        let entry = CurrentLv { name: lv.lv_name, size: lv.lv_size.trim().parse().unwrap_or(0), device };
        if let Some(vg) = vgs.iter_mut().find(|v| v.name == lv.vg_name) {
            vg.lvs.push(entry);
        }
    }
    vgs
}

/// Parses `blkid -o export`: blank-line separated blocks of `KEY=value`.
pub fn parse_blkid(out: &str) -> BTreeMap<String, CurrentFs> {
    let mut map = BTreeMap::new();
    for block in out.split("\n\n") {
        let mut dev = None;
        let mut fs = CurrentFs::default();
        for line in block.lines() {
            match line.split_once('=') {
                Some(("DEVNAME", v)) => dev = Some(canonical(v)),
                Some(("TYPE", v)) => fs.fs_type = v.to_string(),
                Some(("UUID", v)) => fs.uuid = v.to_string(),
                Some(("LABEL", v)) => fs.label = v.to_string(),
                _ => {}
            }
        }
        if let Some(dev) = dev.filter(|_| !fs.fs_type.is_empty()) {
            map.insert(dev, fs);
        }
    }
    map
}

/// Parses `/proc/self/mounts` into mount point -> device, for block devices only.
pub fn parse_mounts(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let dev = f.next()?;
            let at = f.next()?;
            dev.starts_with("/dev/").then(|| (at.replace("\\040", " "), canonical(dev)))
        })
        .collect()
}
