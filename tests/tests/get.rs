//! Get handler: the payer or payee get the current state; anyone else 3000; an unknown id 3208.

use std::time::Duration;

use ferroloop_tests::{Pipeline, error_code, ilp_pair, payload};
use serde_json::json;

#[tokio::test]
async fn parties_get_the_state_others_3000_unknown_ids_3208() {
    let mut p = Pipeline::start().await;
    p.onboard("payerfsp", "1000", "1000").await;
    p.onboard("payeefsp", "1000", "0").await;
    p.onboard("otherfsp", "1000", "0").await;
    let body = p.prepare_body("payerfsp", "payeefsp", "10", Duration::from_secs(60));
    let id = body["transferId"].as_str().unwrap().to_owned();
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    p.notifications
        .wait_for("reserved", |e| {
            e.transfer_id() == id && e.action() == "prepare"
        })
        .await;

    // While reserved: RESERVED, no fulfilment.
    p.send_gets(&[Pipeline::get_envelope(&id, "payerfsp")])
        .await;
    let reserved = p
        .notifications
        .wait_for("get reserved", |e| {
            e.transfer_id() == id && e.action() == "get"
        })
        .await;
    assert_eq!(reserved.to, "payerfsp");
    assert_eq!(reserved.from, "Hub");
    assert_eq!(payload(&reserved)["transferState"], "RESERVED");
    assert!(payload(&reserved).get("fulfilment").is_none());

    let (fulfilment, _, _) = ilp_pair();
    p.send_fulfils(&[Pipeline::fulfil_envelope(
        &id,
        &json!({"transferState": "COMMITTED", "fulfilment": fulfilment}),
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    p.notifications
        .wait_for("commit", |e| {
            e.transfer_id() == id && e.action() == "commit"
        })
        .await;

    let unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    p.send_gets(&[
        Pipeline::get_envelope(&id, "payeefsp"),
        Pipeline::get_envelope(&id, "otherfsp"),
        Pipeline::get_envelope(unknown, "payerfsp"),
    ])
    .await;
    let committed = p
        .notifications
        .wait_for("get committed", |e| {
            e.transfer_id() == id && e.action() == "get" && e.to == "payeefsp"
        })
        .await;
    let body = payload(&committed);
    assert_eq!(body["transferState"], "COMMITTED");
    assert_eq!(body["fulfilment"], json!(fulfilment));
    assert!(
        ferroloop_core::fspiop_time::parse(body["completedTimestamp"].as_str().unwrap()).is_ok()
    );

    let stranger = p
        .notifications
        .wait_for("get by a stranger", |e| {
            e.transfer_id() == id && e.action() == "get" && e.to == "otherfsp"
        })
        .await;
    assert_eq!(error_code(&stranger).as_deref(), Some("3000"));
    assert_eq!(
        payload(&stranger)["errorInformation"]["errorDescription"],
        "Generic client error"
    );

    let missing = p
        .notifications
        .wait_for("get unknown", |e| e.transfer_id() == unknown)
        .await;
    assert_eq!(error_code(&missing).as_deref(), Some("3208"));
    assert_eq!(
        payload(&missing)["errorInformation"]["errorDescription"],
        "Transfer ID not found - Provided Transfer ID was not found on the server."
    );
    assert_eq!(missing.to, "payerfsp");
}
