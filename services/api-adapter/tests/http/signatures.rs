//! `JWS_VALIDATE=true`: `FSPIOP-Signature` on non-GET requests against `<fspId>.pem` of the key
//! directory, which is re-read when it changes. Keys and signing come from the spec's vectors and
//! `ferroloop_fspiop::jws`.

use std::path::PathBuf;
use std::time::Duration;

use ferroloop_fspiop::jws::{ProtectedHeaders, SigningKey, sign};

use crate::common::*;

fn key_file(name: &str) -> String {
    std::fs::read_to_string(spec_path(&format!("vectors/jws-keys/{name}"))).expect("JWS test key")
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
