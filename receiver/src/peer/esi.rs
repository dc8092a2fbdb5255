//! Repair ESIs minted by peers: every member mints from its own range, so symbols that
//! different peers send the same receiver never duplicate each other or the sender's.
//!
//! The sender's symbols use ESIs below [`PEER_ESI_BASE`] (source symbols, then its repair
//! symbols counting up from K). Above it the ESI space (24 bits) is cut into [`SLOTS`] ranges of
//! [`SPAN`] symbols; member `index` mints from slot `index % SLOTS`, cycling through its span.
//! Sessions beyond 8,192 members share slots, which only costs a duplicate when two such
//! members serve the same block to the same receiver.

use fec::MAX_ESI;

/// The first ESI a peer mints; the sender never reaches it (it would take a million repair
/// symbols of one block).
pub const PEER_ESI_BASE: u32 = 1 << 20;
/// Ranges the peer ESI space is cut into.
pub const SLOTS: u32 = 8192;
/// ESIs in one member's range: more than any block needs from one peer.
pub const SPAN: u32 = (MAX_ESI + 1 - PEER_ESI_BASE) / SLOTS;

/// Whether `esi` was minted by a peer rather than the sender.
pub fn is_peer_esi(esi: u32) -> bool {
    esi >= PEER_ESI_BASE
}

/// The first of `count` consecutive ESIs member `index` mints for a block of which it has
/// minted `minted` before. Contiguous, so the driver encodes them in one call: a run that
/// would cross the end of the span starts again at its beginning.
pub fn peer_esis(index: u32, minted: u32, count: u32) -> u32 {
    let count = count.min(SPAN);
    let mut offset = minted % SPAN;
    if offset + count > SPAN {
        offset = 0;
    }
    PEER_ESI_BASE + (index % SLOTS) * SPAN + offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_disjoint_and_inside_the_esi_space() {
        assert!(SPAN >= 1024 + 64, "a whole K=1024 block fits one member's span");
        let last = peer_esis(SLOTS - 1, SPAN - 1, 1);
        assert_eq!(last, MAX_ESI - (MAX_ESI + 1 - PEER_ESI_BASE) % SLOTS);
        for index in [0, 1, 77, SLOTS - 1] {
            let first = peer_esis(index, 0, 10);
            assert!(is_peer_esi(first));
            assert_eq!((first - PEER_ESI_BASE) / SPAN, index);
            // Minting on moves through the range, never into the next member's.
            let later = peer_esis(index, SPAN - 5, 10);
            assert_eq!(later, first, "a run crossing the span's end restarts at its beginning");
            assert_eq!(peer_esis(index, 10, 10), first + 10);
        }
        assert_eq!(peer_esis(SLOTS + 3, 0, 1), peer_esis(3, 0, 1), "members beyond SLOTS share slots");
    }
}
