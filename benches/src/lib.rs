//! Benchmarks: the codec benchmarks (`benches/`), the head-to-head harness ([`headtohead`]) and the
//! stateless boot storm ([`storm`]).

pub mod headtohead;
pub mod storm;
