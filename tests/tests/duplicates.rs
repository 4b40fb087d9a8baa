//! Duplicate requests (docs/duplicates-and-replays.md#per-request-kind): same body while in
//! progress → ignored; same body when finished (for prepare also when RESERVED) → the current state
//! to the sender; different body → 3106; re-ordered keys are the same body; racing first requests
//! make one transfer.

use std::time::Duration;

use ferroloop_core::state::TransferState;
use ferroloop_tests::{Handlers, Notifications, Pipeline, error_code, ilp_pair, payload};
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);

fn id_of(body: &Value) -> String {
    body["transferId"].as_str().unwrap().to_owned()
}

/// The body's keys in reverse order, values unchanged.
fn reordered_bytes(body: &Value) -> Vec<u8> {
    let object = body.as_object().unwrap();
    let parts: Vec<String> = object
        .iter()
        .rev()
        .map(|(k, v)| {
            format!(
                "{}:{}",
                serde_json::to_string(k).unwrap(),
                serde_json::to_string(v).unwrap()
            )
        })
        .collect();
    format!("{{{}}}", parts.join(",")).into_bytes()
}

async fn pipeline() -> (Pipeline, ferroloop_tests::Dfsp, ferroloop_tests::Dfsp) {
    let mut p = Pipeline::start_with(Handlers::NONE).await;
    let payer = p.onboard("payerfsp", "1000", "1000").await;
    let payee = p.onboard("payeefsp", "1000", "0").await;
    (p, payer, payee)
}

#[tokio::test]
async fn a_prepare_resent_while_received_is_ignored() {
    let (p, _, _) = pipeline().await;
    let _prepare = p
        .start_group(
            Handlers {
                prepare: true,
                ..Handlers::NONE
            },
            "g1-",
        )
        .await;
    let positions =
        Notifications::collect(&p.broker, &p.broker.topics().position, p.shutdown.clone()).await;
    let body = p.prepare_body("payerfsp", "payeefsp", "10", MINUTE);
    let id = id_of(&body);
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    positions
        .wait_for("first prepare", |e| e.transfer_id() == id)
        .await;

    // The resend (a new request, so a new event id) and a marker behind it on the same partition.
    let marker = p.prepare_body("payerfsp", "payeefsp", "1", MINUTE);
    let marker_id = id_of(&marker);
    p.send_prepares(&[
        Pipeline::prepare_envelope(&body, "payerfsp"),
        Pipeline::prepare_envelope_bytes(&body, &reordered_bytes(&body), "payerfsp"),
        Pipeline::prepare_envelope(&marker, "payerfsp"),
    ])
    .await;
    positions
        .wait_for("marker", |e| e.transfer_id() == marker_id)
        .await;
    assert_eq!(
        positions.for_transfer(&id).len(),
        1,
        "the resend went nowhere"
    );
    assert!(
        p.notifications.for_transfer(&id).is_empty(),
        "and nobody was told anything"
    );
    assert_eq!(p.state(&id).await, Some(TransferState::ReceivedPrepare));
}

#[tokio::test]
async fn a_prepare_resent_when_reserved_or_committed_gets_the_state_and_a_changed_one_gets_3106() {
    let (p, _, _) = pipeline().await;
    let _handlers = p
        .start_group(
            Handlers {
                prepare: true,
                position: true,
                fulfil: true,
                ..Handlers::NONE
            },
            "g1-",
        )
        .await;
    let body = p.prepare_body("payerfsp", "payeefsp", "10", MINUTE);
    let id = id_of(&body);
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    p.notifications
        .wait_for("reserved", |e| {
            e.transfer_id() == id && e.action() == "prepare"
        })
        .await;

    // RESERVED counts as finished for a prepare: the payer gets the state, even for a body with
    // the keys in another order.
    p.send_prepares(&[Pipeline::prepare_envelope_bytes(
        &body,
        &reordered_bytes(&body),
        "payerfsp",
    )])
    .await;
    let resent = p
        .notifications
        .wait_for("state while reserved", |e| {
            e.transfer_id() == id && e.action() == "prepare-duplicate"
        })
        .await;
    assert_eq!(resent.to, "payerfsp");
    assert_eq!(resent.from, "Hub");
    assert_eq!(payload(&resent)["transferState"], "RESERVED");

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
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    let states = p
        .notifications
        .wait_for_count("state when committed", 2, |e| {
            e.transfer_id() == id && e.action() == "prepare-duplicate"
        })
        .await;
    assert_eq!(payload(&states[1])["transferState"], "COMMITTED");
    assert_eq!(payload(&states[1])["fulfilment"], json!(fulfilment));

    let mut changed = body.clone();
    changed["amount"]["amount"] = json!("11");
    p.send_prepares(&[Pipeline::prepare_envelope(&changed, "payerfsp")])
        .await;
    let modified = p
        .notifications
        .wait_for("3106", |e| {
            e.transfer_id() == id && error_code(e).as_deref() == Some("3106")
        })
        .await;
    assert_eq!(modified.to, "payerfsp");
    assert_eq!(
        payload(&modified)["errorInformation"]["errorDescription"],
        "Modified request"
    );
    assert_eq!(p.state(&id).await, Some(TransferState::Committed));
    p.assert_invariants().await;
}

#[tokio::test]
async fn two_identical_first_requests_racing_make_one_transfer() {
    let (p, _, _) = pipeline().await;
    // Two prepare handlers in different groups: each sees both requests, concurrently.
    let _first = p
        .start_group(
            Handlers {
                prepare: true,
                ..Handlers::NONE
            },
            "g1-",
        )
        .await;
    let _second = p
        .start_group(
            Handlers {
                prepare: true,
                ..Handlers::NONE
            },
            "g2-",
        )
        .await;
    let positions =
        Notifications::collect(&p.broker, &p.broker.topics().position, p.shutdown.clone()).await;
    let mut ids = Vec::new();
    let mut envelopes = Vec::new();
    for _ in 0..20 {
        let body = p.prepare_body("payerfsp", "payeefsp", "1", MINUTE);
        ids.push(id_of(&body));
        envelopes.push(Pipeline::prepare_envelope(&body, "payerfsp"));
        envelopes.push(Pipeline::prepare_envelope(&body, "payerfsp"));
    }
    p.send_prepares(&envelopes).await;
    for id in &ids {
        positions
            .wait_for("prepare on", |e| e.transfer_id() == id)
            .await;
    }
    let transfers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM transfer")
        .fetch_one(&p.db.pool)
        .await
        .unwrap();
    let received: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM transfer_state_change WHERE state = 'RECEIVED_PREPARE'",
    )
    .fetch_one(&p.db.pool)
    .await
    .unwrap();
    // One funds-in transfer per onboarded payer with liquidity, plus the 20.
    assert_eq!(transfers, 21);
    assert_eq!(received, 21);
    assert!(
        p.notifications
            .all()
            .iter()
            .all(|e| error_code(e).is_none()),
        "no 3106 for identical bodies"
    );
    p.assert_invariants().await;
}

#[tokio::test]
async fn a_fulfil_resent_in_progress_is_ignored_finished_gets_the_state_and_changed_gets_3106() {
    let (p, _, _) = pipeline().await;
    let reserve = p
        .start_group(
            Handlers {
                prepare: true,
                position: true,
                ..Handlers::NONE
            },
            "g1-",
        )
        .await;
    let body = p.prepare_body("payerfsp", "payeefsp", "10", MINUTE);
    let id = id_of(&body);
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    p.notifications
        .wait_for("reserved", |e| {
            e.transfer_id() == id && e.action() == "prepare"
        })
        .await;
    // Without the position handler the accepted fulfilment stays in RECEIVED_FULFIL.
    reserve.stop().await;
    let _fulfil = p
        .start_group(
            Handlers {
                fulfil: true,
                ..Handlers::NONE
            },
            "g1-",
        )
        .await;
    let positions =
        Notifications::collect(&p.broker, &p.broker.topics().position, p.shutdown.clone()).await;
    let (fulfilment, _, _) = ilp_pair();
    let put = json!({"transferState": "COMMITTED", "fulfilment": fulfilment});
    p.send_fulfils(&[Pipeline::fulfil_envelope(
        &id,
        &put,
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    positions
        .wait_for("commit to position", |e| {
            e.transfer_id() == id && e.action() == "commit"
        })
        .await;
    assert_eq!(p.state(&id).await, Some(TransferState::ReceivedFulfil));

    // In progress: a resend is ignored (a marker transfer proves the handler got past it).
    p.send_fulfils(&[
        Pipeline::fulfil_envelope(&id, &put, "payeefsp", Some("payerfsp")),
        Pipeline::fulfil_envelope(
            "ffffffff-ffff-4fff-bfff-ffffffffffff",
            &put,
            "payeefsp",
            Some("payerfsp"),
        ),
    ])
    .await;
    p.notifications
        .wait_for("marker answered", |e| {
            e.transfer_id() == "ffffffff-ffff-4fff-bfff-ffffffffffff"
        })
        .await;
    let commits = positions
        .for_transfer(&id)
        .into_iter()
        .filter(|e| e.action() == "commit")
        .count();
    assert_eq!(commits, 1, "the resend went nowhere");
    assert!(
        p.notifications
            .for_transfer(&id)
            .iter()
            .all(|e| e.action() == "prepare")
    );

    // Finished: the position handler commits; the resend gets the state, a changed body 3106.
    let _position = p
        .start_group(
            Handlers {
                position: true,
                ..Handlers::NONE
            },
            "g1-",
        )
        .await;
    p.notifications
        .wait_for("commit", |e| {
            e.transfer_id() == id && e.action() == "commit"
        })
        .await;
    p.send_fulfils(&[Pipeline::fulfil_envelope(
        &id,
        &put,
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    let resent = p
        .notifications
        .wait_for("fulfil-duplicate", |e| {
            e.transfer_id() == id && e.action() == "fulfil-duplicate"
        })
        .await;
    assert_eq!(resent.to, "payeefsp");
    assert_eq!(payload(&resent)["transferState"], "COMMITTED");
    let mut changed = put.clone();
    changed["completedTimestamp"] = json!(ferroloop_core::fspiop_time::format(
        time::OffsetDateTime::now_utc()
    ));
    p.send_fulfils(&[Pipeline::fulfil_envelope(
        &id,
        &changed,
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    let modified = p
        .notifications
        .wait_for("3106", |e| {
            e.transfer_id() == id && error_code(e).as_deref() == Some("3106")
        })
        .await;
    assert_eq!(modified.to, "payeefsp");
    assert_eq!(modified.action(), "fulfil-duplicate");
    p.assert_invariants().await;
}

#[tokio::test]
async fn an_error_resent_when_aborted_gets_the_state_and_a_changed_one_gets_3106() {
    let (p, payer, _) = pipeline().await;
    let _handlers = p
        .start_group(
            Handlers {
                prepare: true,
                position: true,
                fulfil: true,
                ..Handlers::NONE
            },
            "g1-",
        )
        .await;
    let body = p.prepare_body("payerfsp", "payeefsp", "10", MINUTE);
    let id = id_of(&body);
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    p.notifications
        .wait_for("reserved", |e| {
            e.transfer_id() == id && e.action() == "prepare"
        })
        .await;
    let error = json!({"errorInformation": {"errorCode": "5100", "errorDescription": "Generic Payee rejection"}});
    p.send_fulfils(&[Pipeline::error_envelope(
        &id,
        &error,
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    p.notifications
        .wait_for("abort", |e| e.transfer_id() == id && e.action() == "abort")
        .await;
    assert_eq!(p.state(&id).await, Some(TransferState::AbortedError));
    assert_eq!(
        p.position(payer.position_account).await,
        ferroloop_tests::dec("0")
    );

    p.send_fulfils(&[Pipeline::error_envelope(
        &id,
        &error,
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    let resent = p
        .notifications
        .wait_for("abort-duplicate", |e| {
            e.transfer_id() == id && e.action() == "abort-duplicate"
        })
        .await;
    assert_eq!(payload(&resent)["transferState"], "ABORTED");
    let changed = json!({"errorInformation": {"errorCode": "5101", "errorDescription": "Payee rejected quote"}});
    p.send_fulfils(&[Pipeline::error_envelope(
        &id,
        &changed,
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    let modified = p
        .notifications
        .wait_for("3106", |e| {
            e.transfer_id() == id && error_code(e).as_deref() == Some("3106")
        })
        .await;
    assert_eq!(modified.action(), "abort-duplicate");
    assert_eq!(p.state(&id).await, Some(TransferState::AbortedError));
    p.assert_invariants().await;
}
