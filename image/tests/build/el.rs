//! EL images from an ISO (a fake one made by the test) with two built-in roles.
use std::path::Path;
use std::process::Command;

use image::build::el::{self, ElSpec};
use image::meta::{Family, Source};
use image::publish::publish_root;
use image::store::Store;
use image::role::Role;

use crate::fake_el_iso;

/// Installed per the root's own rpm database.
fn rpm_installed(root: &Path, name: &str) -> bool {
    Command::new("rpm")
        .args(["--define", "_dbpath /var/lib/rpm", "--define", "_db_backend sqlite", "--root"])
        .arg(root)
        .args(["-q", name])
        .output()
        .unwrap()
        .status
        .success()
}

/// Regular files below `dir`, recursively.
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .map(|e| e.unwrap())
        .map(|e| if e.file_type().unwrap().is_dir() { files_under(&e.path()) } else { 1 })
        .sum()
}

#[test]
fn compute_and_storage_roles_from_an_iso_differ_as_they_say() {
    let dir = tempfile::tempdir().unwrap();
    let iso = fake_el_iso::make(dir.path());
    let iso_blake3 = blake3::hash(&std::fs::read(&iso).unwrap()).to_hex().to_string();
    let spec = ElSpec { iso, iso_blake3: iso_blake3.clone() };
    let mut built = Vec::new();
    for name in ["compute", "storage"] {
        let role = Role::load(name, Family::El).unwrap();
        let work = dir.path().join(name);
        let result = el::build(&spec, &role, &work).unwrap_or_else(|e| panic!("building {name}: {e}"));
        built.push((role, result));
    }
    for (role, result) in &built {
        let (root, meta) = (&result.root, &result.meta);
        assert_eq!(meta.family, Family::El);
        assert_eq!(meta.release, "9.4");
        assert_eq!(meta.kernels, [fake_el_iso::KERNEL]);
        assert_eq!(meta.source, Source::Iso { iso_blake3: iso_blake3.clone() });
        for base in el::BASE_PACKAGES.iter().chain(&["setup", "bash", "fountain-test-release"]) {
            assert!(rpm_installed(root, base), "{}: {base} missing", role.name);
            assert!(meta.packages.contains(&format!("{base} 1.0-1.el9")), "{}: {base} not in the metadata", role.name);
        }
        assert!(rpm_installed(root, "rpcbind"), "a dependency was not resolved");
        for unit in &role.services.enable {
            let wants = root.join("etc/systemd/system/multi-user.target.wants").join(format!("{unit}.service"));
            assert!(wants.symlink_metadata().is_ok(), "{}: {unit} not enabled", role.name);
        }
        assert_eq!(files_under(&root.join("var/cache/dnf")), 0, "dnf's cache was kept");
        assert_eq!(files_under(&root.join("var/log")), 0, "logs were kept");
        assert_eq!(std::fs::read(root.join("etc/machine-id")).unwrap(), b"", "machine-id not emptied");
    }
    let (compute, storage) = (&built[0].1.root, &built[1].1.root);
    // compute: the infiniband and performance groups, numactl, hwloc, tuned; storage: targetcli, smartmontools.
    for p in ["rdma-core", "libibverbs", "perf", "tuned", "numactl", "hwloc"] {
        assert!(rpm_installed(compute, p) && !rpm_installed(storage, p), "{p} should be on compute only");
    }
    for p in ["targetcli", "smartmontools"] {
        assert!(rpm_installed(storage, p) && !rpm_installed(compute, p), "{p} should be on storage only");
    }
    assert!(!rpm_installed(compute, "gcc"), "the development group came with compute");

    // Published as two versions of one image, then the first one unpacked from the store.
    let store = Store::open(dir.path().join("store")).unwrap();
    let mut growth = Vec::new();
    for (_, result) in &built {
        let published = publish_root(&store, "el-node", &result.root, &result.meta, &dir.path().join("artifact")).unwrap();
        growth.push((published.version.version, published.version.meta.parent_version, published.new_bytes, published.version.artifact_bytes));
    }
    println!("store growth per version (version, parent, new bytes, artifact bytes): {growth:?}");
    assert_eq!((growth[0].0, growth[0].1, growth[1].0, growth[1].1), (1, None, 2, Some(1)));
    assert!(!dir.path().join("artifact").exists(), "the scratch artifact was left behind");
    let artifact = dir.path().join("v1.squashfs");
    let v1 = store.materialise("el-node", 1, &artifact).unwrap();
    assert_eq!(v1.meta.role.as_deref(), Some("compute"));
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    image::artifact::unpack(&artifact, &unpacked).unwrap();
    assert!(rpm_installed(&unpacked, "tuned") && !rpm_installed(&unpacked, "targetcli"));
    assert_eq!(std::fs::read(unpacked.join("etc/machine-id")).unwrap(), b"");
}

#[test]
fn an_iso_without_treeinfo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("disc")).unwrap();
    std::fs::write(dir.path().join("disc/README"), "not install media").unwrap();
    let iso = dir.path().join("plain.iso");
    let ok = Command::new("xorriso").args(["-as", "mkisofs", "-quiet", "-R", "-o"]).arg(&iso).arg(dir.path().join("disc")).status().unwrap();
    assert!(ok.success());
    let spec = ElSpec { iso, iso_blake3: "0".repeat(64) };
    let role = Role::load("compute", Family::El).unwrap();
    let err = el::build(&spec, &role, &dir.path().join("work")).unwrap_err().to_string();
    assert!(err.contains("no .treeinfo"), "{err}");
    assert!(!dir.path().join("work/root").exists(), "a root was made from media that cannot be used");
}
