//! Have-maps: which verified blocks a member holds, in one datagram.
//!
//! Holding is monotonic and blocks are mostly completed in order, so a map is a low-water mark
//! (every block below `first` is held) plus a bitmap of at most [`MAX_HAVE_BYTES`] bytes from
//! there. A complete member's map is just `first = block_count`. Blocks beyond the bitmap's
//! reach are not advertised until the low-water mark moves; they are rare (the sender
//! interleaves a few blocks at a time) and the sender repairs them anyway.

use fec::BlockId;
use fec::wire::MAX_HAVE_BYTES;

/// A peer's have-map, as last advertised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HaveMap {
    first: BlockId,
    bits: Vec<u8>,
}

impl HaveMap {
    /// The map a member holding `stored` (indexed by block) advertises: its low-water mark
    /// `first` and the bitmap after it, without trailing zero bytes.
    pub fn of(stored: &[bool], first: BlockId) -> Self {
        let mut bits = vec![0u8; stored.len().saturating_sub(first as usize).div_ceil(8).min(MAX_HAVE_BYTES)];
        for (i, byte) in bits.iter_mut().enumerate() {
            for bit in 0..8 {
                if stored.get(first as usize + i * 8 + bit) == Some(&true) {
                    *byte |= 0x80 >> bit;
                }
            }
        }
        while bits.last() == Some(&0) {
            bits.pop();
        }
        Self { first, bits }
    }

    /// A map received in a `Have` packet.
    pub fn from_packet(first: BlockId, bits: &[u8]) -> Self {
        Self { first, bits: bits.to_vec() }
    }

    /// The packet fields: the low-water mark and the bitmap.
    pub fn fields(&self) -> (BlockId, &[u8]) {
        (self.first, &self.bits)
    }

    /// Takes in a newer advertisement. Holding only grows, so the map with the higher
    /// low-water mark is the newer one; an older one arriving late is ignored.
    pub fn update(&mut self, newer: HaveMap) {
        if newer.first > self.first || (newer.first == self.first && newer.bits.len() >= self.bits.len()) {
            *self = newer;
        }
    }

    /// Whether the member holds `block`.
    pub fn holds(&self, block: BlockId) -> bool {
        match block.checked_sub(self.first) {
            None => true,
            Some(offset) => self.bits.get(offset as usize / 8).is_some_and(|byte| byte & (0x80 >> (offset % 8)) != 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_packet_fields() {
        let mut stored = vec![false; 40];
        (0..10).for_each(|b| stored[b] = true);
        stored[12] = true;
        stored[30] = true;
        let map = HaveMap::of(&stored, 10);
        let (first, bits) = map.fields();
        assert_eq!(first, 10);
        assert_eq!(bits.len(), 3, "trailing zero bytes dropped");
        let parsed = HaveMap::from_packet(first, bits);
        for block in 0..40 {
            assert_eq!(parsed.holds(block), stored[block as usize], "block {block}");
        }
        assert!(!parsed.holds(1000));
    }

    #[test]
    fn complete_map_is_empty_bitmap() {
        let stored = vec![true; 5000];
        let map = HaveMap::of(&stored, 5000);
        assert!(map.fields().1.is_empty());
        assert!(map.holds(4999));
    }

    #[test]
    fn older_advertisements_do_not_roll_back() {
        let mut map = HaveMap::from_packet(20, &[]);
        map.update(HaveMap::from_packet(5, &[0xff]));
        assert!(map.holds(19));
        map.update(HaveMap::from_packet(30, &[0x80]));
        assert!(map.holds(30) && !map.holds(31));
    }

    #[test]
    fn bitmap_is_capped_at_one_datagram() {
        let stored: Vec<bool> = (0..100_000).map(|b| b % 2 == 0).collect();
        let map = HaveMap::of(&stored, 1);
        assert_eq!(map.fields().1.len(), MAX_HAVE_BYTES);
        assert!(map.holds(2) && !map.holds(3));
        assert!(!map.holds(1 + 8 * MAX_HAVE_BYTES as u32 + 1), "beyond the bitmap nothing is claimed");
    }
}
