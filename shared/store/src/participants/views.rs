//! Read models of the admin API: participants with every account and its balance.

use ferroloop_core::currency::Currency;
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use rust_decimal::Decimal;
use sqlx::mysql::MySqlRow;
use sqlx::{MySql, MySqlConnection, QueryBuilder, Row};
use time::PrimitiveDateTime;

use crate::Result;

/// A participant with every account it has, as the admin API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantView {
    pub participant_id: ParticipantId,
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
    pub fn account(&self, currency: Currency, ledger_account_type: &str) -> Option<&AccountView> {
        self.accounts
            .iter()
            .find(|a| a.currency == currency && a.ledger_account_type == ledger_account_type)
    }

    pub fn account_by_id(&self, account_id: AccountId) -> Option<&AccountView> {
        self.accounts.iter().find(|a| a.account_id == account_id)
    }

    /// Whether the participant has any account in the currency.
    pub fn has_currency(&self, currency: Currency) -> bool {
        self.accounts.iter().any(|a| a.currency == currency)
    }
}

/// An account (central-ledger's participantCurrency) with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountView {
    pub account_id: AccountId,
    pub participant_id: ParticipantId,
    pub currency: Currency,
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
    Id(ParticipantId),
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
        let participant_id: ParticipantId = row.try_get("participant_id")?;
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

fn account_from_row(row: &MySqlRow, participant_id: ParticipantId) -> Result<Option<AccountView>> {
    let Some(account_id) = row.try_get::<Option<AccountId>, _>("account_id")? else {
        return Ok(None);
    };
    Ok(Some(AccountView {
        account_id,
        participant_id,
        currency: crate::columns::currency(row, "currency")?,
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
    Ok(sqlx::query_scalar!(
        "SELECT name FROM participant WHERE LOWER(name) = LOWER(?) AND name <> ?
         ORDER BY participant_id LIMIT 1",
        name,
        name,
    )
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn participant_by_id(
    conn: &mut MySqlConnection,
    participant_id: ParticipantId,
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
