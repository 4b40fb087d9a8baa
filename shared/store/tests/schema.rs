//! The schema against a fresh MariaDB database: migrations apply, the unique keys the invariants
//! rest on hold, and the invariant queries catch what they must.

use ferroloop_core::currency::Currency;
use ferroloop_core::hash::RequestHash;
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use ferroloop_core::state::TransferState;
use ferroloop_store::invariants::{
    StateJournalViolation, assert_storage_invariants, i1_violations, i2_violations, i4_violations,
};
use ferroloop_store::participants::{self, accounts};
use ferroloop_store::transfers::funds::{self, FundsAccount, FundsInOutcome};
use ferroloop_store::transfers::{
    self, DuplicateCheck, NewTransfer, StateChange, TransferCurrency, TransferKind, TransferRecord,
};
use ferroloop_testkit::TestDatabase;
use rust_decimal::Decimal;
use time::PrimitiveDateTime;

fn now() -> PrimitiveDateTime {
    let now = time::OffsetDateTime::now_utc();
    PrimitiveDateTime::new(now.date(), now.time())
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

struct Dfsp {
    participant_id: ParticipantId,
    position: AccountId,
    settlement: AccountId,
}

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

async fn onboard(db: &TestDatabase, name: &str) -> Dfsp {
    let mut conn = db.pool.acquire().await.unwrap();
    let participant_id = participants::create_participant(&mut conn, name, "test")
        .await
        .unwrap();
    let position =
        accounts::create_account(&mut conn, participant_id, usd(), "POSITION", true, "test")
            .await
            .unwrap();
    let settlement =
        accounts::create_account(&mut conn, participant_id, usd(), "SETTLEMENT", true, "test")
            .await
            .unwrap();
    Dfsp {
        participant_id,
        position,
        settlement,
    }
}

/// A test's transfer id, typed.
fn tid(id: &str) -> TransferId {
    TransferId::parse(id).expect("a transfer id")
}

fn transfer(id: &str, payer: &Dfsp, payee: &Dfsp, state: TransferState) -> NewTransfer {
    NewTransfer {
        record: TransferRecord {
            transfer_id: tid(id),
            kind: TransferKind::Transfer,
            payer_fsp: "payer".into(),
            payee_fsp: "payee".into(),
            payer_participant_id: Some(payer.participant_id),
            payee_participant_id: Some(payee.participant_id),
            payer_account_id: Some(payer.position),
            payee_account_id: Some(payee.position),
            amount: Some(dec("10")),
            currency: Currency::parse("USD").unwrap().into(),
            ilp_condition: Some("GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM".into()),
            expiration: Some(now()),
            state,
            state_changed_at: now(),
        },
        reason: None,
    }
}

/// A transfer whose duplicate check is claimed, stored in RECEIVED_PREPARE with its first
/// journal row.
async fn prepared(db: &TestDatabase, id: &str, event: &str, payer: &Dfsp, payee: &Dfsp) {
    claim(db, id, event).await;
    let mut conn = db.pool.acquire().await.unwrap();
    transfers::insert_transfers(
        &mut conn,
        &[transfer(id, payer, payee, TransferState::ReceivedPrepare)],
    )
    .await
    .unwrap();
}

async fn claim(db: &TestDatabase, id: &str, event: &str) {
    let mut conn = db.pool.acquire().await.unwrap();
    transfers::claim_duplicate_checks(
        &mut conn,
        DuplicateCheck::Prepare,
        &[(tid(id), [7; 32], event)],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn fresh_schema_holds_every_invariant() {
    let db = TestDatabase::new().await;
    assert_storage_invariants(&db.pool).await.unwrap();
    let states: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM transfer_state")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(states as usize, TransferState::ALL.len());
    // Every state the core knows is seeded with its API enumeration and finality.
    for state in TransferState::ALL {
        let (enumeration, is_final): (String, bool) =
            sqlx::query_as("SELECT enumeration, is_final FROM transfer_state WHERE state = ?")
                .bind(state.as_str())
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(enumeration, state.api_state().as_str(), "{state}");
        assert_eq!(is_final, state.is_final(), "{state}");
    }
}

/// The state columns of `transfer` and of its journal take every state the core knows and
/// refuse any other: their CHECK lists (which replaced foreign keys to `transfer_state`) agree
/// with the core and the reference table.
#[tokio::test]
async fn state_columns_take_exactly_the_known_states() {
    let db = TestDatabase::new().await;
    let payer = onboard(&db, "payer").await;
    let payee = onboard(&db, "payee").await;
    let id = "4c0e7a52-9d1b-4f3e-8a6d-2b7c9e1f0a35";
    prepared(&db, id, "e1", &payer, &payee).await;
    let set_state = "UPDATE transfer SET state = ? WHERE transfer_id = ?";
    let journal = "INSERT INTO transfer_state_change (transfer_id, from_state, state, created_at) \
                   VALUES (?, ?, ?, NOW(3))";
    // The journal row insert_transfers wrote goes, so that each state can be written below.
    sqlx::query("DELETE FROM transfer_state_change WHERE transfer_id = ?")
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap();
    for state in TransferState::ALL {
        let state = state.as_str();
        let updated = sqlx::query(set_state)
            .bind(state)
            .bind(id)
            .execute(&db.pool)
            .await;
        assert_eq!(updated.unwrap().rows_affected(), 1, "{state}");
        sqlx::query(journal)
            .bind(id)
            .bind(state)
            .bind(state)
            .execute(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{state}: {e}"));
    }
    // A journal row for another transfer, whose unique key holds none of those states yet.
    let other = "5d1f8b63-ae2c-4a4f-9b7e-3c8daf2a1b46";
    prepared(&db, other, "e2", &payer, &payee).await;
    let refused = |result: Result<sqlx::mysql::MySqlQueryResult, sqlx::Error>, check: &str| {
        let error = result.expect_err("an unknown state must be refused");
        assert!(error.to_string().contains(check), "{check}: {error}");
    };
    refused(
        sqlx::query(set_state)
            .bind("SETTLED")
            .bind(id)
            .execute(&db.pool)
            .await,
        "ck_transfer_state",
    );
    for (from, to, check) in [
        (None, "SETTLED", "ck_state_change_state"),
        (Some("SETTLED"), "RESERVED", "ck_state_change_from_state"),
    ] {
        let inserted = sqlx::query(journal)
            .bind(other)
            .bind(from)
            .bind(to)
            .execute(&db.pool)
            .await;
        refused(inserted, check);
    }
}

#[tokio::test]
async fn a_transfer_id_exists_once_and_enters_each_state_once() {
    let db = TestDatabase::new().await;
    let payer = onboard(&db, "payer").await;
    let payee = onboard(&db, "payee").await;
    let id = "b51ec534-ee48-4575-b6a9-ead2955b8069";
    prepared(&db, id, "e1", &payer, &payee).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let again = transfers::insert_transfers(
        &mut conn,
        &[transfer(id, &payer, &payee, TransferState::ReceivedPrepare)],
    )
    .await;
    assert!(again.is_err(), "duplicate transfer insert must fail");

    let reserve = StateChange {
        transfer_id: tid(id),
        from: Some(TransferState::ReceivedPrepare),
        to: TransferState::Reserved,
        reason: None,
        at: now(),
    };
    transfers::change_states(&mut conn, std::slice::from_ref(&reserve))
        .await
        .unwrap();
    let twice = transfers::change_states(&mut conn, &[reserve]).await;
    assert!(twice.is_err(), "entering RESERVED twice must fail");
    let loaded = transfers::load_transfers(&mut conn, &[tid(id)], false)
        .await
        .unwrap();
    assert_eq!(loaded[id].state, TransferState::Reserved);
}

/// An INVALID prepare keeps the currency text it named, listed or not (or none), and its row
/// reads back as it was written: a GET or a replay of it never fails on the column.
#[tokio::test]
async fn an_invalid_prepares_unlisted_currency_is_kept_and_read_back() {
    let db = TestDatabase::new().await;
    let payer = onboard(&db, "payer").await;
    let payee = onboard(&db, "payee").await;
    let ids = [
        "6f0b7a2e-2c1d-4e5f-8a9b-0c1d2e3f4a5b",
        "6f0b7a2e-2c1d-4e5f-8a9b-0c1d2e3f4a5c",
    ];
    let mut stored = Vec::new();
    for (id, text) in ids.into_iter().zip(["ABC", ""]) {
        claim(&db, id, "e1").await;
        let mut invalid = transfer(id, &payer, &payee, TransferState::Invalid);
        invalid.record.currency = TransferCurrency::from_column(text.to_owned());
        assert_eq!(invalid.record.currency.listed(), None, "{text:?}");
        stored.push(invalid);
    }
    let mut conn = db.pool.acquire().await.unwrap();
    transfers::insert_transfers(&mut conn, &stored)
        .await
        .unwrap();
    let loaded = transfers::load_transfers(&mut conn, &ids.map(tid), false)
        .await
        .unwrap();
    for new in &stored {
        let read = &loaded[&new.record.transfer_id];
        assert_eq!(read.currency, new.record.currency);
        assert_eq!(read.state, TransferState::Invalid);
    }
    assert_eq!(loaded[ids[0]].currency.as_str(), "ABC");
    assert_eq!(
        TransferCurrency::from_column("USD".to_owned()).listed(),
        Some(usd())
    );
}

#[tokio::test]
async fn a_position_journal_entry_cannot_be_applied_twice() {
    let db = TestDatabase::new().await;
    let payer = onboard(&db, "payer").await;
    let payee = onboard(&db, "payee").await;
    let id = "0191e0a4-8f6a-7c3e-9b2d-5a4c3b2a1908";
    prepared(&db, id, "e1", &payer, &payee).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let change = ferroloop_store::positions::PositionChange {
        account_id: payer.position,
        transfer_id: tid(id),
        phase: ferroloop_store::positions::PositionPhase::Reserve,
        change: dec("10"),
        value_after: dec("10"),
        reserved_after: Decimal::ZERO,
        at: now(),
    };
    ferroloop_store::positions::apply_position_changes(&mut conn, std::slice::from_ref(&change))
        .await
        .unwrap();
    let twice = ferroloop_store::positions::apply_position_changes(&mut conn, &[change]).await;
    assert!(
        twice.is_err(),
        "a second RESERVE entry for the same transfer and account must fail"
    );
}

#[tokio::test]
async fn racing_first_requests_claim_one_duplicate_record() {
    let db = TestDatabase::new().await;
    let id = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let claims = (0..8).map(|n| {
        let pool = db.pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            let event = format!("event-{n}");
            let records = transfers::claim_duplicate_checks(
                &mut tx,
                DuplicateCheck::Prepare,
                &[(tid(id), [n as u8; 32], event.as_str())],
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
            records[id].source_event_id == event
        }
    });
    let owners = futures::future::join_all(claims)
        .await
        .into_iter()
        .filter(|won| *won)
        .count();
    assert_eq!(owners, 1, "exactly one racing request owns the id");
}

#[tokio::test]
async fn funds_in_walks_the_state_machine_and_moves_both_accounts() {
    let db = TestDatabase::new().await;
    let dfsp = onboard(&db, "dfsp1").await;
    let mut conn = db.pool.acquire().await.unwrap();
    let hub_id = participants::hub_participant_id(&mut conn).await.unwrap();
    let hub_account =
        accounts::create_account(&mut conn, hub_id, usd(), "HUB_RECONCILIATION", true, "test")
            .await
            .unwrap();
    let id = TransferId::parse("c3b1a2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d").unwrap();
    let hub = FundsAccount {
        account_id: hub_account,
        participant_id: hub_id,
        participant_name: "Hub",
    };
    let settlement = FundsAccount {
        account_id: dfsp.settlement,
        participant_id: dfsp.participant_id,
        participant_name: "dfsp1",
    };
    let mut tx = db.pool.begin().await.unwrap();
    let outcome = funds::record_funds_in(
        &mut tx,
        id,
        RequestHash::from_bytes([1; 32]),
        hub,
        settlement,
        usd(),
        dec("2000"),
        now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(outcome, FundsInOutcome::Recorded);
    let mut tx = db.pool.begin().await.unwrap();
    let again = funds::record_funds_in(
        &mut tx,
        id,
        RequestHash::from_bytes([1; 32]),
        hub,
        settlement,
        usd(),
        dec("2000"),
        now(),
    )
    .await
    .unwrap();
    let modified = funds::record_funds_in(
        &mut tx,
        id,
        RequestHash::from_bytes([2; 32]),
        hub,
        settlement,
        usd(),
        dec("1"),
        now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(again, FundsInOutcome::Duplicate);
    assert_eq!(modified, FundsInOutcome::ModifiedRequest);

    let settlement: Decimal =
        sqlx::query_scalar("SELECT value FROM participant_position WHERE account_id = ?")
            .bind(dfsp.settlement)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let hub: Decimal =
        sqlx::query_scalar("SELECT value FROM participant_position WHERE account_id = ?")
            .bind(hub_account)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(settlement, dec("-2000"));
    assert_eq!(hub, dec("2000"));
    assert_storage_invariants(&db.pool).await.unwrap();
}

#[tokio::test]
async fn invariant_queries_catch_broken_positions_journals_and_transitions() {
    let db = TestDatabase::new().await;
    let payer = onboard(&db, "payer").await;
    let payee = onboard(&db, "payee").await;

    // I1: a position that moved without a journal entry.
    sqlx::query("UPDATE participant_position SET value = 5 WHERE account_id = ?")
        .bind(payer.position)
        .execute(&db.pool)
        .await
        .unwrap();
    let i1 = i1_violations(&db.pool).await.unwrap();
    assert_eq!(i1.len(), 1);
    assert_eq!(i1[0].account_id, payer.position);

    // I2: a transfer recorded as committed without any journal entry.
    let id = "9f1c2b3a-4d5e-4f60-8a7b-1c2d3e4f5a6b";
    prepared(&db, id, "e1", &payer, &payee).await;
    sqlx::query("UPDATE transfer SET state = 'COMMITTED' WHERE transfer_id = ?")
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap();
    let i2 = i2_violations(&db.pool).await.unwrap();
    assert_eq!(i2.len(), 1);
    assert_eq!(i2[0].transfer_id, tid(id));

    // I4: the current state disagrees with the journal's newest row …
    let mismatched = |i4: &[StateJournalViolation]| {
        i4.iter().any(|v| matches!(v, StateJournalViolation::CurrentStateMismatch { transfer_id, current, .. } if *transfer_id == tid(id) && current == "COMMITTED"))
    };
    let i4 = i4_violations(&db.pool).await.unwrap();
    assert!(mismatched(&i4), "{i4:?}");

    // … until a newer journal row agrees with it, by an illegal edge.
    sqlx::query("INSERT INTO transfer_state_change (transfer_id, from_state, state, created_at) VALUES (?, 'RECEIVED_PREPARE', 'COMMITTED', NOW(3))")
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap();
    let i4 = i4_violations(&db.pool).await.unwrap();
    assert!(
        i4.iter().any(|v| matches!(v, StateJournalViolation::IllegalTransition { to, .. } if to == "COMMITTED")),
        "{i4:?}"
    );
    assert!(!mismatched(&i4), "{i4:?}");
}

/// A database that applied a migration before its comments were reworded still migrates: the
/// recorded checksum of exactly the released text is accepted; any other checksum is refused.
#[tokio::test]
async fn a_reworded_migration_comment_does_not_block_upgrades() {
    let db = TestDatabase::new().await;
    let version = 20261202000001_i64;
    let released = "1085f0e2bab46846cde07df64ad80f866b1268c4d4e9a7c9d31b583ca1a65fefe01ed0ffe272f36239b430e38611f7d0";
    let set_checksum = |hex: &'static str| {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        sqlx::query("UPDATE _sqlx_migrations SET checksum = ? WHERE version = ?")
            .bind(bytes)
            .bind(version)
    };
    let mut args = db.args();
    args.database_migrate = true;

    set_checksum(released).execute(&db.pool).await.unwrap();
    ferroloop_store::connect(&args)
        .await
        .expect("upgrade from the released text");
    let current = ferroloop_store::MIGRATOR
        .iter()
        .find(|m| m.version == version)
        .unwrap();
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT checksum FROM _sqlx_migrations WHERE version = ?")
            .bind(version)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(stored, current.checksum.as_ref());

    set_checksum("00").execute(&db.pool).await.unwrap();
    assert!(
        ferroloop_store::connect(&args).await.is_err(),
        "a migration whose text really changed is refused"
    );
}
