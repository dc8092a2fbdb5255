//! Content-defined chunk boundaries (FastCDC 2020, the `fastcdc` crate): a boundary depends only on
//! the bytes just before it, so bytes inserted into an artifact change the chunks around the insertion
//! and not every chunk after it.
use std::io::Read;

use fastcdc::v2020::{Error as CdcError, StreamCDC};

/// Smallest chunk. Below ~16 KiB the per-chunk cost (a file, a manifest entry) outweighs the finer
/// sharing.
pub const MIN_CHUNK_BYTES: u32 = 16 * 1024;
/// Average chunk: about one squashfs data block compressed (128 KiB blocks compress to ~40–60 KiB), so
/// a changed block costs about one chunk.
pub const AVG_CHUNK_BYTES: u32 = 64 * 1024;
/// Largest chunk (also bounds the memory one chunk takes).
pub const MAX_CHUNK_BYTES: u32 = 256 * 1024;

/// One chunk cut from a stream.
#[derive(Debug)]
pub struct Chunk {
    /// Its bytes.
    pub data: Vec<u8>,
    /// blake3 of the bytes: the chunk's id.
    pub id: blake3::Hash,
}

/// Cuts `reader` into content-defined chunks, in order.
pub fn chunks<R: Read>(reader: R) -> impl Iterator<Item = std::io::Result<Chunk>> {
    StreamCDC::new(reader, MIN_CHUNK_BYTES, AVG_CHUNK_BYTES, MAX_CHUNK_BYTES).map(|c| match c {
        Ok(c) => Ok(Chunk { id: blake3::hash(&c.data), data: c.data }),
        Err(CdcError::IoError(e)) => Err(e),
        Err(other) => Err(std::io::Error::other(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(data: &[u8]) -> Vec<blake3::Hash> {
        chunks(data).map(|c| c.unwrap().id).collect()
    }

    #[test]
    fn an_insertion_changes_only_the_chunks_around_it() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let data: Vec<u8> = (0..4 << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let mut inserted = data[..2 << 20].to_vec();
        inserted.extend_from_slice(&[7u8; 5000]);
        inserted.extend_from_slice(&data[2 << 20..]);
        let (a, b) = (ids(&data), ids(&inserted));
        let shared = b.iter().filter(|id| a.contains(id)).count();
        assert!(a.len() > 30, "{} chunks", a.len());
        assert!(shared + 3 >= a.len(), "only {shared} of {} chunks survive a 5000-byte insertion", a.len());
    }

    #[test]
    fn chunks_respect_the_bounds_and_cover_the_input() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let mut total = 0;
        let mut sizes = Vec::new();
        for c in chunks(&data[..]) {
            let c = c.unwrap();
            assert_eq!(c.id, blake3::hash(&c.data));
            total += c.data.len();
            sizes.push(c.data.len());
        }
        assert_eq!(total, data.len());
        let last = sizes.pop().unwrap();
        assert!(last <= MAX_CHUNK_BYTES as usize);
        assert!(sizes.iter().all(|&s| (MIN_CHUNK_BYTES as usize..=MAX_CHUNK_BYTES as usize).contains(&s)), "{sizes:?}");
    }
}
