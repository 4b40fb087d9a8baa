//! Position handler: reservations within limits, 4001 (liquidity) before 4200 (net debit cap),
//! and a batch of prepares that together exceed the cap reserves exactly those that fit, in
//! arrival order.

use std::time::Duration;

use ferroloop_core::state::TransferState;
use ferroloop_tests::{Handlers, Notifications, Pipeline, dec, error_code, payload};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn liquidity_is_checked_before_the_net_debit_cap() {
    let mut p = Pipeline::start().await;
    // Cover 50, cap 100: liquidity binds first.
    let short_cover = p.onboard("thinfsp", "100", "50").await;
    // Cover 1000, cap 30: the cap binds.
    let short_cap = p.onboard("cappedfsp", "30", "1000").await;
    p.onboard("payeefsp", "1000", "0").await;

    let fits = p.prepare_body("thinfsp", "payeefsp", "40", MINUTE);
    let no_liquidity = p.prepare_body("thinfsp", "payeefsp", "20", MINUTE);
    let over_cap = p.prepare_body("cappedfsp", "payeefsp", "40", MINUTE);
    let ids: Vec<String> = [&fits, &no_liquidity, &over_cap]
        .iter()
        .map(|b| b["transferId"].as_str().unwrap().to_owned())
        .collect();
    p.send_prepares(&[
        Pipeline::prepare_envelope(&fits, "thinfsp"),
        Pipeline::prepare_envelope(&no_liquidity, "thinfsp"),
        Pipeline::prepare_envelope(&over_cap, "cappedfsp"),
    ])
    .await;

    let reserved = p
        .notifications
        .wait_for("reserved", |e| e.transfer_id() == ids[0])
        .await;
    assert!(reserved.metadata.event.state.is_success());
    let liquidity = p
        .notifications
        .wait_for("4001", |e| e.transfer_id() == ids[1])
        .await;
    assert_eq!(error_code(&liquidity).as_deref(), Some("4001"));
    assert_eq!(
        payload(&liquidity)["errorInformation"]["errorDescription"],
        "Payer FSP insufficient liquidity"
    );
    assert_eq!(liquidity.to, "thinfsp");
    let cap = p
        .notifications
        .wait_for("4200", |e| e.transfer_id() == ids[2])
        .await;
    assert_eq!(error_code(&cap).as_deref(), Some("4200"));
    assert_eq!(
        payload(&cap)["errorInformation"]["errorDescription"],
        "Payer limit error"
    );
    assert_eq!(cap.to, "cappedfsp");

    assert_eq!(p.state(&ids[0]).await, Some(TransferState::Reserved));
    assert_eq!(p.state(&ids[1]).await, Some(TransferState::AbortedRejected));
    assert_eq!(p.state(&ids[2]).await, Some(TransferState::AbortedRejected));
    assert_eq!(p.position(short_cover.position_account).await, dec("40"));
    assert_eq!(p.position(short_cap.position_account).await, dec("0"));
    let recorded: Vec<(String, u16)> = sqlx::query_as("SELECT transfer_id, error_code FROM transfer_error WHERE transfer_id IN (?, ?) ORDER BY error_code")
        .bind(&ids[1])
        .bind(&ids[2])
        .fetch_all(&p.db.pool)
        .await
        .unwrap();
    assert_eq!(
        recorded,
        vec![(ids[1].clone(), 4001), (ids[2].clone(), 4200)]
    );
    p.assert_invariants().await;
}

#[tokio::test]
async fn a_batch_over_the_cap_reserves_exactly_what_fits_in_arrival_order() {
    let mut p = Pipeline::start_with(Handlers {
        prepare: true,
        ..Handlers::NONE
    })
    .await;
    let payer = p.onboard("payerfsp", "100", "1000").await;
    p.onboard("payeefsp", "1000", "0").await;
    let positions =
        Notifications::collect(&p.broker, &p.broker.topics().position, p.shutdown.clone()).await;
    let amounts = ["30", "30", "30", "30", "5", "5", "50", "1"];
    let expected = [true, true, true, false, true, true, false, false];
    let bodies: Vec<_> = amounts
        .iter()
        .map(|a| p.prepare_body("payerfsp", "payeefsp", a, MINUTE))
        .collect();
    let ids: Vec<String> = bodies
        .iter()
        .map(|b| b["transferId"].as_str().unwrap().to_owned())
        .collect();
    let envelopes: Vec<_> = bodies
        .iter()
        .map(|b| Pipeline::prepare_envelope(b, "payerfsp"))
        .collect();
    p.send_prepares(&envelopes).await;
    // All wait on the position topic; the position handler then takes them as one batch.
    positions
        .wait_for_count("all prepares", ids.len(), |e| {
            ids.iter().any(|id| id == e.transfer_id())
        })
        .await;
    let _position = p
        .start_group(
            Handlers {
                position: true,
                ..Handlers::NONE
            },
            "late-",
        )
        .await;
    for (id, reserved) in ids.iter().zip(expected) {
        let outcome = p
            .notifications
            .wait_for("outcome", |e| e.transfer_id() == id)
            .await;
        if reserved {
            assert!(
                outcome.metadata.event.state.is_success(),
                "{id} should be reserved"
            );
            assert_eq!(p.state(id).await, Some(TransferState::Reserved));
        } else {
            assert_eq!(
                error_code(&outcome).as_deref(),
                Some("4200"),
                "{id} should hit the cap"
            );
            assert_eq!(p.state(id).await, Some(TransferState::AbortedRejected));
        }
    }
    assert_eq!(
        p.position(payer.position_account).await,
        dec("100"),
        "filled to the cap, not beyond"
    );
    let highest: rust_decimal::Decimal =
        sqlx::query_scalar("SELECT MAX(value_after) FROM position_change WHERE account_id = ?")
            .bind(payer.position_account)
            .fetch_one(&p.db.pool)
            .await
            .unwrap();
    assert!(
        highest <= dec("100"),
        "the position never went above the cap ({highest})"
    );
    p.assert_invariants().await;
}
