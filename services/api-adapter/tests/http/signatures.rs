//! `JWS_VALIDATE=true`: `FSPIOP-Signature` on non-GET requests against `<fspId>.pem` of the key
//! directory, which is re-read when it changes. Keys and signing come from the spec's vectors and
//! `ferroloop_fspiop::jws`.

use std::path::PathBuf;
use std::time::Duration;

use ferroloop_fspiop::jws::{ProtectedHeaders, SigningKey, sign};

use crate::common::*;

fn key_file(name: &str) -> String {
    std::fs::read_to_string(testdata_path(&format!("test-only-keys/{name}"))).expect("JWS test key")
}

/// Signs `request` over `signed_body` (its own body unless given) as the SDK does.
fn signed(request: Req, key: &SigningKey, signed_body: Option<&[u8]>) -> Req {
    let uri = request.path.clone();
    let method = request.method.clone();
    let protected = ProtectedHeaders {
        uri: uri.clone(),
        http_method: method.clone(),
        source: request.header("FSPIOP-Source").unwrap().to_owned(),
        destination: request.header("FSPIOP-Destination").map(str::to_owned),
        date: request.header("Date").map(str::to_owned),
    };
    let signature = sign(
        signed_body.unwrap_or(&request.body),
        &protected,
        key,
        key.default_algorithm(),
    )
    .unwrap();
    request
        .with("FSPIOP-URI", Some(&uri))
        .with("FSPIOP-HTTP-Method", Some(&method))
        .with("FSPIOP-Signature", Some(&signature))
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn signatures_are_verified_with_the_sources_key() {
    let dir = TempDir(std::env::temp_dir().join(format!("ferroloop-jws-{}", new_id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let public = key_file("sdk-standard-components_jwsValidationKey.pem");
    let key = SigningKey::from_pem(&key_file("sdk-standard-components_jwsSigningKey.pem")).unwrap();
    std::fs::write(dir.0.join(format!("{PAYER}.pem")), &public).unwrap();
    // Neither a bad key nor another file stops the others from loading.
    std::fs::write(dir.0.join("broken.pem"), "not a key").unwrap();
    std::fs::write(dir.0.join("README"), "ignored").unwrap();
    let keys_dir = dir.0.clone();
    let app = TestApp::start_with(|c| {
        c.jws_validate = true;
        c.jws_verification_keys_directory = Some(keys_dir);
        c.jws_keys_reload_interval_ms = 100;
    })
    .await;
    let invalid = |detail: &str| {
        (
            400,
            "3105".to_owned(),
            format!("Invalid signature - {detail}"),
        )
    };

    // Signed over the raw bytes.
    let post = signed(Req::post(&prepare_body(&new_id())), &key, None);
    assert_eq!(app.send(&post).await.status, 202);
    // Signed over the canonical form (sorted keys, compact) of a body sent pretty-printed, as
    // the SDK does.
    let body = prepare_body(&new_id());
    let canonical = ferroloop_core::hash::canonical_json(&body);
    let pretty = Req::new("POST", "/transfers").body(serde_json::to_vec_pretty(&body).unwrap());
    assert_eq!(
        app.send(&signed(pretty, &key, Some(canonical.as_bytes())))
            .await
            .status,
        202
    );
    // The body changed after signing.
    let mut tampered = post.clone();
    tampered.body = serde_json::to_vec(&set(
        serde_json::from_slice(&post.body).unwrap(),
        "/amount/amount",
        serde_json::json!("99999"),
    ))
    .unwrap();
    assert_eq!(
        app.send(&tampered).await.error(),
        invalid("invalid signature")
    );
    // No signature.
    assert_eq!(
        app.send(&post.clone().with("FSPIOP-Signature", None))
            .await
            .error(),
        invalid("fspiop-signature header is required")
    );
    // A protected header that does not match the request's.
    let (status, code, description) = app
        .send(&post.clone().with("FSPIOP-URI", Some("/transfers/other")))
        .await
        .error();
    assert_eq!((status, code.as_str()), (400, "3105"));
    assert!(
        description.starts_with("Invalid signature - "),
        "{description}"
    );
    // GET is never verified.
    assert_eq!(app.send(&Req::get(&new_id())).await.status, 202);

    // The payee has no key yet …
    let id = new_id();
    let put = signed(Req::put(&id, &fulfil_body("COMMITTED")), &key, None);
    assert_eq!(
        app.send(&put).await.error(),
        invalid(&format!("No public key for FSPIOP-Source {PAYEE}"))
    );
    // … until its key file appears, which the adapter notices without a restart.
    std::fs::write(dir.0.join(format!("{PAYEE}.pem")), &public).unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            let put = signed(Req::put(&id, &fulfil_body("COMMITTED")), &key, None);
            if app.send(&put).await.status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the new key is picked up");
    // And a removed key is gone again.
    std::fs::remove_file(dir.0.join(format!("{PAYER}.pem"))).unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            let post = signed(Req::post(&prepare_body(&new_id())), &key, None);
            if app.send(&post).await.status == 400 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the removed key is dropped");
}

fn sdk_key() -> SigningKey {
    SigningKey::from_pem(&key_file("sdk-standard-components_jwsSigningKey.pem")).unwrap()
}

fn spec_key() -> SigningKey {
    SigningKey::from_pem(&key_file("fspiop-spec-v1.1-signature-example-private.pem")).unwrap()
}

/// Signs `request` with a protected header adjusted by `edit` (the HTTP headers stay).
fn signed_as(request: Req, key: &SigningKey, edit: impl FnOnce(&mut ProtectedHeaders)) -> Req {
    let mut protected = ProtectedHeaders {
        uri: request.path.clone(),
        http_method: request.method.clone(),
        source: request.header("FSPIOP-Source").unwrap().to_owned(),
        destination: request.header("FSPIOP-Destination").map(str::to_owned),
        date: request.header("Date").map(str::to_owned),
    };
    edit(&mut protected);
    let signature = sign(&request.body, &protected, key, key.default_algorithm()).unwrap();
    let (uri, method) = (request.path.clone(), request.method.clone());
    request
        .with("FSPIOP-URI", Some(&uri))
        .with("FSPIOP-HTTP-Method", Some(&method))
        .with("FSPIOP-Signature", Some(&signature))
}

/// A signature header over a hand-written protected header with a junk signature: enough for
/// the checks that come before the cryptography's verdict matters.
fn with_protected_header(request: Req, protected_json: &str) -> Req {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = format!(
        "{{\"protectedHeader\":\"{}\",\"signature\":\"{}\"}}",
        b64.encode(protected_json),
        b64.encode([7u8; 256])
    );
    let (uri, method) = (request.path.clone(), request.method.clone());
    request
        .with("FSPIOP-URI", Some(&uri))
        .with("FSPIOP-HTTP-Method", Some(&method))
        .with("FSPIOP-Signature", Some(&header))
}

/// Every way a request can fail the signature document's checks is 400 / 3105, over HTTP.
#[tokio::test]
async fn every_failed_signature_check_is_3105() {
    let (app, _dir) = signing_app(|_| {}).await;
    let key = sdk_key();
    let post = || Req::post(&prepare_body(&new_id()));
    let put = || Req::put(&new_id(), &fulfil_body("COMMITTED"));
    let other_date = "Tue, 01 Jan 2030 00:00:00 GMT";

    let cases: Vec<(&str, Req, &str)> = vec![
        (
            "protected FSPIOP-URI differs",
            signed_as(post(), &key, |p| p.uri = "/transfers/other".into()),
            "FSPIOP-URI of the protected header does not match the HTTP header",
        ),
        (
            "protected FSPIOP-HTTP-Method differs",
            signed_as(post(), &key, |p| p.http_method = "PUT".into()),
            "FSPIOP-HTTP-Method of the protected header does not match the HTTP header",
        ),
        (
            "protected FSPIOP-Source differs",
            signed_as(post(), &key, |p| p.source = PAYEE.into()),
            "FSPIOP-Source of the protected header does not match the HTTP header",
        ),
        (
            "protected FSPIOP-Destination differs",
            signed_as(put(), &key, |p| p.destination = Some("someone".into())),
            "FSPIOP-Destination of the protected header does not match the HTTP header",
        ),
        (
            "FSPIOP-Destination protected but not sent",
            signed_as(post(), &key, |_| {}).with("FSPIOP-Destination", None),
            "FSPIOP-Destination of the protected header does not match the HTTP header",
        ),
        (
            "protected Date differs",
            signed_as(post(), &key, |p| p.date = Some(other_date.into())),
            "Date of the protected header does not match the HTTP header",
        ),
        (
            "FSPIOP-URI header missing",
            signed_as(post(), &key, |_| {}).with("FSPIOP-URI", None),
            "fspiop-uri header is required",
        ),
        (
            "FSPIOP-HTTP-Method header missing",
            signed_as(put(), &key, |_| {}).with("FSPIOP-HTTP-Method", None),
            "fspiop-http-method header is required",
        ),
        (
            "FSPIOP-Signature missing",
            post()
                .with("FSPIOP-URI", Some("/transfers"))
                .with("FSPIOP-HTTP-Method", Some("POST")),
            "fspiop-signature header is required",
        ),
        (
            "FSPIOP-Signature not the JSON object",
            signed_as(post(), &key, |_| {}).with("FSPIOP-Signature", Some("abc.def")),
            "FSPIOP-Signature must be a JSON object with string members signature and protectedHeader",
        ),
        (
            "alg none",
            with_protected_header(
                post(),
                &format!(
                    r#"{{"alg":"none","FSPIOP-URI":"/transfers","FSPIOP-HTTP-Method":"POST","FSPIOP-Source":"{PAYER}","FSPIOP-Destination":"{PAYEE}"}}"#
                ),
            ),
            "unsupported alg \"none\"",
        ),
        (
            "alg HS256 (a shared-secret algorithm)",
            with_protected_header(
                post(),
                &format!(
                    r#"{{"alg":"HS256","FSPIOP-URI":"/transfers","FSPIOP-HTTP-Method":"POST","FSPIOP-Source":"{PAYER}"}}"#
                ),
            ),
            "unsupported alg \"HS256\"",
        ),
        (
            "alg ES256 with an RSA key",
            with_protected_header(
                post(),
                &format!(
                    r#"{{"alg":"ES256","FSPIOP-URI":"/transfers","FSPIOP-HTTP-Method":"POST","FSPIOP-Source":"{PAYER}"}}"#
                ),
            ),
            "alg ES256 does not fit the key",
        ),
        (
            "no alg",
            with_protected_header(
                post(),
                &format!(
                    r#"{{"FSPIOP-URI":"/transfers","FSPIOP-HTTP-Method":"POST","FSPIOP-Source":"{PAYER}"}}"#
                ),
            ),
            "protected header has no alg",
        ),
        (
            "signed by another key",
            signed_as(post(), &spec_key(), |_| {}),
            "invalid signature",
        ),
        (
            "unknown source key",
            signed_as(post().with("FSPIOP-Source", Some("stranger")), &key, |_| {}),
            "No public key for FSPIOP-Source stranger",
        ),
    ];
    for (what, request, detail) in cases {
        assert_eq!(
            app.send(&request).await.error(),
            (
                400,
                "3105".to_owned(),
                format!("Invalid signature - {detail}")
            ),
            "{what}"
        );
    }
    // Nothing of it reached the broker; the unchanged request does.
    let topics = app.kafka.topics();
    assert_eq!(produced_count(&app.kafka, &topics.prepare), 0);
    assert_eq!(produced_count(&app.kafka, &topics.fulfil), 0);
    assert_eq!(app.send(&signed_as(post(), &key, |_| {})).await.status, 202);
    assert_eq!(produced_count(&app.kafka, &topics.prepare), 1);
}

#[tokio::test]
async fn verify_if_present_passes_unsigned_requests_and_checks_signed_ones() {
    let dir = TempDir(std::env::temp_dir().join(format!("ferroloop-jws-{}", new_id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(
        dir.0.join(format!("{PAYER}.pem")),
        key_file("sdk-standard-components_jwsValidationKey.pem"),
    )
    .unwrap();
    let keys_dir = dir.0.clone();
    let app = TestApp::start_with(|c| {
        c.jws_mode = Some(ferroloop_api_adapter::JwsMode::VerifyIfPresent);
        c.jws_verification_keys_directory = Some(keys_dir);
    })
    .await;
    let post = || Req::post(&prepare_body(&new_id()));
    assert_eq!(app.send(&post()).await.status, 202, "unsigned");
    assert_eq!(
        app.send(&signed_as(post(), &sdk_key(), |_| {}))
            .await
            .status,
        202
    );
    let (status, code, _) = app
        .send(&signed_as(post(), &spec_key(), |_| {}))
        .await
        .error();
    assert_eq!((status, code.as_str()), (400, "3105"), "a bad signature");
    // A present signature from a source without a key is checked, and fails.
    let (status, code, _) = app
        .send(&signed_as(put(), &sdk_key(), |_| {}))
        .await
        .error();
    assert_eq!((status, code.as_str()), (400, "3105"));
}

fn put() -> Req {
    Req::put(&new_id(), &fulfil_body("COMMITTED"))
}

/// Keys registered in the database (what the admin API writes): loaded at start, and a rotation
/// is in use within the refresh interval, without a restart and without a database read per
/// request.
#[tokio::test]
async fn database_keys_rotate_within_the_refresh_interval() {
    let db = ferroloop_testkit::TestDatabase::new().await;
    let sdk_public = key_file("sdk-standard-components_jwsValidationKey.pem");
    let spec_public = key_file("fspiop-spec-v1.1-signature-example-public.pem");
    let payer_id = {
        let mut tx = db.pool.begin().await.unwrap();
        ferroloop_store::admin::begin_admin_change(&mut tx)
            .await
            .unwrap();
        let id = ferroloop_store::participants::create_participant(&mut tx, PAYER, "test")
            .await
            .unwrap();
        ferroloop_store::jws_keys::set_jws_key(&mut tx, id, &sdk_public, "test")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    };
    const INTERVAL_MS: u64 = 200;
    let url = db.url.clone();
    let mut app = TestApp::start_with(|c| {
        c.jws_validate = true;
        c.jws_keys_source = Some(ferroloop_api_adapter::keys::KeySourceKind::Database);
        c.database_url = Some(url);
        c.jws_keys_reload_interval_ms = INTERVAL_MS;
    })
    .await;
    let mut reloads = app.jws_key_reloads.take().expect("key reloads");
    let post = |key: &SigningKey| signed_as(Req::post(&prepare_body(&new_id())), key, |_| {});
    assert_eq!(app.send(&post(&sdk_key())).await.status, 202);
    assert_eq!(app.send(&post(&spec_key())).await.error().1, "3105");

    // Rotate the payer's key.
    let rotated = std::time::Instant::now();
    {
        let mut tx = db.pool.begin().await.unwrap();
        ferroloop_store::admin::begin_admin_change(&mut tx)
            .await
            .unwrap();
        ferroloop_store::jws_keys::set_jws_key(&mut tx, payer_id, &spec_public, "test")
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    tokio::time::timeout(WAIT, reloads.changed())
        .await
        .expect("the rotation is picked up")
        .unwrap();
    let took = rotated.elapsed();
    // One interval, plus the time one reload takes on a busy machine.
    assert!(
        took <= Duration::from_millis(INTERVAL_MS) + Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(app.send(&post(&spec_key())).await.status, 202);
    let (_, code, description) = app.send(&post(&sdk_key())).await.error();
    assert_eq!(
        (code.as_str(), description.as_str()),
        ("3105", "Invalid signature - invalid signature")
    );
}

/// A directory with the SDK test key as both DFSPs' public key, and an adapter requiring
/// signatures against it, adjusted by `adjust`.
async fn signing_app(
    adjust: impl FnOnce(&mut ferroloop_api_adapter::Config),
) -> (TestApp, TempDir) {
    let dir = TempDir(std::env::temp_dir().join(format!("ferroloop-jws-{}", new_id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let public = key_file("sdk-standard-components_jwsValidationKey.pem");
    std::fs::write(dir.0.join(format!("{PAYER}.pem")), &public).unwrap();
    std::fs::write(dir.0.join(format!("{PAYEE}.pem")), &public).unwrap();
    let keys_dir = dir.0.clone();
    let app = TestApp::start_with(|c| {
        c.jws_mode = Some(ferroloop_api_adapter::JwsMode::Required);
        c.jws_verification_keys_directory = Some(keys_dir);
        adjust(c);
    })
    .await;
    (app, dir)
}

/// Moves a signed request to another path, keeping its headers (signature included) and body.
fn replayed_on(request: &Req, path: String) -> Req {
    Req {
        path,
        ..request.clone()
    }
}

/// The hub forwards the payee's signed `PUT /transfers/A/error` to the payer byte for byte; the
/// payer must not be able to replay it on `/transfers/B/error` (aborting the payee's other
/// incoming transfer B), neither keeping the signed `FSPIOP-URI` header nor rewriting it. The
/// signature binds the request's real path and method.
#[tokio::test]
async fn a_signature_replayed_on_another_transfer_is_refused() {
    let (app, _dir) = signing_app(|_| {}).await;
    let topics = app.kafka.topics();
    let key = sdk_key();
    let (a, b) = (new_id(), new_id());
    let error_on_a = signed_as(Req::put_error(&a, &error_body()), &key, |_| {});
    let fulfil_on_a = signed_as(Req::put(&a, &fulfil_body("COMMITTED")), &key, |_| {});
    let not_this_request = |header: &str, expected: &str| {
        (
            400,
            "3105".to_owned(),
            format!("Invalid signature - {header} does not match the request ({expected})")
                .chars()
                .take(128)
                .collect::<String>(),
        )
    };

    for (what, signed, to_b) in [
        ("PUT /error", &error_on_a, format!("/transfers/{b}/error")),
        ("PUT", &fulfil_on_a, format!("/transfers/{b}")),
    ] {
        let replay = replayed_on(signed, to_b.clone());
        assert_eq!(
            app.send(&replay).await.error(),
            not_this_request("FSPIOP-URI", &to_b),
            "{what} kept"
        );
        // Rewriting the plain header: the protected one still names A.
        let rewritten = replay.clone().with("FSPIOP-URI", Some(&to_b));
        let (status, code, description) = app.send(&rewritten).await.error();
        assert_eq!((status, code.as_str()), (400, "3105"), "{what} rewritten");
        assert_eq!(
            description,
            "Invalid signature - FSPIOP-URI of the protected header does not match the HTTP header"
        );
    }
    assert_eq!(produced_count(&app.kafka, &topics.fulfil), 0);

    // On their own path both pass, and the key that verified is the principal.
    assert_eq!(app.send(&error_on_a).await.status, 200);
    assert_eq!(app.send(&fulfil_on_a).await.status, 200);
    let produced = consume(&app.kafka, &topics.fulfil, 2).await;
    for message in &produced {
        let envelope = decode(message);
        assert_eq!(envelope.id, a);
        assert_eq!(
            envelope
                .principal()
                .map(|p| (p.fsp.as_str(), p.authenticated_by)),
            Some((PAYEE, ferroloop_messaging::Authentication::Jws))
        );
    }
    assert_eq!(produced_count(&app.kafka, &topics.fulfil), 2);
}

/// The method is bound too: a signature over `PUT` presented with another `FSPIOP-HTTP-Method`
/// header and request method fails on the method, before anything else.
#[tokio::test]
async fn a_signature_binds_the_request_method() {
    let (app, _dir) = signing_app(|_| {}).await;
    let topics = app.kafka.topics();
    let signed = signed_as(Req::post(&prepare_body(&new_id())), &sdk_key(), |p| {
        p.http_method = "PUT".into();
    })
    .with("FSPIOP-HTTP-Method", Some("PUT"));
    assert_eq!(
        app.send(&signed).await.error(),
        (
            400,
            "3105".to_owned(),
            "Invalid signature - FSPIOP-HTTP-Method does not match the request (POST)".to_owned()
        )
    );
    assert_eq!(produced_count(&app.kafka, &topics.prepare), 0);
}

/// Behind an ingress that serves the API under `/fspiop`, DFSPs sign `/fspiop/transfers/…` and
/// the adapter receives `/transfers/…`: it compares with the configured external base path, so
/// the signature binds there too.
#[tokio::test]
async fn behind_a_path_rewriting_ingress_the_external_base_path_is_signed() {
    let (app, _dir) = signing_app(|c| c.external_base_path = "/fspiop".into()).await;
    let topics = app.kafka.topics();
    let key = sdk_key();
    let (a, b) = (new_id(), new_id());
    // What the payee signed and sent to https://hub/fspiop/transfers/A/error.
    let external = |request: Req| {
        let path = request.path.clone();
        let signed = signed_as(request, &key, |p| p.uri = format!("/fspiop{path}"));
        signed.with("FSPIOP-URI", Some(&format!("/fspiop{path}")))
    };
    let error_on_a = external(Req::put_error(&a, &error_body()));
    assert_eq!(app.send(&error_on_a).await.status, 200);
    let post = external(Req::post(&prepare_body(&new_id())));
    assert_eq!(app.send(&post).await.status, 202);

    // Its replay on B names A: refused.
    let replay = replayed_on(&error_on_a, format!("/transfers/{b}/error"));
    let (status, code, description) = app.send(&replay).await.error();
    assert_eq!((status, code.as_str()), (400, "3105"));
    assert_eq!(
        description,
        format!("Invalid signature - FSPIOP-URI does not match the request (/fspiop/transfers/{b}/error)")
            .chars()
            .take(128)
            .collect::<String>()
    );
    // A signature over the internal path is not what the DFSP's request was.
    let internal = signed_as(Req::put_error(&b, &error_body()), &key, |_| {});
    let (status, code, _) = app.send(&internal).await.error();
    assert_eq!((status, code.as_str()), (400, "3105"));
    assert_eq!(produced_count(&app.kafka, &topics.fulfil), 1);
    assert_eq!(produced_count(&app.kafka, &topics.prepare), 1);
}
