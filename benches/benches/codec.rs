//! Block codec throughput: fountain's `BlockEncoder`/`BlockDecoder` next to the same work done
//! with the `raptorq` crate directly, so the wrapper's cost shows as a ratio measured in one run.
//!
//! Both sides start from the same bytes: encoding from the block in memory to every symbol a first
//! pass sends (K source + 5% repair); decoding from received datagram payloads (`&[u8]`) to a block
//! verified against its blake3 hash, because fountain never releases a block unverified.
//!
//! `cargo bench -p benches --bench codec` runs criterion; `-- --summary` instead times every
//! case a few times, prints a table of MB/s (one core) and a JSON line.

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use fec::{BlockDecoder, BlockEncoder, ObjectLayout};
use raptorq::{EncodingPacket, ObjectTransmissionInformation, PayloadId, SourceBlockDecoder, SourceBlockEncoder};
use rand::seq::index::sample;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::{Duration, Instant};

const SYMBOL_SIZE: u16 = 1408;
const BLOCK_SYMBOLS: [u32; 2] = [1024, 8192];
/// Repair sent with a first pass, and the share of source symbols lost in the lossy decode.
const REPAIR_PCT: u32 = 5;
/// Repair symbols received beyond the lost ones, as a receiver asks for.
const DECODE_OVERHEAD_SYMBOLS: u32 = 2;
/// Symbol alignment fountain hands raptorq (`fec::layout::SYMBOL_ALIGNMENT`).
const ALIGNMENT: u8 = fec::layout::SYMBOL_ALIGNMENT as u8;
const SEED: u64 = 0x000f_0c0d;
/// In `--summary` mode each case runs both sides, interleaved, at least this many times and for
/// at least `SUMMARY_SECS_PER_CASE`; the best run of each side counts, which on a shared machine
/// is the one least disturbed by other processes.
const SUMMARY_MIN_RUNS: usize = 20;
const SUMMARY_SECS_PER_CASE: f64 = 3.0;

/// One block and everything both sides need to code it.
struct Block {
    symbols: u32,
    layout: ObjectLayout,
    oti: ObjectTransmissionInformation,
    data: Bytes,
    hash: blake3::Hash,
}

impl Block {
    fn new(symbols: u32) -> Self {
        let len = usize::from(SYMBOL_SIZE) * symbols as usize;
        let mut data = vec![0; len];
        ChaCha8Rng::seed_from_u64(SEED).fill_bytes(&mut data);
        Self {
            symbols,
            layout: ObjectLayout::new(len as u64, SYMBOL_SIZE, symbols).unwrap(),
            oti: ObjectTransmissionInformation::new(len as u64, SYMBOL_SIZE, 1, 1, ALIGNMENT),
            hash: blake3::hash(&data),
            data: Bytes::from(data),
        }
    }

    fn repair_symbols(&self) -> u32 {
        (self.symbols * REPAIR_PCT).div_ceil(100)
    }

    /// The payloads a receiver holds: every source symbol but `loss_pct` of them chosen at
    /// random, and as many repair symbols as were lost plus a small overhead.
    fn received(&self, loss_pct: u32) -> Vec<(u32, Vec<u8>)> {
        let k = self.symbols;
        let lost = (k * loss_pct).div_ceil(100);
        let encoder = SourceBlockEncoder::new(0, &self.oti, &self.data);
        let mut keep = vec![true; k as usize];
        for i in sample(&mut ChaCha8Rng::seed_from_u64(SEED), k as usize, lost as usize) {
            keep[i] = false;
        }
        let repair = if lost == 0 { 0 } else { lost + DECODE_OVERHEAD_SYMBOLS };
        encoder
            .source_packets()
            .into_iter()
            .filter(|p| keep[p.payload_id().encoding_symbol_id() as usize])
            .chain(encoder.repair_packets(0, repair))
            .map(|p| {
                let (id, data) = p.split();
                (id.encoding_symbol_id(), data)
            })
            .collect()
    }

    #[inline(never)]
    fn encode_fountain(&self) -> Vec<Bytes> {
        let encoder = BlockEncoder::new(&self.layout, 0, self.data.clone());
        encoder.symbols(0, self.symbols + self.repair_symbols())
    }

    #[inline(never)]
    fn encode_raptorq(&self) -> (Vec<EncodingPacket>, Vec<EncodingPacket>) {
        let encoder = SourceBlockEncoder::new(0, &self.oti, &self.data);
        (encoder.source_packets(), encoder.repair_packets(0, self.repair_symbols()))
    }

    #[inline(never)]
    fn decode_fountain(&self, received: &[(u32, Vec<u8>)]) -> Bytes {
        let mut decoder = BlockDecoder::new(&self.layout, 0);
        for (esi, payload) in received {
            decoder.add(*esi, payload).unwrap();
        }
        decoder.decode_verified(&self.hash).unwrap()
    }

    #[inline(never)]
    fn decode_raptorq(&self, received: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut decoder = SourceBlockDecoder::new(0, &self.oti, self.data.len() as u64);
        let packets = received.iter().map(|(esi, payload)| EncodingPacket::new(PayloadId::new(0, *esi), payload.clone()));
        let block = decoder.decode(packets).unwrap();
        assert_eq!(blake3::hash(&block), self.hash);
        block
    }
}

/// One measured operation, on both sides.
#[derive(Clone, Copy)]
enum Case {
    Encode,
    Decode { loss_pct: u32 },
}

impl Case {
    const ALL: [Case; 5] = [
        Case::Encode,
        Case::Decode { loss_pct: 0 },
        Case::Decode { loss_pct: 1 },
        Case::Decode { loss_pct: REPAIR_PCT },
        Case::Decode { loss_pct: 10 },
    ];

    fn name(self) -> String {
        match self {
            Case::Encode => "encode".into(),
            Case::Decode { loss_pct } => format!("decode_{loss_pct}pct_loss"),
        }
    }

    fn loss_pct(self) -> u32 {
        match self {
            Case::Encode => 0,
            Case::Decode { loss_pct } => loss_pct,
        }
    }
}

fn criterion_benches(c: &mut Criterion) {
    for symbols in BLOCK_SYMBOLS {
        let block = Block::new(symbols);
        for case in Case::ALL {
            let mut group = c.benchmark_group(format!("{}/K={symbols}", case.name()));
            group.throughput(Throughput::BytesDecimal(block.data.len() as u64));
            group.sample_size(10);
            group.warm_up_time(Duration::from_secs(1));
            group.measurement_time(Duration::from_secs(if symbols > 1024 { 8 } else { 3 }));
            match case {
                Case::Encode => {
                    group.bench_function(BenchmarkId::from_parameter("fountain"), |b| b.iter(|| black_box(block.encode_fountain())));
                    group.bench_function(BenchmarkId::from_parameter("raptorq"), |b| b.iter(|| black_box(block.encode_raptorq())));
                }
                Case::Decode { loss_pct } => {
                    let received = block.received(loss_pct);
                    group.bench_function(BenchmarkId::from_parameter("fountain"), |b| b.iter(|| black_box(block.decode_fountain(&received))));
                    group.bench_function(BenchmarkId::from_parameter("raptorq"), |b| b.iter(|| black_box(block.decode_raptorq(&received))));
                }
            }
            group.finish();
        }
    }
}

/// Best times of each side, the two sides interleaved so that load from other processes hits
/// both alike; also returns the number of runs of each.
fn best_times(block: &Block, case: Case) -> (Duration, Duration, usize) {
    let received = block.received(case.loss_pct());
    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        f();
        start.elapsed()
    };
    let (mut ours, mut theirs) = (Duration::MAX, Duration::MAX);
    let start = Instant::now();
    let mut runs = 0;
    while runs < SUMMARY_MIN_RUNS || start.elapsed().as_secs_f64() < SUMMARY_SECS_PER_CASE {
        runs += 1;
        match case {
            Case::Encode => {
                ours = ours.min(time(&|| drop(black_box(block.encode_fountain()))));
                theirs = theirs.min(time(&|| drop(black_box(block.encode_raptorq()))));
            }
            Case::Decode { .. } => {
                ours = ours.min(time(&|| drop(black_box(block.decode_fountain(&received)))));
                theirs = theirs.min(time(&|| drop(black_box(block.decode_raptorq(&received)))));
            }
        }
    }
    (ours, theirs, runs)
}

fn mb_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64() / 1e6
}

fn summary() {
    println!("block codec, T = {SYMBOL_SIZE}, one core, best run of each side (MB = 10^6 bytes)");
    println!("{:<22} {:>6} {:>14} {:>13} {:>7} {:>6}", "case", "K", "fountain MB/s", "raptorq MB/s", "ratio", "runs");
    let mut json = Vec::new();
    for symbols in BLOCK_SYMBOLS {
        let block = Block::new(symbols);
        // One untimed run of each side fills raptorq's encoding-plan cache for K.
        block.encode_fountain();
        block.encode_raptorq();
        for case in Case::ALL {
            let (ours, theirs, runs) = best_times(&block, case);
            let (ours, theirs) = (mb_per_s(block.data.len(), ours), mb_per_s(block.data.len(), theirs));
            let ratio = ours / theirs;
            println!("{:<22} {symbols:>6} {ours:>14.1} {theirs:>13.1} {ratio:>7.3} {runs:>6}", case.name());
            json.push(format!(
                r#"{{"case":"{}","k":{symbols},"fountain_mb_s":{ours:.1},"raptorq_mb_s":{theirs:.1},"ratio":{ratio:.3}}}"#,
                case.name()
            ));
        }
        let hash = (0..SUMMARY_MIN_RUNS)
            .map(|_| {
                let start = Instant::now();
                black_box(blake3::hash(black_box(&block.data)));
                start.elapsed()
            })
            .min()
            .map_or(0.0, |best| mb_per_s(block.data.len(), best));
        println!("{:<22} {symbols:>6} {hash:>14.1} {:>13} {:>7}", "(blake3 verify alone)", "", "");
    }
    println!(r#"{{"bench":"fec_block_codec","symbol_size":{SYMBOL_SIZE},"results":[{}]}}"#, json.join(","));
}

/// Runs one case once on each side, for an instruction count that no other process can disturb:
/// `valgrind --tool=callgrind BENCH --once K CASE`, then the inclusive cost of
/// `Block::{encode,decode}_{fountain,raptorq}` from `callgrind_annotate --inclusive=yes`.
fn once(symbols: u32, case_name: &str) {
    let case = Case::ALL.into_iter().find(|case| case.name() == case_name).expect("unknown case");
    let block = Block::new(symbols);
    // Building the received symbols also fills raptorq's encoding-plan cache for K.
    let received = block.received(case.loss_pct());
    match case {
        Case::Encode => {
            black_box(block.encode_fountain());
            black_box(block.encode_raptorq());
        }
        Case::Decode { .. } => {
            black_box(block.decode_fountain(&received));
            black_box(block.decode_raptorq(&received));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--summary") {
        summary();
    } else if let Some(at) = args.iter().position(|arg| arg == "--once") {
        once(args[at + 1].parse().expect("K"), &args[at + 2]);
    } else {
        let mut c = Criterion::default().configure_from_args();
        criterion_benches(&mut c);
        c.final_summary();
    }
}
