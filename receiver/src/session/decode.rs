//! Decoding work handed to the driver, which may run it on another thread.

use bytes::Bytes;
use fec::{BlockDecoder, BlockId, DecodeError};

/// One block to decode and verify, with everything it needs: it owns its symbols.
pub struct DecodeJob {
    pub(super) decoder: BlockDecoder,
    pub(super) expected: blake3::Hash,
}

/// A block that could not be produced; hand it back with [`super::ReceiverSession::decode_failed`].
pub struct DecodeFailure {
    /// The decoder, with its symbols (or emptied, after a hash mismatch).
    pub decoder: BlockDecoder,
    /// Why.
    pub error: DecodeError,
}

impl DecodeJob {
    /// The block.
    pub fn block(&self) -> BlockId {
        self.decoder.block()
    }

    /// Decodes and verifies. `Ok` holds exactly the block's bytes, verified against the manifest.
    pub fn run(mut self) -> Result<(BlockId, Bytes), DecodeFailure> {
        let block = self.decoder.block();
        match self.decoder.decode_verified(&self.expected) {
            Ok(bytes) => Ok((block, bytes)),
            Err(error) => Err(DecodeFailure { decoder: self.decoder, error }),
        }
    }
}
