//! An image's own kernel for its stateless boots. A stateless node switch_roots into its image, whose
//! `/lib/modules` are for the image's kernel; booted with the agent's kernel instead, every
//! `modprobe` after switch_root fails whenever the two differ. So the boot script names the image's
//! kernel and a second initramfs with that kernel's early modules
//! ([`image::initramfs::image_kernel`]), both taken out of the artifact the first time a node of
//! that version boots and kept under `<data>/boot/images/<key>/` (`key`: the start of the version's
//! manifest blake3, so a republished artifact never reuses another's files). An image without a
//! kernel boots with the agent's (a marker file remembers the answer).
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use image::initramfs::image_kernel::{self, ImageKernelError, KERNEL_FILE, MODULES_FILE};

use crate::api::boot::BOOT_DIR;
use crate::image::{IMAGES_DIR, ImageVersion};
use crate::sync::lock;

/// URL path (under the control plane's URL) of the image kernels.
pub const IMAGE_BOOT_PATH: &str = "/boot/images";
/// Folder under the boot folder that holds them.
const IMAGES_SUBDIR: &str = "images";
/// Hex characters of the manifest blake3 that name a version's folder.
const KEY_CHARS: usize = 32;

/// One extraction at a time: a boot storm's first script requests of a version all wait for the
/// one that takes its kernel out, then find it done.
static EXTRACTING: Mutex<()> = Mutex::new(());

/// The folder name of `version`'s kernel files.
pub fn key(version: &ImageVersion) -> String {
    version.manifest_blake3.chars().take(KEY_CHARS).collect()
}

fn root(data_dir: &Path) -> PathBuf {
    data_dir.join(BOOT_DIR).join(IMAGES_SUBDIR)
}

/// The key of `version`'s kernel files, taking them out of the artifact first if needed; `None` when
/// the image has no kernel with modules. Blocking: the first call of a version reads the artifact.
pub fn ensure(data_dir: &Path, version: &ImageVersion) -> Result<Option<String>, ImageKernelError> {
    let key = key(version);
    let dir = root(data_dir).join(&key);
    let none = root(data_dir).join(format!("{key}.none"));
    let done = || if dir.join(KERNEL_FILE).is_file() { Some(Some(key.clone())) } else if none.is_file() { Some(None) } else { None };
    if let Some(known) = done() {
        return Ok(known);
    }
    let _one = lock(&EXTRACTING);
    if let Some(known) = done() {
        return Ok(known);
    }
    std::fs::create_dir_all(root(data_dir)).map_err(|source| ImageKernelError::Io { what: format!("creating {}", root(data_dir).display()), source })?;
    let artifact = data_dir.join(IMAGES_DIR).join(&version.artifact);
    match image_kernel::extract(&artifact, &dir)? {
        Some(k) => {
            tracing::info!(image = %version.image, version = version.version, release = %k.release, modules = k.modules, missing = ?k.missing, "took the image's kernel out for its stateless boots");
            Ok(Some(key))
        }
        None => {
            tracing::warn!(image = %version.image, version = version.version, "the image has no kernel with modules: its stateless nodes boot the agent's kernel, and modprobe fails in them");
            std::fs::write(&none, b"").map_err(|source| ImageKernelError::Io { what: format!("writing {}", none.display()), source })?;
            Ok(None)
        }
    }
}

/// The file `GET /boot/images/{key}/{file}` serves, if the names are ones this module writes.
pub fn file(data_dir: &Path, key: &str, file: &str) -> Option<PathBuf> {
    let key_ok = key.len() == KEY_CHARS && key.bytes().all(|b| b.is_ascii_hexdigit());
    (key_ok && (file == KERNEL_FILE || file == MODULES_FILE)).then(|| root(data_dir).join(key).join(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_names_map_to_files() {
        let data = Path::new("/data");
        let key = "0123456789abcdef0123456789abcdef";
        assert_eq!(file(data, key, "vmlinuz"), Some(PathBuf::from(format!("/data/boot/images/{key}/vmlinuz"))));
        assert!(file(data, key, "modules.img").is_some());
        for (k, f) in [(key, "initrd.img"), (key, "../vmlinuz"), ("../../etc", "vmlinuz"), ("0123", "vmlinuz"), ("0123456789abcdef0123456789abcdeg", "vmlinuz")] {
            assert_eq!(file(data, k, f), None, "{k}/{f}");
        }
    }
}
