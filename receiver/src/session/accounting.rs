//! Symbol accounting: an assembly that counts distinct ESIs instead of holding payloads, for
//! simulations of large objects and thousands of receivers (netsim). Everything else in the
//! session — targets, feedback, phases — is the same code as with real symbols.

use std::collections::HashSet;

/// The distinct ESIs received for one block: a bitset over the sender's ESIs (the first pass and
/// its repair, a little over K), a set for the rest. Peers mint ESIs from 2^20 up (a range per
/// member), and a bitset reaching them was 128 KiB to 1.3 MiB per block, zeroed: at 5,000 simulated
/// nodes a fifth of the run and 6 GB resident.
#[derive(Debug, Clone)]
pub struct EsiCount {
    source_symbols: u32,
    bits: Vec<u64>,
    /// ESIs past the bitset.
    sparse: HashSet<u32, ahash::RandomState>,
    source_count: u32,
    distinct: u32,
}

/// The bitset covers ESIs below this many times K.
const DENSE_BLOCKS: usize = 2;

impl EsiCount {
    /// An empty count for a block of `source_symbols` (K).
    pub fn new(source_symbols: u32) -> Self {
        let words = (source_symbols as usize * DENSE_BLOCKS).div_ceil(64) + 1;
        Self { source_symbols, bits: vec![0; words], sparse: HashSet::default(), source_count: 0, distinct: 0 }
    }

    /// Records `esi`; returns whether it was new.
    pub fn add(&mut self, esi: u32) -> bool {
        let (word, bit) = ((esi / 64) as usize, esi % 64);
        match self.bits.get_mut(word) {
            Some(bits) if *bits & (1u64 << bit) != 0 => return false,
            Some(bits) => *bits |= 1u64 << bit,
            None if !self.sparse.insert(esi) => return false,
            None => {}
        }
        self.distinct += 1;
        if esi < self.source_symbols {
            self.source_count += 1;
        }
        true
    }

    /// Distinct symbols held.
    pub fn distinct(&self) -> u32 {
        self.distinct
    }

    /// Whether every source symbol is here (decoding would be a concatenation).
    pub fn is_systematic(&self) -> bool {
        self.source_count == self.source_symbols
    }

    /// Forgets every symbol (a modelled hash mismatch).
    pub fn clear(&mut self) {
        self.bits.iter_mut().for_each(|w| *w = 0);
        self.sparse.clear();
        self.source_count = 0;
        self.distinct = 0;
    }
}

/// RaptorQ's probability that a decode from K+`extra` distinct symbols fails: ~1/256^(extra+1)
/// (RFC 6330 §5.6 figures; the crate matches them within a small factor).
pub fn raptorq_failure_probability(extra: u32) -> f64 {
    256f64.powi(-(extra as i32 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_and_source() {
        let mut count = EsiCount::new(10);
        assert!(count.add(3));
        assert!(!count.add(3));
        assert!(count.add(200));
        assert_eq!(count.distinct(), 2);
        assert!(!count.is_systematic());
        (0..10).for_each(|esi| {
            count.add(esi);
        });
        assert!(count.is_systematic());
        assert_eq!(count.distinct(), 11);
        // A peer's ESI, far past the sender's: counted once, without a bitset up to it.
        assert!(count.add(5 << 20));
        assert!(!count.add(5 << 20));
        assert_eq!(count.distinct(), 12);
        assert!(count.bits.len() < 64);
        count.clear();
        assert!(count.add(5 << 20) && count.add(3));
    }

    #[test]
    fn failure_probability_falls_by_256_per_extra_symbol() {
        assert_eq!(raptorq_failure_probability(0), 1.0 / 256.0);
        assert_eq!(raptorq_failure_probability(1), 1.0 / 65536.0);
    }
}
