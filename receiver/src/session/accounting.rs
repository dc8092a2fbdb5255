//! Symbol accounting: an assembly that counts distinct ESIs instead of holding payloads, for
//! simulations of large objects and thousands of receivers (netsim). Everything else in the
//! session — targets, feedback, phases — is the same code as with real symbols.

/// The distinct ESIs received for one block, as a bitset.
#[derive(Debug, Clone)]
pub struct EsiCount {
    source_symbols: u32,
    bits: Vec<u64>,
    source_count: u32,
    distinct: u32,
}

impl EsiCount {
    /// An empty count for a block of `source_symbols` (K).
    pub fn new(source_symbols: u32) -> Self {
        Self { source_symbols, bits: vec![0; (source_symbols as usize).div_ceil(64) + 1], source_count: 0, distinct: 0 }
    }

    /// Records `esi`; returns whether it was new.
    pub fn add(&mut self, esi: u32) -> bool {
        let (word, bit) = ((esi / 64) as usize, esi % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        let mask = 1u64 << bit;
        if self.bits[word] & mask != 0 {
            return false;
        }
        self.bits[word] |= mask;
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
    }

    #[test]
    fn failure_probability_falls_by_256_per_extra_symbol() {
        assert_eq!(raptorq_failure_probability(0), 1.0 / 256.0);
        assert_eq!(raptorq_failure_probability(1), 1.0 / 65536.0);
    }
}
