//! Re-drives back off and their copies are suppressed (docs/delivery.md#the-timeout-handler-re-drives): during a
//! 30-second position-handler stall under load, the transfers waiting for their commit collect
//! few re-drive messages, and the payer and payee get at most a handful of extra final
//! callbacks.
//!
//! The figure measured: extra final callbacks = (commit notifications produced by the position
//! handler) − (transfers), over the transfers; the contract is < 1 %. The test takes about 45 s:
//! the 30-second stall is the scenario itself, everything else waits for events.

use std::time::Duration;

use ferroloop_core::state::TransferState;
use ferroloop_messaging::Envelope;
use ferroloop_tests::{Handlers, Pipeline, WAIT, ilp_pair};
use serde_json::json;

const TRANSFERS: usize = 400;
const STALL: Duration = Duration::from_secs(30);
/// Long enough to reserve and fulfil every transfer first, short enough to pass mid-stall.
const EXPIRES_IN: Duration = Duration::from_secs(15);

async fn wait_all(p: &Pipeline, ids: &[String], state: TransferState) {
    for id in ids {
        let deadline = tokio::time::Instant::now() + WAIT * 2;
        while p.state(id).await != Some(state) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} never reached {state}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_thirty_second_position_stall_adds_under_one_percent_extra_final_callbacks() {
    let mut p = Pipeline::start_with(Handlers {
        prepare: true,
        fulfil: true,
        ..Handlers::NONE
    })
    .await;
    p.onboard("payerfsp", "1000000", "1000000").await;
    p.onboard("payeefsp", "1000000", "0").await;
    let position = p
        .start_group(
            Handlers {
                position: true,
                ..Handlers::NONE
            },
            "redrive-",
        )
        .await;
    let timeout = p
        .start_group(
            Handlers {
                timeout: true,
                ..Handlers::NONE
            },
            "redrive-",
        )
        .await;

    // Load: TRANSFERS reserved transfers, expiring during the stall (a transfer waiting for
    // its commit is re-driven once its timeout row is due, i.e. from its expiration on).
    let bodies: Vec<_> = (0..TRANSFERS)
        .map(|_| p.prepare_body("payerfsp", "payeefsp", "1", EXPIRES_IN))
        .collect();
    let ids: Vec<String> = bodies
        .iter()
        .map(|b| b["transferId"].as_str().unwrap().to_owned())
        .collect();
    let prepares: Vec<Envelope> = bodies
        .iter()
        .map(|b| Pipeline::prepare_envelope(b, "payerfsp"))
        .collect();
    p.send_prepares(&prepares).await;
    wait_all(&p, &ids, TransferState::Reserved).await;

    // The position handler stalls; every payee fulfils meanwhile.
    position.stop().await;
    let (fulfilment, _, _) = ilp_pair();
    let fulfils: Vec<Envelope> = ids
        .iter()
        .map(|id| {
            Pipeline::fulfil_envelope(
                id,
                &json!({"transferState": "COMMITTED", "fulfilment": fulfilment}),
                "payeefsp",
                Some("payerfsp"),
            )
        })
        .collect();
    p.send_fulfils(&fulfils).await;
    wait_all(&p, &ids, TransferState::ReceivedFulfil).await;
    tokio::time::sleep(STALL).await; // the stall itself, not a synchronisation
    let redrives_queued = p.notifications.all().len();

    // It resumes from its committed offsets and works through the backlog.
    let _position = p
        .start_group(
            Handlers {
                position: true,
                ..Handlers::NONE
            },
            "redrive-",
        )
        .await;
    wait_all(&p, &ids, TransferState::Committed).await;
    // No scan produces anything more once all are final; stop it, then push a marker through
    // the position topic behind every re-drive copy it produced.
    timeout.stop().await;
    let marker = p.prepare_body("payerfsp", "payeefsp", "1", Duration::from_secs(600));
    let marker_id = marker["transferId"].as_str().unwrap().to_owned();
    p.send_prepares(&[Pipeline::prepare_envelope(&marker, "payerfsp")])
        .await;
    p.notifications
        .wait_for("marker", |e| e.transfer_id() == marker_id)
        .await;

    let commits = p
        .notifications
        .all()
        .iter()
        .filter(|e| e.action() == "commit" && ids.iter().any(|id| id == e.transfer_id()))
        .count();
    let extra = commits.saturating_sub(TRANSFERS);
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| {
            !p.notifications
                .for_transfer(id)
                .iter()
                .any(|e| e.action() == "commit")
        })
        .collect();
    assert!(missing.is_empty(), "{} never told", missing.len());
    let share = extra as f64 / TRANSFERS as f64;
    println!(
        "{TRANSFERS} transfers, {commits} final callbacks, {extra} extra ({:.2} %), \
         {redrives_queued} notifications before the resume",
        share * 100.0
    );
    assert!(
        share < 0.01,
        "{extra} extra final callbacks for {TRANSFERS} transfers ({:.1} %)",
        share * 100.0
    );
    p.assert_invariants().await;
}
