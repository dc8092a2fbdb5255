//! The manifest: what an object is, block by block.
//!
//! It carries the layout, a blake3 hash per block and a root hash over them, and is encoded as a
//! versioned binary with a checksum of its own. It travels over the control channel, never over
//! multicast; a receiver writes a block only once its hash matches the manifest.

use crate::layout::{BlockId, LayoutError, ObjectLayout};
use crate::wire::{Reader, WireError, Writer};
use std::io::Read;
use thiserror::Error;

const MAGIC: &[u8; 4] = b"FTNM";
/// The manifest encoding version this build writes and reads.
pub const MANIFEST_VERSION: u16 = 1;
const HASH_LEN: usize = 32;
/// Bytes [`Manifest::hash_file`] reads at a time. A whole block (1.4 MiB at the defaults) read at
/// once is copied through a buffer larger than a core's L2 cache and then read back by the hash
/// from memory; 64 KiB pieces stay in cache from the copy to the hash. 256 MiB from tmpfs on one
/// core of a 2-core AMD EPYC: 212 ms in whole blocks, 118 ms in 64 KiB pieces (16 KiB 130 ms,
/// 128 KiB 130 ms, 256 KiB 218 ms).
const HASH_READ_BYTES: usize = 64 << 10;

/// Why a manifest was rejected.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Not a manifest at all.
    #[error("not a fountain manifest (bad magic)")]
    Magic,
    /// Written by a newer (or unknown) version.
    #[error("unsupported manifest version {0}")]
    Version(u16),
    /// Cut short, or with bytes after its checksum.
    #[error("malformed manifest: {0}")]
    Wire(#[from] WireError),
    /// The layout fields are invalid.
    #[error("invalid layout: {0}")]
    Layout(#[from] LayoutError),
    /// The block count disagrees with the layout.
    #[error("manifest lists {listed} blocks, its layout has {expected}")]
    BlockCount {
        /// Blocks listed.
        listed: u32,
        /// Blocks the layout implies.
        expected: u32,
    },
    /// The root hash does not cover the block hashes.
    #[error("root hash does not match the block hashes")]
    Root,
    /// The checksum does not match: the file is corrupt.
    #[error("manifest checksum mismatch (corrupt file)")]
    Checksum,
    /// Reading the object failed.
    #[error("reading the object: {0}")]
    Io(#[from] std::io::Error),
    /// The object ended before its declared size.
    #[error("object shorter than declared: {0} bytes missing")]
    ShortObject(u64),
}

/// Layout, per-block hashes and root hash of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    layout: ObjectLayout,
    block_hashes: Vec<blake3::Hash>,
    root: blake3::Hash,
}

impl Manifest {
    /// Builds a manifest from the block hashes of an object laid out as `layout`.
    pub fn from_block_hashes(layout: ObjectLayout, block_hashes: Vec<blake3::Hash>) -> Result<Self, ManifestError> {
        if block_hashes.len() != layout.block_count() as usize {
            return Err(ManifestError::BlockCount { listed: block_hashes.len() as u32, expected: layout.block_count() });
        }
        let root = root_hash(&layout, &block_hashes);
        Ok(Self { layout, block_hashes, root })
    }

    /// Hashes an object of `layout.object_size()` bytes read from `object`, block by block.
    pub fn hash_object(layout: ObjectLayout, mut object: impl Read) -> Result<Self, ManifestError> {
        let mut buf = vec![0; layout.full_block_bytes() as usize];
        let mut hashes = Vec::with_capacity(layout.block_count() as usize);
        for block in layout.blocks() {
            let len = layout.block_len(block);
            object.read_exact(&mut buf[..len]).map_err(|e| read_error(&layout, block, e))?;
            hashes.push(blake3::hash(&buf[..len]));
        }
        Self::from_block_hashes(layout, hashes)
    }

    /// Hashes an object of `layout.object_size()` bytes at the start of `file` with every core:
    /// each thread takes every n-th block, read in [`HASH_READ_BYTES`] pieces. Hashing is the
    /// wait between `fountain send` and the first packet, and one core hashed 1 GiB in 1.2 s on
    /// this 2-core machine (4% of a 300 Mbit/s transfer); in pieces, `fountain send` of 256 MiB
    /// writes its ticket after 78-92 ms instead of 136-150 ms.
    pub fn hash_file(layout: ObjectLayout, file: &std::fs::File) -> Result<Self, ManifestError> {
        use std::os::unix::fs::FileExt;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(layout.block_count().max(1) as usize);
        let hash_every = |first: usize| -> Result<Vec<blake3::Hash>, ManifestError> {
            let mut buf = vec![0; HASH_READ_BYTES];
            layout
                .blocks()
                .skip(first)
                .step_by(threads)
                .map(|block| {
                    let (start, len) = (layout.block_offset(block), layout.block_len(block));
                    let mut hasher = blake3::Hasher::new();
                    for piece in (0..len).step_by(HASH_READ_BYTES) {
                        let n = HASH_READ_BYTES.min(len - piece);
                        file.read_exact_at(&mut buf[..n], start + piece as u64).map_err(|e| read_error(&layout, block, e))?;
                        hasher.update(&buf[..n]);
                    }
                    Ok(hasher.finalize())
                })
                .collect()
        };
        let strided: Vec<Vec<blake3::Hash>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (1..threads).map(|first| scope.spawn(move || hash_every(first))).collect();
            let mut all = vec![hash_every(0)];
            all.extend(workers.into_iter().map(|w| w.join().expect("hashing thread panicked")));
            all.into_iter().collect::<Result<_, _>>()
        })?;
        let hashes = (0..layout.block_count() as usize).map(|i| strided[i % threads][i / threads]).collect();
        Self::from_block_hashes(layout, hashes)
    }

    /// The object's layout.
    pub fn layout(&self) -> &ObjectLayout {
        &self.layout
    }

    /// The expected hash of `block`, or `None` outside the object.
    pub fn block_hash(&self, block: BlockId) -> Option<&blake3::Hash> {
        self.block_hashes.get(block as usize)
    }

    /// The root hash: identifies the object and its layout.
    pub fn root(&self) -> &blake3::Hash {
        &self.root
    }

    /// Encodes the manifest.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(40 + (self.block_hashes.len() + 2) * HASH_LEN);
        let mut w = Writer::new(&mut buf);
        w.bytes(MAGIC)
            .u16(MANIFEST_VERSION)
            .u16(0)
            .u64(self.layout.object_size())
            .u16(self.layout.symbol_size())
            .u16(0)
            .u32(self.layout.block_symbols())
            .u32(self.layout.block_count());
        for hash in &self.block_hashes {
            w.bytes(hash.as_bytes());
        }
        w.bytes(self.root.as_bytes());
        let checksum = blake3::hash(&buf);
        buf.extend_from_slice(checksum.as_bytes());
        buf
    }

    /// Decodes and fully validates a manifest: checksum, version, layout, block count, root.
    pub fn decode(bytes: &[u8]) -> Result<Self, ManifestError> {
        let mut r = Reader::new(bytes);
        expect_header(&mut r, MAGIC, MANIFEST_VERSION)?;
        let body_len = bytes.len().checked_sub(HASH_LEN).ok_or(WireError::Truncated)?;
        if blake3::hash(&bytes[..body_len]).as_bytes() != &bytes[body_len..] {
            return Err(ManifestError::Checksum);
        }
        if r.u16()? != 0 {
            return Err(WireError::Range("reserved").into());
        }
        let object_size = r.u64()?;
        let symbol_size = r.u16()?;
        if r.u16()? != 0 {
            return Err(WireError::Range("reserved").into());
        }
        let block_symbols = r.u32()?;
        let listed = r.u32()?;
        let layout = ObjectLayout::new(object_size, symbol_size, block_symbols)?;
        if listed != layout.block_count() {
            return Err(ManifestError::BlockCount { listed, expected: layout.block_count() });
        }
        let hashes_len = (listed as usize).checked_mul(HASH_LEN).ok_or(WireError::Truncated)?;
        if r.rest().len() != hashes_len + 2 * HASH_LEN {
            return Err(WireError::Truncated.into());
        }
        let block_hashes = (0..listed).map(|_| r.array().map(blake3::Hash::from_bytes)).collect::<Result<Vec<_>, _>>()?;
        let root = blake3::Hash::from_bytes(r.array()?);
        if root != root_hash(&layout, &block_hashes) {
            return Err(ManifestError::Root);
        }
        Ok(Self { layout, block_hashes, root })
    }
}

/// Checks the magic and version that open every fountain file format.
pub(crate) fn expect_header(r: &mut Reader<'_>, magic: &[u8; 4], version: u16) -> Result<(), ManifestError> {
    if r.take(4)? != magic {
        return Err(ManifestError::Magic);
    }
    match r.u16()? {
        v if v == version => Ok(()),
        other => Err(ManifestError::Version(other)),
    }
}

/// The root hash binds the layout and every block hash, so equal roots mean equal objects cut
/// the same way.
fn root_hash(layout: &ObjectLayout, block_hashes: &[blake3::Hash]) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"fountain root v1");
    hasher.update(&layout.object_size().to_be_bytes());
    hasher.update(&layout.symbol_size().to_be_bytes());
    hasher.update(&layout.block_symbols().to_be_bytes());
    for hash in block_hashes {
        hasher.update(hash.as_bytes());
    }
    hasher.finalize()
}

/// Why reading `block` of the object failed: it ended early, or the read did.
fn read_error(layout: &ObjectLayout, block: BlockId, e: std::io::Error) -> ManifestError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => ManifestError::ShortObject(layout.object_size() - layout.block_offset(block)),
        _ => ManifestError::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<u8>, Manifest) {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let layout = ObjectLayout::new(data.len() as u64, 64, 100).unwrap();
        let manifest = Manifest::hash_object(layout, &data[..]).unwrap();
        (data, manifest)
    }

    #[test]
    fn round_trips() {
        let (data, manifest) = sample();
        assert_eq!(manifest.layout().block_count(), 16);
        assert_eq!(*manifest.block_hash(15).unwrap(), blake3::hash(&data[15 * 6400..]));
        assert_eq!(Manifest::decode(&manifest.encode()).unwrap(), manifest);
    }

    #[test]
    fn rejects_corruption_anywhere() {
        let (_, manifest) = sample();
        let bytes = manifest.encode();
        for i in (0..bytes.len()).step_by(7) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(Manifest::decode(&bad).is_err(), "flipped byte {i} accepted");
        }
        assert!(matches!(Manifest::decode(&bytes[..bytes.len() - 1]), Err(ManifestError::Checksum)));
        assert!(matches!(Manifest::decode(b"FTNM"), Err(ManifestError::Wire(WireError::Truncated))));
        assert!(matches!(Manifest::decode(b"nope, not a manifest"), Err(ManifestError::Magic)));
    }

    #[test]
    fn short_object_is_an_error() {
        let layout = ObjectLayout::new(1000, 64, 4).unwrap();
        assert!(matches!(Manifest::hash_object(layout, &[0u8; 999][..]), Err(ManifestError::ShortObject(_))));
    }

    #[test]
    fn hashing_a_file_on_every_core_gives_the_same_manifest() {
        let (data, manifest) = sample();
        // Blocks of a read piece and a half, the last one short of two pieces.
        let big: Vec<u8> = (0..300_001u32).map(|i| (i * 7 % 251) as u8).collect();
        let in_pieces = Manifest::hash_object(ObjectLayout::new(big.len() as u64, 1024, 100).unwrap(), &big[..]).unwrap();
        assert!(in_pieces.layout().full_block_bytes() as usize > HASH_READ_BYTES);
        let path = std::env::temp_dir().join(format!("fec-manifest-{}", std::process::id()));
        for (data, manifest) in [(&big, &in_pieces), (&data, &manifest)] {
            std::fs::write(&path, data).unwrap();
            let file = std::fs::File::open(&path).unwrap();
            assert_eq!(Manifest::hash_file(*manifest.layout(), &file).unwrap(), *manifest);
        }
        let file = std::fs::File::open(&path).unwrap();
        let longer = ObjectLayout::new(data.len() as u64 + 1, 64, 100).unwrap();
        let short = Manifest::hash_file(longer, &file);
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(short, Err(ManifestError::ShortObject(_))), "{short:?}");
    }
}
