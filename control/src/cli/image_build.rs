//! `fountain image build`: an image version made on the appliance from distribution media and a role
//! (debootstrap for Debian, an ISO's own repositories for EL), published to the image store.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use image::build::{self, BuiltRoot};
use image::meta::Family;
use image::role::Role;
use image::store::Published;

use super::DEFAULT_DATA_DIR;

/// Folder under the data directory where debootstrapped bases are kept between builds.
const BUILD_CACHE_DIR: &str = "build-cache";
/// Folder under the data directory where builds make their roots.
const BUILDS_DIR: &str = "builds";

/// Arguments of `fountain image build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Image name.
    name: String,
    /// Build a Debian image of this suite (bookworm) with debootstrap.
    #[arg(long, conflicts_with = "iso", required_unless_present = "iso")]
    debootstrap: Option<String>,
    /// Debian mirror.
    #[arg(long, requires = "debootstrap", default_value = build::debian::DEFAULT_MIRROR)]
    mirror: String,
    /// Build an EL image from this ISO: its id in the appliance's ISO store (`fountain iso list`), or
    /// the path of an ISO file.
    #[arg(long)]
    iso: Option<String>,
    /// Role: compute, login, storage, head, or a role YAML file.
    #[arg(long)]
    role: String,
    /// The appliance's data directory (image store, build cache and work space).
    #[arg(long, env = "FOUNTAIN_DATA", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

/// Runs `fountain image build`.
pub fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let family = if args.iso.is_some() { Family::El } else { Family::Debian };
    // Both refusals come before the minutes a build takes.
    image::store::check_name(&args.name)?;
    let role = Role::load(&args.role, family)?;
    let work = args.data_dir.join(BUILDS_DIR).join(format!("{}-{}", args.name, std::process::id()));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let result = build_and_publish(&args, &role, &work);
    if let Err(e) = build::remove_work(&work) {
        eprintln!("note: {e}");
    }
    let published = result?;
    let v = &published.version;
    println!(
        "{}: {} {} ({} packages, kernels {}), {} bytes, {} new in the store",
        v.label(),
        v.meta.release,
        v.meta.role.as_deref().unwrap_or("-"),
        v.meta.packages.len(),
        v.meta.kernels.join(" "),
        v.artifact_bytes,
        published.new_bytes
    );
    Ok(ExitCode::SUCCESS)
}

/// Builds the root in `work` and publishes it.
fn build_and_publish(args: &BuildArgs, role: &Role, work: &Path) -> anyhow::Result<Published> {
    let built: BuiltRoot = match (&args.debootstrap, &args.iso) {
        (Some(suite), _) => {
            let spec = build::debian::DebianSpec {
                suite: suite.clone(),
                mirror: args.mirror.clone(),
                cache_dir: args.data_dir.join(BUILD_CACHE_DIR),
            };
            build::debian::build(&spec, role, work)?
        }
        (None, Some(iso)) => {
            let spec = iso_spec(&args.data_dir, iso)?;
            build::el::build(&spec, role, work)?
        }
        (None, None) => unreachable!("clap requires --debootstrap or --iso"),
    };
    let store = image::store::Store::open(args.data_dir.join(crate::served::STORE_DIR))?;
    Ok(image::publish::publish_root(&store, &args.name, &built.root, &built.meta, &work.join("artifact"))?)
}

/// The ISO named by `iso`: an id of the ISO store under `data_dir`, else a file path.
fn iso_spec(data_dir: &Path, iso: &str) -> anyhow::Result<build::el::ElSpec> {
    let isos = image::iso::IsoStore::open(data_dir.join(crate::served::ISOS_DIR))?;
    if let Ok(path) = isos.path(iso) {
        return Ok(build::el::ElSpec { iso: path, iso_blake3: iso.to_owned() });
    }
    let path = PathBuf::from(iso);
    let isos_dir = data_dir.join(crate::served::ISOS_DIR);
    let mut file = std::fs::File::open(&path).with_context(|| format!("--iso {iso}: not an ISO id in {} nor a readable file", isos_dir.display()))?;
    let mut hasher = blake3::Hasher::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("reading {iso}"))?;
    Ok(build::el::ElSpec { iso: path, iso_blake3: hasher.finalize().to_hex().to_string() })
}
