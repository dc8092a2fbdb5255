//! RaptorQ block codec: one object block is one RaptorQ source block.
//!
//! Source symbols are sent as they are (systematic), so the encoder only runs raptorq when repair
//! symbols are asked for, and the decoder only runs it when many source symbols are missing.

mod decoder;
mod encoder;
mod erasure;

pub use decoder::{BlockDecoder, DecodeError, SymbolError};
pub use encoder::BlockEncoder;

use crate::layout::SYMBOL_ALIGNMENT;
use raptorq::ObjectTransmissionInformation;

/// RaptorQ's 24-bit limit on encoding symbol IDs.
pub const MAX_ESI: u32 = (1 << 24) - 1;

/// Transmission parameters for a single block of `source_symbols` symbols of `symbol_size` bytes.
fn block_oti(source_symbols: u32, symbol_size: u16) -> ObjectTransmissionInformation {
    let padded_len = u64::from(source_symbols) * u64::from(symbol_size);
    ObjectTransmissionInformation::new(padded_len, symbol_size, 1, 1, SYMBOL_ALIGNMENT as u8)
}
