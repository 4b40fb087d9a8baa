//! Funds-out racing reservations: a DFSP's liquidity cover backs its net debit position, so a
//! funds-out (through the admin API) may take only what no reservation holds, whichever of the
//! two commits first. The real prepare and position handlers reserve while funds-out requests
//! arrive; afterwards the position journal, replayed in commit order, shows the position never
//! above the cover.

use std::collections::HashSet;
use std::time::Duration;

use ferroloop_core::ledger_id::AccountId;
use ferroloop_tests::{Handlers, Pipeline, dec};
use rust_decimal::Decimal;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const FUNDS_IN: &str = "1000";
/// Reserved (and kept) before the funds-outs start: an open net debit position.
const FIRST_PREPARES: usize = 50;
const RACING_PREPARES: usize = 100;
const PREPARE_AMOUNT: &str = "10";
const FUNDS_OUTS: usize = 20;
const FUNDS_OUT_AMOUNT: &str = "50";

/// Sends prepares of `PREPARE_AMOUNT` and waits until every one is decided.
async fn prepares(p: &Pipeline, count: usize) -> HashSet<String> {
    let bodies: Vec<_> = (0..count)
        .map(|_| {
            p.prepare_body(
                "payerfsp",
                "payeefsp",
                PREPARE_AMOUNT,
                Duration::from_secs(300),
            )
        })
        .collect();
    let envelopes: Vec<_> = bodies
        .iter()
        .map(|b| Pipeline::prepare_envelope(b, "payerfsp"))
        .collect();
    p.send_prepares(&envelopes).await;
    let ids: HashSet<String> = bodies
        .iter()
        .map(|b| b["transferId"].as_str().unwrap().to_owned())
        .collect();
    p.notifications
        .wait_until("every prepare decided", |all| {
            let decided: HashSet<&str> = all
                .iter()
                .map(|e| e.transfer_id())
                .filter(|id| ids.contains(*id))
                .collect();
            decided.len() == count
        })
        .await;
    ids
}

/// A funds-out reserve through the admin API; its transfer id.
async fn funds_out(http: &reqwest::Client, admin: &str, settlement: AccountId) -> String {
    let transfer_id = uuid::Uuid::now_v7().to_string();
    let status = http
        .post(format!(
            "{admin}/participants/payerfsp/accounts/{settlement}"
        ))
        .json(
            &json!({"transferId": transfer_id, "externalReference": "race",
            "action": "recordFundsOutPrepareReserve", "reason": "withdrawal",
            "amount": {"amount": FUNDS_OUT_AMOUNT, "currency": "USD"}}),
        )
        .send()
        .await
        .expect("admin API reachable")
        .status();
    assert_eq!(status, 202);
    transfer_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn funds_out_racing_reservations_keeps_the_position_within_the_cover() {
    let mut p = Pipeline::start_with(Handlers {
        prepare: true,
        position: true,
        ..Handlers::NONE
    })
    .await;
    let payer = p.onboard("payerfsp", "100000", FUNDS_IN).await;
    p.onboard("payeefsp", "100000", "0").await;
    let shutdown = CancellationToken::new();
    let admin = ferroloop_admin_api::build_app(
        ferroloop_admin_api::Config::for_database(p.db.args()),
        shutdown.clone(),
    )
    .await
    .expect("admin API");
    let admin = format!("http://{}", admin.addr);
    let http = ferroloop_testkit::http_client();

    prepares(&p, FIRST_PREPARES).await;
    let open = p.position(payer.position_account).await;
    assert_eq!(open, dec("500"), "the first prepares are all reserved");

    let racing_prepares = prepares(&p, RACING_PREPARES);
    let racing_funds_outs = futures::future::join_all(
        (0..FUNDS_OUTS).map(|_| funds_out(&http, &admin, payer.settlement_account)),
    );
    let (_, funds_out_ids) = tokio::join!(racing_prepares, racing_funds_outs);

    // Replay both accounts' journal in commit order (entries are written under both rows'
    // locks, so their ids follow the order in which the transactions serialised).
    let entries: Vec<(u64, AccountId, Decimal, Decimal)> = sqlx::query_as(
        "SELECT position_change_id, account_id, value_after, reserved_after FROM position_change
         WHERE account_id IN (?, ?) ORDER BY position_change_id",
    )
    .bind(payer.position_account)
    .bind(payer.settlement_account)
    .fetch_all(&p.db.pool)
    .await
    .unwrap();
    let (mut position, mut settlement) = (Decimal::ZERO, Decimal::ZERO);
    for (id, account, value_after, reserved_after) in &entries {
        if *account == payer.position_account {
            position = value_after + reserved_after;
        } else {
            settlement = *value_after;
        }
        assert!(
            position <= -settlement,
            "after journal entry {id}: position {position} above the liquidity cover {}",
            -settlement
        );
    }
    // Demand exceeded the free liquidity, so some funds-outs were refused; what went, together
    // with the reservations, never took more than the funds-in.
    let mut withdrawn = Decimal::ZERO;
    let mut refused = 0;
    for id in &funds_out_ids {
        match p.state(id).await.map(|s| s.as_str()) {
            Some("RESERVED") => withdrawn += dec(FUNDS_OUT_AMOUNT),
            Some("ABORTED_REJECTED") => refused += 1,
            other => panic!("funds-out {id} is {other:?}"),
        }
    }
    let reserved = p.position(payer.position_account).await;
    assert!(refused > 0, "withdrawn {withdrawn}, none refused");
    assert!(
        reserved + withdrawn <= dec(FUNDS_IN),
        "reserved {reserved} + withdrawn {withdrawn} > funds-in {FUNDS_IN}"
    );
    assert!(reserved >= open, "the open position stayed reserved");
    p.assert_invariants().await;
    shutdown.cancel();
}
