//! Block decoder: collects symbols, decodes, and verifies the block against its hash.

use super::{MAX_ESI, block_oti};
use crate::layout::{BlockId, ObjectLayout};
use bytes::Bytes;
use raptorq::{EncodingPacket, PayloadId, SourceBlockDecoder};
use std::collections::HashSet;
use thiserror::Error;

/// Why a symbol was not accepted.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SymbolError {
    /// The payload is not exactly one symbol long.
    #[error("symbol of {got} bytes, expected {expected}")]
    Length {
        /// Bytes received.
        got: usize,
        /// The layout's symbol size.
        expected: usize,
    },
    /// The ESI is past RaptorQ's 24-bit range.
    #[error("encoding symbol id {0} out of range")]
    Esi(u32),
}

/// Why a block could not be produced.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer distinct symbols than source symbols: decoding cannot succeed yet.
    #[error("block {block}: {have} of {need} symbols")]
    NotEnoughSymbols {
        /// The block.
        block: BlockId,
        /// Distinct symbols held.
        have: u32,
        /// Source symbols in the block.
        need: u32,
    },
    /// Enough symbols, but the system was singular (RaptorQ fails with probability ~1/256^(h+1)
    /// with K+h symbols); one or two more symbols fix it.
    #[error("block {block}: decoding needs more symbols")]
    Singular {
        /// The block.
        block: BlockId,
    },
    /// The decoded bytes do not match the manifest: some symbol was corrupt or forged.
    #[error("block {block}: decoded data does not match its hash")]
    HashMismatch {
        /// The block.
        block: BlockId,
    },
}

/// Collects the symbols of one block and decodes it.
///
/// Source symbols are copied once, to their place in the block: when every one is here (the
/// common case) the block is done and raptorq never runs. When a few are missing they are solved
/// for by linearity (see [`super::erasure`]), in place; only when many are missing does raptorq
/// decode the block, given copies of what is held.
pub struct BlockDecoder {
    block: BlockId,
    symbol_size: usize,
    source_symbols: u32,
    block_len: usize,
    /// The block's source symbols at their places, zeros where none arrived yet; allocated with
    /// the first one (zeroed pages cost nothing until written).
    data: Vec<u8>,
    /// Which source symbols are in `data`.
    have_source: Vec<bool>,
    source_count: u32,
    /// Repair symbols as (ESI, payload), in arrival order.
    repair: Vec<(u32, Vec<u8>)>,
    /// The repair ESIs held.
    repair_esis: HashSet<u32>,
}

impl BlockDecoder {
    /// An empty decoder for `block` of `layout`.
    pub fn new(layout: &ObjectLayout, block: BlockId) -> Self {
        let source_symbols = layout.source_symbols(block);
        Self {
            block,
            symbol_size: usize::from(layout.symbol_size()),
            source_symbols,
            block_len: layout.block_len(block),
            data: Vec::new(),
            have_source: vec![false; source_symbols as usize],
            source_count: 0,
            repair: Vec::new(),
            repair_esis: HashSet::new(),
        }
    }

    /// The block being decoded.
    pub fn block(&self) -> BlockId {
        self.block
    }

    /// Source symbols in the block (K).
    pub fn source_symbols(&self) -> u32 {
        self.source_symbols
    }

    /// Distinct symbols held.
    pub fn distinct(&self) -> u32 {
        self.source_count + self.repair_esis.len() as u32
    }

    /// Whether every source symbol is here, so decoding is a no-op.
    pub fn is_systematic(&self) -> bool {
        self.source_count == self.source_symbols
    }

    /// Adds symbol `esi`. Returns whether it was new (duplicates are ignored).
    pub fn add(&mut self, esi: u32, payload: &[u8]) -> Result<bool, SymbolError> {
        if payload.len() != self.symbol_size {
            return Err(SymbolError::Length { got: payload.len(), expected: self.symbol_size });
        }
        if esi > MAX_ESI {
            return Err(SymbolError::Esi(esi));
        }
        if esi < self.source_symbols {
            let have = &mut self.have_source[esi as usize];
            if *have {
                return Ok(false);
            }
            *have = true;
            if self.data.is_empty() {
                self.data = vec![0; self.source_symbols as usize * self.symbol_size];
            }
            let at = esi as usize * self.symbol_size;
            self.data[at..at + self.symbol_size].copy_from_slice(payload);
            self.source_count += 1;
        } else {
            if !self.repair_esis.insert(esi) {
                return Ok(false);
            }
            self.repair.push((esi, payload.to_vec()));
        }
        Ok(true)
    }

    /// Decodes and checks the block against `expected`; on success returns exactly the block's
    /// bytes. After `HashMismatch` some held symbol was corrupt, so the decoder drops them all and
    /// is empty again: fresh symbols rebuild the block, and the bad bytes never leave. After the
    /// other errors the symbols stay, and more symbols will help.
    pub fn decode_verified(&mut self, expected: &blake3::Hash) -> Result<Bytes, DecodeError> {
        let mut data = self.decode()?;
        data.truncate(self.block_len);
        let verified = blake3::hash(&data) == *expected;
        self.clear();
        if !verified {
            return Err(DecodeError::HashMismatch { block: self.block });
        }
        Ok(Bytes::from(data))
    }

    /// Drops every held symbol.
    fn clear(&mut self) {
        self.data = Vec::new();
        self.have_source.fill(false);
        self.source_count = 0;
        self.repair.clear();
        self.repair_esis.clear();
    }

    /// Decodes without verification (padded to whole symbols), taking the block's bytes: the
    /// caller clears the rest. On an error every symbol stays, for a retry with more.
    fn decode(&mut self) -> Result<Vec<u8>, DecodeError> {
        if self.distinct() < self.source_symbols {
            return Err(DecodeError::NotEnoughSymbols {
                block: self.block,
                have: self.distinct(),
                need: self.source_symbols,
            });
        }
        if self.data.is_empty() {
            self.data = vec![0; self.source_symbols as usize * self.symbol_size];
        }
        let missing: Vec<u32> = (0..self.source_symbols).filter(|&esi| !self.have_source[esi as usize]).collect();
        if missing.len() <= max_solved_by_linearity(self.source_symbols) {
            if !super::erasure::fill_missing(&mut self.data, self.symbol_size, self.source_symbols, &missing, &self.repair) {
                return Err(DecodeError::Singular { block: self.block });
            }
            return Ok(std::mem::take(&mut self.data));
        }
        let oti = block_oti(self.source_symbols, self.symbol_size as u16);
        let mut decoder = SourceBlockDecoder::new(0, &oti, oti.transfer_length());
        let sources = (0..self.source_symbols).filter(|&esi| self.have_source[esi as usize]).map(|esi| {
            let at = esi as usize * self.symbol_size;
            EncodingPacket::new(PayloadId::new(0, esi), self.data[at..at + self.symbol_size].to_vec())
        });
        let repair = self.repair.iter().map(|(esi, payload)| EncodingPacket::new(PayloadId::new(0, *esi), payload.clone()));
        decoder.decode(sources.chain(repair)).ok_or(DecodeError::Singular { block: self.block })
    }
}

/// The most missing source symbols solved by linearity rather than by raptorq. The linear solve
/// costs an encode plus m^2 symbol multiply-adds, raptorq's about two encodes, both growing with
/// K: they meet at about 2.3 sqrt(K) missing (73 at K = 1024, 210 at 8192; `cargo bench -p
/// benches --bench codec -- --summary`, where 410 of 8192 missing ran 0.88x raptorq).
fn max_solved_by_linearity(source_symbols: u32) -> usize {
    /// Small blocks solve this many missing symbols by linearity whatever their size.
    const LINEAR_MIN: usize = 16;
    (2 * (source_symbols as usize).isqrt()).max(LINEAR_MIN)
}
