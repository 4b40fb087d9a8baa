//! How long closing and settling a large window takes (docs/settlement.md, issue budget: a
//! window of 1,000,000 transfers settled in ≤ 10 s). The window's money is recorded through the
//! position handler's hook (`record_committed`) in commit batches of 500, as the handler would,
//! between 100 DFSPs (9,900 payer/payee pairs); netting reads the window's flow rows, never the
//! transfers, so the transfer rows themselves are not created here.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferroloop_core::currency::Currency;
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::AccountId;
use ferroloop_core::state::TransferState;
use ferroloop_store::participants::{self, accounts};
use ferroloop_store::settlement::models::{self, NewSettlementModel};
use ferroloop_store::settlement::{record_committed, settlements, windows};
use ferroloop_store::transfers::{StateChange, TransferKind, TransferRecord};
use ferroloop_testkit::TestDatabase;
use rust_decimal::Decimal;

const DFSPS: u32 = 100;
const TRANSFERS: u32 = 1_000_000;
const BATCH: u32 = 500;

async fn onboard(db: &TestDatabase) -> Vec<AccountId> {
    let mut tx = db.pool.begin().await.unwrap();
    let mut positions = Vec::new();
    let usd = Currency::parse("USD").unwrap();
    for i in 0..DFSPS {
        let id = participants::create_participant(&mut tx, &format!("scale{i}"), "test")
            .await
            .unwrap();
        positions.push(
            accounts::create_account(&mut tx, id, usd, "POSITION", true, "test")
                .await
                .unwrap(),
        );
        accounts::create_account(&mut tx, id, usd, "SETTLEMENT", true, "test")
            .await
            .unwrap();
    }
    models::create_settlement_model(
        &mut tx,
        &NewSettlementModel {
            name: "DEFERREDNET",
            settlement_granularity: "NET",
            settlement_interchange: "MULTILATERAL",
            settlement_delay: "DEFERRED",
            currency: None,
            require_liquidity_check: true,
            ledger_account_type: "POSITION",
            settlement_account_type: "SETTLEMENT",
            auto_position_reset: true,
            created_by: "test",
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    positions
}

/// One commit batch of the stream: transfer `n` goes from DFSP n % 100 to the next ones.
fn batch(
    positions: &[AccountId],
    first: u32,
) -> (Vec<StateChange>, HashMap<TransferId, TransferRecord>) {
    let at = ferroloop_store::db_time(time::OffsetDateTime::now_utc());
    let mut changes = Vec::new();
    let mut records = HashMap::new();
    for n in first..first + BATCH {
        let payer = positions[(n % DFSPS) as usize];
        let payee = positions[((n % DFSPS + 1 + n / DFSPS % (DFSPS - 1)) % DFSPS) as usize];
        let id = TransferId::parse(&format!("00000000-0000-4000-8000-{n:012x}")).expect("an id");
        records.insert(
            id,
            TransferRecord {
                transfer_id: id,
                kind: TransferKind::Transfer,
                payer_fsp: String::new(),
                payee_fsp: String::new(),
                payer_participant_id: None,
                payee_participant_id: None,
                payer_account_id: Some(payer),
                payee_account_id: Some(payee),
                amount: Some(Decimal::new(i64::from(n % 997 + 1), 2)),
                currency: Currency::parse("USD").unwrap().into(),
                ilp_condition: None,
                expiration: None,
                state: TransferState::Committed,
                state_changed_at: at,
            },
        );
        changes.push(StateChange {
            transfer_id: id,
            from: Some(TransferState::ReceivedFulfil),
            to: TransferState::Committed,
            reason: None,
            at,
        });
    }
    (changes, records)
}

#[tokio::test]
async fn a_window_of_a_million_transfers_closes_and_settles_within_ten_seconds() {
    let db = TestDatabase::new().await;
    let positions = onboard(&db).await;
    for first in (0..TRANSFERS).step_by(BATCH as usize) {
        let (changes, records) = batch(&positions, first);
        let mut tx = db.pool.begin().await.unwrap();
        record_committed(&mut tx, &changes, &records).await.unwrap();
        tx.commit().await.unwrap();
    }
    let now = || ferroloop_store::db_time(time::OffsetDateTime::now_utc());
    let started = Instant::now();
    let mut tx = db.pool.begin().await.unwrap();
    let closed = windows::close_window(&mut tx, 1, "scale", now())
        .await
        .unwrap();
    assert!(matches!(
        closed,
        windows::CloseOutcome::Closed { closed: 1, .. }
    ));
    let scope = settlements::model_scope(&mut tx, "DEFERREDNET")
        .await
        .unwrap()
        .unwrap();
    let created = settlements::create_settlement(&mut tx, &scope, &[1], "scale", now())
        .await
        .unwrap();
    let settlements::CreateOutcome::Created(id) = created else {
        panic!("{created:?}");
    };
    tx.commit().await.unwrap();
    let settlement = settlements::settlement(&mut db.pool.acquire().await.unwrap(), id, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(settlement.accounts.len(), DFSPS as usize);
    let total: Decimal = settlement.accounts.iter().map(|a| a.net_amount).sum();
    assert_eq!(total, Decimal::ZERO, "the net amounts sum to zero");
    use ferroloop_core::settlement::SettlementState as S;
    let mut counter = 0_u64;
    let mut new_id = move || {
        counter += 1;
        TransferId::parse(&format!("00000000-0000-7000-8000-{counter:012}")).unwrap()
    };
    for state in [
        S::PsTransfersRecorded,
        S::PsTransfersReserved,
        S::PsTransfersCommitted,
        S::Settled,
    ] {
        let updates: Vec<settlements::AccountUpdate> = settlement
            .accounts
            .iter()
            .map(|a| settlements::AccountUpdate {
                participant_id: a.participant_id,
                account_id: a.account_id,
                state,
                reason: None,
                external_reference: None,
            })
            .collect();
        let mut tx = db.pool.begin().await.unwrap();
        let outcome = settlements::update_accounts(&mut tx, id, &updates, &mut new_id, now())
            .await
            .unwrap();
        assert_eq!(outcome, settlements::UpdateOutcome::Done { changed: true });
        tx.commit().await.unwrap();
    }
    let elapsed = started.elapsed();
    eprintln!(
        "closed and settled a window of {TRANSFERS} transfers between {DFSPS} DFSPs in {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    let flows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM settlement_window_flow")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        flows,
        i64::from(DFSPS * (DFSPS - 1)),
        "one row per payer/payee pair"
    );
    for account in &positions {
        let value: Decimal =
            sqlx::query_scalar("SELECT value FROM participant_position WHERE account_id = ?")
                .bind(account)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        // The positions never moved (no transfers), so the settlement moved them by −net.
        let net = settlement
            .accounts
            .iter()
            .find(|a| a.account_id == *account)
            .unwrap()
            .net_amount;
        assert_eq!(value, -net);
    }
}
