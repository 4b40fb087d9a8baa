//! Settlement models (central-ledger's `settlementModels`): which accounts settle how.

use sqlx::MySqlConnection;

use crate::epoch::bump_admin_epoch;
use crate::{Result, StoreError};

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
    let id = sqlx::query!(
        "INSERT INTO settlement_model (name, settlement_granularity, settlement_interchange, settlement_delay,
             currency, require_liquidity_check, ledger_account_type, settlement_account_type, auto_position_reset, created_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        model.name,
        model.settlement_granularity,
        model.settlement_interchange,
        model.settlement_delay,
        model.currency,
        model.require_liquidity_check,
        model.ledger_account_type,
        model.settlement_account_type,
        model.auto_position_reset,
        model.created_by,
    )
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
    let found = sqlx::query!(
        "UPDATE settlement_model SET is_active = ? WHERE name = ?",
        is_active,
        name
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    bump_admin_epoch(conn).await?;
    Ok(found > 0)
}

/// A stored settlement model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementModelView {
    pub settlement_model_id: u32,
    pub name: String,
    pub is_active: bool,
    pub settlement_granularity: String,
    pub settlement_interchange: String,
    pub settlement_delay: String,
    pub currency: Option<String>,
    pub require_liquidity_check: bool,
    pub ledger_account_type: String,
    pub settlement_account_type: String,
    pub auto_position_reset: bool,
}

/// The settlement models `$rest` (SQL after `FROM settlement_model`, with `$args`) selects,
/// compile-checked (sqlx joins the literals).
macro_rules! settlement_models_where {
    ($rest:literal $(, $arg:expr)*) => {
        sqlx::query_as!(
            SettlementModelView,
            r#"SELECT settlement_model_id, name, is_active AS "is_active: bool", settlement_granularity,
                 settlement_interchange, settlement_delay, currency,
                 require_liquidity_check AS "require_liquidity_check: bool", ledger_account_type,
                 settlement_account_type, auto_position_reset AS "auto_position_reset: bool"
               FROM settlement_model "# + $rest
            $(, $arg)*
        )
    };
}

/// Every settlement model, in id order.
pub async fn settlement_models(conn: &mut MySqlConnection) -> Result<Vec<SettlementModelView>> {
    Ok(settlement_models_where!("ORDER BY settlement_model_id")
        .fetch_all(&mut *conn)
        .await?)
}

pub async fn settlement_model_by_name(
    conn: &mut MySqlConnection,
    name: &str,
) -> Result<Option<SettlementModelView>> {
    Ok(settlement_models_where!("WHERE name = ?", name)
        .fetch_optional(&mut *conn)
        .await?)
}

/// The active settlement models that apply to a currency: its own, or else the default ones
/// (currency NULL), as central-ledger chooses them for `POST /participants`.
pub async fn settlement_models_for_currency(
    conn: &mut MySqlConnection,
    currency: &str,
) -> Result<Vec<SettlementModelView>> {
    let active: Vec<SettlementModelView> = settlement_models(conn)
        .await?
        .into_iter()
        .filter(|m| m.is_active)
        .collect();
    let own: Vec<SettlementModelView> = active
        .iter()
        .filter(|m| m.currency.as_deref() == Some(currency))
        .cloned()
        .collect();
    if !own.is_empty() {
        return Ok(own);
    }
    Ok(active
        .into_iter()
        .filter(|m| m.currency.is_none())
        .collect())
}
