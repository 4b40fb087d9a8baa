//! Fulfil handler: commit, invalid fulfilments, payee errors, the routing checks, expiry, the
//! RESERVED flow, the v1.0 RESERVED rule and `transferState: ABORTED`.

use std::time::Duration;

use ferroloop_core::state::TransferState;
use ferroloop_messaging::Envelope;
use ferroloop_tests::{Dfsp, Handlers, Pipeline, dec, error_code, ilp_pair, payload};
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);

struct Setup {
    p: Pipeline,
    payer: Dfsp,
    payee: Dfsp,
}

async fn setup(handlers: Handlers) -> Setup {
    let mut p = Pipeline::start_with(handlers).await;
    let payer = p.onboard("payerfsp", "1000", "1000").await;
    let payee = p.onboard("payeefsp", "1000", "0").await;
    p.onboard("otherfsp", "1000", "0").await;
    Setup { p, payer, payee }
}

/// A transfer of 10 in state RESERVED.
async fn reserved(p: &Pipeline, expires_in: Duration) -> String {
    let body = p.prepare_body("payerfsp", "payeefsp", "10", expires_in);
    let id = body["transferId"].as_str().unwrap().to_owned();
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    p.notifications
        .wait_for("reserved", |e| {
            e.transfer_id() == id && e.action() == "prepare"
        })
        .await;
    assert_eq!(p.state(&id).await, Some(TransferState::Reserved));
    id
}

fn committed_put(fulfilment: &str) -> Value {
    json!({"transferState": "COMMITTED", "fulfilment": fulfilment})
}

/// Sends `envelope` then a marker request behind it; returns once the marker is answered, so
/// everything the first one caused has been produced.
async fn send_then_marker(p: &Pipeline, envelope: Envelope) {
    let marker = "ffffffff-ffff-4fff-bfff-ffffffffffff";
    p.send_fulfils(&[
        envelope,
        Pipeline::fulfil_envelope(marker, &committed_put("x"), "payeefsp", None),
    ])
    .await;
    p.notifications
        .wait_for("marker", |e| e.transfer_id() == marker)
        .await;
}

#[tokio::test]
async fn a_wrong_or_missing_fulfilment_aborts_with_3100_and_restores_the_payer() {
    let s = setup(Handlers::ALL).await;
    let (_, _, wrong) = ilp_pair();
    for put in [committed_put(&wrong), json!({"transferState": "COMMITTED"})] {
        let id = reserved(&s.p, MINUTE).await;
        s.p.send_fulfils(&[Pipeline::fulfil_envelope(
            &id,
            &put,
            "payeefsp",
            Some("payerfsp"),
        )])
        .await;
        let abort =
            s.p.notifications
                .wait_for("abort-validation", |e| {
                    e.transfer_id() == id && e.action() == "abort-validation"
                })
                .await;
        assert_eq!(error_code(&abort).as_deref(), Some("3100"));
        assert_eq!(
            payload(&abort)["errorInformation"]["errorDescription"],
            "Generic validation error - invalid fulfilment"
        );
        assert_eq!(abort.from, "Hub");
        assert_eq!(abort.to, "payerfsp");
        let parties = abort.content.context.as_ref().unwrap();
        assert_eq!(
            parties.payee.as_deref(),
            Some("payeefsp"),
            "the payee hears about it too"
        );
        assert_eq!(s.p.state(&id).await, Some(TransferState::AbortedError));
    }
    assert_eq!(s.p.position(s.payer.position_account).await, dec("0"));
    assert_eq!(s.p.position(s.payee.position_account).await, dec("0"));
    s.p.assert_invariants().await;
}

#[tokio::test]
async fn a_payee_error_aborts_and_reaches_the_payer_byte_for_byte() {
    let s = setup(Handlers::ALL).await;
    let id = reserved(&s.p, MINUTE).await;
    let error = json!({"errorInformation": {"errorCode": "5104", "errorDescription": "Payee rejected transaction", "extensionList": {"extension": [{"key": "reason", "value": "closed account"}]}}});
    let envelope = Pipeline::error_envelope(&id, &error, "payeefsp", Some("payerfsp"));
    let original = envelope.original_body().unwrap();
    s.p.send_fulfils(&[envelope]).await;
    let abort =
        s.p.notifications
            .wait_for("abort", |e| e.transfer_id() == id && e.action() == "abort")
            .await;
    assert_eq!(abort.to, "payerfsp");
    assert_eq!(abort.from, "payeefsp");
    assert_eq!(abort.original_body().unwrap(), original);
    assert_eq!(abort.metadata.event.state.code, json!(5104));
    assert_eq!(s.p.state(&id).await, Some(TransferState::AbortedError));
    let (code, description): (u16, String) = sqlx::query_as(
        "SELECT error_code, error_description FROM transfer_error WHERE transfer_id = ?",
    )
    .bind(&id)
    .fetch_one(&s.p.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (code, description.as_str()),
        (5104, "Payee rejected transaction")
    );
    assert_eq!(s.p.position(s.payer.position_account).await, dec("0"));
    s.p.assert_invariants().await;
}

#[tokio::test]
async fn only_the_payee_can_fulfil_or_abort_and_a_wrong_destination_aborts() {
    let s = setup(Handlers::ALL).await;
    let (fulfilment, _, _) = ilp_pair();
    let id = reserved(&s.p, MINUTE).await;
    // Another DFSP tries to commit, then to abort: 3100 to it, nothing changes.
    s.p.send_fulfils(&[
        Pipeline::fulfil_envelope(
            &id,
            &committed_put(&fulfilment),
            "otherfsp",
            Some("payerfsp"),
        ),
        Pipeline::error_envelope(
            &id,
            &json!({"errorInformation": {"errorCode": "5000", "errorDescription": "x"}}),
            "otherfsp",
            Some("payerfsp"),
        ),
    ])
    .await;
    let refused =
        s.p.notifications
            .wait_for_count("refusals", 2, |e| {
                e.transfer_id() == id && e.to == "otherfsp"
            })
            .await;
    for refusal in &refused {
        assert_eq!(error_code(refusal).as_deref(), Some("3100"));
        assert_eq!(
            payload(refusal)["errorInformation"]["errorDescription"],
            "Generic validation error - fspiop-source does not match payee fsp on the Fulfil callback response"
        );
    }
    assert_eq!(s.p.state(&id).await, Some(TransferState::Reserved));
    assert_eq!(s.p.position(s.payer.position_account).await, dec("10"));

    // The payee names another destination: the transfer aborts, as Mojaloop does.
    s.p.send_fulfils(&[Pipeline::fulfil_envelope(
        &id,
        &committed_put(&fulfilment),
        "payeefsp",
        Some("otherfsp"),
    )])
    .await;
    let abort =
        s.p.notifications
            .wait_for("abort", |e| {
                e.transfer_id() == id && e.action() == "abort-validation"
            })
            .await;
    assert_eq!(
        payload(&abort)["errorInformation"]["errorDescription"],
        "Generic validation error - fspiop-destination does not match payer fsp on the Fulfil callback response"
    );
    assert_eq!(s.p.state(&id).await, Some(TransferState::AbortedError));
    assert_eq!(s.p.position(s.payer.position_account).await, dec("0"));
    s.p.assert_invariants().await;
}

#[tokio::test]
async fn a_fulfilment_after_expiry_gets_3303_and_changes_nothing() {
    let s = setup(Handlers {
        timeout: false,
        ..Handlers::ALL
    })
    .await;
    // Long enough for a cold pipeline to reserve it: a transfer already past its expiration
    // when the position handler reaches it is expired, not reserved.
    let expires_in = Duration::from_secs(6);
    let id = reserved(&s.p, expires_in).await;
    let expiration: time::PrimitiveDateTime =
        sqlx::query_scalar("SELECT expiration FROM transfer WHERE transfer_id = ?")
            .bind(&id)
            .fetch_one(&s.p.db.pool)
            .await
            .unwrap();
    // Waiting for the clock, not for a handler: the transfer must be past its expiration.
    let wait = expiration.assume_utc() - time::OffsetDateTime::now_utc();
    if wait.is_positive() {
        tokio::time::sleep(wait.try_into().unwrap()).await;
    }
    let (fulfilment, _, _) = ilp_pair();
    s.p.send_fulfils(&[Pipeline::fulfil_envelope(
        &id,
        &committed_put(&fulfilment),
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    let expired =
        s.p.notifications
            .wait_for("3303", |e| e.transfer_id() == id && error_code(e).is_some())
            .await;
    assert_eq!(error_code(&expired).as_deref(), Some("3303"));
    assert_eq!(expired.to, "payeefsp");
    assert_eq!(
        s.p.state(&id).await,
        Some(TransferState::Reserved),
        "the timeout handler expires it, not the fulfil"
    );
    s.p.assert_invariants().await;
}

#[tokio::test]
async fn a_reserved_response_commits_and_asks_for_the_patch_to_the_payee() {
    let s = setup(Handlers::ALL).await;
    let (fulfilment, _, _) = ilp_pair();
    let id = reserved(&s.p, MINUTE).await;
    let put = json!({"transferState": "RESERVED", "fulfilment": fulfilment, "completedTimestamp": ferroloop_core::fspiop_time::format(time::OffsetDateTime::now_utc())});
    s.p.send_fulfils(&[Pipeline::fulfil_envelope(
        &id,
        &put,
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    let reserve =
        s.p.notifications
            .wait_for("reserve", |e| {
                e.transfer_id() == id && e.action() == "reserve"
            })
            .await;
    assert_eq!(reserve.from, "Hub");
    assert_eq!(reserve.to, "payerfsp");
    let body = payload(&reserve);
    assert_eq!(body["transferState"], "COMMITTED");
    assert_eq!(body["fulfilment"], json!(fulfilment));
    assert!(body.get("transferId").is_none());
    assert_eq!(
        reserve.content.context.as_ref().unwrap().payee.as_deref(),
        Some("payeefsp")
    );
    assert_eq!(s.p.state(&id).await, Some(TransferState::Committed));
    let requested: String =
        sqlx::query_scalar("SELECT requested_state FROM transfer_fulfilment WHERE transfer_id = ?")
            .bind(&id)
            .fetch_one(&s.p.db.pool)
            .await
            .unwrap();
    assert_eq!(requested, "RESERVED");
    s.p.assert_invariants().await;
}

#[tokio::test]
async fn v1_0_reserved_is_dropped_and_aborted_is_not_a_way_to_abort() {
    let s = setup(Handlers::ALL).await;
    let (fulfilment, _, _) = ilp_pair();
    let id = reserved(&s.p, MINUTE).await;

    let mut v10 = Pipeline::fulfil_envelope(
        &id,
        &json!({"transferState": "RESERVED", "fulfilment": fulfilment}),
        "payeefsp",
        Some("payerfsp"),
    );
    v10.content.headers.insert(
        "content-type".into(),
        "application/vnd.interoperability.transfers+json;version=1.0".into(),
    );
    send_then_marker(&s.p, v10).await;
    assert!(
        s.p.notifications
            .for_transfer(&id)
            .iter()
            .all(|e| e.action() == "prepare"),
        "dropped silently"
    );
    assert_eq!(s.p.state(&id).await, Some(TransferState::Reserved));

    s.p.send_fulfils(&[Pipeline::fulfil_envelope(
        &id,
        &json!({"transferState": "ABORTED"}),
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    let refused =
        s.p.notifications
            .wait_for("refusal", |e| {
                e.transfer_id() == id && error_code(e).is_some()
            })
            .await;
    assert_eq!(error_code(&refused).as_deref(), Some("3100"));
    assert_eq!(refused.to, "payeefsp");
    assert_eq!(s.p.state(&id).await, Some(TransferState::Reserved));

    // The payee can still commit afterwards: neither request occupied its duplicate check.
    s.p.send_fulfils(&[Pipeline::fulfil_envelope(
        &id,
        &committed_put(&fulfilment),
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    s.p.notifications
        .wait_for("commit", |e| {
            e.transfer_id() == id && e.action() == "commit" && e.metadata.event.state.is_success()
        })
        .await;
    assert_eq!(s.p.state(&id).await, Some(TransferState::Committed));
    s.p.assert_invariants().await;
}
