//! 1,000 prepares racing for one payer whose net debit cap admits exactly K of them: exactly K
//! are reserved and the position never goes above the cap — with two position handlers working
//! on the same messages at once (as a zombie consumer and its successor would).

use std::time::Duration;

use ferroloop_core::state::TransferState;
use ferroloop_tests::{Handlers, Pipeline, dec};
use rust_decimal::Decimal;

const TRANSFERS: usize = 1_000;
const ADMITTED: usize = 137;

#[tokio::test]
async fn a_thousand_racing_prepares_reserve_exactly_what_the_cap_admits() {
    let mut p = Pipeline::start_with(Handlers {
        prepare: true,
        ..Handlers::NONE
    })
    .await;
    let payer = p.onboard("payerfsp", &ADMITTED.to_string(), "100000").await;
    p.onboard("payeefsp", "1000", "0").await;
    let _first = p
        .start_group(
            Handlers {
                position: true,
                ..Handlers::NONE
            },
            "pos1-",
        )
        .await;
    let _second = p
        .start_group(
            Handlers {
                position: true,
                ..Handlers::NONE
            },
            "pos2-",
        )
        .await;

    let bodies: Vec<_> = (0..TRANSFERS)
        .map(|_| p.prepare_body("payerfsp", "payeefsp", "1", Duration::from_secs(120)))
        .collect();
    let envelopes: Vec<_> = bodies
        .iter()
        .map(|b| Pipeline::prepare_envelope(b, "payerfsp"))
        .collect();
    p.send_prepares(&envelopes).await;
    // Every transfer gets its outcome (the second handler's replays may add copies).
    let ids: std::collections::HashSet<String> = bodies
        .iter()
        .map(|b| b["transferId"].as_str().unwrap().to_owned())
        .collect();
    p.notifications
        .wait_until("every transfer decided", |all| {
            let decided: std::collections::HashSet<&str> = all
                .iter()
                .map(|e| e.transfer_id())
                .filter(|id| ids.contains(*id))
                .collect();
            decided.len() == TRANSFERS
        })
        .await;

    let counts: Vec<(String, i64)> = sqlx::query_as("SELECT state, COUNT(*) FROM transfer WHERE kind = 'TRANSFER' GROUP BY state ORDER BY state")
        .fetch_all(&p.db.pool)
        .await
        .unwrap();
    assert_eq!(
        counts,
        vec![
            (
                TransferState::AbortedRejected.as_str().to_owned(),
                (TRANSFERS - ADMITTED) as i64
            ),
            (TransferState::Reserved.as_str().to_owned(), ADMITTED as i64),
        ]
    );
    assert_eq!(
        p.position(payer.position_account).await,
        dec(&ADMITTED.to_string())
    );
    let highest: Decimal =
        sqlx::query_scalar("SELECT MAX(value_after) FROM position_change WHERE account_id = ?")
            .bind(payer.position_account)
            .fetch_one(&p.db.pool)
            .await
            .unwrap();
    assert!(
        highest <= dec(&ADMITTED.to_string()),
        "position reached {highest}"
    );
    p.assert_invariants().await;
}
