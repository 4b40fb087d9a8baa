//! The participant aggregate: participants and their accounts ([`accounts`]), limits and opening
//! positions ([`limits`]), callback endpoints ([`endpoints`]) and JWS keys ([`jws_keys`]); the
//! admin API's read models ([`views`]); and the records the handlers cache.
//!
//! Whatever the admin API creates is usable by the very next request (docs/architecture.md#caches;
//! a miss reads the database, nothing is cached as absent), and changes reach the cache through the
//! admin change epoch, which every admin transaction bumps and the cache's
//! [`refresh`](crate::cache::ReadThrough::refresh) compares once per batch.

pub mod accounts;
pub mod endpoints;
pub mod jws_keys;
pub mod limits;
pub mod views;

use std::collections::HashMap;

use ferroloop_core::currency::Currency;
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use sqlx::mysql::MySqlRow;
use sqlx::{MySqlConnection, Row};

use crate::cache::{LoadByName, ReadThrough};
use crate::epoch::bump_admin_epoch;
use crate::{Result, StoreError};

/// A participant with its accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantRecord {
    pub participant_id: ParticipantId,
    pub name: String,
    pub is_active: bool,
    pub is_hub: bool,
    pub accounts: Vec<AccountRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub account_id: AccountId,
    pub participant_id: ParticipantId,
    pub currency: Currency,
    pub ledger_account_type: String,
    pub is_active: bool,
}

impl ParticipantRecord {
    /// The participant's account of a type in a currency.
    pub fn account(&self, currency: Currency, ledger_account_type: &str) -> Option<&AccountRecord> {
        self.accounts
            .iter()
            .find(|a| a.currency == currency && a.ledger_account_type == ledger_account_type)
    }

    pub fn position_account(&self, currency: Currency) -> Option<&AccountRecord> {
        self.account(currency, "POSITION")
    }
}

/// Read-through cache of participants (with accounts) by name, invalidated by the admin change
/// epoch.
pub type ParticipantCache = ReadThrough<ParticipantRecord>;

/// Participants (with accounts) by exact name, through [`crate::cache::load_by_names`]: one row
/// per account (one without accounts when it has none).
impl LoadByName for ParticipantRecord {
    const SELECT: &'static str = "SELECT p.participant_id, p.name, p.is_active, p.is_hub,
                a.account_id, a.currency, a.ledger_account_type, a.is_active AS account_active
         FROM participant p LEFT JOIN account a ON a.participant_id = p.participant_id
         WHERE p.name IN (";
    const AFTER_NAMES: &'static str = " ORDER BY p.participant_id, a.account_id";

    fn add_row(found: &mut HashMap<String, Self>, row: &MySqlRow) -> Result<()> {
        let name: String = row.try_get("name")?;
        let participant_id: ParticipantId = row.try_get("participant_id")?;
        let entry = match found.get_mut(&name) {
            Some(entry) => entry,
            None => found.entry(name.clone()).or_insert(ParticipantRecord {
                participant_id,
                name,
                is_active: row.try_get("is_active")?,
                is_hub: row.try_get("is_hub")?,
                accounts: Vec::new(),
            }),
        };
        if let Some(account_id) = row.try_get::<Option<AccountId>, _>("account_id")? {
            entry.accounts.push(AccountRecord {
                account_id,
                participant_id,
                currency: crate::columns::currency(row, "currency")?,
                ledger_account_type: row.try_get("ledger_account_type")?,
                is_active: row.try_get("account_active")?,
            });
        }
        Ok(())
    }
}

/// The hub participant's id (seeded by the first migration).
pub async fn hub_participant_id(conn: &mut MySqlConnection) -> Result<ParticipantId> {
    Ok(sqlx::query_scalar!(
        r#"SELECT participant_id AS "participant_id: ParticipantId" FROM participant WHERE is_hub LIMIT 1"#,
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Gives the hub participant (found by `is_hub`) the configured name (`HUB_NAME`). Returns
/// whether it was renamed; a rename bumps the admin change epoch.
pub async fn rename_hub(conn: &mut MySqlConnection, name: &str) -> Result<bool> {
    let renamed = sqlx::query!(
        "UPDATE participant SET name = ? WHERE is_hub AND name <> ?",
        name,
        name
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if renamed > 0 {
        bump_admin_epoch(conn).await?;
    }
    Ok(renamed > 0)
}

/// Creates a participant (active) and returns its id.
pub async fn create_participant(
    conn: &mut MySqlConnection,
    name: &str,
    created_by: &str,
) -> Result<ParticipantId> {
    let id = sqlx::query!(
        "INSERT INTO participant (name, created_by) VALUES (?, ?)",
        name,
        created_by
    )
    .execute(&mut *conn)
    .await?
    .last_insert_id();
    bump_admin_epoch(conn).await?;
    inserted_participant_id(id)
}

/// Creates a participant (active) with central-ledger's `isProxy` flag and returns its id.
pub async fn create_participant_with_proxy(
    conn: &mut MySqlConnection,
    name: &str,
    is_proxy: bool,
    created_by: &str,
) -> Result<ParticipantId> {
    let id = sqlx::query!(
        "INSERT INTO participant (name, is_proxy, created_by) VALUES (?, ?, ?)",
        name,
        is_proxy,
        created_by
    )
    .execute(&mut *conn)
    .await?
    .last_insert_id();
    bump_admin_epoch(conn).await?;
    inserted_participant_id(id)
}

/// The id MySQL gave an inserted participant row.
fn inserted_participant_id(id: u64) -> Result<ParticipantId> {
    u32::try_from(id)
        .map(ParticipantId)
        .map_err(|_| StoreError::Corrupt("participant id overflow".into()))
}

pub async fn set_participant_active(
    conn: &mut MySqlConnection,
    participant_id: ParticipantId,
    is_active: bool,
) -> Result<()> {
    sqlx::query!(
        "UPDATE participant SET is_active = ? WHERE participant_id = ?",
        is_active,
        participant_id
    )
    .execute(&mut *conn)
    .await?;
    bump_admin_epoch(conn).await
}
