//! A transfer through prepare, position, fulfil and position again, over the real broker and
//! database.

use std::time::Duration;

use ferroloop_core::state::TransferState;
use ferroloop_tests::{Pipeline, dec, ilp_pair, payload};
use serde_json::json;

#[tokio::test]
async fn a_fulfilled_transfer_commits_and_moves_both_positions() {
    let mut p = Pipeline::start().await;
    let payer = p.onboard("payerfsp", "1000", "5000").await;
    let payee = p.onboard("payeefsp", "1000", "0").await;
    let body = p.prepare_body("payerfsp", "payeefsp", "100.5", Duration::from_secs(60));
    let id = body["transferId"].as_str().unwrap().to_owned();
    let original = serde_json::to_vec(&body).unwrap();
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;

    // The payee is asked with the payer's original bytes and headers.
    let forwarded = p
        .notifications
        .wait_for("prepare to payee", |e| {
            e.transfer_id() == id && e.action() == "prepare"
        })
        .await;
    assert!(forwarded.metadata.event.state.is_success());
    assert_eq!(forwarded.to, "payeefsp");
    assert_eq!(forwarded.original_body().unwrap(), original);
    assert_eq!(forwarded.header("fspiop-source"), Some("payerfsp"));
    assert_eq!(p.state(&id).await, Some(TransferState::Reserved));
    assert_eq!(p.position(payer.position_account).await, dec("100.5"));

    let (fulfilment, _, _) = ilp_pair();
    let put = json!({"transferState": "COMMITTED", "fulfilment": fulfilment, "completedTimestamp": ferroloop_core::fspiop_time::format(time::OffsetDateTime::now_utc())});
    p.send_fulfils(&[Pipeline::fulfil_envelope(
        &id,
        &put,
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    let commit = p
        .notifications
        .wait_for("commit to payer", |e| {
            e.transfer_id() == id && e.action() == "commit"
        })
        .await;
    assert!(commit.metadata.event.state.is_success());
    assert_eq!(commit.to, "payerfsp");
    assert_eq!(payload(&commit)["fulfilment"], json!(fulfilment));
    assert_eq!(p.state(&id).await, Some(TransferState::Committed));
    assert_eq!(p.position(payer.position_account).await, dec("100.5"));
    assert_eq!(p.position(payee.position_account).await, dec("-100.5"));

    // The journal walked the whole state machine.
    let states: Vec<String> = sqlx::query_scalar(
        "SELECT state FROM transfer_state_change WHERE transfer_id = ? ORDER BY transfer_state_change_id",
    )
    .bind(&id)
    .fetch_all(&p.db.pool)
    .await
    .unwrap();
    assert_eq!(
        states,
        [
            "RECEIVED_PREPARE",
            "RESERVED",
            "RECEIVED_FULFIL",
            "COMMITTED"
        ]
    );
    let timeouts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM transfer_timeout WHERE transfer_id = ?")
            .bind(&id)
            .fetch_one(&p.db.pool)
            .await
            .unwrap();
    assert_eq!(timeouts, 0, "a final transfer leaves the timeout index");
    p.assert_invariants().await;
    p.stop().await;
}
