//! Black-box over HTTP: DFSPs talk to the hub's FSPIOP API and receive its callbacks; the
//! operator onboards them through the admin API. Covers the happy path with balances, each
//! kind of payee, the pipeline's negative paths as the DFSPs see them, and the headers of every
//! callback.

use std::time::Duration;

use ferroloop_tests::e2e::{Callback, Hub, Payee, SimulatedDfsp};
use ferroloop_tests::{Pipeline, dec};
use reqwest::Method;
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);

struct World {
    hub: Hub,
    payer: SimulatedDfsp,
    payee: SimulatedDfsp,
}

async fn world(payee: Payee) -> World {
    let hub = Hub::start().await;
    hub.prepare_hub().await;
    let payer = SimulatedDfsp::start("payerfsp", Payee::Fulfils, hub.api).await;
    let payee = SimulatedDfsp::start("payeefsp", payee, hub.api).await;
    hub.onboard(&payer, "1000", "5000").await;
    hub.onboard(&payee, "1000", "0").await;
    World { hub, payer, payee }
}

fn body_for(amount: &str, expires_in: Duration) -> (String, Vec<u8>) {
    let body = Pipeline::prepare_body_static("payerfsp", "payeefsp", amount, expires_in);
    (
        body["transferId"].as_str().unwrap().to_owned(),
        serde_json::to_vec(&body).unwrap(),
    )
}

async fn post_transfer(w: &World, bytes: &[u8]) {
    let response = w
        .hub
        .fspiop(
            Method::POST,
            "/transfers",
            "payerfsp",
            Some("payeefsp"),
            Some(bytes),
        )
        .await;
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
}

/// Checks the headers every hub-originated callback must carry.
fn assert_hub_headers(callback: &Callback, destination: &str, method: &str, uri: &str) {
    assert_eq!(
        callback.header("fspiop-source"),
        Some("Hub"),
        "{callback:?}"
    );
    assert_eq!(
        callback.header("fspiop-destination"),
        Some(destination),
        "{callback:?}"
    );
    assert_eq!(
        callback.header("fspiop-http-method"),
        Some(method),
        "{callback:?}"
    );
    assert_eq!(callback.header("fspiop-uri"), Some(uri), "{callback:?}");
    assert_eq!(
        callback.header("content-type"),
        Some("application/vnd.interoperability.transfers+json;version=1.1"),
        "{callback:?}"
    );
    assert!(
        callback.header("accept").is_none(),
        "no Accept on callbacks: {callback:?}"
    );
    let date = callback.header("date").expect("a Date header");
    assert!(
        httpdate::parse_http_date(date).is_ok(),
        "RFC 1123 date: {date}"
    );
}

fn is(callback: &Callback, method: &str, path: &str) -> bool {
    callback.method.as_str() == method && callback.path == path
}

#[tokio::test]
async fn a_transfer_commits_over_http_and_moves_both_balances() {
    let w = world(Payee::Fulfils).await;
    assert_eq!(w.hub.position("payerfsp").await, dec("0"));
    let (id, bytes) = body_for("100.25", MINUTE);
    post_transfer(&w, &bytes).await;

    // The payee gets the payer's bytes and headers.
    let prepare = w
        .payee
        .wait_for("POST /transfers", |c| is(c, "POST", "/transfers"))
        .await;
    assert_eq!(prepare.body, bytes, "forwarded byte for byte");
    assert_eq!(prepare.header("fspiop-source"), Some("payerfsp"));
    assert_eq!(prepare.header("fspiop-destination"), Some("payeefsp"));
    assert_eq!(prepare.header("fspiop-uri"), Some("/transfers"));
    assert_eq!(prepare.header("fspiop-http-method"), Some("POST"));

    // The payer gets the payee's PUT, forwarded; the payee gets the hub's confirmation copy.
    let put = w
        .payer
        .wait_for("PUT to payer", |c| {
            is(c, "PUT", &format!("/transfers/{id}"))
        })
        .await;
    assert_eq!(put.json()["transferState"], "COMMITTED");
    assert_eq!(put.header("fspiop-source"), Some("payeefsp"));
    assert_eq!(put.header("fspiop-destination"), Some("payerfsp"));
    assert_eq!(
        put.header("fspiop-uri"),
        Some(format!("/transfers/{id}").as_str())
    );
    assert!(put.header("accept").is_none());
    assert!(put.json().get("transferId").is_none());
    let copy = w
        .payee
        .wait_for("confirmation copy", |c| {
            is(c, "PUT", &format!("/transfers/{id}"))
        })
        .await;
    assert_hub_headers(&copy, "payeefsp", "PUT", &format!("/transfers/{id}"));
    assert_eq!(copy.json()["transferState"], "COMMITTED");

    assert_eq!(w.hub.position("payerfsp").await, dec("100.25"));
    assert_eq!(w.hub.position("payeefsp").await, dec("-100.25"));

    // GET by the payer: the state, from the hub.
    let response = w
        .hub
        .fspiop(
            Method::GET,
            &format!("/transfers/{id}"),
            "payerfsp",
            None,
            None,
        )
        .await;
    assert_eq!(response.status(), 202);
    let state = w
        .payer
        .wait_for("GET answer", |c| {
            is(c, "PUT", &format!("/transfers/{id}")) && c.header("fspiop-source") == Some("Hub")
        })
        .await;
    assert_hub_headers(&state, "payerfsp", "PUT", &format!("/transfers/{id}"));
    assert_eq!(state.json()["transferState"], "COMMITTED");
    assert!(state.json()["fulfilment"].is_string());
    w.hub.pipeline.assert_invariants().await;
}

#[tokio::test]
async fn a_silent_payee_makes_the_transfer_expire_for_both_sides() {
    let w = world(Payee::Silent).await;
    // Long enough for a cold pipeline to reserve it (a transfer already past its expiration when
    // the position handler reaches it is expired before the payee is asked).
    let (id, bytes) = body_for("10", Duration::from_secs(6));
    post_transfer(&w, &bytes).await;
    w.payee
        .wait_for("prepare", |c| is(c, "POST", "/transfers"))
        .await;
    let error_path = format!("/transfers/{id}/error");
    let to_payer = w
        .payer
        .wait_for("3303 to payer", |c| is(c, "PUT", &error_path))
        .await;
    let to_payee = w
        .payee
        .wait_for("3303 to payee", |c| is(c, "PUT", &error_path))
        .await;
    for (callback, who) in [(&to_payer, "payerfsp"), (&to_payee, "payeefsp")] {
        assert_hub_headers(callback, who, "PUT", &error_path);
        assert_eq!(callback.json()["errorInformation"]["errorCode"], "3303");
        assert_eq!(
            callback.json()["errorInformation"]["errorDescription"],
            "Transfer expired"
        );
    }
    assert_eq!(w.hub.position("payerfsp").await, dec("0"));
    w.hub.pipeline.assert_invariants().await;
}

#[tokio::test]
async fn a_rejecting_payee_aborts_and_the_payer_gets_its_error() {
    let w = world(Payee::Rejects("5104")).await;
    let (id, bytes) = body_for("10", MINUTE);
    post_transfer(&w, &bytes).await;
    let error_path = format!("/transfers/{id}/error");
    let error = w
        .payer
        .wait_for("error to payer", |c| is(c, "PUT", &error_path))
        .await;
    assert_eq!(
        error.header("fspiop-source"),
        Some("payeefsp"),
        "the payee's own error, forwarded"
    );
    assert_eq!(error.json()["errorInformation"]["errorCode"], "5104");
    assert_eq!(w.hub.position("payerfsp").await, dec("0"));
    w.hub.pipeline.assert_invariants().await;
}

#[tokio::test]
async fn a_reserving_payee_gets_the_patch_and_the_payer_the_hubs_commit() {
    let w = world(Payee::Reserves).await;
    let (id, bytes) = body_for("10", MINUTE);
    post_transfer(&w, &bytes).await;
    let path = format!("/transfers/{id}");
    let put = w
        .payer
        .wait_for("commit to payer", |c| is(c, "PUT", &path))
        .await;
    assert_hub_headers(&put, "payerfsp", "PUT", &path);
    assert_eq!(put.json()["transferState"], "COMMITTED");
    assert!(put.json()["fulfilment"].is_string());
    let patch = w
        .payee
        .wait_for("PATCH to payee", |c| is(c, "PATCH", &path))
        .await;
    assert_hub_headers(&patch, "payeefsp", "PATCH", &path);
    assert_eq!(patch.json()["transferState"], "COMMITTED");
    assert!(patch.json().get("fulfilment").is_none());
    assert_eq!(w.hub.position("payeefsp").await, dec("-10"));
    w.hub.pipeline.assert_invariants().await;
}

#[tokio::test]
async fn a_wrong_fulfilment_aborts_and_both_sides_hear_3100() {
    let w = world(Payee::WrongFulfilment).await;
    let (id, bytes) = body_for("10", MINUTE);
    post_transfer(&w, &bytes).await;
    let error_path = format!("/transfers/{id}/error");
    for (dfsp, who) in [(&w.payer, "payerfsp"), (&w.payee, "payeefsp")] {
        let error = dfsp.wait_for("3100", |c| is(c, "PUT", &error_path)).await;
        assert_hub_headers(&error, who, "PUT", &error_path);
        assert_eq!(error.json()["errorInformation"]["errorCode"], "3100");
        assert_eq!(
            error.json()["errorInformation"]["errorDescription"],
            "Generic validation error - invalid fulfilment"
        );
    }
    assert_eq!(w.hub.position("payerfsp").await, dec("0"));
    w.hub.pipeline.assert_invariants().await;
}

/// The pipeline's refusals, as the DFSP sees each of them.
#[tokio::test]
async fn refusals_reach_the_dfsps_as_fspiop_errors() {
    let w = world(Payee::Fulfils).await;
    let stranger = SimulatedDfsp::start("otherfsp", Payee::Silent, w.hub.api).await;
    w.hub.onboard(&stranger, "1000", "0").await;

    let expect_error = |dfsp: &SimulatedDfsp, id: &str, code: &'static str| {
        let dfsp = dfsp.clone();
        let path = format!("/transfers/{id}/error");
        async move {
            let error = dfsp
                .wait_for(code, |c| {
                    is(c, "PUT", &path) && c.json()["errorInformation"]["errorCode"] == code
                })
                .await;
            assert_hub_headers(&error, dfsp.name(), "PUT", &path);
            error
        }
    };

    // Validation (payer = payee): 3100 with the reason.
    let mut same = Pipeline::prepare_body_static("payerfsp", "payerfsp", "1", MINUTE);
    let id = same["transferId"].as_str().unwrap().to_owned();
    same["payeeFsp"] = json!("payerfsp");
    w.hub
        .fspiop(
            Method::POST,
            "/transfers",
            "payerfsp",
            None,
            Some(&serde_json::to_vec(&same).unwrap()),
        )
        .await;
    let error = expect_error(&w.payer, &id, "3100").await;
    assert!(
        error.json()["errorInformation"]["errorDescription"]
            .as_str()
            .unwrap()
            .contains("Payer FSP and Payee FSP should be different")
    );

    // Over the net debit cap: 4200.
    let (id, bytes) = body_for("1500", MINUTE);
    post_transfer(&w, &bytes).await;
    expect_error(&w.payer, &id, "4200").await;

    // A committed transfer resent unchanged: the state; changed: 3106.
    let (id, bytes) = body_for("5", MINUTE);
    post_transfer(&w, &bytes).await;
    w.payer
        .wait_for("commit", |c| is(c, "PUT", &format!("/transfers/{id}")))
        .await;
    post_transfer(&w, &bytes).await;
    w.payer
        .wait_for("state resent", |c| {
            is(c, "PUT", &format!("/transfers/{id}"))
                && c.header("fspiop-source") == Some("Hub")
                && c.json()["transferState"] == "COMMITTED"
        })
        .await;
    let mut changed: Value = serde_json::from_slice(&bytes).unwrap();
    changed["amount"]["amount"] = json!("6");
    post_transfer(&w, &serde_json::to_vec(&changed).unwrap()).await;
    expect_error(&w.payer, &id, "3106").await;

    // Someone else answering for the payee: 3100 to them, the transfer untouched.
    let (id, bytes) = body_for("5", MINUTE);
    w.payee.set_behaviour(Payee::Silent);
    post_transfer(&w, &bytes).await;
    w.payee
        .wait_for("prepare", |c| {
            is(c, "POST", "/transfers") && c.body == bytes
        })
        .await;
    let (fulfilment, _, _) = ferroloop_tests::ilp_pair();
    let put = serde_json::to_vec(&json!({"transferState": "COMMITTED", "fulfilment": fulfilment}))
        .unwrap();
    let response = w
        .hub
        .fspiop(
            Method::PUT,
            &format!("/transfers/{id}"),
            "otherfsp",
            Some("payerfsp"),
            Some(&put),
        )
        .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    expect_error(&stranger, &id, "3100").await;
    assert_eq!(
        w.hub.pipeline.state(&id).await,
        Some(ferroloop_core::state::TransferState::Reserved)
    );

    // GET by a stranger: 3000; GET of an unknown id: 3208.
    w.hub
        .fspiop(
            Method::GET,
            &format!("/transfers/{id}"),
            "otherfsp",
            None,
            None,
        )
        .await;
    expect_error(&stranger, &id, "3000").await;
    let unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    w.hub
        .fspiop(
            Method::GET,
            &format!("/transfers/{unknown}"),
            "payerfsp",
            None,
            None,
        )
        .await;
    expect_error(&w.payer, unknown, "3208").await;

    // Synchronous refusals: inbound PATCH 501/2002, unknown path 404/3002.
    let patch = w
        .hub
        .fspiop(
            Method::PATCH,
            &format!("/transfers/{id}"),
            "payerfsp",
            None,
            Some(
                &serde_json::to_vec(&json!({
                    "completedTimestamp": ferroloop_core::fspiop_time::format(time::OffsetDateTime::now_utc()),
                    "transferState": "COMMITTED"
                }))
                .unwrap(),
            ),
        )
        .await;
    assert_eq!(patch.status(), 501);
    let unknown_path = w
        .hub
        .fspiop(Method::GET, "/nowhere", "payerfsp", None, None)
        .await;
    assert_eq!(unknown_path.status(), 404);
    w.hub.pipeline.assert_invariants().await;
}

#[tokio::test]
async fn a_funds_in_transfer_is_unknown_to_fspiop_get() {
    let w = world(Payee::Fulfils).await;
    let (_, accounts) = {
        let response = w
            .hub
            .http
            .get(format!(
                "http://{}/participants/payerfsp/accounts",
                w.hub.admin
            ))
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    let settlement = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["ledgerAccountType"] == "SETTLEMENT")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let id = uuid::Uuid::now_v7().to_string();
    let response = w
        .hub
        .http
        .post(format!("http://{}/participants/payerfsp/accounts/{settlement}", w.hub.admin))
        .json(&json!({"transferId": id, "externalReference": "top-up", "action": "recordFundsIn", "reason": "more", "amount": {"amount": "50", "currency": "USD"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    w.hub
        .fspiop(
            Method::GET,
            &format!("/transfers/{id}"),
            "payerfsp",
            None,
            None,
        )
        .await;
    // Funds transfers move only through the admin API: FSPIOP answers as for an unknown id.
    let answer = w
        .payer
        .wait_for("funds-in answer", |c| {
            is(c, "PUT", &format!("/transfers/{id}/error"))
        })
        .await;
    assert_eq!(answer.json()["errorInformation"]["errorCode"], "3208");
}
