//! FSPIOP-Signature round trip (`ferroloop_fspiop::jws`): what the hub's signer makes over a
//! request's own headers and body (`sign`, as the notification handler signs callbacks) must
//! verify on that request (`verify_detailed`, raw form), whatever the header values and body.
//! Input: the request text format of `ferroloop_fuzz`.
#![no_main]

use std::sync::LazyLock;

use ferroloop_fspiop::jws::{
    self, Algorithm, ProtectedHeaders, SignedForm, SigningKey, VerifyingKey,
};
use http::HeaderValue;
use libfuzzer_sys::fuzz_target;

const PRIVATE: &str = include_str!(
    "../../fspiop/testdata/jws/test-only-keys/sdk-standard-components_jwsSigningKey.pem"
);

static KEYS: LazyLock<(SigningKey, VerifyingKey)> = LazyLock::new(|| {
    let private = SigningKey::from_pem(PRIVATE).expect("test private key");
    let public = private.verifying_key();
    (private, public)
});

/// Protected members a request may repeat: the signer and the verifier read the first value.
const PROTECTED: [&str; 5] = [
    "fspiop-uri",
    "fspiop-http-method",
    "fspiop-source",
    "fspiop-destination",
    "date",
];

fuzz_target!(|data: &[u8]| {
    let Some(mut request) = ferroloop_fuzz::request(data) else {
        return;
    };
    let (private, public) = &*KEYS;
    let Ok(protected) = ProtectedHeaders::from_headers(&request.headers) else {
        return;
    };
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let signature = jws::sign(request.body, &protected, private, Algorithm::Rs256)
        .expect("signing with a valid key");
    let Ok(value) = HeaderValue::from_str(&signature) else {
        panic!("a signature header is not a header value: {signature}");
    };
    request.headers.insert("fspiop-signature", value);
    let unambiguous = PROTECTED
        .iter()
        .all(|name| request.headers.get_all(*name).iter().count() <= 1);
    if unambiguous {
        let verified = jws::verify_detailed(request.body, &request.headers, public);
        assert_eq!(verified, Ok(SignedForm::Raw), "{signature}");
    }
});
