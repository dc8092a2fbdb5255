//! Block codec through its public API: every block of several layouts survives encoding and
//! decoding, and the decoder refuses what it must refuse.

use bytes::Bytes;
use fec::codec::{MAX_ESI, SymbolError};
use fec::{BlockDecoder, BlockEncoder, BlockId, DecodeError, ObjectLayout};
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Repair symbols beyond the bare minimum, so a seeded run never trips RaptorQ's small chance of
/// a singular system (about 1 in 256^(overhead+1)).
const SAFETY_OVERHEAD_SYMBOLS: u32 = 2;

fn random_object(seed: u64, len: usize) -> Vec<u8> {
    let mut data = vec![0; len];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

/// One object, its layout and the hash of every block, as a sender and a manifest would hold it.
struct Fixture {
    layout: ObjectLayout,
    data: Bytes,
}

impl Fixture {
    fn new(seed: u64, object_size: usize, symbol_size: u16, block_symbols: u32) -> Self {
        let layout = ObjectLayout::new(object_size as u64, symbol_size, block_symbols).unwrap();
        Self { layout, data: Bytes::from(random_object(seed, object_size)) }
    }

    fn block_data(&self, block: BlockId) -> Bytes {
        let start = self.layout.block_offset(block) as usize;
        self.data.slice(start..start + self.layout.block_len(block))
    }

    fn hash(&self, block: BlockId) -> blake3::Hash {
        blake3::hash(&self.block_data(block))
    }

    fn encoder(&self, block: BlockId) -> BlockEncoder {
        BlockEncoder::new(&self.layout, block, self.block_data(block))
    }

    fn decoder(&self, block: BlockId) -> BlockDecoder {
        BlockDecoder::new(&self.layout, block)
    }

    /// Feeds `(esi, symbol)` pairs to a fresh decoder and decodes.
    fn decode(&self, block: BlockId, symbols: impl IntoIterator<Item = (u32, Bytes)>) -> Result<Bytes, DecodeError> {
        let mut decoder = self.decoder(block);
        for (esi, symbol) in symbols {
            decoder.add(esi, &symbol).unwrap();
        }
        decoder.decode_verified(&self.hash(block))
    }
}

/// Symbols `first..first+count` of `encoder`, paired with their ESIs.
fn numbered(encoder: &BlockEncoder, first: u32, count: u32) -> Vec<(u32, Bytes)> {
    (first..).zip(encoder.symbols(first, count)).collect()
}

/// The whole first pass plus `overhead_pct` of repair, through a channel losing `loss_pct`.
fn lossy_stream(encoder: &BlockEncoder, rng: &mut impl Rng, loss_pct: f64, overhead_pct: f64) -> Vec<(u32, Bytes)> {
    let k = encoder.source_symbols();
    let repair = (f64::from(k) * overhead_pct / 100.0).ceil() as u32 + SAFETY_OVERHEAD_SYMBOLS;
    numbered(encoder, 0, k + repair).into_iter().filter(|_| !rng.gen_bool(loss_pct / 100.0)).collect()
}

#[test]
fn every_block_of_several_layouts_round_trips() {
    let cases = [
        // (object bytes, T, K): short last blocks everywhere, default T, jumbo T, K = 1, K = 1024.
        (200 * 1408 + 777, 1408, 64),
        (3 * 32 * 8960 + 8960 * 5 + 1, 8960, 32),
        (5 * 1408 + 100, 1408, 1),
        (1024 * 1408 + 12_345, 1408, 1024),
        (1000, 16, 8),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (seed, (size, t, k)) in cases.into_iter().enumerate() {
        let fixture = Fixture::new(seed as u64, size, t, k);
        let layout = fixture.layout;
        assert!(layout.block_len(layout.block_count() - 1) < layout.full_block_bytes() as usize, "want a short last block");
        let mut rebuilt = Vec::with_capacity(size);
        for block in layout.blocks() {
            let encoder = fixture.encoder(block);
            assert_eq!(encoder.source_symbols(), layout.source_symbols(block));
            // Lose a tenth of the source symbols, so raptorq has to rebuild some of every block.
            let symbols = lossy_stream(&encoder, &mut rng, 10.0, 20.0);
            let decoded = fixture.decode(block, symbols).unwrap_or_else(|e| panic!("T={t} K={k}: {e}"));
            assert_eq!(decoded, fixture.block_data(block), "T={t} K={k} block {block}");
            rebuilt.extend_from_slice(&decoded);
        }
        assert_eq!(rebuilt, fixture.data, "T={t} K={k}");
    }
}

#[test]
fn all_source_symbols_decode_without_raptorq() {
    let fixture = Fixture::new(2, 1024 * 1408, 1408, 1024);
    let encoder = fixture.encoder(0);
    let mut decoder = fixture.decoder(0);
    let mut symbols = numbered(&encoder, 0, 1024);
    symbols.shuffle(&mut ChaCha8Rng::seed_from_u64(2));
    for (esi, symbol) in &symbols {
        assert!(!decoder.is_systematic());
        assert_eq!(decoder.add(*esi, symbol), Ok(true));
    }
    assert!(decoder.is_systematic());
    assert_eq!(decoder.decode_verified(&fixture.hash(0)).unwrap(), fixture.block_data(0));
}

/// The decoder solves a few missing source symbols itself and leaves many to raptorq (at K = 256
/// the switch is at 32 missing); either way, with as many repair symbols as are missing and ESIs
/// scattered over a wide range, the block comes back whole.
#[test]
fn any_number_of_missing_source_symbols_is_rebuilt_from_scattered_repair() {
    let k = 256;
    let fixture = Fixture::new(20, k as usize * 1408, 1408, k);
    let encoder = fixture.encoder(0);
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    for missing in [1, 2, 7, 31, 32, 33, 64, 200, 256] {
        let mut lost: Vec<u32> = (0..k).collect();
        lost.shuffle(&mut rng);
        lost.truncate(missing);
        let sources = numbered(&encoder, 0, k).into_iter().filter(|(esi, _)| !lost.contains(esi));
        // Every third repair ESI from a random start: not a contiguous run from K.
        let first = k + rng.gen_range(0..1000);
        let repair = (0..missing as u32 + SAFETY_OVERHEAD_SYMBOLS).map(|i| first + 3 * i).map(|esi| (esi, encoder.symbols(esi, 1).remove(0)));
        let decoded = fixture.decode(0, sources.chain(repair)).unwrap_or_else(|e| panic!("{missing} missing: {e}"));
        assert_eq!(decoded, fixture.block_data(0), "{missing} missing");
    }
}

/// With one repair symbol fewer than missing source symbols nothing can be solved; the symbols
/// stay, and the one more that arrives completes the block.
#[test]
fn one_repair_symbol_short_of_the_missing_waits_for_the_next() {
    let fixture = Fixture::new(21, 1024 * 1408, 1408, 1024);
    let encoder = fixture.encoder(0);
    let hash = fixture.hash(0);
    let mut decoder = fixture.decoder(0);
    for (esi, symbol) in numbered(&encoder, 10, 1014) {
        decoder.add(esi, &symbol).unwrap();
    }
    for (esi, symbol) in numbered(&encoder, 1024, 9) {
        decoder.add(esi, &symbol).unwrap();
    }
    assert_eq!(decoder.decode_verified(&hash), Err(DecodeError::NotEnoughSymbols { block: 0, have: 1023, need: 1024 }));
    for (esi, symbol) in numbered(&encoder, 1033, 1 + SAFETY_OVERHEAD_SYMBOLS) {
        decoder.add(esi, &symbol).unwrap();
    }
    assert_eq!(decoder.decode_verified(&hash).unwrap(), fixture.block_data(0));
}

#[test]
fn source_symbols_are_views_of_the_block() {
    let fixture = Fixture::new(3, 2 * 4 * 64 + 5, 64, 4);
    let last = fixture.layout.block_count() - 1;
    let encoder = fixture.encoder(last);
    assert_eq!(encoder.source_symbols(), 1);
    // The short last block is zero-padded to a whole symbol.
    let symbol = encoder.source_symbol(0);
    assert_eq!(&symbol[..5], &fixture.block_data(last)[..]);
    assert!(symbol[5..].iter().all(|&b| b == 0));
    assert_eq!(encoder.symbols(0, 1), vec![symbol]);
}

#[test]
fn repair_symbols_alone_decode() {
    for (seed, (size, t, k)) in [(1024 * 1408, 1408, 1024), (1408, 1408, 1), (40 * 8960, 8960, 40)].into_iter().enumerate() {
        let fixture = Fixture::new(10 + seed as u64, size, t, k);
        let encoder = fixture.encoder(0);
        let symbols = numbered(&encoder, k, k + SAFETY_OVERHEAD_SYMBOLS);
        assert!(symbols.iter().all(|(esi, _)| *esi >= k));
        assert_eq!(fixture.decode(0, symbols).unwrap(), fixture.block_data(0), "K={k}");
    }
}

#[test]
fn five_percent_loss_with_extra_repair_decodes() {
    let fixture = Fixture::new(4, 3 * 1024 * 1408, 1408, 1024);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for block in fixture.layout.blocks() {
        let encoder = fixture.encoder(block);
        let symbols = lossy_stream(&encoder, &mut rng, 5.0, 10.0);
        let lost_sources = 1024 - symbols.iter().filter(|(esi, _)| *esi < 1024).count();
        assert!(lost_sources > 20, "the channel lost only {lost_sources} source symbols");
        assert_eq!(fixture.decode(block, symbols).unwrap(), fixture.block_data(block));
    }
}

#[test]
fn repair_symbols_up_to_the_last_esi_decode() {
    let fixture = Fixture::new(5, 16 * 1408, 1408, 16);
    let encoder = fixture.encoder(0);
    assert_eq!(encoder.symbols(MAX_ESI, 10).len(), 1, "no ESI past 2^24-1");
    assert!(encoder.symbols(MAX_ESI + 1, 10).is_empty());
    let mut symbols = numbered(&encoder, 3, 13);
    symbols.extend(numbered(&encoder, MAX_ESI - 4, 5));
    assert_eq!(fixture.decode(0, symbols).unwrap(), fixture.block_data(0));
}

#[test]
fn one_symbol_short_is_not_enough_until_the_last_arrives() {
    let fixture = Fixture::new(6, 100 * 1408, 1408, 100);
    let encoder = fixture.encoder(0);
    let mut decoder = fixture.decoder(0);
    // Mix of source and repair, one short of K.
    let mut symbols = numbered(&encoder, 10, 99);
    let last = symbols.pop().unwrap();
    for (esi, symbol) in &symbols {
        decoder.add(*esi, symbol).unwrap();
    }
    let hash = fixture.hash(0);
    assert_eq!(decoder.decode_verified(&hash), Err(DecodeError::NotEnoughSymbols { block: 0, have: 98, need: 100 }));
    decoder.add(last.0, &last.1).unwrap();
    assert_eq!(decoder.decode_verified(&hash), Err(DecodeError::NotEnoughSymbols { block: 0, have: 99, need: 100 }));
    // The symbols held survive a failed attempt: K + a little more now decodes.
    for (esi, symbol) in numbered(&encoder, 200, 1 + SAFETY_OVERHEAD_SYMBOLS) {
        decoder.add(esi, &symbol).unwrap();
    }
    assert_eq!(decoder.decode_verified(&hash).unwrap(), fixture.block_data(0));
}

#[test]
fn a_corrupt_source_symbol_is_caught_and_the_block_rebuilt_from_fresh_symbols() {
    let fixture = Fixture::new(7, 64 * 1408, 1408, 64);
    let encoder = fixture.encoder(0);
    let hash = fixture.hash(0);
    let mut decoder = fixture.decoder(0);
    for (esi, symbol) in numbered(&encoder, 0, 64) {
        let mut payload = symbol.to_vec();
        if esi == 17 {
            payload[700] ^= 0x20;
        }
        decoder.add(esi, &payload).unwrap();
    }
    assert!(decoder.is_systematic());
    assert_eq!(decoder.decode_verified(&hash), Err(DecodeError::HashMismatch { block: 0 }));
    assert_eq!(decoder.distinct(), 0, "the decoder must drop every symbol after a mismatch");
    assert!(!decoder.is_systematic());
    // Fresh symbols (repair only this time) rebuild the block.
    for (esi, symbol) in numbered(&encoder, 64, 64 + SAFETY_OVERHEAD_SYMBOLS) {
        assert_eq!(decoder.add(esi, &symbol), Ok(true), "esi {esi} was not taken as new");
    }
    assert_eq!(decoder.decode_verified(&hash).unwrap(), fixture.block_data(0));
}

#[test]
fn a_corrupt_repair_symbol_is_caught_and_the_block_rebuilt_from_fresh_symbols() {
    let fixture = Fixture::new(8, 64 * 1408, 1408, 64);
    let encoder = fixture.encoder(0);
    let hash = fixture.hash(0);
    let mut decoder = fixture.decoder(0);
    // Sources 0..60 and repairs 64..68: raptorq must use the corrupt repair symbol.
    for (esi, symbol) in numbered(&encoder, 0, 60).into_iter().chain(numbered(&encoder, 64, 4)) {
        let mut payload = symbol.to_vec();
        if esi == 65 {
            payload[0] ^= 1;
        }
        decoder.add(esi, &payload).unwrap();
    }
    assert_eq!(decoder.decode_verified(&hash), Err(DecodeError::HashMismatch { block: 0 }));
    assert_eq!(decoder.distinct(), 0);
    for (esi, symbol) in numbered(&encoder, 0, 64) {
        decoder.add(esi, &symbol).unwrap();
    }
    assert_eq!(decoder.decode_verified(&hash).unwrap(), fixture.block_data(0));
}

#[test]
fn a_successful_decode_leaves_the_decoder_empty() {
    let fixture = Fixture::new(9, 8 * 64, 64, 8);
    let encoder = fixture.encoder(0);
    let mut decoder = fixture.decoder(0);
    for (esi, symbol) in numbered(&encoder, 0, 8) {
        decoder.add(esi, &symbol).unwrap();
    }
    assert_eq!(decoder.decode_verified(&fixture.hash(0)).unwrap(), fixture.block_data(0));
    assert_eq!(decoder.distinct(), 0);
    assert!(matches!(decoder.decode_verified(&fixture.hash(0)), Err(DecodeError::NotEnoughSymbols { have: 0, .. })));
}

#[test]
fn duplicates_are_ignored() {
    let fixture = Fixture::new(11, 32 * 1408, 1408, 32);
    let encoder = fixture.encoder(0);
    let mut decoder = fixture.decoder(0);
    let symbols = numbered(&encoder, 2, 32 + SAFETY_OVERHEAD_SYMBOLS);
    for (esi, symbol) in &symbols {
        assert_eq!(decoder.add(*esi, symbol), Ok(true));
    }
    let distinct = decoder.distinct();
    assert_eq!(distinct, 32 + SAFETY_OVERHEAD_SYMBOLS);
    // A second copy, even a corrupt one, of a source or a repair symbol changes nothing.
    let garbage = vec![0xAA; 1408];
    for (esi, symbol) in &symbols {
        assert_eq!(decoder.add(*esi, symbol), Ok(false));
        assert_eq!(decoder.add(*esi, &garbage), Ok(false));
    }
    assert_eq!(decoder.distinct(), distinct);
    assert_eq!(decoder.decode_verified(&fixture.hash(0)).unwrap(), fixture.block_data(0));
}

#[test]
fn malformed_symbols_are_rejected_and_not_counted() {
    let fixture = Fixture::new(12, 4 * 1408, 1408, 4);
    let mut decoder = fixture.decoder(0);
    for len in [0, 1, 1407, 1409, 8960] {
        assert_eq!(decoder.add(0, &vec![0; len]), Err(SymbolError::Length { got: len, expected: 1408 }));
    }
    let symbol = vec![0; 1408];
    for esi in [MAX_ESI + 1, 1 << 25, u32::MAX] {
        assert_eq!(decoder.add(esi, &symbol), Err(SymbolError::Esi(esi)));
    }
    assert_eq!(decoder.distinct(), 0);
    assert_eq!(decoder.add(MAX_ESI, &symbol), Ok(true), "2^24-1 is still a valid ESI");
    assert_eq!(decoder.distinct(), 1);
}

/// Finds ESIs `first..first+k` of repair symbols that leave raptorq's system singular: with no
/// overhead that happens about once in a hundred tries.
fn singular_repair_run(fixture: &Fixture, encoder: &BlockEncoder, k: u32) -> u32 {
    (k..k + 10_000)
        .step_by(k as usize)
        .find(|&first| {
            let result = fixture.decode(0, numbered(encoder, first, k));
            assert!(matches!(result, Ok(_) | Err(DecodeError::Singular { block: 0 })), "{result:?}");
            result.is_err()
        })
        .expect("no singular run of repair symbols found")
}

#[test]
fn a_singular_system_decodes_once_more_symbols_arrive() {
    let fixture = Fixture::new(13, 10 * 64, 64, 10);
    let encoder = fixture.encoder(0);
    let hash = fixture.hash(0);
    let first = singular_repair_run(&fixture, &encoder, 10);
    // More repair: raptorq retries with what it already holds plus the new symbols.
    let mut decoder = fixture.decoder(0);
    for (esi, symbol) in numbered(&encoder, first, 10) {
        decoder.add(esi, &symbol).unwrap();
    }
    assert_eq!(decoder.decode_verified(&hash), Err(DecodeError::Singular { block: 0 }));
    assert_eq!(decoder.distinct(), 10, "a singular attempt keeps its symbols");
    assert_eq!(decoder.add(first, &encoder.symbols(first, 1)[0]), Ok(false), "still a duplicate");
    for (esi, symbol) in numbered(&encoder, first + 10, SAFETY_OVERHEAD_SYMBOLS) {
        decoder.add(esi, &symbol).unwrap();
    }
    assert_eq!(decoder.decode_verified(&hash).unwrap(), fixture.block_data(0));
    // Or every source symbol turns up after all.
    let mut decoder = fixture.decoder(0);
    for (esi, symbol) in numbered(&encoder, first, 10) {
        decoder.add(esi, &symbol).unwrap();
    }
    assert!(decoder.decode_verified(&hash).is_err());
    for (esi, symbol) in numbered(&encoder, 0, 10) {
        decoder.add(esi, &symbol).unwrap();
    }
    assert!(decoder.is_systematic());
    assert_eq!(decoder.decode_verified(&hash).unwrap(), fixture.block_data(0));
}
