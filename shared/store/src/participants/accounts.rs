//! A participant's accounts (central-ledger's participantCurrency) and the ledger account types.

use ferroloop_core::currency::Currency;
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use sqlx::MySqlConnection;

use crate::epoch::bump_admin_epoch;
use crate::{Result, StoreError};

/// Creates an account with a zero position row; returns its id.
pub async fn create_account(
    conn: &mut MySqlConnection,
    participant_id: ParticipantId,
    currency: Currency,
    ledger_account_type: &str,
    is_active: bool,
    created_by: &str,
) -> Result<AccountId> {
    let id = sqlx::query!(
        "INSERT INTO account (participant_id, currency, ledger_account_type, is_active, created_by) VALUES (?, ?, ?, ?, ?)",
        participant_id,
        currency.as_str(),
        ledger_account_type,
        is_active,
        created_by,
    )
    .execute(&mut *conn)
    .await?
    .last_insert_id();
    let id = u32::try_from(id)
        .map(AccountId)
        .map_err(|_| StoreError::Corrupt("account id overflow".into()))?;
    sqlx::query!("INSERT INTO participant_position (account_id, value, reserved_value, opening_value) VALUES (?, 0, 0, 0)", id)
        .execute(&mut *conn)
        .await?;
    bump_admin_epoch(conn).await?;
    Ok(id)
}

pub async fn set_account_active(
    conn: &mut MySqlConnection,
    account_id: AccountId,
    is_active: bool,
) -> Result<()> {
    sqlx::query!(
        "UPDATE account SET is_active = ? WHERE account_id = ?",
        is_active,
        account_id
    )
    .execute(&mut *conn)
    .await?;
    bump_admin_epoch(conn).await
}

/// A ledger account type as stored (central-ledger's `ledgerAccountType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerAccountType {
    pub name: String,
    pub description: String,
    pub is_active: bool,
    /// Whether a settlement model may settle balances of this type.
    pub is_settleable: bool,
}

/// Every ledger account type, in name order.
pub async fn ledger_account_types(conn: &mut MySqlConnection) -> Result<Vec<LedgerAccountType>> {
    let rows = sqlx::query!(
        r#"SELECT ledger_account_type, description, is_active AS "is_active: bool", is_settleable AS "is_settleable: bool" FROM ledger_account_type ORDER BY ledger_account_type"#,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| LedgerAccountType {
            name: r.ledger_account_type,
            description: r.description,
            is_active: r.is_active,
            is_settleable: r.is_settleable,
        })
        .collect())
}

/// Records a new ledger account type; false, and nothing written, when one of that name, in any
/// letter case, exists already (the column compares case-sensitively, so the check is explicit:
/// `position` beside `POSITION` would be two names for one thing to an operator). Call it
/// after [`crate::epoch::begin_admin_change`], which makes admin changes take turns, so the
/// check and the insert cannot race.
pub async fn create_ledger_account_type(
    conn: &mut MySqlConnection,
    new: &LedgerAccountType,
) -> Result<bool> {
    let taken = sqlx::query_scalar!(
        "SELECT COUNT(*) FROM ledger_account_type WHERE UPPER(ledger_account_type) = UPPER(?)",
        new.name
    )
    .fetch_one(&mut *conn)
    .await?;
    if taken > 0 {
        return Ok(false);
    }
    sqlx::query!(
        "INSERT INTO ledger_account_type (ledger_account_type, description, is_active, is_settleable) VALUES (?, ?, ?, ?)",
        new.name,
        new.description,
        new.is_active,
        new.is_settleable,
    )
    .execute(&mut *conn)
    .await?;
    bump_admin_epoch(conn).await?;
    Ok(true)
}

/// The participant owning an account, if the account exists.
pub async fn account_owner(
    conn: &mut MySqlConnection,
    account_id: AccountId,
) -> Result<Option<ParticipantId>> {
    Ok(sqlx::query_scalar!(
        r#"SELECT participant_id AS "participant_id: ParticipantId" FROM account WHERE account_id = ?"#,
        account_id
    )
    .fetch_optional(&mut *conn)
    .await?)
}
