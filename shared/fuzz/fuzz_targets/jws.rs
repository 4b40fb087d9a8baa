//! FSPIOP-Signature parsing and verification (`ferroloop_fspiop::jws`): `verify_request`, what
//! the adapter runs on a signed request, against a fixed RSA key (the SDK's test key), and
//! public-key PEM parsing (what key registration reads). Signing is `jws_sign`'s (a private-key
//! operation costs some thirty verifications: kept apart, it does not slow this target down).
//! Input: the request text format of `ferroloop_fuzz`.
#![no_main]

use std::sync::LazyLock;

use ferroloop_fspiop::jws::{self, RequestTarget, VerifyingKey};
use libfuzzer_sys::fuzz_target;

const PUBLIC: &str = include_str!(
    "../../fspiop/testdata/jws/test-only-keys/sdk-standard-components_jwsValidationKey.pem"
);

static KEY: LazyLock<VerifyingKey> =
    LazyLock::new(|| VerifyingKey::from_pem(PUBLIC).expect("test public key"));

fuzz_target!(|data: &[u8]| {
    let Some(request) = ferroloop_fuzz::request(data) else {
        return;
    };
    let public = &*KEY;
    let target = RequestTarget {
        method: request.method.as_str(),
        uri: &request.path,
    };
    // verify_request is the target check, then verify_detailed's work: run the expensive part
    // once per input.
    let names_this_request = request
        .headers
        .get("fspiop-uri")
        .is_some_and(|v| v == target.uri)
        && request
            .headers
            .get("fspiop-http-method")
            .is_some_and(|v| v == target.method);
    if names_this_request {
        let _ = jws::verify_request(request.body, &request.headers, public, target);
    } else {
        let _ = jws::verify_detailed(request.body, &request.headers, public);
    }
    if let Ok(text) = std::str::from_utf8(request.body) {
        let _ = VerifyingKey::from_pem(text);
    }
});
