//! `Packet::decode` on arbitrary datagrams: it must never panic, and whatever it accepts must
//! re-encode to exactly the bytes it was given.
#![no_main]

use fec::wire::{Packet, SessionKey, TAG_LEN};
use libfuzzer_sys::fuzz_target;

/// Byte offset of the header's flags field.
const FLAGS_OFFSET: usize = 2;

fuzz_target!(|bytes: &[u8]| {
    if let Ok((session, packet)) = Packet::decode(bytes, None) {
        let mut expected = bytes.to_vec();
        if bytes[FLAGS_OFFSET] != 0 {
            // Without a key a tag is stripped unchecked.
            expected.truncate(bytes.len() - TAG_LEN);
            expected[FLAGS_OFFSET] = 0;
        }
        let mut reencoded = Vec::new();
        packet.encode(session, None, &mut reencoded);
        assert_eq!(reencoded, expected);
    }
    let key = SessionKey::new([0x5a; 32]);
    if let Ok((session, packet)) = Packet::decode(bytes, Some(&key)) {
        let mut reencoded = Vec::new();
        packet.encode(session, Some(&key), &mut reencoded);
        assert_eq!(reencoded, bytes);
    }
});
