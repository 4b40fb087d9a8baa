//! Limits of POSITION accounts (the net debit cap) and opening positions
//! (central-ledger's `initialPositionAndLimits`).

use ferroloop_core::currency::Currency;
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use rust_decimal::Decimal;
use sqlx::{MySql, MySqlConnection, QueryBuilder, Row};

use crate::epoch::bump_admin_epoch;
use crate::{Result, StoreError};

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
    position_account_id: AccountId,
    settlement_account_id: AccountId,
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
    let rows = sqlx::query!(
        "SELECT account_id, opening_value FROM participant_position WHERE account_id IN (?, ?)
         ORDER BY account_id FOR UPDATE",
        first,
        second,
    )
    .fetch_all(&mut *conn)
    .await?;
    if rows.len() != 2 {
        return Err(StoreError::Corrupt(format!(
            "accounts {position_account_id}/{settlement_account_id} lack a position row"
        )));
    }
    let opened = rows.iter().any(|row| !row.opening_value.is_zero());
    let used: i64 = sqlx::query_scalar!(
        r#"SELECT (SELECT COUNT(*) FROM participant_limit WHERE account_id IN (?, ?))
              + (SELECT COUNT(*) FROM position_change WHERE account_id IN (?, ?)) AS "used!: i64""#,
        first,
        second,
        first,
        second,
    )
    .fetch_one(&mut *conn)
    .await?;
    if opened || used > 0 {
        return Ok(InitialPositionOutcome::AlreadySet);
    }
    sqlx::query!(
        "UPDATE participant_position SET value = ?, opening_value = ? WHERE account_id = ?",
        initial_position,
        initial_position,
        position_account_id,
    )
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
    sqlx::query!(
        "UPDATE account SET is_active = TRUE WHERE account_id IN (?, ?)",
        first,
        second
    )
    .execute(&mut *conn)
    .await?;
    bump_admin_epoch(conn).await?;
    Ok(InitialPositionOutcome::Set)
}

/// Sets the opening position of an account that has no journal entries yet.
pub async fn set_opening_position(
    conn: &mut MySqlConnection,
    account_id: AccountId,
    value: Decimal,
) -> Result<()> {
    let updated = sqlx::query!(
        "UPDATE participant_position p SET p.value = ?, p.opening_value = ?
         WHERE p.account_id = ? AND NOT EXISTS (SELECT 1 FROM position_change c WHERE c.account_id = p.account_id)",
        value,
        value,
        account_id,
    )
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
    account_id: AccountId,
    value: Decimal,
    alarm_percentage: Decimal,
    changed_by: &str,
) -> Result<()> {
    sqlx::query!(
        "SELECT account_id FROM participant_position WHERE account_id = ? FOR UPDATE",
        account_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO participant_limit (account_id, limit_type, value, threshold_alarm_percentage, changed_by)
         VALUES (?, 'NET_DEBIT_CAP', ?, ?, ?)
         ON DUPLICATE KEY UPDATE value = VALUES(value),
             threshold_alarm_percentage = VALUES(threshold_alarm_percentage),
             changed_by = VALUES(changed_by), changed_at = CURRENT_TIMESTAMP(3)",
        account_id,
        value,
        alarm_percentage,
        changed_by,
    )
    .execute(&mut *conn)
    .await?;
    bump_admin_epoch(conn).await
}

/// A limit of a POSITION account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitView {
    pub participant_name: String,
    pub currency: Currency,
    pub limit_type: String,
    pub value: Decimal,
    pub alarm_percentage: Decimal,
}

/// Limits of POSITION accounts, optionally of one participant, currency or limit type, in
/// participant and currency order.
pub async fn limits(
    conn: &mut MySqlConnection,
    participant_id: Option<ParticipantId>,
    currency: Option<Currency>,
    limit_type: Option<&str>,
) -> Result<Vec<LimitView>> {
    let mut builder = QueryBuilder::<MySql>::new(
        "SELECT p.name, a.currency, l.limit_type, l.value, l.threshold_alarm_percentage
         FROM participant_limit l
         JOIN account a ON a.account_id = l.account_id AND a.ledger_account_type = 'POSITION'
         JOIN participant p ON p.participant_id = a.participant_id
         WHERE TRUE",
    );
    if let Some(id) = participant_id {
        builder.push(" AND p.participant_id = ").push_bind(id);
    }
    if let Some(currency) = currency {
        builder
            .push(" AND a.currency = ")
            .push_bind(currency.as_str().to_owned());
    }
    if let Some(limit_type) = limit_type {
        builder
            .push(" AND l.limit_type = ")
            .push_bind(limit_type.to_owned());
    }
    builder.push(" ORDER BY p.participant_id, a.currency, l.limit_type");
    let rows = builder.build().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            Ok(LimitView {
                participant_name: row.try_get("name")?,
                currency: crate::columns::currency(row, "currency")?,
                limit_type: row.try_get("limit_type")?,
                value: row.try_get("value")?,
                alarm_percentage: row.try_get("threshold_alarm_percentage")?,
            })
        })
        .collect()
}
