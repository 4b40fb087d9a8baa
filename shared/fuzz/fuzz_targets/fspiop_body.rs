//! FSPIOP body validation (`ferroloop_fspiop::body`): the prepare, fulfil, error and PATCH
//! schemas, strict and lenient about additional properties, then what the adapter derives from
//! a valid fulfil (`completedTimestamp` and its window).
//! Input: one selector byte, then the body.
#![no_main]

use ferroloop_fspiop::body::{self, BodyOptions};
use libfuzzer_sys::fuzz_target;
use time::{Duration, OffsetDateTime};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let options = BodyOptions {
        reject_additional_properties: selector & 0x80 == 0,
    };
    let _ = body::check_body_size(body.len());
    let validated = match selector & 0x03 {
        0 => body::validate_prepare_with(body, &options),
        1 => body::validate_fulfil_with(body, &options),
        2 => body::validate_error_with(body, &options),
        _ => body::validate_patch_with(body, &options),
    };
    let Ok(value) = validated else {
        return;
    };
    // A valid body is a JSON object (the schemas' root type).
    assert!(value.is_object());
    if let Some(completed) = body::completed_timestamp(&value) {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(i64::from(selector) * 400);
        let _ = body::check_completed_timestamp(
            completed,
            now,
            Duration::seconds(300),
            Duration::milliseconds(200),
        );
        let _ = body::check_completed_timestamp(completed, now, Duration::MAX, Duration::MAX);
    }
});
