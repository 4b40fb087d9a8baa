//! Onboarding and liquidity writes of the hub operator (admin API; also used by tests and the
//! load-test tool through the admin API). Every change bumps the admin change epoch in the same
//! transaction so the handlers' caches see it with their next batch.

use rust_decimal::Decimal;
use sqlx::{MySqlConnection, Row};
use time::PrimitiveDateTime;

use crate::participants::bump_admin_epoch;
use crate::positions::{PositionChange, PositionPhase, apply_position_changes, lock_positions};
use crate::transfers::{
    DuplicateCheck, ExtensionPhase, ExtensionRow, NewTransfer, StateChange, TransferKind,
    TransferRecord, change_states, claim_duplicate_checks, insert_extensions, insert_transfers,
    load_transfers,
};
use crate::{Result, StoreError};
use ferroloop_core::funds_out::{FundsOutRefusal, decide_funds_out};
use ferroloop_core::hash::RequestHash;
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use ferroloop_core::position::AccountPosition;
use ferroloop_core::replay::{Fingerprint, Progress, Replay, classify};
use ferroloop_core::state::{TransferEvent, TransferState, transition};

/// The hub participant's id (seeded by the first migration).
pub async fn hub_participant_id(conn: &mut MySqlConnection) -> Result<u32> {
    Ok(
        sqlx::query_scalar::<_, u32>("SELECT participant_id FROM participant WHERE is_hub LIMIT 1")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Starts an admin change: bumps the admin change epoch first, which takes the epoch row's lock
/// until the transaction ends. Admin transactions that start with it therefore run one at a
/// time, so their check-then-write sequences (does the participant, account or limit exist?)
/// cannot race; handlers only read the epoch (without locking), so they never wait on it.
pub async fn begin_admin_change(conn: &mut MySqlConnection) -> Result<()> {
    bump_admin_epoch(conn).await
}

/// MySQL's "duplicate entry" error (a unique key refused the row).
const ER_DUP_ENTRY: u16 = 1062;

/// True when the error is a unique-key violation.
pub fn is_duplicate_key(error: &StoreError) -> bool {
    match error {
        StoreError::Database(sqlx::Error::Database(db)) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|e| e.number() == ER_DUP_ENTRY),
        _ => false,
    }
}

/// Gives the hub participant (found by `is_hub`) the configured name (`HUB_NAME`). Returns
/// whether it was renamed; a rename bumps the admin change epoch.
pub async fn rename_hub(conn: &mut MySqlConnection, name: &str) -> Result<bool> {
    let renamed = sqlx::query("UPDATE participant SET name = ? WHERE is_hub AND name <> ?")
        .bind(name)
        .bind(name)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if renamed > 0 {
        bump_admin_epoch(conn).await?;
    }
    Ok(renamed > 0)
}

/// Creates a participant (active) with central-ledger's `isProxy` flag and returns its id.
pub async fn create_participant_with_proxy(
    conn: &mut MySqlConnection,
    name: &str,
    is_proxy: bool,
    created_by: &str,
) -> Result<u32> {
    let id = sqlx::query("INSERT INTO participant (name, is_proxy, created_by) VALUES (?, ?, ?)")
        .bind(name)
        .bind(is_proxy)
        .bind(created_by)
        .execute(&mut *conn)
        .await?
        .last_insert_id();
    bump_admin_epoch(conn).await?;
    u32::try_from(id).map_err(|_| StoreError::Corrupt("participant id overflow".into()))
}

/// A settlement model to store (central-ledger's `POST /settlementModels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSettlementModel<'a> {
    pub name: &'a str,
    /// `GROSS` or `NET`.
    pub settlement_granularity: &'a str,
    /// `BILATERAL` or `MULTILATERAL`.
    pub settlement_interchange: &'a str,
    /// `IMMEDIATE` or `DEFERRED`.
    pub settlement_delay: &'a str,
    /// `None` for the default model.
    pub currency: Option<&'a str>,
    pub require_liquidity_check: bool,
    /// A `ledger_account_type` (the schema's foreign key refuses others).
    pub ledger_account_type: &'a str,
    pub settlement_account_type: &'a str,
    pub auto_position_reset: bool,
    pub created_by: &'a str,
}

/// Stores a settlement model (active) and returns its id. A second model with the same name, or
/// for the same currency and ledger account type, violates a unique key
/// (see [`is_duplicate_key`]).
pub async fn create_settlement_model(
    conn: &mut MySqlConnection,
    model: &NewSettlementModel<'_>,
) -> Result<u32> {
    let id = sqlx::query(
        "INSERT INTO settlement_model (name, settlement_granularity, settlement_interchange, settlement_delay,
             currency, require_liquidity_check, ledger_account_type, settlement_account_type, auto_position_reset, created_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(model.name)
    .bind(model.settlement_granularity)
    .bind(model.settlement_interchange)
    .bind(model.settlement_delay)
    .bind(model.currency)
    .bind(model.require_liquidity_check)
    .bind(model.ledger_account_type)
    .bind(model.settlement_account_type)
    .bind(model.auto_position_reset)
    .bind(model.created_by)
    .execute(&mut *conn)
    .await?
    .last_insert_id();
    bump_admin_epoch(conn).await?;
    u32::try_from(id).map_err(|_| StoreError::Corrupt("settlement model id overflow".into()))
}

/// Activates or deactivates a settlement model by name; false when there is none.
pub async fn set_settlement_model_active(
    conn: &mut MySqlConnection,
    name: &str,
    is_active: bool,
) -> Result<bool> {
    let found = sqlx::query("UPDATE settlement_model SET is_active = ? WHERE name = ?")
        .bind(is_active)
        .bind(name)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    bump_admin_epoch(conn).await?;
    Ok(found > 0)
}

/// What happened to an `initialPositionAndLimits` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialPositionOutcome {
    /// Opening position and net debit cap set, both accounts activated.
    Set,
    /// A limit, an opening position or journal entries exist already: nothing changed
    /// (central-ledger: 2001 "Participant Limit or Initial Position already set").
    AlreadySet,
}

/// central-ledger's `initialPositionAndLimits`: in the caller's transaction, sets the opening
/// position of the POSITION account, its net debit cap, and activates the POSITION and
/// SETTLEMENT accounts — unless either account already has a limit, a non-zero opening value or
/// journal entries. Both positions are locked first (ascending account order).
#[allow(clippy::too_many_arguments)]
pub async fn set_initial_position_and_limit(
    conn: &mut MySqlConnection,
    position_account_id: u32,
    settlement_account_id: u32,
    initial_position: Decimal,
    net_debit_cap: Decimal,
    alarm_percentage: Decimal,
    changed_by: &str,
) -> Result<InitialPositionOutcome> {
    let (first, second) = if position_account_id <= settlement_account_id {
        (position_account_id, settlement_account_id)
    } else {
        (settlement_account_id, position_account_id)
    };
    let rows = sqlx::query(
        "SELECT account_id, opening_value FROM participant_position WHERE account_id IN (?, ?)
         ORDER BY account_id FOR UPDATE",
    )
    .bind(first)
    .bind(second)
    .fetch_all(&mut *conn)
    .await?;
    if rows.len() != 2 {
        return Err(StoreError::Corrupt(format!(
            "accounts {position_account_id}/{settlement_account_id} lack a position row"
        )));
    }
    let mut opened = false;
    for row in &rows {
        let opening: Decimal = row.try_get("opening_value")?;
        opened |= !opening.is_zero();
    }
    let used: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM participant_limit WHERE account_id IN (?, ?))
              + (SELECT COUNT(*) FROM position_change WHERE account_id IN (?, ?))",
    )
    .bind(first)
    .bind(second)
    .bind(first)
    .bind(second)
    .fetch_one(&mut *conn)
    .await?;
    if opened || used > 0 {
        return Ok(InitialPositionOutcome::AlreadySet);
    }
    sqlx::query(
        "UPDATE participant_position SET value = ?, opening_value = ? WHERE account_id = ?",
    )
    .bind(initial_position)
    .bind(initial_position)
    .bind(position_account_id)
    .execute(&mut *conn)
    .await?;
    set_net_debit_cap(
        conn,
        position_account_id,
        net_debit_cap,
        alarm_percentage,
        changed_by,
    )
    .await?;
    sqlx::query("UPDATE account SET is_active = TRUE WHERE account_id IN (?, ?)")
        .bind(first)
        .bind(second)
        .execute(&mut *conn)
        .await?;
    bump_admin_epoch(conn).await?;
    Ok(InitialPositionOutcome::Set)
}

/// Creates a participant (active) and returns its id.
pub async fn create_participant(
    conn: &mut MySqlConnection,
    name: &str,
    created_by: &str,
) -> Result<u32> {
    let id = sqlx::query("INSERT INTO participant (name, created_by) VALUES (?, ?)")
        .bind(name)
        .bind(created_by)
        .execute(&mut *conn)
        .await?
        .last_insert_id();
    bump_admin_epoch(conn).await?;
    u32::try_from(id).map_err(|_| StoreError::Corrupt("participant id overflow".into()))
}

/// Creates an account with a zero position row; returns its id.
pub async fn create_account(
    conn: &mut MySqlConnection,
    participant_id: u32,
    currency: &str,
    ledger_account_type: &str,
    is_active: bool,
    created_by: &str,
) -> Result<u32> {
    let id = sqlx::query(
        "INSERT INTO account (participant_id, currency, ledger_account_type, is_active, created_by) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(participant_id)
    .bind(currency)
    .bind(ledger_account_type)
    .bind(is_active)
    .bind(created_by)
    .execute(&mut *conn)
    .await?
    .last_insert_id();
    let id = u32::try_from(id).map_err(|_| StoreError::Corrupt("account id overflow".into()))?;
    sqlx::query("INSERT INTO participant_position (account_id, value, reserved_value, opening_value) VALUES (?, 0, 0, 0)")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    bump_admin_epoch(conn).await?;
    Ok(id)
}

/// Sets the opening position of an account that has no journal entries yet.
pub async fn set_opening_position(
    conn: &mut MySqlConnection,
    account_id: u32,
    value: Decimal,
) -> Result<()> {
    let updated = sqlx::query(
        "UPDATE participant_position p SET p.value = ?, p.opening_value = ?
         WHERE p.account_id = ? AND NOT EXISTS (SELECT 1 FROM position_change c WHERE c.account_id = p.account_id)",
    )
    .bind(value)
    .bind(value)
    .bind(account_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated != 1 {
        return Err(StoreError::Corrupt(format!(
            "account {account_id} has no position or already has journal entries"
        )));
    }
    Ok(())
}

/// Sets (insert or replace) the net debit cap of a position account. Locks the account's
/// position first, so a limit change and a reservation on that account are serialised.
pub async fn set_net_debit_cap(
    conn: &mut MySqlConnection,
    account_id: u32,
    value: Decimal,
    alarm_percentage: Decimal,
    changed_by: &str,
) -> Result<()> {
    sqlx::query("SELECT account_id FROM participant_position WHERE account_id = ? FOR UPDATE")
        .bind(account_id)
        .fetch_optional(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO participant_limit (account_id, limit_type, value, threshold_alarm_percentage, changed_by)
         VALUES (?, 'NET_DEBIT_CAP', ?, ?, ?)
         ON DUPLICATE KEY UPDATE value = VALUES(value),
             threshold_alarm_percentage = VALUES(threshold_alarm_percentage),
             changed_by = VALUES(changed_by), changed_at = CURRENT_TIMESTAMP(3)",
    )
    .bind(account_id)
    .bind(value)
    .bind(alarm_percentage)
    .bind(changed_by)
    .execute(&mut *conn)
    .await?;
    bump_admin_epoch(conn).await
}

pub async fn set_account_active(
    conn: &mut MySqlConnection,
    account_id: u32,
    is_active: bool,
) -> Result<()> {
    sqlx::query("UPDATE account SET is_active = ? WHERE account_id = ?")
        .bind(is_active)
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    bump_admin_epoch(conn).await
}

pub async fn set_participant_active(
    conn: &mut MySqlConnection,
    participant_id: u32,
    is_active: bool,
) -> Result<()> {
    sqlx::query("UPDATE participant SET is_active = ? WHERE participant_id = ?")
        .bind(is_active)
        .bind(participant_id)
        .execute(&mut *conn)
        .await?;
    bump_admin_epoch(conn).await
}

/// Upserts a callback endpoint of a participant.
pub async fn set_endpoint(
    conn: &mut MySqlConnection,
    participant_id: u32,
    endpoint_type: &str,
    value: &str,
    changed_by: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO participant_endpoint (participant_id, endpoint_type, value, changed_by) VALUES (?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE value = VALUES(value), changed_by = VALUES(changed_by), changed_at = CURRENT_TIMESTAMP(3)",
    )
    .bind(participant_id)
    .bind(endpoint_type)
    .bind(value)
    .bind(changed_by)
    .execute(&mut *conn)
    .await?;
    bump_admin_epoch(conn).await
}

/// The endpoints of a participant: (type, value).
pub async fn endpoints(
    conn: &mut MySqlConnection,
    participant_id: u32,
) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT endpoint_type, value FROM participant_endpoint WHERE participant_id = ? ORDER BY endpoint_type",
    )
    .bind(participant_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("endpoint_type")?, r.try_get("value")?)))
        .collect()
}

/// What happened to a funds-in request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FundsInOutcome {
    Recorded,
    /// The same id with the same body was recorded before: nothing changed.
    Duplicate,
    /// The id was used before with a different body: nothing changed.
    ModifiedRequest,
}

/// One funds movement requested by the hub operator (admin API `POST …/accounts/{id}`).
/// The funds functions do not bump the admin change epoch themselves (positions are never
/// cached); the admin API starts every such transaction with [`begin_admin_change`].
/// Accounts are `(account_id, participant_id, participant_name)`; the caller has checked that
/// they belong together (the DFSP's active SETTLEMENT account and the hub's HUB_RECONCILIATION
/// account in `currency`).
#[derive(Debug, Clone)]
pub struct FundsRequest<'a> {
    pub transfer_id: &'a str,
    /// SHA-256 of the request's canonical JSON (`ferroloop_core::hash::request_hash`).
    pub request_hash: [u8; 32],
    pub hub_account: (u32, u32, &'a str),
    pub settlement_account: (u32, u32, &'a str),
    pub currency: &'a str,
    pub amount: Decimal,
    /// The operator's reason, kept on the transfer's first state change.
    pub reason: &'a str,
    /// Extensions stored with the transfer (phase PREPARE), e.g. `externalReference`.
    pub extensions: &'a [(String, String)],
    pub now: PrimitiveDateTime,
}

/// A funds-in: hub reconciliation account +amount (debit side), participant settlement account
/// −amount (credit side), recorded as a FUNDS_IN transfer that walks RECEIVED_PREPARE →
/// RESERVED → RECEIVED_FULFIL → COMMITTED in one transaction, with both journal entries.
/// Accounts are `(account_id, participant_id, participant_name)`; the caller has checked they
/// belong together.
#[allow(clippy::too_many_arguments)]
pub async fn record_funds_in(
    conn: &mut MySqlConnection,
    transfer_id: &str,
    request_hash: [u8; 32],
    hub_account: (u32, u32, &str),
    settlement_account: (u32, u32, &str),
    currency: &str,
    amount: Decimal,
    now: PrimitiveDateTime,
) -> Result<FundsInOutcome> {
    record_funds_in_request(
        conn,
        &FundsRequest {
            transfer_id,
            request_hash,
            hub_account,
            settlement_account,
            currency,
            amount,
            reason: "recordFundsIn",
            extensions: &[],
            now,
        },
    )
    .await
}

/// Outcome of the duplicate check of a funds request.
enum Claim {
    New,
    Duplicate,
    Modified,
}

/// Insert-first duplicate check of a funds request: the request owns the id when the record
/// carries its event id (one per kind of funds request) and its hash.
async fn claim_funds_request(
    conn: &mut MySqlConnection,
    transfer_id: &str,
    request_hash: [u8; 32],
    event_id: &str,
) -> Result<Claim> {
    let claimed = claim_duplicate_checks(
        conn,
        DuplicateCheck::Prepare,
        &[(transfer_id, request_hash, event_id)],
    )
    .await?;
    let record = claimed
        .get(transfer_id)
        .ok_or_else(|| StoreError::Corrupt("duplicate check row missing".into()))?;
    let first = Fingerprint::new(
        &record.source_event_id,
        record.request_hash.map(RequestHash::from_bytes),
    );
    let this = Fingerprint::new(event_id, Some(RequestHash::from_bytes(request_hash)));
    let mut replay = classify(first, this, Progress::Unwritten);
    // Read the transfer only when the record is ours: a modified request needs no more.
    if replay == Replay::New && !load_transfers(conn, &[transfer_id], true).await?.is_empty() {
        replay = classify(first, this, Progress::Finished);
    }
    // The event id is fixed per kind of funds request, so a resend under another event is
    // another kind reusing the id: modified, whatever the body
    // (docs/duplicates-and-replays.md#admin-funds-in-and-out).
    Ok(match replay {
        Replay::New => Claim::New,
        Replay::OwnReplay => Claim::Duplicate,
        Replay::ResendInFlight | Replay::ResendFinished | Replay::Modified => Claim::Modified,
    })
}

/// Inserts the transfer of a funds request in RECEIVED_PREPARE, with its extensions.
async fn insert_funds_transfer(
    conn: &mut MySqlConnection,
    request: &FundsRequest<'_>,
    kind: TransferKind,
    payer: (u32, u32, &str),
    payee: (u32, u32, &str),
) -> Result<()> {
    insert_transfers(
        conn,
        &[NewTransfer {
            record: TransferRecord {
                transfer_id: request.transfer_id.to_owned(),
                kind,
                payer_fsp: payer.2.to_owned(),
                payee_fsp: payee.2.to_owned(),
                payer_participant_id: Some(ParticipantId(payer.1)),
                payee_participant_id: Some(ParticipantId(payee.1)),
                payer_account_id: Some(AccountId(payer.0)),
                payee_account_id: Some(AccountId(payee.0)),
                amount: Some(request.amount),
                currency: request.currency.to_owned(),
                ilp_condition: None,
                expiration: None,
                state: TransferState::ReceivedPrepare,
                state_changed_at: request.now,
            },
            reason: Some(request.reason.to_owned()),
        }],
    )
    .await?;
    let extensions: Vec<ExtensionRow> = request
        .extensions
        .iter()
        .map(|(key, value)| ExtensionRow {
            transfer_id: request.transfer_id.to_owned(),
            phase: ExtensionPhase::Prepare,
            key: key.clone(),
            value: value.clone(),
        })
        .collect();
    insert_extensions(conn, &extensions).await
}

/// Walks a transfer through `events` from `from`, checking every step with
/// `ferroloop_core::state::transition`, each step with its journal reason. Returns the final
/// state.
async fn walk(
    conn: &mut MySqlConnection,
    transfer_id: &str,
    from: TransferState,
    events: &[(TransferEvent, Option<&str>)],
    now: PrimitiveDateTime,
) -> Result<TransferState> {
    let mut from = from;
    for (event, reason) in events {
        let to = transition(Some(from), *event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        change_states(
            conn,
            &[StateChange {
                transfer_id: transfer_id.to_owned(),
                from: Some(from),
                to,
                reason: reason.map(str::to_owned),
                at: now,
            }],
        )
        .await?;
        from = to;
    }
    Ok(from)
}

/// [`record_funds_in`] with the operator's reason and extensions.
pub async fn record_funds_in_request(
    conn: &mut MySqlConnection,
    request: &FundsRequest<'_>,
) -> Result<FundsInOutcome> {
    let event_id = format!("funds-in:{}", request.transfer_id);
    match claim_funds_request(conn, request.transfer_id, request.request_hash, &event_id).await? {
        Claim::Modified => return Ok(FundsInOutcome::ModifiedRequest),
        Claim::Duplicate => return Ok(FundsInOutcome::Duplicate),
        Claim::New => {}
    }
    let hub_account_id = AccountId(request.hub_account.0);
    let settlement_account_id = AccountId(request.settlement_account.0);
    let locked = lock_positions(conn, &[hub_account_id, settlement_account_id]).await?;
    let hub = locked
        .get(&hub_account_id)
        .ok_or_else(|| StoreError::Corrupt("hub account has no position".into()))?;
    let settlement = locked
        .get(&settlement_account_id)
        .ok_or_else(|| StoreError::Corrupt("settlement account has no position".into()))?;
    insert_funds_transfer(
        conn,
        request,
        TransferKind::FundsIn,
        request.hub_account,
        request.settlement_account,
    )
    .await?;
    walk(
        conn,
        request.transfer_id,
        TransferState::ReceivedPrepare,
        &[
            (TransferEvent::Reserve, None),
            (TransferEvent::FulfilAccepted, None),
            (TransferEvent::Commit, None),
        ],
        request.now,
    )
    .await?;
    let amount = request.amount;
    apply_position_changes(
        conn,
        &[
            PositionChange {
                account_id: hub_account_id,
                transfer_id: request.transfer_id.to_owned(),
                phase: PositionPhase::Reserve,
                change: amount,
                value_after: hub.value + amount,
                reserved_after: hub.reserved_value,
                at: request.now,
            },
            PositionChange {
                account_id: settlement_account_id,
                transfer_id: request.transfer_id.to_owned(),
                phase: PositionPhase::Commit,
                change: -amount,
                value_after: settlement.value - amount,
                reserved_after: settlement.reserved_value,
                at: request.now,
            },
        ],
    )
    .await?;
    Ok(FundsInOutcome::Recorded)
}

/// Reason recorded when a funds-out would overdraw the settlement account
/// (docs/positions.md#funds-in-and-out).
pub const INSUFFICIENT_FUNDS_REASON: &str = FundsOutRefusal::Overdraft.reason();

/// What happened to a funds-out prepare-and-reserve request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FundsOutOutcome {
    /// The settlement account was debited (+amount); the transfer waits in RESERVED for the
    /// operator's commit or abort.
    Reserved,
    /// The settlement position would have become positive (more out than in): the transfer went
    /// RECEIVED_PREPARE → ABORTED_REJECTED with [`INSUFFICIENT_FUNDS_REASON`], no position moved.
    InsufficientFunds,
    /// The cover left would not have covered the DFSP's net debit position and reservations
    /// (`ferroloop_core::funds_out`): ABORTED_REJECTED likewise, with
    /// [`FundsOutRefusal::BacksPosition`]'s reason.
    BacksPosition,
    /// The same id with the same body was recorded before: nothing changed.
    Duplicate,
    /// The id was used before with a different body (or by another kind of request).
    ModifiedRequest,
}

/// A settlement account's position and that of the POSITION account it backs (same participant
/// and currency), both locked.
struct LockedCover {
    settlement: (Decimal, Decimal),
    position: AccountPosition,
}

/// Locks a settlement account's position row and its POSITION account's, in ascending account
/// order as the position handler does, so a funds-out and a reservation on the same DFSP
/// serialise and neither decides on figures the other is about to change.
async fn lock_cover(conn: &mut MySqlConnection, settlement_account_id: u32) -> Result<LockedCover> {
    let position_account_id: Option<u32> = sqlx::query_scalar(
        "SELECT p.account_id FROM account s
         JOIN account p ON p.participant_id = s.participant_id AND p.currency = s.currency
                       AND p.ledger_account_type = 'POSITION'
         WHERE s.account_id = ?",
    )
    .bind(settlement_account_id)
    .fetch_optional(&mut *conn)
    .await?;
    let other = position_account_id.unwrap_or(settlement_account_id);
    let rows = sqlx::query(
        "SELECT account_id, value, reserved_value FROM participant_position
         WHERE account_id IN (?, ?) ORDER BY account_id FOR UPDATE",
    )
    .bind(settlement_account_id.min(other))
    .bind(settlement_account_id.max(other))
    .fetch_all(&mut *conn)
    .await?;
    let mut settlement = None;
    let mut position = AccountPosition::default();
    for row in &rows {
        let id: u32 = row.try_get("account_id")?;
        let figures: (Decimal, Decimal) = (row.try_get("value")?, row.try_get("reserved_value")?);
        if id == settlement_account_id {
            settlement = Some(figures);
        }
        if Some(id) == position_account_id {
            position = AccountPosition::new(figures.0, figures.1);
        }
    }
    let settlement = settlement
        .ok_or_else(|| StoreError::Corrupt("settlement account has no position".into()))?;
    Ok(LockedCover {
        settlement,
        position,
    })
}

/// Funds-out, step 1 (`recordFundsOutPrepareReserve`): a FUNDS_OUT transfer whose debit side
/// (payer) is the DFSP's settlement account and whose credit side (payee) is the hub's
/// reconciliation account. The settlement account is debited at once (+amount, RESERVE) when
/// [`ferroloop_core::funds_out::decide_funds_out`] allows it — the cover left stays
/// non-negative and covers the DFSP's net debit position and reservations — else the transfer
/// is rejected with the refusal's reason.
pub async fn record_funds_out_prepare(
    conn: &mut MySqlConnection,
    request: &FundsRequest<'_>,
) -> Result<FundsOutOutcome> {
    let event_id = format!("funds-out:{}", request.transfer_id);
    match claim_funds_request(conn, request.transfer_id, request.request_hash, &event_id).await? {
        Claim::Modified => return Ok(FundsOutOutcome::ModifiedRequest),
        Claim::Duplicate => return Ok(FundsOutOutcome::Duplicate),
        Claim::New => {}
    }
    let settlement_account_id = request.settlement_account.0;
    let cover = lock_cover(conn, settlement_account_id).await?;
    let (settlement_value, settlement_reserved) = cover.settlement;
    insert_funds_transfer(
        conn,
        request,
        TransferKind::FundsOut,
        request.settlement_account,
        request.hub_account,
    )
    .await?;
    if let Err(refusal) = decide_funds_out(settlement_value, &cover.position, request.amount) {
        walk(
            conn,
            request.transfer_id,
            TransferState::ReceivedPrepare,
            &[(TransferEvent::ReservationRejected, Some(refusal.reason()))],
            request.now,
        )
        .await?;
        return Ok(match refusal {
            FundsOutRefusal::Overdraft => FundsOutOutcome::InsufficientFunds,
            FundsOutRefusal::BacksPosition => FundsOutOutcome::BacksPosition,
        });
    }
    walk(
        conn,
        request.transfer_id,
        TransferState::ReceivedPrepare,
        &[(TransferEvent::Reserve, None)],
        request.now,
    )
    .await?;
    apply_position_changes(
        conn,
        &[PositionChange {
            account_id: AccountId(settlement_account_id),
            transfer_id: request.transfer_id.to_owned(),
            phase: PositionPhase::Reserve,
            change: request.amount,
            value_after: settlement_value + request.amount,
            reserved_after: settlement_reserved,
            at: request.now,
        }],
    )
    .await?;
    Ok(FundsOutOutcome::Reserved)
}

/// The operator's decision on a reserved funds-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FundsOutDecision {
    /// `recordFundsOutCommit`: credit the hub reconciliation account (−amount).
    Commit,
    /// `recordFundsOutAbort`: reverse the settlement account's debit (−amount).
    Abort,
}

/// What happened to a funds-out commit or abort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FundsOutFinish {
    /// The decision was applied: the transfer is COMMITTED or ABORTED_REJECTED.
    Done,
    /// The transfer already reached the state this decision leads to: nothing changed.
    AlreadyDone,
    /// No funds-out transfer has this id.
    NotFound,
    /// The funds-out belongs to another settlement account than the one named.
    WrongAccount,
    /// The transfer is in another state than RESERVED (e.g. committed, then asked to abort).
    NotReserved(TransferState),
}

/// Funds-out, step 2: commit (RESERVED → RECEIVED_FULFIL → COMMITTED, COMMIT −amount on the hub
/// reconciliation account) or abort (RESERVED → RECEIVED_REJECT → ABORTED_REJECTED, REVERSE
/// −amount on the settlement account), with the operator's reason on the first step. The
/// transfer row is locked first, so a racing commit and abort apply exactly one of the two.
pub async fn finish_funds_out(
    conn: &mut MySqlConnection,
    transfer_id: &str,
    settlement_account_id: u32,
    decision: FundsOutDecision,
    reason: &str,
    now: PrimitiveDateTime,
) -> Result<FundsOutFinish> {
    let Some(transfer) = load_transfers(conn, &[transfer_id], true)
        .await?
        .remove(transfer_id)
    else {
        return Ok(FundsOutFinish::NotFound);
    };
    if transfer.kind != TransferKind::FundsOut {
        return Ok(FundsOutFinish::NotFound);
    }
    if transfer.payer_account_id != Some(AccountId(settlement_account_id)) {
        return Ok(FundsOutFinish::WrongAccount);
    }
    let done_state = match decision {
        FundsOutDecision::Commit => TransferState::Committed,
        FundsOutDecision::Abort => TransferState::AbortedRejected,
    };
    if transfer.state == done_state {
        return Ok(FundsOutFinish::AlreadyDone);
    }
    if transfer.state != TransferState::Reserved {
        return Ok(FundsOutFinish::NotReserved(transfer.state));
    }
    let amount = transfer
        .amount
        .ok_or_else(|| StoreError::Corrupt(format!("funds-out {transfer_id} has no amount")))?;
    let (events, account_id, phase) = match decision {
        FundsOutDecision::Commit => (
            [TransferEvent::FulfilAccepted, TransferEvent::Commit],
            transfer.payee_account_id,
            PositionPhase::Commit,
        ),
        FundsOutDecision::Abort => (
            [TransferEvent::FundsOutReject, TransferEvent::RejectFinal],
            transfer.payer_account_id,
            PositionPhase::Reverse,
        ),
    };
    let account_id = account_id
        .ok_or_else(|| StoreError::Corrupt(format!("funds-out {transfer_id} has no account")))?;
    let locked = lock_positions(conn, &[account_id]).await?;
    let position = locked
        .get(&account_id)
        .ok_or_else(|| StoreError::Corrupt(format!("account {account_id} has no position")))?;
    walk(
        conn,
        transfer_id,
        TransferState::Reserved,
        &[(events[0], Some(reason)), (events[1], None)],
        now,
    )
    .await?;
    apply_position_changes(
        conn,
        &[PositionChange {
            account_id,
            transfer_id: transfer_id.to_owned(),
            phase,
            change: -amount,
            value_after: position.value - amount,
            reserved_after: position.reserved_value,
            at: now,
        }],
    )
    .await?;
    Ok(FundsOutFinish::Done)
}
