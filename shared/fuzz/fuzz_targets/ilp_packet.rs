//! ILP decoding (`ferroloop_core::ilp`): the packet as binary and as the FSPIOP `ilpPacket`
//! text, the condition and the fulfilment.
//! Input: one selector byte, then the bytes (selector even) or the text (odd).
#![no_main]

use ferroloop_core::ilp::{self, packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        if let Ok(decoded) = packet::decode_envelope(rest) {
            // The declared envelope length is within the input.
            assert!(decoded.envelope_length <= rest.len());
            assert_eq!(packet::decode(rest).as_ref(), Ok(&decoded.packet));
        }
        return;
    }
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if let Ok(bytes) = packet::decode_base64url(text) {
        let _ = packet::decode_envelope(&bytes);
    }
    if let Ok(preimage) = ilp::decode_fulfilment(text) {
        // A fulfilment verifies against its own condition, and the condition decodes.
        let condition = ilp::condition_for(&preimage);
        assert!(ilp::verify_fulfilment(text, &condition).is_ok());
        assert!(ilp::decode_condition(&condition).is_ok());
    }
    let _ = ilp::decode_condition(text);
    if let Some((fulfilment, condition)) = text.split_once(' ') {
        let _ = ilp::verify_fulfilment(fulfilment, condition);
    }
});
