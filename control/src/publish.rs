//! Publishing an image version: its files are checked before the store records them, so a version
//! that could never be sent (a manifest that is not one, or not this artifact's) is refused with a
//! reason at `image add`, not found out by a node that then waits forever.
//!
//! The artifact is hashed block by block on every core and its root compared with the manifest's;
//! that reads the whole artifact once (about a second per GiB here), which publication can afford and
//! a boot cannot. Without a manifest the server writes one, hashed the same way, with symbols that
//! fill one datagram at the server's MTU (`serve --mtu`, by default its sending link's): the
//! manifest fixes a version's symbol size for every session that sends it, so a jumbo-frame network
//! gets six times the bytes per datagram only if its manifests are cut for it.
use std::io::Write;
use std::path::Path;

use fec::{Manifest, ManifestError, ObjectLayout};

use crate::image::{IMAGES_DIR, check_relative_path};
use crate::store::images::VersionFiles;
use crate::transfer::manifest_file::{self, ManifestFileError};

/// Suffix of the manifest the server writes next to an artifact published without one.
pub const MANIFEST_SUFFIX: &str = ".manifest";
/// Why a version's files were refused.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A path that is not a plain relative path, or a file that is missing or not a regular file.
    #[error("{0}")]
    BadPath(String),
    /// The manifest file could not be read or is not a manifest.
    #[error(transparent)]
    Manifest(#[from] ManifestFileError),
    /// The manifest describes an object of another size.
    #[error("{manifest} describes {described} bytes, but {artifact} holds {actual}: they are not a pair")]
    Size {
        /// Manifest path.
        manifest: String,
        /// Artifact path.
        artifact: String,
        /// Size in the manifest.
        described: u64,
        /// Size of the artifact.
        actual: u64,
    },
    /// Same size, other contents.
    #[error("{artifact} does not match {manifest}: block {block} (and maybe more) hashes differently")]
    Contents {
        /// Manifest path.
        manifest: String,
        /// Artifact path.
        artifact: String,
        /// First block that differs.
        block: u32,
    },
    /// The manifest's symbols do not fit one datagram at the server's MTU: no session could send it.
    #[error("{manifest} is cut for {symbol_bytes}-byte symbols, but a datagram at this server's MTU of {mtu} holds {fits}: cut it for {mtu} (fountain send --mtu {mtu}), or publish without --manifest and the server writes one")]
    TooLarge {
        /// Manifest path.
        manifest: String,
        /// Its symbol size.
        symbol_bytes: u16,
        /// The server's MTU.
        mtu: u16,
        /// The largest symbol a tagged datagram holds at that MTU.
        fits: u16,
    },
    /// The server's MTU leaves no room for a symbol.
    #[error("an MTU of {0} leaves no room for a symbol")]
    Mtu(u16),
    /// Hashing the artifact failed.
    #[error("hashing {0}: {1}")]
    Hash(String, ManifestError),
    /// A generated manifest would replace a different file of the same name.
    #[error("{0} exists and is not this artifact's manifest: pass it with --manifest, or remove it")]
    Exists(String),
    /// Writing the generated manifest failed.
    #[error("writing {0}: {1}")]
    Write(String, std::io::Error),
}

/// Checks a version's files under `images` (the data directory's images folder) and returns what the
/// store records; without `manifest`, hashes the artifact and writes `<artifact>.manifest` with the
/// largest symbols one tagged datagram holds at `mtu` (every control plane session tags its
/// packets). Blocking: reads the whole artifact.
pub fn check_files(images: &Path, artifact: &str, manifest: Option<&str>, mtu: u16) -> Result<VersionFiles, PublishError> {
    check_relative_path("artifact", artifact).map_err(PublishError::BadPath)?;
    let fits = fec::wire::symbol_size_for_mtu(mtu, true).ok_or(PublishError::Mtu(mtu))?;
    let artifact_bytes = regular_file(images, artifact)?.len();
    let object = std::fs::File::open(images.join(artifact)).map_err(|e| PublishError::BadPath(format!("{IMAGES_DIR}/{artifact}: {e}")))?;
    let shown = |rel: &str| format!("{IMAGES_DIR}/{rel}");
    let (manifest, manifest_blake3) = match manifest {
        Some(rel) => {
            check_relative_path("manifest", rel).map_err(PublishError::BadPath)?;
            regular_file(images, rel)?;
            let read = manifest_file::read(&images.join(rel), None)?;
            let symbol_bytes = read.manifest.layout().symbol_size();
            if symbol_bytes > fits {
                return Err(PublishError::TooLarge { manifest: shown(rel), symbol_bytes, mtu, fits });
            }
            let described = read.manifest.layout().object_size();
            if described != artifact_bytes {
                return Err(PublishError::Size { manifest: shown(rel), artifact: shown(artifact), described, actual: artifact_bytes });
            }
            let actual = Manifest::hash_file(*read.manifest.layout(), &object).map_err(|e| PublishError::Hash(shown(artifact), e))?;
            if actual.root() != read.manifest.root() {
                let block = read.manifest.layout().blocks().find(|&b| actual.block_hash(b) != read.manifest.block_hash(b)).unwrap_or(0);
                return Err(PublishError::Contents { manifest: shown(rel), artifact: shown(artifact), block });
            }
            (rel.to_string(), read.blake3)
        }
        None => {
            let rel = format!("{artifact}{MANIFEST_SUFFIX}");
            check_relative_path("manifest", &rel).map_err(PublishError::BadPath)?;
            let layout = ObjectLayout::new(artifact_bytes, fits, fec::layout::DEFAULT_BLOCK_SYMBOLS).map_err(|e| PublishError::Hash(shown(artifact), e.into()))?;
            let bytes = Manifest::hash_file(layout, &object).map_err(|e| PublishError::Hash(shown(artifact), e))?.encode();
            write_new(&images.join(&rel), &bytes).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => PublishError::Exists(shown(&rel)),
                _ => PublishError::Write(shown(&rel), e),
            })?;
            (rel, blake3::hash(&bytes).to_hex().to_string())
        }
    };
    Ok(VersionFiles { artifact: artifact.to_string(), manifest, artifact_bytes, manifest_blake3 })
}

fn regular_file(images: &Path, rel: &str) -> Result<std::fs::Metadata, PublishError> {
    match std::fs::symlink_metadata(images.join(rel)) {
        Ok(m) if m.is_file() => Ok(m),
        Ok(_) => Err(PublishError::BadPath(format!("{IMAGES_DIR}/{rel} is not a regular file"))),
        Err(e) => Err(PublishError::BadPath(format!("{IMAGES_DIR}/{rel}: {e}"))),
    }
}

/// Writes `bytes` to `path` unless a file is there already, in which case identical contents are
/// fine (a publication retried) and anything else is `AlreadyExists`. The bytes go to a temporary
/// file first and are linked into place, so no reader ever sees half a manifest and nothing is
/// overwritten.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let exists = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
    match std::fs::read(path) {
        Ok(existing) if existing == bytes => return Ok(()),
        Ok(_) => return Err(exists),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let tmp = path.with_extension(format!("tmp-{:016x}", rand::random::<u64>()));
    let written = std::fs::File::create_new(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && std::fs::read(path).is_ok_and(|existing| existing == bytes) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> (tempfile::TempDir, Vec<u8>, Manifest) {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let manifest = Manifest::hash_object(ObjectLayout::new(data.len() as u64, 1024, 16).unwrap(), &data[..]).unwrap();
        std::fs::write(dir.path().join("root.img"), &data).unwrap();
        std::fs::write(dir.path().join("root.manifest"), manifest.encode()).unwrap();
        (dir, data, manifest)
    }

    #[test]
    fn a_matching_pair_is_accepted_with_its_size_and_hash() {
        let (dir, data, manifest) = images();
        let files = check_files(dir.path(), "root.img", Some("root.manifest"), 1500).unwrap();
        assert_eq!((files.artifact_bytes, files.manifest_blake3), (data.len() as u64, blake3::hash(&manifest.encode()).to_hex().to_string()));
    }

    #[test]
    fn a_manifest_that_is_not_one_or_not_this_artifacts_is_refused() {
        let (dir, mut data, _) = images();
        let err = check_files(dir.path(), "root.img", Some("root.img"), 1500).unwrap_err();
        assert!(err.to_string().ends_with("root.img is not a fountain manifest: not a fountain manifest (bad magic)"), "{err}");
        let short = Manifest::hash_object(ObjectLayout::new(50, 64, 4).unwrap(), &data[..50]).unwrap();
        std::fs::write(dir.path().join("short.manifest"), short.encode()).unwrap();
        let err = check_files(dir.path(), "root.img", Some("short.manifest"), 1500).unwrap_err();
        assert_eq!(err.to_string(), "images/short.manifest describes 50 bytes, but images/root.img holds 100000: they are not a pair");
        data[2 * 16 * 1024] ^= 1;
        std::fs::write(dir.path().join("other.img"), &data).unwrap();
        let err = check_files(dir.path(), "other.img", Some("root.manifest"), 1500).unwrap_err();
        assert_eq!(err.to_string(), "images/other.img does not match images/root.manifest: block 2 (and maybe more) hashes differently");
    }

    #[test]
    fn without_a_manifest_one_is_written_once_and_never_over_another_file() {
        let (dir, data, _) = images();
        let files = check_files(dir.path(), "root.img", None, 1500).unwrap();
        assert_eq!(files.manifest, "root.img.manifest");
        let written = std::fs::read(dir.path().join("root.img.manifest")).unwrap();
        assert_eq!(files.manifest_blake3, blake3::hash(&written).to_hex().to_string());
        let manifest = Manifest::decode(&written).unwrap();
        assert_eq!(*manifest.root(), *Manifest::hash_object(*manifest.layout(), &data[..]).unwrap().root());
        assert_eq!(check_files(dir.path(), "root.img", None, 1500).unwrap().manifest_blake3, files.manifest_blake3, "a retry reuses the same file");
        std::fs::write(dir.path().join("root.img.manifest"), b"someone else's").unwrap();
        let err = check_files(dir.path(), "root.img", None, 1500).unwrap_err();
        assert!(matches!(err, PublishError::Exists(_)), "{err}");
        assert_eq!(std::fs::read(dir.path().join("root.img.manifest")).unwrap(), b"someone else's");
    }

    #[test]
    fn generated_manifests_fill_a_datagram_at_the_mtu_and_larger_given_ones_are_refused() {
        let (dir, data, _) = images();
        std::fs::write(dir.path().join("jumbo.img"), &data).unwrap();
        let files = check_files(dir.path(), "jumbo.img", None, 9000).unwrap();
        let written = Manifest::decode(&std::fs::read(dir.path().join(&files.manifest)).unwrap()).unwrap();
        assert_eq!(Some(written.layout().symbol_size()), fec::wire::symbol_size_for_mtu(9000, true));
        assert_eq!(written.layout().symbol_size(), 8936, "a 9000-byte datagram less the IP, UDP, fountain headers and tag");
        // The same manifest, given to a server on a 1500-byte network: no session could send it.
        let err = check_files(dir.path(), "jumbo.img", Some(&files.manifest), 1500).unwrap_err();
        assert_eq!(err.to_string(), "images/jumbo.img.manifest is cut for 8936-byte symbols, but a datagram at this server's MTU of 1500 holds 1432: cut it for 1500 (fountain send --mtu 1500), or publish without --manifest and the server writes one");
        assert!(matches!(check_files(dir.path(), "root.img", None, 60), Err(PublishError::Mtu(60))));
    }
}
