//! Prepare handler: valid prepares go on to the position handler; each validation rule of
//! docs/fspiop-api.md#semantic-checks-of-a-prepare makes the transfer INVALID with 3100 and its
//! reason to the payer.

use std::time::Duration;

use ferroloop_core::state::TransferState;
use ferroloop_store::participants::{self, accounts};
use ferroloop_tests::{Handlers, Notifications, Pipeline, error_code, payload};
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_valid_prepare_is_received_and_sent_to_the_payers_position_account() {
    let mut p = Pipeline::start_with(Handlers {
        prepare: true,
        ..Handlers::NONE
    })
    .await;
    let positions =
        Notifications::collect(&p.broker, &p.broker.topics().position, p.shutdown.clone()).await;
    let payer = p.onboard("payerfsp", "1000", "1000").await;
    p.onboard("payeefsp", "1000", "0").await;
    let body = p.prepare_body("payerfsp", "payeefsp", "10", MINUTE);
    let id = body["transferId"].as_str().unwrap().to_owned();
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    let message = positions
        .wait_for("position prepare", |e| e.transfer_id() == id)
        .await;
    assert_eq!(message.action(), "prepare");
    assert_eq!(message.metadata.event.event_type, "position");
    assert_eq!(
        message.header("x-kafka-key"),
        Some(payer.position_account.to_string().as_str())
    );
    assert_eq!(p.state(&id).await, Some(TransferState::ReceivedPrepare));
    let due: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM transfer_timeout WHERE transfer_id = ?")
            .bind(&id)
            .fetch_one(&p.db.pool)
            .await
            .unwrap();
    assert_eq!(due, 1, "the timeout handler knows the transfer");
    assert!(p.notifications.for_transfer(&id).is_empty());
    p.assert_invariants().await;
    p.stop().await;
}

/// One invalid case: what to change, and the reason the payer must get.
struct Case {
    name: &'static str,
    mutate: fn(&mut Value),
    source: &'static str,
    reason: &'static str,
}

#[tokio::test]
async fn every_validation_rule_makes_the_transfer_invalid_with_its_reason() {
    let mut p = Pipeline::start_with(Handlers {
        prepare: true,
        ..Handlers::NONE
    })
    .await;
    p.onboard("payerfsp", "1000", "1000").await;
    p.onboard("payeefsp", "1000", "0").await;
    let sleepy = p.onboard("sleepyfsp", "1000", "0").await;
    let closed = p.onboard("closedfsp", "1000", "0").await;
    let frozen = p.onboard("frozenfsp", "1000", "0").await;
    {
        let mut conn = p.db.pool.acquire().await.unwrap();
        participants::set_participant_active(&mut conn, sleepy.participant_id, false)
            .await
            .unwrap();
        accounts::set_account_active(&mut conn, frozen.position_account, false)
            .await
            .unwrap();
        // A participant without a EUR account.
        let _ = closed;
    }
    let cases = [
        Case {
            name: "source is not the payer",
            mutate: |_| {},
            source: "payeefsp",
            reason: "FSPIOP-Source header should match Payer",
        },
        Case {
            name: "precision",
            mutate: |b| b["amount"]["amount"] = json!("123456789012345678.5"),
            source: "payerfsp",
            reason: "Amount 123456789012345678.5 exceeds allowed precision of 18",
        },
        Case {
            name: "unknown payer",
            mutate: |b| b["payerFsp"] = json!("ghostfsp"),
            source: "ghostfsp",
            reason: "Participant ghostfsp not found",
        },
        Case {
            name: "inactive payer",
            mutate: |b| b["payerFsp"] = json!("sleepyfsp"),
            source: "sleepyfsp",
            reason: "Participant sleepyfsp is inactive",
        },
        Case {
            name: "unknown payee",
            mutate: |b| b["payeeFsp"] = json!("ghostfsp"),
            source: "payerfsp",
            reason: "Participant ghostfsp not found",
        },
        Case {
            name: "inactive payee",
            mutate: |b| b["payeeFsp"] = json!("sleepyfsp"),
            source: "payerfsp",
            reason: "Participant sleepyfsp is inactive",
        },
        Case {
            name: "missing condition",
            mutate: |b| b["condition"] = json!(""),
            source: "payerfsp",
            reason: "Condition is required for a conditional transfer",
        },
        Case {
            name: "undecodable condition",
            mutate: |b| b["condition"] = json!("c2hvcnQ"),
            source: "payerfsp",
            reason: "Condition validation failed",
        },
        Case {
            name: "expired",
            mutate: |b| b["expiration"] = json!("2020-01-01T00:00:00.000Z"),
            source: "payerfsp",
            reason: "Expiration date 2020-01-01T00:00:00.000Z is already in the past",
        },
        Case {
            name: "payer is payee",
            mutate: |b| b["payeeFsp"] = json!("payerfsp"),
            source: "payerfsp",
            reason: "Payer FSP and Payee FSP should be different, unless on-us tranfers are allowed by the Scheme",
        },
        Case {
            name: "no account in the currency",
            mutate: |b| b["amount"]["currency"] = json!("EUR"),
            source: "payerfsp",
            reason: "Participant payerfsp EUR account not found",
        },
        Case {
            name: "payee has no account in the currency",
            mutate: |b| b["payeeFsp"] = json!("frozenfsp"),
            source: "payerfsp",
            reason: "Participant frozenfsp USD account is inactive",
        },
    ];
    let mut expected = Vec::new();
    let mut envelopes = Vec::new();
    for case in &cases {
        let mut body = p.prepare_body("payerfsp", "payeefsp", "10", MINUTE);
        (case.mutate)(&mut body);
        expected.push((
            body["transferId"].as_str().unwrap().to_owned(),
            body["payerFsp"].as_str().unwrap().to_owned(),
            case,
        ));
        envelopes.push(Pipeline::prepare_envelope(&body, case.source));
    }
    p.send_prepares(&envelopes).await;
    for (id, payer, case) in &expected {
        let error = p
            .notifications
            .wait_for(case.name, |e| e.transfer_id() == id)
            .await;
        assert_eq!(error_code(&error).as_deref(), Some("3100"), "{}", case.name);
        if case.source != payer {
            // A prepare the adapter authenticated as someone other than the payer is answered
            // to that sender alone and stores nothing (docs/transfer-states.md#who-may-change-a-transfer).
            assert_eq!(
                error.to, case.source,
                "{}: the error goes to the sender",
                case.name
            );
            assert_eq!(p.state(id).await, None, "{}: nothing stored", case.name);
            continue;
        }
        assert_eq!(
            payload(&error)["errorInformation"]["errorDescription"],
            json!(format!("Generic validation error - {}", case.reason)),
            "{}",
            case.name
        );
        assert_eq!(
            &error.to, payer,
            "{}: the error goes to the payer",
            case.name
        );
        assert_eq!(error.from, "Hub", "{}", case.name);
        assert_eq!(
            p.state(id).await,
            Some(TransferState::Invalid),
            "{}",
            case.name
        );
        let reason: Option<String> = sqlx::query_scalar(
            "SELECT reason FROM transfer_state_change WHERE transfer_id = ? AND state = 'INVALID'",
        )
        .bind(id)
        .fetch_one(&p.db.pool)
        .await
        .unwrap();
        assert_eq!(reason.as_deref(), Some(case.reason), "{}", case.name);
    }
    p.assert_invariants().await;
    p.stop().await;
}
