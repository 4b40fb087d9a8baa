//! Read models of the admin API: participants with their accounts and balances, limits,
//! settlement models, ledger account types, and a transfer's position journal. Reads only; the
//! writes are in [`crate::admin`].

use rust_decimal::Decimal;
use sqlx::mysql::MySqlRow;
use sqlx::{MySql, MySqlConnection, QueryBuilder, Row};
use time::PrimitiveDateTime;

use crate::Result;

/// A participant with every account it has, as the admin API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantView {
    pub participant_id: u32,
    pub name: String,
    pub is_active: bool,
    pub is_hub: bool,
    pub is_proxy: bool,
    pub created_at: PrimitiveDateTime,
    /// In account id order.
    pub accounts: Vec<AccountView>,
}

impl ParticipantView {
    /// The account of a type in a currency.
    pub fn account(&self, currency: &str, ledger_account_type: &str) -> Option<&AccountView> {
        self.accounts
            .iter()
            .find(|a| a.currency == currency && a.ledger_account_type == ledger_account_type)
    }

    pub fn account_by_id(&self, account_id: u32) -> Option<&AccountView> {
        self.accounts.iter().find(|a| a.account_id == account_id)
    }

    /// Whether the participant has any account in the currency.
    pub fn has_currency(&self, currency: &str) -> bool {
        self.accounts.iter().any(|a| a.currency == currency)
    }
}

/// An account (central-ledger's participantCurrency) with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountView {
    pub account_id: u32,
    pub participant_id: u32,
    pub currency: String,
    pub ledger_account_type: String,
    pub is_active: bool,
    pub created_at: PrimitiveDateTime,
    pub created_by: String,
    /// Position value (zero when the account has no position row).
    pub value: Decimal,
    pub reserved_value: Decimal,
    /// When the position last changed (`None` without a position row).
    pub changed_at: Option<PrimitiveDateTime>,
}

/// Which participants to load.
enum Filter<'a> {
    All(Option<bool>),
    Name(&'a str),
    Id(u32),
    Hub,
}

async fn load_participants(
    conn: &mut MySqlConnection,
    filter: Filter<'_>,
) -> Result<Vec<ParticipantView>> {
    let mut builder = QueryBuilder::<MySql>::new(
        "SELECT p.participant_id, p.name, p.is_active, p.is_hub, p.is_proxy, p.created_at,
                a.account_id, a.currency, a.ledger_account_type, a.is_active AS account_active,
                a.created_at AS account_created_at, a.created_by AS account_created_by,
                pp.value, pp.reserved_value, pp.changed_at
         FROM participant p
         LEFT JOIN account a ON a.participant_id = p.participant_id
         LEFT JOIN participant_position pp ON pp.account_id = a.account_id",
    );
    match filter {
        Filter::All(None) => {}
        Filter::All(Some(is_proxy)) => {
            builder.push(" WHERE p.is_proxy = ").push_bind(is_proxy);
        }
        Filter::Name(name) => {
            builder.push(" WHERE p.name = ").push_bind(name.to_owned());
        }
        Filter::Id(id) => {
            builder.push(" WHERE p.participant_id = ").push_bind(id);
        }
        Filter::Hub => {
            builder.push(" WHERE p.is_hub");
        }
    }
    builder.push(" ORDER BY p.participant_id, a.account_id");
    let rows = builder.build().fetch_all(&mut *conn).await?;
    let mut found: Vec<ParticipantView> = Vec::new();
    for row in &rows {
        let participant_id: u32 = row.try_get("participant_id")?;
        if found.last().map(|p| p.participant_id) != Some(participant_id) {
            found.push(ParticipantView {
                participant_id,
                name: row.try_get("name")?,
                is_active: row.try_get("is_active")?,
                is_hub: row.try_get("is_hub")?,
                is_proxy: row.try_get("is_proxy")?,
                created_at: row.try_get("created_at")?,
                accounts: Vec::new(),
            });
        }
        if let Some(account) = account_from_row(row, participant_id)?
            && let Some(participant) = found.last_mut()
        {
            participant.accounts.push(account);
        }
    }
    Ok(found)
}

fn account_from_row(row: &MySqlRow, participant_id: u32) -> Result<Option<AccountView>> {
    let Some(account_id) = row.try_get::<Option<u32>, _>("account_id")? else {
        return Ok(None);
    };
    Ok(Some(AccountView {
        account_id,
        participant_id,
        currency: row.try_get("currency")?,
        ledger_account_type: row.try_get("ledger_account_type")?,
        is_active: row.try_get("account_active")?,
        created_at: row.try_get("account_created_at")?,
        created_by: row.try_get("account_created_by")?,
        value: row
            .try_get::<Option<Decimal>, _>("value")?
            .unwrap_or_default(),
        reserved_value: row
            .try_get::<Option<Decimal>, _>("reserved_value")?
            .unwrap_or_default(),
        changed_at: row.try_get("changed_at")?,
    }))
}

/// Every participant (the hub included), optionally only proxies or only non-proxies.
pub async fn participants(
    conn: &mut MySqlConnection,
    is_proxy: Option<bool>,
) -> Result<Vec<ParticipantView>> {
    load_participants(conn, Filter::All(is_proxy)).await
}

/// The participant with exactly this name (names compare case-sensitively).
pub async fn participant_by_name(
    conn: &mut MySqlConnection,
    name: &str,
) -> Result<Option<ParticipantView>> {
    Ok(load_participants(conn, Filter::Name(name)).await?.pop())
}

/// The name of a participant whose name equals `name` except in letter case (not `name` itself),
/// if there is one. Names are stored and compared byte for byte; this finds the look-alike a
/// new name must not be (one participant must never pass for another in a case-folded
/// comparison, in the hub or in a DFSP's systems).
pub async fn participant_name_case_variant(
    conn: &mut MySqlConnection,
    name: &str,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT name FROM participant WHERE LOWER(name) = LOWER(?) AND name <> ?
         ORDER BY participant_id LIMIT 1",
    )
    .bind(name)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn participant_by_id(
    conn: &mut MySqlConnection,
    participant_id: u32,
) -> Result<Option<ParticipantView>> {
    Ok(load_participants(conn, Filter::Id(participant_id))
        .await?
        .pop())
}

/// The hub participant (the row with `is_hub`), with its accounts.
pub async fn hub(conn: &mut MySqlConnection) -> Result<ParticipantView> {
    load_participants(conn, Filter::Hub)
        .await?
        .pop()
        .ok_or_else(|| crate::StoreError::Corrupt("no hub participant".into()))
}

/// A limit of a POSITION account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitView {
    pub participant_name: String,
    pub currency: String,
    pub limit_type: String,
    pub value: Decimal,
    pub alarm_percentage: Decimal,
}

/// Limits of POSITION accounts, optionally of one participant, currency or limit type, in
/// participant and currency order.
pub async fn limits(
    conn: &mut MySqlConnection,
    participant_id: Option<u32>,
    currency: Option<&str>,
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
            .push_bind(currency.to_owned());
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
                currency: row.try_get("currency")?,
                limit_type: row.try_get("limit_type")?,
                value: row.try_get("value")?,
                alarm_percentage: row.try_get("threshold_alarm_percentage")?,
            })
        })
        .collect()
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

const SETTLEMENT_MODEL_COLUMNS: &str = "SELECT settlement_model_id, name, is_active, settlement_granularity, \
     settlement_interchange, settlement_delay, currency, require_liquidity_check, ledger_account_type, \
     settlement_account_type, auto_position_reset FROM settlement_model";

fn settlement_model_from_row(row: &MySqlRow) -> Result<SettlementModelView> {
    Ok(SettlementModelView {
        settlement_model_id: row.try_get("settlement_model_id")?,
        name: row.try_get("name")?,
        is_active: row.try_get("is_active")?,
        settlement_granularity: row.try_get("settlement_granularity")?,
        settlement_interchange: row.try_get("settlement_interchange")?,
        settlement_delay: row.try_get("settlement_delay")?,
        currency: row.try_get("currency")?,
        require_liquidity_check: row.try_get("require_liquidity_check")?,
        ledger_account_type: row.try_get("ledger_account_type")?,
        settlement_account_type: row.try_get("settlement_account_type")?,
        auto_position_reset: row.try_get("auto_position_reset")?,
    })
}

/// Every settlement model, in id order.
pub async fn settlement_models(conn: &mut MySqlConnection) -> Result<Vec<SettlementModelView>> {
    let mut builder = QueryBuilder::<MySql>::new(SETTLEMENT_MODEL_COLUMNS);
    builder.push(" ORDER BY settlement_model_id");
    let rows = builder.build().fetch_all(&mut *conn).await?;
    rows.iter().map(settlement_model_from_row).collect()
}

pub async fn settlement_model_by_name(
    conn: &mut MySqlConnection,
    name: &str,
) -> Result<Option<SettlementModelView>> {
    let mut builder = QueryBuilder::<MySql>::new(SETTLEMENT_MODEL_COLUMNS);
    builder.push(" WHERE name = ").push_bind(name.to_owned());
    let row = builder.build().fetch_optional(&mut *conn).await?;
    row.as_ref().map(settlement_model_from_row).transpose()
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

/// Ledger account types: (name, description), in name order.
pub async fn ledger_account_types(conn: &mut MySqlConnection) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT ledger_account_type, description FROM ledger_account_type ORDER BY ledger_account_type",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("ledger_account_type")?, r.try_get("description")?)))
        .collect()
}

/// One entry of the position journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub account_id: u32,
    /// `RESERVE`, `COMMIT` or `REVERSE`.
    pub phase: String,
    pub change: Decimal,
    pub value_after: Decimal,
}

/// The position journal entries of one transfer, in the order they were written.
pub async fn position_journal(
    conn: &mut MySqlConnection,
    transfer_id: &str,
) -> Result<Vec<JournalEntry>> {
    let rows = sqlx::query(
        "SELECT account_id, phase, change_amount, value_after FROM position_change
         WHERE transfer_id = ? ORDER BY position_change_id",
    )
    .bind(transfer_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(JournalEntry {
                account_id: r.try_get("account_id")?,
                phase: r.try_get("phase")?,
                change: r.try_get("change_amount")?,
                value_after: r.try_get("value_after")?,
            })
        })
        .collect()
}

/// The state journal of one transfer: (from, to, reason), in order.
pub async fn state_journal(
    conn: &mut MySqlConnection,
    transfer_id: &str,
) -> Result<Vec<(Option<String>, String, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT from_state, state, reason FROM transfer_state_change
         WHERE transfer_id = ? ORDER BY transfer_state_change_id",
    )
    .bind(transfer_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("from_state")?,
                r.try_get("state")?,
                r.try_get("reason")?,
            ))
        })
        .collect()
}

/// The participant owning an account, if the account exists.
pub async fn account_owner(conn: &mut MySqlConnection, account_id: u32) -> Result<Option<u32>> {
    Ok(
        sqlx::query_scalar::<_, u32>("SELECT participant_id FROM account WHERE account_id = ?")
            .bind(account_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}
