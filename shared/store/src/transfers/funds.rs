//! Funds in and out (the admin API's `POST …/accounts/{id}`): FUNDS_IN and FUNDS_OUT transfers
//! between a DFSP's settlement account and the hub's reconciliation account, walking the same
//! state machine and position journal as DFSP transfers. The rules — duplicate classification,
//! the state walk, whether a funds-out may be reserved and how it finishes — are
//! `ferroloop_core`'s; this module locks, reads and writes.

use rust_decimal::Decimal;
use sqlx::MySqlConnection;
use time::PrimitiveDateTime;

use crate::positions::{PositionChange, PositionPhase, apply_position_changes, lock_positions};
use crate::transfers::states::walk_states;
use crate::transfers::{
    DuplicateCheck, ExtensionPhase, ExtensionRow, NewTransfer, TransferKind, TransferRecord,
    claim_duplicate_checks, insert_extensions, insert_transfers, load_transfers,
};
use crate::{Result, StoreError};
use ferroloop_core::currency::Currency;
use ferroloop_core::funds_out::{
    Finish, FinishEntry, FundsOutRefusal, decide_finish, decide_funds_out,
};
use ferroloop_core::hash::RequestHash;
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use ferroloop_core::position::AccountPosition;
use ferroloop_core::replay::{Fingerprint, Progress, Replay, classify};
use ferroloop_core::state::{TransferEvent, TransferState};

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
/// The caller has checked that the two accounts belong together (the DFSP's active SETTLEMENT
/// account and the hub's HUB_RECONCILIATION account in `currency`).
#[derive(Debug, Clone)]
pub struct FundsRequest<'a> {
    pub transfer_id: TransferId,
    /// SHA-256 of the request's canonical JSON (`ferroloop_core::hash::request_hash`).
    pub request_hash: RequestHash,
    pub hub_account: FundsAccount<'a>,
    pub settlement_account: FundsAccount<'a>,
    pub currency: Currency,
    pub amount: Decimal,
    /// The operator's reason, kept on the transfer's first state change.
    pub reason: &'a str,
    /// Extensions stored with the transfer (phase PREPARE), e.g. `externalReference`.
    pub extensions: &'a [(String, String)],
    pub now: PrimitiveDateTime,
}

/// One side of a funds movement: the account, the participant owning it and that participant's
/// name (the transfer's payer or payee FSP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FundsAccount<'a> {
    pub account_id: AccountId,
    pub participant_id: ParticipantId,
    pub participant_name: &'a str,
}

/// A funds-in: hub reconciliation account +amount (debit side), participant settlement account
/// −amount (credit side), recorded as a FUNDS_IN transfer that walks RECEIVED_PREPARE →
/// RESERVED → RECEIVED_FULFIL → COMMITTED in one transaction, with both journal entries.
/// The caller has checked the accounts belong together.
#[allow(clippy::too_many_arguments)]
pub async fn record_funds_in(
    conn: &mut MySqlConnection,
    transfer_id: TransferId,
    request_hash: RequestHash,
    hub_account: FundsAccount<'_>,
    settlement_account: FundsAccount<'_>,
    currency: Currency,
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
    transfer_id: TransferId,
    request_hash: RequestHash,
    event_id: &str,
) -> Result<Claim> {
    let claimed = claim_duplicate_checks(
        conn,
        DuplicateCheck::Prepare,
        &[(transfer_id, *request_hash.as_bytes(), event_id)],
    )
    .await?;
    let record = claimed
        .get(&transfer_id)
        .ok_or_else(|| StoreError::Corrupt("duplicate check row missing".into()))?;
    let first = Fingerprint::new(&record.source_event_id, record.request_hash);
    let this = Fingerprint::new(event_id, Some(request_hash));
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
    payer: FundsAccount<'_>,
    payee: FundsAccount<'_>,
) -> Result<()> {
    insert_transfers(
        conn,
        &[NewTransfer {
            record: TransferRecord {
                transfer_id: request.transfer_id,
                kind,
                payer_fsp: payer.participant_name.to_owned(),
                payee_fsp: payee.participant_name.to_owned(),
                payer_participant_id: Some(payer.participant_id),
                payee_participant_id: Some(payee.participant_id),
                payer_account_id: Some(payer.account_id),
                payee_account_id: Some(payee.account_id),
                amount: Some(request.amount),
                currency: request.currency.into(),
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
            transfer_id: request.transfer_id,
            phase: ExtensionPhase::Prepare,
            key: key.clone(),
            value: value.clone(),
        })
        .collect();
    insert_extensions(conn, &extensions).await
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
    let hub_account_id = request.hub_account.account_id;
    let settlement_account_id = request.settlement_account.account_id;
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
    walk_states(
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
                transfer_id: request.transfer_id,
                phase: PositionPhase::Reserve,
                change: amount,
                value_after: hub.value + amount,
                reserved_after: hub.reserved_value,
                at: request.now,
            },
            PositionChange {
                account_id: settlement_account_id,
                transfer_id: request.transfer_id,
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
async fn lock_cover(
    conn: &mut MySqlConnection,
    settlement_account_id: AccountId,
) -> Result<LockedCover> {
    let position_account_id = sqlx::query_scalar!(
        r#"SELECT p.account_id AS "account_id: AccountId" FROM account s
         JOIN account p ON p.participant_id = s.participant_id AND p.currency = s.currency
                       AND p.ledger_account_type = 'POSITION'
         WHERE s.account_id = ?"#,
        settlement_account_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let other = position_account_id.unwrap_or(settlement_account_id);
    let rows = sqlx::query!(
        r#"SELECT account_id AS "account_id: AccountId", value, reserved_value
         FROM participant_position WHERE account_id IN (?, ?) ORDER BY account_id FOR UPDATE"#,
        settlement_account_id.min(other),
        settlement_account_id.max(other),
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut settlement = None;
    let mut position = AccountPosition::default();
    for row in &rows {
        let id = row.account_id;
        let figures = (row.value, row.reserved_value);
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
    let settlement_account_id = request.settlement_account.account_id;
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
        walk_states(
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
    walk_states(
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
            account_id: settlement_account_id,
            transfer_id: request.transfer_id,
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

pub use ferroloop_core::funds_out::FundsOutDecision;

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
    transfer_id: TransferId,
    settlement_account_id: AccountId,
    decision: FundsOutDecision,
    reason: &str,
    now: PrimitiveDateTime,
) -> Result<FundsOutFinish> {
    let Some(transfer) = load_transfers(conn, &[transfer_id], true)
        .await?
        .remove(&transfer_id)
    else {
        return Ok(FundsOutFinish::NotFound);
    };
    if transfer.kind != TransferKind::FundsOut {
        return Ok(FundsOutFinish::NotFound);
    }
    if transfer.payer_account_id != Some(settlement_account_id) {
        return Ok(FundsOutFinish::WrongAccount);
    }
    let (events, entry) = match decide_finish(transfer.state, decision) {
        Finish::Apply { events, entry } => (events, entry),
        Finish::AlreadyDone => return Ok(FundsOutFinish::AlreadyDone),
        Finish::NotReserved(state) => return Ok(FundsOutFinish::NotReserved(state)),
    };
    let amount = transfer
        .amount
        .ok_or_else(|| StoreError::Corrupt(format!("funds-out {transfer_id} has no amount")))?;
    let (account_id, phase) = match entry {
        FinishEntry::CommitPayee => (transfer.payee_account_id, PositionPhase::Commit),
        FinishEntry::ReversePayer => (transfer.payer_account_id, PositionPhase::Reverse),
    };
    let account_id = account_id
        .ok_or_else(|| StoreError::Corrupt(format!("funds-out {transfer_id} has no account")))?;
    let locked = lock_positions(conn, &[account_id]).await?;
    let position = locked
        .get(&account_id)
        .ok_or_else(|| StoreError::Corrupt(format!("account {account_id} has no position")))?;
    walk_states(
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
            transfer_id,
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
