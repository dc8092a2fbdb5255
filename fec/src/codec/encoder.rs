//! Block encoder: source symbols as zero-copy views, repair symbols minted on demand.

use super::{MAX_ESI, block_oti};
use crate::layout::{BlockId, ObjectLayout};
use bytes::{Bytes, BytesMut};
use raptorq::SourceBlockEncoder;
use std::sync::OnceLock;

/// Encodes one block. Cheap to create: the RaptorQ intermediate symbols are computed only when
/// the first repair symbol is asked for, because a lossless pass never needs them.
pub struct BlockEncoder {
    block: BlockId,
    /// The block's bytes padded with zeros to a whole number of symbols.
    data: Bytes,
    symbol_size: usize,
    source_symbols: u32,
    repair: OnceLock<SourceBlockEncoder>,
}

impl BlockEncoder {
    /// Wraps the bytes of `block`; `data` must be exactly the block's length in `layout`.
    ///
    /// # Panics
    /// If `data` has the wrong length: that is a caller bug, never a property of network input.
    pub fn new(layout: &ObjectLayout, block: BlockId, data: Bytes) -> Self {
        assert_eq!(data.len(), layout.block_len(block), "block {block} has the wrong length");
        let source_symbols = layout.source_symbols(block);
        let symbol_size = usize::from(layout.symbol_size());
        let padded = source_symbols as usize * symbol_size;
        let data = if data.len() == padded {
            data
        } else {
            let mut buf = BytesMut::with_capacity(padded);
            buf.extend_from_slice(&data);
            buf.resize(padded, 0);
            buf.freeze()
        };
        Self { block, data, symbol_size, source_symbols, repair: OnceLock::new() }
    }

    /// Encoders for every block of an object held in memory, as views into it (no copies).
    pub fn for_object(layout: &ObjectLayout, object: &Bytes) -> Vec<Self> {
        layout
            .blocks()
            .map(|block| {
                let start = layout.block_offset(block) as usize;
                Self::new(layout, block, object.slice(start..start + layout.block_len(block)))
            })
            .collect()
    }

    /// The block this encoder codes.
    pub fn block(&self) -> BlockId {
        self.block
    }

    /// Number of source symbols (K for a full block).
    pub fn source_symbols(&self) -> u32 {
        self.source_symbols
    }

    /// Source symbol `esi` (< K) as a view into the block, without copying.
    pub fn source_symbol(&self, esi: u32) -> Bytes {
        let start = esi as usize * self.symbol_size;
        self.data.slice(start..start + self.symbol_size)
    }

    /// Computes the RaptorQ intermediate symbols now (the expensive part of encoding, milliseconds
    /// per block), so a sender can do it on a worker thread ahead of its packet loop.
    pub fn prepare_repair(&self) {
        self.repair_encoder();
    }

    /// Whether the intermediate symbols are computed (repair symbols cost no encode).
    pub fn repair_ready(&self) -> bool {
        self.repair.get().is_some()
    }

    fn repair_encoder(&self) -> &SourceBlockEncoder {
        self.repair.get_or_init(|| {
            let oti = block_oti(self.source_symbols, self.symbol_size as u16);
            SourceBlockEncoder::new(0, &oti, &self.data)
        })
    }

    /// `count` symbols starting at ESI `first`: source symbols where `first < K`, fresh repair
    /// symbols beyond. ESIs past RaptorQ's 24-bit limit are not produced.
    pub fn symbols(&self, first: u32, count: u32) -> Vec<Bytes> {
        let end = first.saturating_add(count).min(MAX_ESI + 1);
        let source_end = end.min(self.source_symbols);
        let mut out: Vec<Bytes> = (first..source_end).map(|esi| self.source_symbol(esi)).collect();
        let repair_start = first.max(self.source_symbols);
        if repair_start < end {
            let encoder = self.repair_encoder();
            let packets = encoder.repair_packets(repair_start - self.source_symbols, end - repair_start);
            out.extend(packets.into_iter().map(|p| Bytes::from(p.split().1)));
        }
        out
    }
}
