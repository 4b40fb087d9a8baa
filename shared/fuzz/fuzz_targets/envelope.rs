//! Envelope decoding (`ferroloop_messaging::envelope`), what every handler does first with a
//! message from the boundary topics: the envelope JSON, the original body behind its data URI,
//! the payload as JSON, the transfer id and who sent it.
//! Input: the message value.
#![no_main]

use ferroloop_messaging::boundary::BoundaryArgs;
use ferroloop_messaging::envelope::{self, Envelope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = envelope::decode_data_uri(text);
    }
    let Ok(envelope) = Envelope::from_json_bytes(data) else {
        return;
    };
    let _ = envelope.original_body();
    let _ = envelope.content.payload.to_bytes();
    let _ = envelope.content.payload.decode::<serde_json::Value>();
    let _ = envelope.transfer_id();
    let _ = (envelope.action(), envelope.event_type());
    for trusted in [false, true] {
        let _ = BoundaryArgs::trusting(trusted).sender(&envelope);
    }
    // What the hub writes back (the next hop's copy) decodes again.
    Envelope::from_json_bytes(&envelope.to_json_bytes()).expect("re-encoded envelope");
});
