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
/// Symbols are kept one buffer each, as raptorq takes them. When every source symbol is here (the
/// common case) decoding is one concatenation and raptorq never runs; when some are missing,
/// every held symbol moves into raptorq without another copy. A raptorq decoder that fails keeps
/// what it was given, so a retry hands it only the symbols that arrived since.
pub struct BlockDecoder {
    block: BlockId,
    symbol_size: usize,
    source_symbols: u32,
    block_len: usize,
    /// Source symbols not yet handed to raptorq, by ESI.
    sources: Vec<Option<Vec<u8>>>,
    /// Which source symbols were ever received, handed over or not.
    have_source: Vec<bool>,
    source_count: u32,
    /// Repair symbols not yet handed to raptorq.
    repair: Vec<EncodingPacket>,
    /// Every repair ESI received, handed over or not.
    repair_esis: HashSet<u32>,
    /// The decoder of a failed attempt, holding the symbols handed to it.
    raptorq: Option<SourceBlockDecoder>,
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
            sources: vec![None; source_symbols as usize],
            have_source: vec![false; source_symbols as usize],
            source_count: 0,
            repair: Vec::new(),
            repair_esis: HashSet::new(),
            raptorq: None,
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
            self.sources[esi as usize] = Some(payload.to_vec());
            self.source_count += 1;
        } else {
            if !self.repair_esis.insert(esi) {
                return Ok(false);
            }
            self.repair.push(EncodingPacket::new(PayloadId::new(0, esi), payload.to_vec()));
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
        if blake3::hash(&data) != *expected {
            self.clear();
            return Err(DecodeError::HashMismatch { block: self.block });
        }
        self.clear();
        Ok(Bytes::from(data))
    }

    /// Drops every held symbol.
    fn clear(&mut self) {
        self.sources.fill(None);
        self.have_source.fill(false);
        self.source_count = 0;
        self.repair.clear();
        self.repair_esis.clear();
        self.raptorq = None;
    }

    /// Decodes without verification (padded to whole symbols). Leaves the symbols in place (here
    /// or in the failed raptorq decoder) so a failed attempt can be retried with more.
    fn decode(&mut self) -> Result<Vec<u8>, DecodeError> {
        if self.distinct() < self.source_symbols {
            return Err(DecodeError::NotEnoughSymbols {
                block: self.block,
                have: self.distinct(),
                need: self.source_symbols,
            });
        }
        if self.is_systematic() && self.raptorq.is_none() {
            let mut data = Vec::with_capacity(self.sources.len() * self.symbol_size);
            for symbol in self.sources.iter().flatten() {
                data.extend_from_slice(symbol);
            }
            return Ok(data);
        }
        let decoder = self.raptorq.get_or_insert_with(|| {
            let oti = block_oti(self.source_symbols, self.symbol_size as u16);
            SourceBlockDecoder::new(0, &oti, oti.transfer_length())
        });
        let sources = self.sources.iter_mut().enumerate().filter_map(|(esi, symbol)| {
            symbol.take().map(|data| EncodingPacket::new(PayloadId::new(0, esi as u32), data))
        });
        decoder
            .decode(sources.chain(self.repair.drain(..)))
            .ok_or(DecodeError::Singular { block: self.block })
    }
}
