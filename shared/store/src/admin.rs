//! Onboarding and liquidity writes of the hub operator (admin API; also used by tests and the
//! load-test tool through the admin API). Every change bumps the admin change epoch in the same
//! transaction so the handlers' caches see it with their next batch.

use rust_decimal::Decimal;
use sqlx::{MySqlConnection, Row};
use time::PrimitiveDateTime;

use crate::participants::bump_admin_epoch;
use crate::positions::{PositionChange, PositionPhase, apply_position_changes, lock_positions};
use crate::transfers::{
    DuplicateCheck, NewTransfer, StateChange, TransferKind, TransferRecord, change_states,
    claim_duplicate_checks, insert_transfers, load_transfers,
};
use crate::{Result, StoreError};
use ferroloop_core::state::{TransferEvent, TransferState, transition};

/// The hub participant's id (seeded by the first migration).
pub async fn hub_participant_id(conn: &mut MySqlConnection) -> Result<u32> {
    Ok(
        sqlx::query_scalar::<_, u32>("SELECT participant_id FROM participant WHERE is_hub LIMIT 1")
            .fetch_one(&mut *conn)
            .await?,
    )
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
    let event_id = format!("funds-in:{transfer_id}");
    let claimed = claim_duplicate_checks(
        conn,
        DuplicateCheck::Prepare,
        &[(transfer_id, request_hash, event_id.as_str())],
    )
    .await?;
    let record = claimed
        .get(transfer_id)
        .ok_or_else(|| StoreError::Corrupt("duplicate check row missing".into()))?;
    if record.source_event_id != event_id || record.request_hash != Some(request_hash) {
        return Ok(FundsInOutcome::ModifiedRequest);
    }
    if !load_transfers(conn, &[transfer_id], true).await?.is_empty() {
        return Ok(FundsInOutcome::Duplicate);
    }
    let (hub_account_id, hub_participant_id, hub_name) = hub_account;
    let (settlement_account_id, participant_id, participant_name) = settlement_account;
    let locked = lock_positions(conn, &[hub_account_id, settlement_account_id]).await?;
    let hub = locked
        .get(&hub_account_id)
        .ok_or_else(|| StoreError::Corrupt("hub account has no position".into()))?;
    let settlement = locked
        .get(&settlement_account_id)
        .ok_or_else(|| StoreError::Corrupt("settlement account has no position".into()))?;
    insert_transfers(
        conn,
        &[NewTransfer {
            record: TransferRecord {
                transfer_id: transfer_id.to_owned(),
                kind: TransferKind::FundsIn,
                payer_fsp: hub_name.to_owned(),
                payee_fsp: participant_name.to_owned(),
                payer_participant_id: Some(hub_participant_id),
                payee_participant_id: Some(participant_id),
                payer_account_id: Some(hub_account_id),
                payee_account_id: Some(settlement_account_id),
                amount: Some(amount),
                currency: currency.to_owned(),
                ilp_condition: None,
                expiration: None,
                state: TransferState::ReceivedPrepare,
                state_changed_at: now,
            },
            reason: Some("recordFundsIn".into()),
        }],
    )
    .await?;
    let mut from = TransferState::ReceivedPrepare;
    for event in [
        TransferEvent::Reserve,
        TransferEvent::FulfilAccepted,
        TransferEvent::Commit,
    ] {
        let to = transition(Some(from), event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        change_states(
            conn,
            &[StateChange {
                transfer_id: transfer_id.to_owned(),
                from: Some(from),
                to,
                reason: None,
                at: now,
            }],
        )
        .await?;
        from = to;
    }
    apply_position_changes(
        conn,
        &[
            PositionChange {
                account_id: hub_account_id,
                transfer_id: transfer_id.to_owned(),
                phase: PositionPhase::Reserve,
                change: amount,
                value_after: hub.value + amount,
                reserved_after: hub.reserved_value,
                at: now,
            },
            PositionChange {
                account_id: settlement_account_id,
                transfer_id: transfer_id.to_owned(),
                phase: PositionPhase::Commit,
                change: -amount,
                value_after: settlement.value - amount,
                reserved_after: settlement.reserved_value,
                at: now,
            },
        ],
    )
    .await?;
    Ok(FundsInOutcome::Recorded)
}
