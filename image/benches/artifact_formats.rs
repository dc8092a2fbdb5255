//! squashfs against erofs for the image artifact, on one root directory: for each format and
//! compressor, build time, artifact size, unpack rate (unsquashfs / fsck.erofs --extract, the way a
//! stateful node gets its files), and how much the store grows when a second version differs by one
//! package (the same package's files copied from this host into a copy of the root).
//!
//! `cargo bench -p image --bench artifact_formats -- --root DIR [--package zstd] [--only TEXT]`
//! (DIR: e.g. `debootstrap --variant=minbase bookworm DIR`; `--only` keeps the rows whose
//! `format setting` contains TEXT). Prints a table and one JSON line.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use image::artifact::{PackOptions, pack_with, unpack};
use image::meta::{Family, ImageMeta, Source};
use image::store::Store;

/// Builds an artifact of a root at a path.
type Build = dyn Fn(&Path, &Path);

fn squashfs(compressor: &str, level: Option<u32>, extra: &[&str]) -> impl Fn(&Path, &Path) {
    let options = PackOptions { compressor: compressor.into(), level, ..PackOptions::default() };
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    move |root, out| {
        if extra.is_empty() {
            pack_with(root, out, &options).unwrap();
        } else {
            // Settings `pack` does not expose (fragments): mksquashfs directly, same fixed time.
            let mut cmd = Command::new("mksquashfs");
            cmd.arg(root).arg(out).args(["-noappend", "-no-progress", "-quiet", "-mkfs-time", "0", "-comp", &options.compressor]);
            if let Some(l) = level {
                cmd.args(["-Xcompression-level", &l.to_string()]);
            }
            run(cmd.args(&extra));
        }
    }
}

fn erofs(compressor: Option<&str>) -> impl Fn(&Path, &Path) {
    let compressor = compressor.map(str::to_string);
    move |root, out| {
        let mut cmd = Command::new("mkfs.erofs");
        cmd.args(["--quiet", "-T0", "-U00000000-0000-0000-0000-000000000000"]);
        if let Some(c) = &compressor {
            cmd.arg(format!("-z{c}"));
        }
        run(cmd.arg(out).arg(root));
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn tree_bytes(dir: &Path) -> u64 {
    let out = Command::new("du").args(["-sb", "--apparent-size"]).arg(dir).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().parse().unwrap()
}

fn meta() -> ImageMeta {
    ImageMeta {
        family: Family::Debian,
        release: "12".into(),
        kernels: vec![],
        packages: vec![],
        role: None,
        source: Source::Debootstrap { suite: "bookworm".into(), mirror: "bench".into() },
        parent_version: None,
        size_bytes: 0,
        created_unix_s: 0,
    }
}

/// Copies the regular files `dpkg -L package` lists on this host into `root` at the same paths.
fn add_host_package(root: &Path, package: &str) -> u64 {
    let list = Command::new("dpkg").args(["-L", package]).output().unwrap();
    assert!(list.status.success(), "dpkg -L {package}: is it installed on this host?");
    let mut bytes = 0;
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let src = Path::new(line);
        if src.is_file() && !src.is_symlink() {
            let dest = root.join(line.trim_start_matches('/'));
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            bytes += std::fs::copy(src, &dest).unwrap();
        }
    }
    bytes
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let Some(root) = arg("--root").map(PathBuf::from) else {
        eprintln!("usage: cargo bench -p image --bench artifact_formats -- --root DIR [--package NAME]");
        eprintln!("(a root to pack, e.g. `debootstrap --variant=minbase bookworm DIR`)");
        std::process::exit(2);
    };
    let package = arg("--package").unwrap_or_else(|| "zstd".into());
    let only = arg("--only").unwrap_or_default();
    let work = tempfile::tempdir_in("/var/tmp").unwrap();
    let root2 = work.path().join("root2");
    run(Command::new("cp").arg("-a").arg(&root).arg(&root2));
    let package_bytes = add_host_package(&root2, &package);
    let root_bytes = tree_bytes(&root);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .map_or("unknown".into(), |l| l.split(':').nth(1).unwrap_or("").trim().to_string());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("root {} ({root_bytes} bytes), second version adds package {package} ({package_bytes} bytes)", root.display());
    println!("cpu {cpu}, {} cores, load {}", std::thread::available_parallelism().map_or(0, |n| n.get()), load.trim());

    let squash_zstd3 = squashfs("zstd", Some(3), &[]);
    let squash_zstd15 = squashfs("zstd", Some(15), &[]);
    let squash_zstd19 = squashfs("zstd", Some(19), &[]);
    let squash_xz = squashfs("xz", None, &[]);
    let squash_lz4 = squashfs("lz4", None, &[]);
    let squash_zstd15_nofrag = squashfs("zstd", Some(15), &["-no-fragments"]);
    let erofs_lz4 = erofs(Some("lz4"));
    let erofs_lz4hc = erofs(Some("lz4hc,9"));
    let erofs_plain = erofs(None);
    let configs: Vec<(&str, &str, &Build)> = vec![
        ("squashfs", "zstd-3", &squash_zstd3),
        ("squashfs", "zstd-15", &squash_zstd15),
        ("squashfs", "zstd-19", &squash_zstd19),
        ("squashfs", "xz", &squash_xz),
        ("squashfs", "lz4", &squash_lz4),
        ("squashfs", "zstd-15-no-fragments", &squash_zstd15_nofrag),
        ("erofs", "lz4", &erofs_lz4),
        ("erofs", "lz4hc-9", &erofs_lz4hc),
        ("erofs", "none", &erofs_plain),
    ];
    println!("{:<9} {:<22} {:>8} {:>12} {:>9} {:>11} {:>14} {:>8}", "format", "setting", "build s", "bytes", "unpack s", "unpack MB/s", "growth bytes", "growth%");
    let mut results = Vec::new();
    for (format, setting, build) in configs.into_iter().filter(|(f, s, _)| format!("{f} {s}").contains(&only)) {
        let (a, b) = (work.path().join(format!("{format}-{setting}-1")), work.path().join(format!("{format}-{setting}-2")));
        let t = Instant::now();
        build(&root, &a);
        let build_s = t.elapsed().as_secs_f64();
        build(&root2, &b);
        let bytes = std::fs::metadata(&a).unwrap().len();
        let dest = work.path().join("unpacked");
        std::fs::create_dir(&dest).unwrap();
        let t = Instant::now();
        if format == "squashfs" {
            unpack(&a, &dest).unwrap();
        } else {
            run(Command::new("fsck.erofs").arg(format!("--extract={}", dest.display())).arg("--overwrite").arg(&a));
        }
        let unpack_s = t.elapsed().as_secs_f64();
        run(Command::new("rm").arg("-rf").arg(&dest));
        let store = Store::open(work.path().join(format!("store-{format}-{setting}"))).unwrap();
        store.publish("bench", &a, &meta()).unwrap();
        let growth = store.publish("bench", &b, &meta()).unwrap().new_bytes;
        let growth_pct = 100.0 * growth as f64 / bytes as f64;
        let unpack_mb_s = root_bytes as f64 / 1e6 / unpack_s;
        println!("{format:<9} {setting:<22} {build_s:>8.1} {bytes:>12} {unpack_s:>9.2} {unpack_mb_s:>11.0} {growth:>14} {growth_pct:>7.1}%");
        results.push(serde_json::json!({
            "format": format, "setting": setting, "build_s": build_s, "bytes": bytes,
            "unpack_s": unpack_s, "unpack_mb_s": unpack_mb_s, "growth_bytes": growth, "growth_pct": growth_pct,
        }));
        for f in [&a, &b] {
            std::fs::remove_file(f).unwrap();
        }
        std::fs::remove_dir_all(store.root()).unwrap();
    }
    let json = serde_json::json!({
        "bench": "artifact_formats", "root": root.display().to_string(), "root_bytes": root_bytes,
        "package": package, "package_bytes": package_bytes, "cpu": cpu, "load": load.trim(), "results": results,
    });
    println!("{json}");
}
