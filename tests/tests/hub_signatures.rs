//! The hub signs what it originates, and DFSPs verify it with the key the hub publishes: the
//! admin API's `GET /hub/jwsKey` (the local stack, `make run`, signs by default with a key made
//! once under `.stack/hub-jws/`).

use std::time::Duration;

use ferroloop_fspiop::jws::{self, SignedForm, SigningKey, VerifyingKey};
use ferroloop_testkit::pki::TempDir;
use ferroloop_tests::Pipeline;
use ferroloop_tests::e2e::{Callback, Hub, Payee, Security, SimulatedDfsp};
use reqwest::Method;

const MINUTE: Duration = Duration::from_secs(60);

/// The hub's signing key pair in files, as `admin-api hub-jws-keygen` writes them.
fn hub_key_files(dir: &TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let (private, public) = SigningKey::generate_rsa_pem(jws::MIN_RSA_BITS).unwrap();
    (
        dir.write("signing-key.pem", &private),
        dir.write("Hub.pem", &public),
    )
}

/// What a DFSP does: fetch the hub's key from the admin API.
async fn published_key(hub: &Hub) -> VerifyingKey {
    let response = hub
        .http
        .get(format!("http://{}/hub/jwsKey", hub.admin))
        .send()
        .await
        .expect("admin API reachable");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    VerifyingKey::from_pem(body["publicKey"].as_str().expect("publicKey")).unwrap()
}

fn assert_hub_signed(callback: &Callback, key: &VerifyingKey) {
    assert_eq!(
        callback.header("fspiop-source"),
        Some("Hub"),
        "{callback:?}"
    );
    let form = jws::verify_detailed(&callback.body, &callback.headers, key)
        .unwrap_or_else(|e| panic!("{} {}: {e}", callback.method, callback.path));
    // Canonical hub bodies: raw-byte and SDK validators agree.
    assert_eq!(form, SignedForm::Raw);
}

/// The payer's `POST /transfers` of `amount` to the payee; returns the transfer id.
async fn prepare(hub: &Hub, amount: &str) -> String {
    let body = Pipeline::prepare_body_static("payerfsp", "payeefsp", amount, MINUTE);
    let bytes = serde_json::to_vec(&body).unwrap();
    let payee = Some("payeefsp");
    let answer = hub
        .fspiop(Method::POST, "/transfers", "payerfsp", payee, Some(&bytes))
        .await;
    assert_eq!(answer.status(), 202);
    body["transferId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn hub_error_callbacks_and_get_answers_verify_with_the_published_key() {
    let dir = TempDir::new("hub-jws-");
    let (private, public) = hub_key_files(&dir);
    let security = Security {
        hub_signing_key: Some(private),
        ..Security::default()
    };
    let hub = Hub::start_full(security, |c| c.hub_jws_public_key_path = Some(public)).await;
    hub.prepare_hub().await;
    let payer = SimulatedDfsp::start("payerfsp", Payee::Fulfils, hub.api).await;
    let payee = SimulatedDfsp::start("payeefsp", Payee::Fulfils, hub.api).await;
    hub.onboard(&payer, "1000", "5000").await;
    hub.onboard(&payee, "1000", "0").await;
    let key = published_key(&hub).await;

    // Over the net debit cap: the hub's 4200 error callback.
    let refused = prepare(&hub, "2000").await;
    let error_path = format!("/transfers/{refused}/error");
    let error = payer.wait_for("the 4200", |c| c.path == error_path).await;
    assert_eq!(error.json()["errorInformation"]["errorCode"], "4200");
    assert_hub_signed(&error, &key);

    // A committed transfer, then the payer's GET: the hub's state answer.
    let id = prepare(&hub, "10").await;
    let path = format!("/transfers/{id}");
    payer
        .wait_for("the commit", |c| {
            c.path == path && c.header("fspiop-source") == Some("payeefsp")
        })
        .await;
    let answer = hub.fspiop(Method::GET, &path, "payerfsp", None, None).await;
    assert_eq!(answer.status(), 202);
    let state = payer
        .wait_for("the GET answer", |c| {
            c.path == path && c.header("fspiop-source") == Some("Hub")
        })
        .await;
    assert_eq!(state.json()["transferState"], "COMMITTED");
    assert_hub_signed(&state, &key);

    // The payee's own PUT reached the payer with the payee's headers, not signed by the hub.
    let forwarded = payer
        .received()
        .into_iter()
        .find(|c| c.path == path && c.header("fspiop-source") == Some("payeefsp"))
        .unwrap();
    assert!(
        forwarded.header("fspiop-signature").is_none(),
        "unsigned payee: nothing added"
    );
    let _ = payee;
}
