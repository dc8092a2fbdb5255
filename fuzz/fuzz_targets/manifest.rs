//! `Manifest::decode` on arbitrary bytes: it must never panic, and whatever it accepts must
//! re-encode to exactly the bytes it was given.
//!
//! A fuzzer cannot forge the trailing blake3 checksum, so each input is also tried with a correct
//! checksum appended; that reaches the layout, block count and root checks behind it.
#![no_main]

use fec::Manifest;
use libfuzzer_sys::fuzz_target;

fn check(bytes: &[u8]) {
    if let Ok(manifest) = Manifest::decode(bytes) {
        assert_eq!(manifest.encode(), bytes);
    }
}

fuzz_target!(|bytes: &[u8]| {
    check(bytes);
    let mut sealed = bytes.to_vec();
    sealed.extend_from_slice(blake3::hash(bytes).as_bytes());
    check(&sealed);
});
