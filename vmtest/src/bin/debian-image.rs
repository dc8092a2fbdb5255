//! Builds the VM tests' Debian image into the cache folder given (`target/tmp/vmtest`, where the
//! tests look), or finds it there. `.ci/run` runs it beside the workspace's compile: a fresh
//! debootstrap is ~4 min, mostly downloads, which inside the suite held a VM slot while the other
//! tests waited for the image. Where the mirror cannot be reached it says so and exits 0, as the tests
//! skip.
fn main() -> anyhow::Result<()> {
    let Some(dir) = std::env::args_os().nth(1).map(std::path::PathBuf::from) else {
        anyhow::bail!("usage: debian-image CACHE_DIR (the VM tests read target/tmp/vmtest)");
    };
    if let Some(reason) = vmtest::image_unavailable_reason() {
        eprintln!("debian-image: not built: {reason}");
        return Ok(());
    }
    let image = vmtest::debian_image(&dir)?;
    eprintln!("debian-image: {} ({} bytes)", image.artifact.display(), image.meta.size_bytes);
    Ok(())
}
