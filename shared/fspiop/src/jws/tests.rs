use std::collections::BTreeMap;
use std::path::PathBuf;

use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};

use super::*;

/// The crate's JWS test data (`testdata/jws`, extracted by `scripts/testdata/extract.py`).
fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/jws")
}

fn read_json(name: &str) -> Value {
    let path = vectors_dir().join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A published test key from `testdata/jws/test-only-keys/`, `None` if the vector names a key
/// the directory lacks.
fn key_pem(name: &str) -> Option<String> {
    std::fs::read_to_string(vectors_dir().join("test-only-keys").join(name)).ok()
}

fn sdk_private() -> SigningKey {
    SigningKey::from_pem(&key_pem("sdk-standard-components_jwsSigningKey.pem").unwrap()).unwrap()
}

fn sdk_public() -> VerifyingKey {
    VerifyingKey::from_pem(&key_pem("sdk-standard-components_jwsValidationKey.pem").unwrap())
        .unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

/// The request headers a vector describes, as the adapter would store them.
fn vector_headers(v: &Value) -> BTreeMap<String, String> {
    let mut h: BTreeMap<String, String> = v["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, val)| (k.to_ascii_lowercase(), s(val).to_owned()))
        .collect();
    h.insert("fspiop-uri".into(), s(&v["fspiopUri"]).to_owned());
    h.insert("fspiop-http-method".into(), s(&v["method"]).to_owned());
    h
}

fn code_of(r: Result<(), FspiopError>) -> Option<u16> {
    r.err().map(|e| e.code().as_u16())
}

#[test]
fn every_sdk_vector_behaves_as_recorded() {
    let vectors = read_json("vectors.json");
    let vectors = vectors.as_array().unwrap();
    assert!(!vectors.is_empty());
    let mut verified_with_key = 0;
    for v in vectors {
        let name = s(&v["name"]);
        let protected = s(&v["protectedHeader"]);
        // The recorded pieces are consistent with each other and with our encoding.
        assert_eq!(
            BASE64URL.encode(s(&v["protectedHeaderJson"])),
            protected,
            "{name}"
        );
        assert_eq!(
            signing_input(protected, s(&v["payloadCanonical"]).as_bytes()),
            s(&v["signingInput"]),
            "{name}"
        );
        assert_eq!(
            canonical_json(&v["body"]),
            s(&v["payloadCanonical"]),
            "{name}"
        );
        let header: Value = serde_json::from_str(s(&v["fspiopSignatureHeader"])).unwrap();
        assert_eq!(s(&header["protectedHeader"]), protected, "{name}");
        assert_eq!(s(&header["signature"]), s(&v["signature"]), "{name}");

        let mut headers = vector_headers(v);
        headers.insert(
            "fspiop-signature".into(),
            s(&v["fspiopSignatureHeader"]).to_owned(),
        );
        let expected = v["verified_with_public_key"].as_bool().unwrap();

        // Our signer reproduces the SDK's header byte for byte with the same private key.
        if let Some(private) = key_pem(s(&v["privateKey"])) {
            let key = SigningKey::from_pem(&private).unwrap();
            let protected_headers = ProtectedHeaders::from_headers(&headers).unwrap();
            assert_eq!(
                protected_headers.to_json(Algorithm::Rs256),
                s(&v["protectedHeaderJson"]),
                "{name}"
            );
            // (The negative vector's signature was made before its body was changed.)
            if expected {
                assert_eq!(
                    sign(
                        s(&v["payloadCanonical"]).as_bytes(),
                        &protected_headers,
                        &key,
                        Algorithm::Rs256
                    )
                    .unwrap(),
                    s(&v["fspiopSignatureHeader"]),
                    "{name}"
                );
            }
        }

        let Some(public) = key_pem(s(&v["publicKey"])) else {
            // The TTK key pair of one vector is not shipped in test-only-keys/: the signature can only
            // be checked not to verify with another key.
            assert!(expected, "{name}");
            let canonical = s(&v["payloadCanonical"]).as_bytes();
            assert_eq!(
                code_of(verify(canonical, &headers, &sdk_public())),
                Some(3105),
                "{name}"
            );
            continue;
        };
        let key = VerifyingKey::from_pem(&public).unwrap();
        // The SDK sends the sorted compact form; verify it as raw bytes …
        let canonical = s(&v["payloadCanonical"]).as_bytes();
        let raw = verify_detailed(canonical, &headers, &key);
        // … and a differently formatted body through the canonical fallback.
        let pretty = serde_json::to_vec_pretty(&v["body"]).unwrap();
        let reformatted = verify_detailed(&pretty, &headers, &key);
        if expected {
            assert_eq!(raw, Ok(SignedForm::Raw), "{name}");
            assert_eq!(reformatted, Ok(SignedForm::Canonical), "{name}");
            assert_eq!(verify(canonical, &headers, &key), Ok(()), "{name}");
            verified_with_key += 1;
        } else {
            assert_eq!(raw, Err(JwsError::BadSignature), "{name}");
            assert_eq!(reformatted, Err(JwsError::BadSignature), "{name}");
            let e = verify(canonical, &headers, &key).unwrap_err();
            assert_eq!(
                (e.code().as_u16(), e.description()),
                (3105, "Invalid signature - invalid signature")
            );
        }
    }
    assert!(verified_with_key >= 4, "{verified_with_key}");
}

#[test]
fn negative_vector_is_the_positive_one_with_a_changed_amount() {
    let vectors = read_json("vectors.json");
    let vectors = vectors.as_array().unwrap();
    let negative = vectors
        .iter()
        .find(|v| v["verified_with_public_key"] == json!(false))
        .unwrap();
    let positive = vectors
        .iter()
        .find(|v| {
            v["signature"] == negative["signature"] && v["verified_with_public_key"] == json!(true)
        })
        .expect("the vector the negative one was derived from");
    assert_ne!(positive["body"], negative["body"]);
    // The original body verifies under the negative vector's headers.
    let mut headers = vector_headers(negative);
    headers.insert(
        "fspiop-signature".into(),
        s(&negative["fspiopSignatureHeader"]).to_owned(),
    );
    assert_eq!(
        verify(
            s(&positive["payloadCanonical"]).as_bytes(),
            &headers,
            &sdk_public()
        ),
        Ok(())
    );
}

#[test]
fn fspiop_spec_signature_example() {
    let example = read_json("spec-example.json");
    let private =
        SigningKey::from_pem(&key_pem("fspiop-spec-v1.1-signature-example-private.pem").unwrap())
            .unwrap();
    let public =
        VerifyingKey::from_pem(&key_pem("fspiop-spec-v1.1-signature-example-public.pem").unwrap())
            .unwrap();
    // The PEM files hold the document's JWK.
    let VerifyingKey::Rsa(rsa_public) = &public else {
        panic!("RSA")
    };
    let n = BASE64URL.decode(s(&example["jwk"]["n"])).unwrap();
    assert_eq!(rsa_public.n().to_bytes_be(), n);
    assert_eq!(private.verifying_key(), public);

    // RS256 of the document's signing input is the recomputed signature (RS256 is deterministic).
    let protected = s(&example["protectedHeader"]);
    let payload = BASE64URL.decode(s(&example["payloadB64"])).unwrap();
    assert_eq!(payload, s(&example["payloadDecoded"]).as_bytes());
    let input = signing_input(protected, &payload);
    let signature = sign_input(input.as_bytes(), &private, Algorithm::Rs256).unwrap();
    assert_eq!(
        BASE64URL.encode(&signature),
        s(&example["signature_recomputed"])
    );

    let mut headers: BTreeMap<String, String> = example["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), s(v).to_owned()))
        .collect();
    headers.insert("fspiop-uri".into(), s(&example["fspiopUri"]).to_owned());
    headers.insert(
        "fspiop-http-method".into(),
        s(&example["method"]).to_owned(),
    );
    headers.insert(
        "fspiop-signature".into(),
        s(&example["fspiopSignatureHeader_recomputed"]).to_owned(),
    );
    // The example signs the raw (unsorted) body: verified as raw bytes, which the SDK would not.
    assert_eq!(
        verify_detailed(&payload, &headers, &public),
        Ok(SignedForm::Raw)
    );
    assert_eq!(example["signature_recomputed_verifies"], json!(true));
    // The signature as printed in the markdown lost three characters to line wrapping.
    let printed = format!(
        "{{\"signature\": \"{}\", \"protectedHeader\": \"{protected}\"}}",
        s(&example["signature_as_printed_in_markdown"])
    );
    headers.insert("fspiop-signature".into(), printed);
    assert_eq!(code_of(verify(&payload, &headers, &public)), Some(3105));
}

// ---------------------------------------------------------------------------------------------
// Round trips and tampering

const BODY: &str = r#"{"transferState":"COMMITTED","fulfilment":"UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA","completedTimestamp":"2030-01-01T00:00:00.000Z"}"#;

fn request_headers() -> BTreeMap<String, String> {
    [
        ("fspiop-source", "payeefsp"),
        ("fspiop-destination", "payerfsp"),
        ("date", "Tue, 01 Jan 2030 00:00:00 GMT"),
        (
            "fspiop-uri",
            "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069",
        ),
        ("fspiop-http-method", "PUT"),
        (
            "content-type",
            "application/vnd.interoperability.transfers+json;version=1.1",
        ),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

fn signed(body: &[u8], key: &SigningKey, alg: Algorithm) -> BTreeMap<String, String> {
    let mut headers = request_headers();
    let protected = ProtectedHeaders::from_headers(&headers).unwrap();
    headers.insert(
        "fspiop-signature".into(),
        sign(body, &protected, key, alg).unwrap(),
    );
    headers
}

fn ec_key() -> SigningKey {
    // A fixed scalar, so the test is deterministic.
    let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
    SigningKey::from_pem(&pem).unwrap()
}

#[test]
fn round_trips_for_every_algorithm() {
    let rsa = sdk_private();
    let ec = ec_key();
    for alg in Algorithm::ALL {
        let key = if alg == Algorithm::Es256 { &ec } else { &rsa };
        let headers = signed(BODY.as_bytes(), key, alg);
        assert_eq!(
            verify_detailed(BODY.as_bytes(), &headers, &key.verifying_key()),
            Ok(SignedForm::Raw),
            "{alg:?}"
        );
        // The header is the SDK's shape.
        let header: Value = serde_json::from_str(&headers["fspiop-signature"]).unwrap();
        let protected = BASE64URL.decode(s(&header["protectedHeader"])).unwrap();
        let protected: Value = serde_json::from_slice(&protected).unwrap();
        assert_eq!(protected["alg"], json!(alg.as_str()));
        assert_eq!(protected["FSPIOP-Destination"], json!("payerfsp"));
        assert_eq!(protected["Date"], json!("Tue, 01 Jan 2030 00:00:00 GMT"));
        // The other key type refuses it.
        let other = if alg == Algorithm::Es256 {
            rsa.verifying_key()
        } else {
            ec.verifying_key()
        };
        assert_eq!(
            verify_detailed(BODY.as_bytes(), &headers, &other),
            Err(JwsError::KeyMismatch(alg.as_str()))
        );
        assert_eq!(
            code_of(verify(BODY.as_bytes(), &headers, &other)),
            Some(3105)
        );
        assert_eq!(Algorithm::from_name(alg.as_str()), Some(alg));
    }
    assert_eq!(
        sign(
            BODY.as_bytes(),
            &ProtectedHeaders::from_headers(&request_headers()).unwrap(),
            &ec,
            Algorithm::Rs256
        ),
        Err(JwsError::KeyMismatch("RS256"))
    );
    assert_eq!(rsa.default_algorithm(), Algorithm::Rs256);
    assert_eq!(ec.default_algorithm(), Algorithm::Es256);
}

#[test]
fn canonical_and_raw_forms() {
    let key = sdk_private();
    let public = key.verifying_key();
    // Signed over the canonical form (as the SDK signs objects), sent formatted differently.
    let value: Value = serde_json::from_str(BODY).unwrap();
    let canonical = canonical_json(&value);
    let headers = signed(canonical.as_bytes(), &key, Algorithm::Rs256);
    assert_eq!(
        verify_detailed(BODY.as_bytes(), &headers, &public),
        Ok(SignedForm::Canonical)
    );
    // Signed over unsorted raw bytes: only those bytes verify.
    let headers = signed(BODY.as_bytes(), &key, Algorithm::Rs256);
    assert_eq!(
        verify_detailed(BODY.as_bytes(), &headers, &public),
        Ok(SignedForm::Raw)
    );
    assert_eq!(
        verify_detailed(canonical.as_bytes(), &headers, &public),
        Err(JwsError::BadSignature)
    );
}

#[test]
fn tampering_is_3105() {
    let key = sdk_private();
    let public = key.verifying_key();
    let good = signed(BODY.as_bytes(), &key, Algorithm::Rs256);
    assert_eq!(verify(BODY.as_bytes(), &good, &public), Ok(()));

    let tampered_body = BODY.replace("COMMITTED", "ABORTED");
    assert_eq!(
        verify_detailed(tampered_body.as_bytes(), &good, &public),
        Err(JwsError::BadSignature)
    );

    let cases: Vec<(&str, Option<&str>, JwsError)> = vec![
        (
            "fspiop-uri",
            Some("/transfers/other"),
            JwsError::Mismatch("FSPIOP-URI".into()),
        ),
        (
            "fspiop-http-method",
            Some("POST"),
            JwsError::Mismatch("FSPIOP-HTTP-Method".into()),
        ),
        (
            "fspiop-http-method",
            Some("put"),
            JwsError::Mismatch("FSPIOP-HTTP-Method".into()),
        ),
        (
            "fspiop-source",
            Some("payerfsp"),
            JwsError::Mismatch("FSPIOP-Source".into()),
        ),
        (
            "fspiop-destination",
            Some("otherfsp"),
            JwsError::Mismatch("FSPIOP-Destination".into()),
        ),
        (
            "fspiop-destination",
            None,
            JwsError::Mismatch("FSPIOP-Destination".into()),
        ),
        (
            "date",
            Some("Wed, 02 Jan 2030 00:00:00 GMT"),
            JwsError::Mismatch("Date".into()),
        ),
        ("date", None, JwsError::Mismatch("Date".into())),
        ("fspiop-uri", None, JwsError::MissingHeader("fspiop-uri")),
        (
            "fspiop-http-method",
            None,
            JwsError::MissingHeader("fspiop-http-method"),
        ),
        (
            "fspiop-source",
            None,
            JwsError::MissingHeader("fspiop-source"),
        ),
        (
            "fspiop-signature",
            None,
            JwsError::MissingHeader("fspiop-signature"),
        ),
        (
            "fspiop-signature",
            Some("not json"),
            JwsError::MalformedSignatureHeader,
        ),
        (
            "fspiop-signature",
            Some(r#"{"signature":"abc"}"#),
            JwsError::MalformedSignatureHeader,
        ),
        (
            "fspiop-signature",
            Some(r#"{"signature":1,"protectedHeader":"eyJ9"}"#),
            JwsError::MalformedSignatureHeader,
        ),
        (
            "fspiop-signature",
            Some(r#"{"signature":"","protectedHeader":"eyJ9"}"#),
            JwsError::BadLength {
                member: "signature",
                max: 512,
            },
        ),
        (
            "fspiop-signature",
            Some(r#"{"signature":"abc","protectedHeader":"!!"}"#),
            JwsError::MalformedProtectedHeader,
        ),
    ];
    for (name, value, expected) in cases {
        let mut headers = good.clone();
        match value {
            Some(v) => headers.insert(name.into(), v.into()),
            None => headers.remove(name),
        };
        let got = verify_detailed(BODY.as_bytes(), &headers, &public);
        assert_eq!(got, Err(expected.clone()), "{name} = {value:?}");
        let e = verify(BODY.as_bytes(), &headers, &public).unwrap_err();
        assert_eq!(e.code().as_u16(), 3105);
        assert_eq!(e.http_status(), 400);
        assert_eq!(e.description(), format!("Invalid signature - {expected}"));
    }

    // A destination header the signature does not protect.
    let mut no_destination = request_headers();
    no_destination.remove("fspiop-destination");
    let protected = ProtectedHeaders::from_headers(&no_destination).unwrap();
    no_destination.insert(
        "fspiop-signature".into(),
        sign(BODY.as_bytes(), &protected, &key, Algorithm::Rs256).unwrap(),
    );
    assert_eq!(verify(BODY.as_bytes(), &no_destination, &public), Ok(()));
    no_destination.insert("fspiop-destination".into(), "payerfsp".into());
    assert_eq!(
        verify_detailed(BODY.as_bytes(), &no_destination, &public),
        Err(JwsError::Mismatch("FSPIOP-Destination".into()))
    );

    // Empty body, wrong key.
    assert_eq!(
        verify_detailed(b"", &good, &public),
        Err(JwsError::MissingBody)
    );
    assert_eq!(
        verify_detailed(BODY.as_bytes(), &good, &ec_key_rsa_public()),
        Err(JwsError::BadSignature)
    );
}

/// An RSA public key other than the SDK's: the spec example's.
fn ec_key_rsa_public() -> VerifyingKey {
    VerifyingKey::from_pem(&key_pem("fspiop-spec-v1.1-signature-example-public.pem").unwrap())
        .unwrap()
}

/// Builds a signature header over a hand-written protected header.
fn forged(protected_json: &str, body: &[u8], key: &SigningKey, alg: Algorithm) -> String {
    let protected = BASE64URL.encode(protected_json);
    let input = signing_input(&protected, body);
    let signature = BASE64URL.encode(sign_input(input.as_bytes(), key, alg).unwrap());
    format!(r#"{{"signature":"{signature}","protectedHeader":"{protected}"}}"#)
}

#[test]
fn protected_header_rules() {
    let key = sdk_private();
    let public = key.verifying_key();
    let base = request_headers();
    let check = |protected_json: &str| {
        let mut headers = base.clone();
        headers.insert(
            "fspiop-signature".into(),
            forged(protected_json, BODY.as_bytes(), &key, Algorithm::Rs256),
        );
        verify_detailed(BODY.as_bytes(), &headers, &public)
    };
    let uri = "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069";
    // Member order is free; an empty Date is ignored (the SDK treats it as absent).
    assert_eq!(
        check(&format!(
            r#"{{"FSPIOP-Destination":"payerfsp","alg":"RS256","FSPIOP-URI":"{uri}","FSPIOP-HTTP-Method":"PUT","FSPIOP-Source":"payeefsp","Date":""}}"#
        )),
        Ok(SignedForm::Raw)
    );
    // Registered JWS parameters are not HTTP headers.
    assert_eq!(
        check(&format!(
            r#"{{"alg":"RS256","typ":"JOSE","kid":"k1","FSPIOP-URI":"{uri}","FSPIOP-HTTP-Method":"PUT","FSPIOP-Source":"payeefsp","FSPIOP-Destination":"payerfsp"}}"#
        )),
        Ok(SignedForm::Raw)
    );
    // Another protected HTTP header must match (spec rule g).
    assert_eq!(
        check(&format!(
            r#"{{"alg":"RS256","FSPIOP-URI":"{uri}","FSPIOP-HTTP-Method":"PUT","FSPIOP-Source":"payeefsp","FSPIOP-Destination":"payerfsp","Content-Type":"application/vnd.interoperability.transfers+json;version=1.1"}}"#
        )),
        Ok(SignedForm::Raw)
    );
    assert_eq!(
        check(&format!(
            r#"{{"alg":"RS256","FSPIOP-URI":"{uri}","FSPIOP-HTTP-Method":"PUT","FSPIOP-Source":"payeefsp","FSPIOP-Destination":"payerfsp","FSPIOP-Encryption":"x"}}"#
        )),
        Err(JwsError::Mismatch("FSPIOP-Encryption".into()))
    );
    // Required members.
    assert_eq!(
        check(
            r#"{"alg":"RS256","FSPIOP-HTTP-Method":"PUT","FSPIOP-Source":"payeefsp","FSPIOP-Destination":"payerfsp"}"#
        ),
        Err(JwsError::MissingProtected("FSPIOP-URI"))
    );
    assert_eq!(
        check(&format!(
            r#"{{"alg":"RS256","FSPIOP-URI":"{uri}","FSPIOP-HTTP-Method":"PUT","FSPIOP-Destination":"payerfsp"}}"#
        )),
        Err(JwsError::MissingProtected("FSPIOP-Source"))
    );
    assert_eq!(
        check(&format!(
            r#"{{"alg":"RS256","FSPIOP-URI":"{uri}","FSPIOP-HTTP-Method":"PUT","FSPIOP-Source":"payeefsp","FSPIOP-Destination":1}}"#
        )),
        Err(JwsError::Mismatch("FSPIOP-Destination".into()))
    );
    // alg: absent, unknown, "none".
    for (protected, expected) in [
        (
            format!(r#"{{"FSPIOP-URI":"{uri}"}}"#),
            JwsError::MissingProtected("alg"),
        ),
        (
            r#"{"alg":"HS256"}"#.to_owned(),
            JwsError::UnsupportedAlgorithm("HS256".into()),
        ),
        (
            r#"{"alg":"none"}"#.to_owned(),
            JwsError::UnsupportedAlgorithm("none".into()),
        ),
        (
            r#"{"alg":256}"#.to_owned(),
            JwsError::UnsupportedAlgorithm("256".into()),
        ),
    ] {
        let mut headers = base.clone();
        headers.insert(
            "fspiop-signature".into(),
            format!(
                r#"{{"signature":"abc","protectedHeader":"{}"}}"#,
                BASE64URL.encode(protected)
            ),
        );
        assert_eq!(
            verify_detailed(BODY.as_bytes(), &headers, &public),
            Err(expected)
        );
    }
}

#[test]
fn signing_from_hub_callback_headers() {
    use crate::callback::{CallbackKind, callback_uri_path, hub_callback_headers};
    use crate::headers::ProtocolVersion;
    use ferroloop_core::id::TransferId;

    let key = sdk_private();
    let id = TransferId::parse("b51ec534-ee48-4575-b6a9-ead2955b8069").unwrap();
    let mut headers = hub_callback_headers(
        "Hub",
        "payerfsp",
        &http::Method::PUT,
        &callback_uri_path(CallbackKind::Put, &id),
        ProtocolVersion::V1_1,
    )
    .unwrap();
    let protected = ProtectedHeaders::from_headers(headers.as_slice()).unwrap();
    assert_eq!(protected.source, "Hub");
    assert_eq!(
        protected.uri,
        "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069"
    );
    assert!(protected.date.is_some());
    let value: Value = serde_json::from_str(BODY).unwrap();
    let body = canonical_json(&value);
    let signature = sign(body.as_bytes(), &protected, &key, Algorithm::Rs256).unwrap();
    headers.push((
        HeaderName::from_static("fspiop-signature"),
        HeaderValue::from_str(&signature).unwrap(),
    ));
    // The recipient verifies what it receives, through an http::HeaderMap.
    let mut map = http::HeaderMap::new();
    for (n, v) in headers {
        map.append(n, v);
    }
    assert_eq!(verify(body.as_bytes(), &map, &key.verifying_key()), Ok(()));
}

#[test]
fn key_loading() {
    // PKCS#1 private, SPKI public (the SDK's files), PKCS#8 private (the spec example's).
    assert!(matches!(sdk_private(), SigningKey::Rsa(_)));
    assert!(matches!(sdk_public(), VerifyingKey::Rsa(_)));
    assert_eq!(sdk_private().verifying_key(), sdk_public());
    // EC: PKCS#8 and SEC1 private keys, SPKI public key.
    let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    let sec1 = secret.to_sec1_pem(LineEnding::LF).unwrap();
    assert!(matches!(
        SigningKey::from_pem(&sec1),
        Ok(SigningKey::EcP256(_))
    ));
    let public_pem = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    assert_eq!(
        VerifyingKey::from_pem(&public_pem).unwrap(),
        ec_key().verifying_key()
    );
    // Garbage and the wrong kind of PEM.
    assert_eq!(
        SigningKey::from_pem("nope").unwrap_err(),
        KeyError::Unsupported("private")
    );
    assert_eq!(
        VerifyingKey::from_pem(&sec1).unwrap_err(),
        KeyError::Unsupported("public")
    );
    // The debug form shows no key material.
    assert_eq!(format!("{:?}", sdk_private()), "SigningKey::Rsa(2048 bits)");
}

#[test]
fn short_rsa_keys_are_refused() {
    use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
    let small = rsa::RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
    let private = small.to_pkcs8_pem(LineEnding::LF).unwrap();
    assert_eq!(
        SigningKey::from_pem(&private).unwrap_err(),
        KeyError::RsaTooShort { bits: 1024 }
    );
    let public = small
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    assert_eq!(
        VerifyingKey::from_pem(&public).unwrap_err(),
        KeyError::RsaTooShort { bits: 1024 }
    );
}

#[test]
fn generated_rsa_pairs_load_sign_and_verify() {
    let (private, public) = SigningKey::generate_rsa_pem(MIN_RSA_BITS).unwrap();
    assert!(
        private.starts_with("-----BEGIN PRIVATE KEY-----"),
        "{private}"
    );
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
    let key = SigningKey::from_pem(&private).unwrap();
    assert_eq!(
        key.verifying_key(),
        VerifyingKey::from_pem(&public).unwrap()
    );
    let headers = signed(BODY.as_bytes(), &key, key.default_algorithm());
    assert!(verify(BODY.as_bytes(), &headers, &key.verifying_key()).is_ok());
    assert_eq!(
        SigningKey::generate_rsa_pem(1024).unwrap_err(),
        KeyError::RsaTooShort { bits: 1024 }
    );
}

/// A signature binds the request it came with: the same signed headers and body on another
/// path, or with another method, are refused (the replay of a signed `PUT /transfers/A` on
/// `/transfers/B`), before the cryptography runs.
#[test]
fn verify_request_binds_path_and_method() {
    let key = sdk_private();
    let headers = signed(BODY.as_bytes(), &key, Algorithm::Rs256);
    let public = key.verifying_key();
    let signed_uri = "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069";
    let target = |method, uri| RequestTarget { method, uri };
    assert_eq!(
        verify_request(
            BODY.as_bytes(),
            &headers,
            &public,
            target("PUT", signed_uri)
        ),
        Ok(())
    );
    let other = "/transfers/01HZX3NDEKTSV4RRFFQ69G5FAV";
    let detail = |r: Result<(), FspiopError>| r.unwrap_err().description().to_owned();
    assert_eq!(
        detail(verify_request(
            BODY.as_bytes(),
            &headers,
            &public,
            target("PUT", other)
        )),
        format!("Invalid signature - FSPIOP-URI does not match the request ({other})")
    );
    assert_eq!(
        detail(verify_request(
            BODY.as_bytes(),
            &headers,
            &public,
            target("POST", signed_uri)
        )),
        "Invalid signature - FSPIOP-HTTP-Method does not match the request (POST)"
    );
    // Behind an ingress that rewrote /fspiop/transfers/… to /transfers/…: the caller passes the
    // external form, and the signature over the internal one no longer binds.
    let external = format!("/fspiop{signed_uri}");
    assert_eq!(
        code_of(verify_request(
            BODY.as_bytes(),
            &headers,
            &public,
            target("PUT", &external)
        )),
        Some(3105)
    );
    // Headers missing: the same reason as for `verify`.
    let mut missing = headers.clone();
    missing.remove("fspiop-uri");
    assert_eq!(
        detail(verify_request(
            BODY.as_bytes(),
            &missing,
            &public,
            target("PUT", signed_uri)
        )),
        "Invalid signature - fspiop-uri header is required"
    );
}
