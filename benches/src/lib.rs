//! Benchmarks: the codec benchmarks (`benches/`) and the head-to-head harness ([`headtohead`]).

pub mod headtohead;
