//! How an object is cut into blocks of symbols.
//!
//! An object of any size (up to 1 TiB and beyond) is cut into blocks of `block_symbols` (K)
//! symbols of `symbol_size` (T) bytes; the last block may be shorter. Each block is coded as its
//! own RaptorQ source block, so the block index is ours (u32) and not raptorq's 8-bit SBN.

use thiserror::Error;

/// Index of a block within an object.
pub type BlockId = u32;

/// Default symbol size of stored images: one symbol per UDP datagram at MTU 1500 on any path
/// (1500 - 20 IP - 8 UDP - 20 fountain header - 16 tag - 28 headroom: IPv6 peers' 20 more bytes
/// of header, rounded to the alignment). `fountain send` fills the datagram instead, sized for
/// its own IPv4 group (see [`crate::wire::symbol_size_for_mtu`]).
pub const DEFAULT_SYMBOL_SIZE: u16 = 1408;
/// Default symbols per block: large enough that per-block overhead is small, small enough that a
/// block decodes in a few milliseconds.
pub const DEFAULT_BLOCK_SYMBOLS: u32 = 1024;
/// Largest symbol size we accept: a jumbo frame (9000 MTU) less headers.
pub const MAX_SYMBOL_SIZE: u16 = 8960;
/// Smallest symbol size we accept; tiny symbols only waste headers.
pub const MIN_SYMBOL_SIZE: u16 = 16;
/// RaptorQ's limit on source symbols per block (RFC 6330 K'max).
pub const MAX_BLOCK_SYMBOLS: u32 = 56_403;
/// Symbol alignment handed to raptorq; every accepted symbol size is a multiple of it.
pub const SYMBOL_ALIGNMENT: u16 = 8;

/// Why a layout is not acceptable.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LayoutError {
    /// Symbol size outside the accepted range or not a multiple of the alignment.
    #[error("symbol size {0} must be a multiple of {SYMBOL_ALIGNMENT} between {MIN_SYMBOL_SIZE} and {MAX_SYMBOL_SIZE}")]
    SymbolSize(u16),
    /// Block size outside raptorq's limits.
    #[error("block symbols {0} must be between 1 and {MAX_BLOCK_SYMBOLS}")]
    BlockSymbols(u32),
    /// The object has more blocks than a u32 can index.
    #[error("object of {0} bytes needs more than 2^32 blocks")]
    TooManyBlocks(u64),
}

/// The block structure of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectLayout {
    object_size: u64,
    symbol_size: u16,
    block_symbols: u32,
    block_count: u32,
}

impl ObjectLayout {
    /// Lays out an object of `object_size` bytes; rejects parameters raptorq cannot code.
    pub fn new(object_size: u64, symbol_size: u16, block_symbols: u32) -> Result<Self, LayoutError> {
        if !(MIN_SYMBOL_SIZE..=MAX_SYMBOL_SIZE).contains(&symbol_size) || symbol_size % SYMBOL_ALIGNMENT != 0 {
            return Err(LayoutError::SymbolSize(symbol_size));
        }
        if !(1..=MAX_BLOCK_SYMBOLS).contains(&block_symbols) {
            return Err(LayoutError::BlockSymbols(block_symbols));
        }
        let block_bytes = u64::from(symbol_size) * u64::from(block_symbols);
        let block_count = u32::try_from(object_size.div_ceil(block_bytes))
            .map_err(|_| LayoutError::TooManyBlocks(object_size))?;
        Ok(Self { object_size, symbol_size, block_symbols, block_count })
    }

    /// Lays out an object with the default symbol size and block length.
    pub fn with_defaults(object_size: u64) -> Result<Self, LayoutError> {
        Self::new(object_size, DEFAULT_SYMBOL_SIZE, DEFAULT_BLOCK_SYMBOLS)
    }

    /// Object size in bytes.
    pub fn object_size(&self) -> u64 {
        self.object_size
    }

    /// Symbol size T in bytes.
    pub fn symbol_size(&self) -> u16 {
        self.symbol_size
    }

    /// Source symbols per full block (K).
    pub fn block_symbols(&self) -> u32 {
        self.block_symbols
    }

    /// Number of blocks (0 for an empty object).
    pub fn block_count(&self) -> u32 {
        self.block_count
    }

    /// Bytes in a full block.
    pub fn full_block_bytes(&self) -> u64 {
        u64::from(self.symbol_size) * u64::from(self.block_symbols)
    }

    /// Byte offset of `block` within the object.
    pub fn block_offset(&self, block: BlockId) -> u64 {
        u64::from(block) * self.full_block_bytes()
    }

    /// Bytes of object data in `block` (the last block may be shorter); 0 past the end.
    pub fn block_len(&self, block: BlockId) -> usize {
        let start = self.block_offset(block).min(self.object_size);
        let end = (start + self.full_block_bytes()).min(self.object_size);
        (end - start) as usize
    }

    /// Source symbols in `block`: K for full blocks, fewer for a short last block.
    pub fn source_symbols(&self, block: BlockId) -> u32 {
        (self.block_len(block) as u64).div_ceil(u64::from(self.symbol_size)) as u32
    }

    /// Whether `block` is inside the object.
    pub fn contains(&self, block: BlockId) -> bool {
        block < self.block_count
    }

    /// Iterates over all block indices.
    pub fn blocks(&self) -> std::ops::Range<BlockId> {
        0..self.block_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_last_block() {
        let layout = ObjectLayout::new(10_100, 1000, 4).unwrap();
        assert_eq!(layout.full_block_bytes(), 4000);
        assert_eq!(layout.block_count(), 3);
        assert_eq!(layout.block_len(2), 2100);
        assert_eq!(layout.source_symbols(2), 3);
        assert_eq!(layout.block_len(3), 0);
    }

    #[test]
    fn one_tebibyte_fits() {
        let layout = ObjectLayout::with_defaults(1 << 40).unwrap();
        assert_eq!(layout.block_count(), 762_601);
        assert_eq!(layout.block_offset(layout.block_count() - 1) + layout.block_len(layout.block_count() - 1) as u64, 1 << 40);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert_eq!(ObjectLayout::new(1, 1407, 10), Err(LayoutError::SymbolSize(1407)));
        assert_eq!(ObjectLayout::new(1, 9000, 10), Err(LayoutError::SymbolSize(9000)));
        assert_eq!(ObjectLayout::new(1, 1408, 0), Err(LayoutError::BlockSymbols(0)));
        assert_eq!(ObjectLayout::new(1, 1408, 56_404), Err(LayoutError::BlockSymbols(56_404)));
        assert_eq!(ObjectLayout::new(u64::MAX, 16, 1), Err(LayoutError::TooManyBlocks(u64::MAX)));
    }

    #[test]
    fn empty_object_has_no_blocks() {
        let layout = ObjectLayout::with_defaults(0).unwrap();
        assert_eq!(layout.block_count(), 0);
        assert!(layout.blocks().next().is_none());
    }
}
