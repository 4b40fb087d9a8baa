//! Timeout handler: both RECEIVED_PREPARE and RESERVED transfers expire within a second of their
//! expiration, two replicas never expire one transfer twice, and a transfer left in an
//! intermediate state by a lost message is still finished.

use std::time::Duration;

use ferroloop_core::id::TransferId;
use ferroloop_core::state::{TransferEvent, TransferState, transition};
use ferroloop_messaging::Envelope;
use ferroloop_store::transfers::{self, FulfilmentRow, StateChange, TransferErrorRow};
use ferroloop_tests::{Handlers, Pipeline, dec, error_code, ilp_pair};
use time::OffsetDateTime;

/// How late the notification was relative to the transfer's expiration.
async fn lateness(p: &Pipeline, id: &str, notification: &Envelope) -> time::Duration {
    let expiration: time::PrimitiveDateTime =
        sqlx::query_scalar("SELECT expiration FROM transfer WHERE transfer_id = ?")
            .bind(id)
            .fetch_one(&p.db.pool)
            .await
            .unwrap();
    let created =
        ferroloop_core::fspiop_time::parse(&notification.metadata.event.created_at).unwrap();
    created - expiration.assume_utc()
}

#[tokio::test]
async fn an_unreserved_prepare_expires_with_3303_to_the_payer_within_a_second() {
    let mut p = Pipeline::start_with(Handlers {
        prepare: true,
        timeout: true,
        ..Handlers::NONE
    })
    .await;
    p.onboard("payerfsp", "1000", "1000").await;
    p.onboard("payeefsp", "1000", "0").await;
    let body = p.prepare_body("payerfsp", "payeefsp", "10", Duration::from_millis(1500));
    let id = body["transferId"].as_str().unwrap().to_owned();
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    let expired = p
        .notifications
        .wait_for("timeout-received", |e| e.transfer_id() == id)
        .await;
    assert_eq!(expired.action(), "timeout-received");
    assert_eq!(error_code(&expired).as_deref(), Some("3303"));
    assert_eq!(expired.to, "payerfsp");
    assert_eq!(expired.from, "Hub");
    let late = lateness(&p, &id, &expired).await;
    assert!(
        late <= time::Duration::SECOND,
        "expired {late} after the expiration"
    );
    assert_eq!(p.state(&id).await, Some(TransferState::ExpiredPrepared));
    p.assert_invariants().await;
}

#[tokio::test]
async fn a_reserved_transfer_expires_to_both_sides_and_the_payer_is_restored() {
    let mut p = Pipeline::start_with(Handlers {
        prepare: true,
        position: true,
        timeout: true,
        ..Handlers::NONE
    })
    .await;
    let payer = p.onboard("payerfsp", "1000", "1000").await;
    p.onboard("payeefsp", "1000", "0").await;
    // Long enough for a cold pipeline to reserve it: a transfer already past its expiration
    // when the position handler reaches it is expired unreserved (3303 to the payer only).
    let body = p.prepare_body("payerfsp", "payeefsp", "10", Duration::from_secs(4));
    let id = body["transferId"].as_str().unwrap().to_owned();
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    p.notifications
        .wait_for("reserved", |e| {
            e.transfer_id() == id && e.action() == "prepare"
        })
        .await;
    assert_eq!(p.position(payer.position_account).await, dec("10"));
    let expired = p
        .notifications
        .wait_for("timeout-reserved", |e| {
            e.transfer_id() == id && e.action() == "timeout-reserved"
        })
        .await;
    assert_eq!(error_code(&expired).as_deref(), Some("3303"));
    let context = expired
        .content
        .context
        .as_ref()
        .expect("both parties named");
    assert_eq!(context.payer.as_deref(), Some("payerfsp"));
    assert_eq!(context.payee.as_deref(), Some("payeefsp"));
    let late = lateness(&p, &id, &expired).await;
    assert!(
        late <= time::Duration::SECOND,
        "expired {late} after the expiration"
    );
    assert_eq!(p.state(&id).await, Some(TransferState::ExpiredReserved));
    assert_eq!(p.position(payer.position_account).await, dec("0"));
    p.assert_invariants().await;
}

#[tokio::test]
async fn two_replicas_never_expire_one_transfer_twice() {
    let mut p = Pipeline::start_with(Handlers {
        prepare: true,
        position: true,
        ..Handlers::NONE
    })
    .await;
    p.onboard("payerfsp", "100000", "100000").await;
    p.onboard("payeefsp", "1000", "0").await;
    let bodies: Vec<_> = (0..200)
        .map(|_| p.prepare_body("payerfsp", "payeefsp", "1", Duration::from_secs(3)))
        .collect();
    let ids: Vec<String> = bodies
        .iter()
        .map(|b| b["transferId"].as_str().unwrap().to_owned())
        .collect();
    p.send_prepares(
        &bodies
            .iter()
            .map(|b| Pipeline::prepare_envelope(b, "payerfsp"))
            .collect::<Vec<_>>(),
    )
    .await;
    p.notifications
        .wait_for_count("all reserved", ids.len(), |e| e.action() == "prepare")
        .await;
    let _first = p
        .start_group(
            Handlers {
                timeout: true,
                ..Handlers::NONE
            },
            "t1-",
        )
        .await;
    let _second = p
        .start_group(
            Handlers {
                timeout: true,
                ..Handlers::NONE
            },
            "t2-",
        )
        .await;
    p.notifications
        .wait_for_count("all expired", ids.len(), |e| {
            e.action() == "timeout-reserved"
        })
        .await;
    let expirations = p
        .notifications
        .all()
        .into_iter()
        .filter(|e| e.action() == "timeout-reserved")
        .count();
    assert_eq!(
        expirations,
        ids.len(),
        "one expiry notification per transfer"
    );
    let marked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM transfer_state_change WHERE state = 'RESERVED_TIMEOUT'",
    )
    .fetch_one(&p.db.pool)
    .await
    .unwrap();
    assert_eq!(marked as usize, ids.len());
    p.assert_invariants().await;
}

/// Moves a transfer as the handler whose output was then lost would have.
async fn lose_after(p: &Pipeline, id: &str, event: TransferEvent, error: Option<u16>) {
    let id = TransferId::parse(id).expect("a transfer id");
    let mut tx = p.db.pool.begin().await.unwrap();
    let stored = transfers::load_transfers(&mut tx, &[id], true)
        .await
        .unwrap();
    let from = stored[&id].state;
    let to = transition(Some(from), event).unwrap();
    let at = ferroloop_store::db_time(OffsetDateTime::now_utc());
    transfers::change_states(
        &mut tx,
        &[StateChange {
            transfer_id: id,
            from: Some(from),
            to,
            reason: None,
            at,
        }],
    )
    .await
    .unwrap();
    if event == TransferEvent::FulfilAccepted {
        let (fulfilment, _, _) = ilp_pair();
        transfers::insert_fulfilments(
            &mut tx,
            &[FulfilmentRow {
                transfer_id: id,
                ilp_fulfilment: Some(fulfilment),
                completed_at: at,
                requested_state: "COMMITTED",
            }],
        )
        .await
        .unwrap();
    }
    if let Some(code) = error {
        transfers::insert_errors(
            &mut tx,
            &[TransferErrorRow {
                transfer_id: id,
                state: to,
                error_code: code,
                error_description: "Payee rejected transaction".into(),
            }],
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn transfers_stuck_by_a_lost_message_are_still_finished() {
    let mut p = Pipeline::start_with(Handlers {
        prepare: true,
        position: true,
        timeout: true,
        ..Handlers::NONE
    })
    .await;
    let payer = p.onboard("payerfsp", "1000", "1000").await;
    let payee = p.onboard("payeefsp", "1000", "0").await;
    let bodies: Vec<_> = (0..3)
        .map(|_| p.prepare_body("payerfsp", "payeefsp", "10", Duration::from_secs(2)))
        .collect();
    let ids: Vec<String> = bodies
        .iter()
        .map(|b| b["transferId"].as_str().unwrap().to_owned())
        .collect();
    p.send_prepares(
        &bodies
            .iter()
            .map(|b| Pipeline::prepare_envelope(b, "payerfsp"))
            .collect::<Vec<_>>(),
    )
    .await;
    p.notifications
        .wait_for_count("reserved", 3, |e| {
            e.action() == "prepare" && ids.iter().any(|i| i == e.transfer_id())
        })
        .await;

    // The fulfil handler accepted a fulfilment but its commit message was lost; it accepted a
    // payee error but the abort was lost; the timeout handler marked one but the reversal was lost.
    lose_after(&p, &ids[0], TransferEvent::FulfilAccepted, None).await;
    lose_after(&p, &ids[1], TransferEvent::PayeeAbort, Some(5104)).await;
    lose_after(&p, &ids[2], TransferEvent::MarkTimeout, Some(3303)).await;

    p.notifications
        .wait_for("re-driven commit", |e| {
            e.transfer_id() == ids[0] && e.action() == "commit"
        })
        .await;
    p.notifications
        .wait_for("re-driven abort", |e| {
            e.transfer_id() == ids[1] && e.action() == "abort-validation"
        })
        .await;
    p.notifications
        .wait_for("re-driven expiry", |e| {
            e.transfer_id() == ids[2] && e.action() == "timeout-reserved"
        })
        .await;
    assert_eq!(p.state(&ids[0]).await, Some(TransferState::Committed));
    assert_eq!(p.state(&ids[1]).await, Some(TransferState::AbortedError));
    assert_eq!(p.state(&ids[2]).await, Some(TransferState::ExpiredReserved));
    assert_eq!(
        p.position(payer.position_account).await,
        dec("10"),
        "only the committed one stays"
    );
    assert_eq!(p.position(payee.position_account).await, dec("-10"));
    let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM transfer_timeout")
        .fetch_one(&p.db.pool)
        .await
        .unwrap();
    assert_eq!(open, 0, "nothing is left to finish");
    p.assert_invariants().await;
}
