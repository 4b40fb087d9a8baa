//! Message and transport security end to end, over HTTP (and TLS) through the whole pipeline:
//! JWS keys registered and rotated through the admin API, hub-originated callbacks signed by the
//! hub, signed transfers whose signatures survive forwarding, replays that have no second effect,
//! and mTLS identities bound to `FSPIOP-Source`.

use std::time::{Duration, Instant, SystemTime};

use ferroloop_core::state::TransferState;
use ferroloop_fspiop::jws::{self, SigningKey, VerifyingKey};
use ferroloop_testkit::pki::{TempDir, TestCa};
use ferroloop_tests::e2e::{
    Callback, DfspOptions, Hub, Payee, Security, SimulatedDfsp, signature_headers,
};
use ferroloop_tests::{Pipeline, dec, testdata_path};
use reqwest::Method;

const MINUTE: Duration = Duration::from_secs(60);
const KEYS_INTERVAL_MS: u64 = 200;

fn vector(name: &str) -> String {
    std::fs::read_to_string(testdata_path(&format!("test-only-keys/{name}"))).expect("JWS key")
}

/// The payer's key pair (Mojaloop SDK test keys) and the payee's (the FSPIOP spec example's).
fn payer_private() -> SigningKey {
    SigningKey::from_pem(&vector("sdk-standard-components_jwsSigningKey.pem")).unwrap()
}
fn payer_public() -> String {
    vector("sdk-standard-components_jwsValidationKey.pem")
}
fn payee_private() -> SigningKey {
    SigningKey::from_pem(&vector("fspiop-spec-v1.1-signature-example-private.pem")).unwrap()
}
fn payee_public() -> String {
    vector("fspiop-spec-v1.1-signature-example-public.pem")
}

/// Waits (on the adapter's reload notifications) until its key for `name` is `expected`.
async fn wait_for_key(hub: &mut Hub, name: &str, expected: &str) {
    let expected = VerifyingKey::from_pem(expected).unwrap();
    let store = hub.jws_keys.clone().expect("JWS on");
    let reloads = hub.jws_key_reloads.as_mut().expect("JWS on");
    tokio::time::timeout(ferroloop_tests::WAIT, async {
        loop {
            reloads.borrow_and_update();
            if store.keys().get(name) == Some(&expected) {
                return;
            }
            reloads.changed().await.expect("adapter running");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the adapter never loaded {name}'s key"));
}

/// A signed `POST /transfers` as the payer's SDK sends it: body in canonical JSON, signed over
/// those bytes, protecting URI, method, source, destination and date.
struct Signed {
    id: String,
    bytes: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

fn signed_prepare(key: &SigningKey, amount: &str, date: SystemTime) -> Signed {
    let body = Pipeline::prepare_body_static("payerfsp", "payeefsp", amount, MINUTE);
    let bytes = ferroloop_core::hash::canonical_json(&body).into_bytes();
    let date = httpdate::fmt_http_date(date);
    let mut headers: Vec<(&'static str, String)> = signature_headers(
        key,
        "POST",
        "/transfers",
        "payerfsp",
        Some("payeefsp"),
        &date,
        &bytes,
    )
    .into();
    headers.push(("date", date));
    Signed {
        id: body["transferId"].as_str().unwrap().to_owned(),
        bytes,
        headers,
    }
}

async fn post(hub: &Hub, signed: &Signed) -> reqwest::Response {
    hub.fspiop_with(
        &hub.http,
        Method::POST,
        "/transfers",
        "payerfsp",
        Some("payeefsp"),
        Some(&signed.bytes),
        &signed.headers,
    )
    .await
}

fn verifies(callback: &Callback, public_pem: &str) -> bool {
    let key = VerifyingKey::from_pem(public_pem).unwrap();
    jws::verify(&callback.body, &callback.headers, &key).is_ok()
}

#[tokio::test]
async fn signed_transfers_replays_and_key_rotation_end_to_end() {
    let mut hub = Hub::start_secured(Security {
        jws: true,
        jws_keys_reload_interval_ms: KEYS_INTERVAL_MS,
        tls: None,
        // The hub signs what it originates (here with the spec example's key).
        hub_signing_key: Some(
            testdata_path("test-only-keys/fspiop-spec-v1.1-signature-example-private.pem").into(),
        ),
    })
    .await;
    hub.prepare_hub().await;
    let payer = SimulatedDfsp::start_with(
        "payerfsp",
        Payee::Fulfils,
        hub.api_url.clone(),
        DfspOptions {
            http: None,
            signing_key: Some(payer_private()),
        },
    )
    .await;
    let payee = SimulatedDfsp::start_with(
        "payeefsp",
        Payee::Fulfils,
        hub.api_url.clone(),
        DfspOptions {
            http: None,
            signing_key: Some(payee_private()),
        },
    )
    .await;
    hub.onboard(&payer, "1000", "5000").await;
    hub.onboard(&payee, "1000", "0").await;
    // Keys through the admin API; the adapter picks them up without a restart.
    hub.register_jws_key("payerfsp", &payer_public()).await;
    hub.register_jws_key("payeefsp", &payee_public()).await;
    wait_for_key(&mut hub, "payerfsp", &payer_public()).await;
    wait_for_key(&mut hub, "payeefsp", &payee_public()).await;

    // A signed transfer commits; each side can verify the other's signature on what the hub
    // forwarded (bytes and FSPIOP-Signature unchanged).
    let first = signed_prepare(&payer_private(), "10", SystemTime::now());
    let answer = post(&hub, &first).await;
    assert_eq!(answer.status(), 202, "{:?}", answer.text().await);
    let prepare = payee
        .wait_for("the prepare", |c| c.path == "/transfers")
        .await;
    assert_eq!(prepare.body, first.bytes, "forwarded byte for byte");
    assert!(
        verifies(&prepare, &payer_public()),
        "the payer's signature survives"
    );
    let commit = payer
        .wait_for("the commit", |c| c.path.ends_with(&first.id))
        .await;
    assert_eq!(commit.header("fspiop-source"), Some("payeefsp"));
    assert!(
        verifies(&commit, &payee_public()),
        "the payee's signature survives"
    );
    hub.pipeline
        .wait_for_state(&first.id, TransferState::Committed)
        .await;
    assert_eq!(hub.position("payerfsp").await, dec("10"));
    assert_eq!(hub.position("payeefsp").await, dec("-10"));

    // The same signed request again (a replay within the Date window): accepted by the
    // adapter — the signature is valid — and recognised as a duplicate: the payer hears the
    // current state again from the hub, nothing else happens.
    let answer = post(&hub, &first).await;
    assert_eq!(answer.status(), 202);
    let resent = payer
        .wait_for("the duplicate's answer", |c| {
            c.path.ends_with(&first.id) && c.header("fspiop-source") == Some("Hub")
        })
        .await;
    assert_eq!(resent.json()["transferState"], "COMMITTED");
    assert!(
        verifies(&resent, &payee_public()),
        "hub-originated: signed by the hub"
    );
    assert!(resent.header("fspiop-signature") != commit.header("fspiop-signature"));
    let prepares = payee
        .received()
        .into_iter()
        .filter(|c| c.path == "/transfers")
        .count();
    assert_eq!(prepares, 1, "the payee saw the transfer once");
    assert_eq!(hub.position("payerfsp").await, dec("10"));
    assert_eq!(hub.position("payeefsp").await, dec("-10"));

    // A captured request replayed later than the Date window: refused outright.
    let stale = signed_prepare(&payer_private(), "1", SystemTime::now() - 10 * MINUTE);
    let answer = post(&hub, &stale).await;
    assert_eq!(answer.status(), 400);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["errorInformation"]["errorCode"], "3100", "{body}");
    // An unsigned request: JWS is required.
    let unsigned = signed_prepare(&payer_private(), "1", SystemTime::now());
    let answer = hub
        .fspiop(
            Method::POST,
            "/transfers",
            "payerfsp",
            Some("payeefsp"),
            Some(&unsigned.bytes),
        )
        .await;
    assert_eq!(answer.status(), 400);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["errorInformation"]["errorCode"], "3105", "{body}");
    for refused in [&stale.id, &unsigned.id] {
        assert_eq!(
            hub.pipeline.state(refused).await,
            None,
            "never reached the ledger"
        );
    }

    // Rotation: the payer's new key (here the spec example's) is in use within one refresh
    // interval of its registration; the old one is refused from then on.
    let rotated = Instant::now();
    hub.register_jws_key("payerfsp", &payee_public()).await;
    wait_for_key(&mut hub, "payerfsp", &payee_public()).await;
    let took = rotated.elapsed();
    assert!(
        took <= Duration::from_millis(KEYS_INTERVAL_MS) + Duration::from_secs(2),
        "rotation took {took:?}"
    );
    let old = signed_prepare(&payer_private(), "1", SystemTime::now());
    let answer = post(&hub, &old).await;
    assert_eq!(answer.status(), 400);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        body["errorInformation"]["errorDescription"],
        "Invalid signature - invalid signature"
    );
    let new = signed_prepare(&payee_private(), "5", SystemTime::now());
    assert_eq!(post(&hub, &new).await.status(), 202);
    hub.pipeline
        .wait_for_state(&new.id, TransferState::Committed)
        .await;
    assert_eq!(hub.position("payerfsp").await, dec("15"));
    hub.pipeline.assert_invariants().await;
}

/// A client presenting `identity` (a certificate of the hub CA) and trusting the hub CA.
fn mtls_client(dir: &TempDir, ca: &TestCa, identity: &str) -> reqwest::Client {
    ferroloop_tls::install_crypto_provider();
    let pem = ca.client(identity);
    let files = ferroloop_tls::ClientFiles {
        cert_and_key: Some((
            dir.write(&format!("{identity}.crt"), &pem.cert),
            dir.write(&format!("{identity}.key"), &pem.key),
        )),
        ca: Some(dir.write("hub-ca.crt", &ca.pem.cert)),
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(ferroloop_tls::client_config(&files).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn mtls_identities_are_bound_to_the_source_end_to_end() {
    let ca = TestCa::new("ferroloop test hub CA");
    let dir = TempDir::new("ferroloop-e2e-mtls-");
    let server = ca.server();
    let files = ferroloop_tls::ServerFiles {
        cert: dir.write("tls.crt", &server.cert),
        key: dir.write("tls.key", &server.key),
        client_ca: Some(dir.write("ca.crt", &ca.pem.cert)),
    };
    let hub = Hub::start_secured(Security {
        tls: Some(files),
        ..Security::default()
    })
    .await;
    assert!(hub.api_url.starts_with("https://"));
    hub.prepare_hub().await;
    let payer_http = mtls_client(&dir, &ca, "payerfsp");
    let payee_http = mtls_client(&dir, &ca, "payeefsp");
    let payer = SimulatedDfsp::start_with(
        "payerfsp",
        Payee::Fulfils,
        hub.api_url.clone(),
        DfspOptions {
            http: Some(payer_http.clone()),
            signing_key: None,
        },
    )
    .await;
    let payee = SimulatedDfsp::start_with(
        "payeefsp",
        Payee::Fulfils,
        hub.api_url.clone(),
        DfspOptions {
            http: Some(payee_http.clone()),
            signing_key: None,
        },
    )
    .await;
    hub.onboard(&payer, "1000", "5000").await;
    hub.onboard(&payee, "1000", "0").await;

    // Each DFSP over its own certificate: the transfer commits (the payee's PUT went over mTLS
    // with the payee's certificate).
    let body = Pipeline::prepare_body_static("payerfsp", "payeefsp", "7", MINUTE);
    let id = body["transferId"].as_str().unwrap().to_owned();
    let bytes = serde_json::to_vec(&body).unwrap();
    let answer = hub
        .fspiop_with(
            &payer_http,
            Method::POST,
            "/transfers",
            "payerfsp",
            Some("payeefsp"),
            Some(&bytes),
            &[],
        )
        .await;
    assert_eq!(answer.status(), 202, "{:?}", answer.text().await);
    hub.pipeline
        .wait_for_state(&id, TransferState::Committed)
        .await;
    payer
        .wait_for("the commit", |c| c.path.ends_with(&id))
        .await;

    // The payee's valid certificate used to send a transfer as the payer: 3100, and the
    // transfer never exists.
    let body = Pipeline::prepare_body_static("payerfsp", "payeefsp", "9", MINUTE);
    let forged = body["transferId"].as_str().unwrap().to_owned();
    let answer = hub
        .fspiop_with(
            &payee_http,
            Method::POST,
            "/transfers",
            "payerfsp",
            Some("payeefsp"),
            Some(&serde_json::to_vec(&body).unwrap()),
            &[],
        )
        .await;
    assert_eq!(answer.status(), 400);
    let error: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        error["errorInformation"],
        serde_json::json!({"errorCode": "3100",
            "errorDescription": "Generic validation error - FSPIOP-Source does not match the client certificate"})
    );
    // A later transfer goes through, so the pipeline has had its chance with the forged one.
    let body = Pipeline::prepare_body_static("payerfsp", "payeefsp", "1", MINUTE);
    let after = body["transferId"].as_str().unwrap().to_owned();
    let answer = hub
        .fspiop_with(
            &payer_http,
            Method::POST,
            "/transfers",
            "payerfsp",
            Some("payeefsp"),
            Some(&serde_json::to_vec(&body).unwrap()),
            &[],
        )
        .await;
    assert_eq!(answer.status(), 202);
    hub.pipeline
        .wait_for_state(&after, TransferState::Committed)
        .await;
    assert_eq!(hub.pipeline.state(&forged).await, None);
    assert!(
        payee
            .received()
            .iter()
            .all(|c| !String::from_utf8_lossy(&c.body).contains(&forged)),
        "the payee never heard of it"
    );
    assert_eq!(hub.position("payerfsp").await, dec("8"));
    hub.pipeline.assert_invariants().await;
}

/// The load-test tool (its real binary) against an mTLS hub, as `TLS=on make run` runs it: one
/// client certificate naming both of its DFSPs, a fixed run tag so the names are known first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_load_tool_drives_an_mtls_hub() {
    let ca = TestCa::new("ferroloop test hub CA");
    let dir = TempDir::new("ferroloop-load-mtls-");
    let server = ca.server();
    let hub = Hub::start_secured(Security {
        tls: Some(ferroloop_tls::ServerFiles {
            cert: dir.write("tls.crt", &server.cert),
            key: dir.write("tls.key", &server.key),
            client_ca: Some(dir.write("ca.crt", &ca.pem.cert)),
        }),
        ..Security::default()
    })
    .await;
    let tag = "tls0k1";
    let tool = ca.client_for(&[&format!("lt{tag}p00"), &format!("lt{tag}p01")]);
    let output = tokio::process::Command::new(ferroloop_tests::workspace_binary("ferroloop-load"))
        .args(["--api-url", &hub.api_url])
        .args(["--admin-url", &format!("http://{}", hub.admin)])
        .args(["--database-url", &hub.pipeline.db.url])
        .args(["--run-tag", tag])
        .arg("--tls-ca-path")
        .arg(dir.write("hub-ca.crt", &ca.pem.cert))
        .arg("--tls-cert-path")
        .arg(dir.write("tool.crt", &tool.cert))
        .arg("--tls-key-path")
        .arg(dir.write("tool.key", &tool.key))
        .args([
            "--dfsps", "2", "--pairs", "static", "--count", "10", "--rate", "20",
        ])
        .args(["--expiry-seconds", "5", "--no-progress", "--no-files"])
        .kill_on_drop(true)
        .output()
        .await
        .expect("ferroloop-load runs");
    assert!(
        output.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    hub.pipeline.assert_invariants().await;
}
