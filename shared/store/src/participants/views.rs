//! Read models of the admin API: participants with every account and its balance.

use ferroloop_core::currency::Currency;
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use rust_decimal::Decimal;
use sqlx::{MySql, MySqlConnection, QueryBuilder};
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

/// Which participants [`load_participants`] loads.
enum Filter {
    All(Option<bool>),
    Hub,
}

/// A participant row joined with one of its accounts (none: the account columns are NULL).
#[derive(sqlx::FromRow)]
struct ParticipantAccountRow {
    participant_id: ParticipantId,
    name: String,
    is_active: bool,
    is_hub: bool,
    is_proxy: bool,
    created_at: PrimitiveDateTime,
    account_id: Option<AccountId>,
    currency: Option<String>,
    ledger_account_type: Option<String>,
    account_active: Option<bool>,
    account_created_at: Option<PrimitiveDateTime>,
    account_created_by: Option<String>,
    value: Option<Decimal>,
    reserved_value: Option<Decimal>,
    changed_at: Option<PrimitiveDateTime>,
}

async fn load_participants(
    conn: &mut MySqlConnection,
    filter: Filter,
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
        Filter::Hub => {
            builder.push(" WHERE p.is_hub");
        }
    }
    builder.push(" ORDER BY p.participant_id, a.account_id");
    let rows = builder
        .build_query_as::<ParticipantAccountRow>()
        .fetch_all(&mut *conn)
        .await?;
    participants_from_rows(rows)
}

/// Groups joined rows (in participant, then account order) into participants with accounts.
fn participants_from_rows(rows: Vec<ParticipantAccountRow>) -> Result<Vec<ParticipantView>> {
    let mut found: Vec<ParticipantView> = Vec::new();
    for row in rows {
        let participant_id = row.participant_id;
        if found.last().map(|p| p.participant_id) != Some(participant_id) {
            found.push(ParticipantView {
                participant_id,
                name: row.name.clone(),
                is_active: row.is_active,
                is_hub: row.is_hub,
                is_proxy: row.is_proxy,
                created_at: row.created_at,
                accounts: Vec::new(),
            });
        }
        if let Some(account) = account_from_row(row)?
            && let Some(participant) = found.last_mut()
        {
            participant.accounts.push(account);
        }
    }
    Ok(found)
}

fn account_from_row(row: ParticipantAccountRow) -> Result<Option<AccountView>> {
    let Some(account_id) = row.account_id else {
        return Ok(None);
    };
    let missing =
        |column: &str| crate::StoreError::Corrupt(format!("account {account_id} has no {column}"));
    let currency = row.currency.ok_or_else(|| missing("currency"))?;
    Ok(Some(AccountView {
        account_id,
        participant_id: row.participant_id,
        currency: crate::columns::parse_currency("currency", &currency)?,
        ledger_account_type: row
            .ledger_account_type
            .ok_or_else(|| missing("ledger_account_type"))?,
        is_active: row.account_active.ok_or_else(|| missing("is_active"))?,
        created_at: row
            .account_created_at
            .ok_or_else(|| missing("created_at"))?,
        created_by: row
            .account_created_by
            .ok_or_else(|| missing("created_by"))?,
        value: row.value.unwrap_or_default(),
        reserved_value: row.reserved_value.unwrap_or_default(),
        changed_at: row.changed_at,
    }))
}

/// The joined rows of the participants `$condition` (SQL with one parameter, `$arg`) selects,
/// compile-checked (sqlx joins the literals).
macro_rules! participant_account_rows {
    ($condition:literal, $arg:expr) => {
        sqlx::query_as!(
            ParticipantAccountRow,
            r#"SELECT p.participant_id AS "participant_id: ParticipantId", p.name,
                    p.is_active AS "is_active: bool", p.is_hub AS "is_hub: bool",
                    p.is_proxy AS "is_proxy: bool", p.created_at,
                    a.account_id AS "account_id?: AccountId", a.currency AS "currency?",
                    a.ledger_account_type AS "ledger_account_type?",
                    a.is_active AS "account_active?: bool", a.created_at AS "account_created_at?",
                    a.created_by AS "account_created_by?", pp.value AS "value?",
                    pp.reserved_value AS "reserved_value?", pp.changed_at AS "changed_at?"
               FROM participant p
               LEFT JOIN account a ON a.participant_id = p.participant_id
               LEFT JOIN participant_position pp ON pp.account_id = a.account_id
               WHERE "# + $condition + " ORDER BY p.participant_id, a.account_id",
            $arg
        )
    };
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
    let rows = participant_account_rows!("p.name = ?", name)
        .fetch_all(&mut *conn)
        .await?;
    Ok(participants_from_rows(rows)?.pop())
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
    let rows = participant_account_rows!("p.participant_id = ?", participant_id)
        .fetch_all(&mut *conn)
        .await?;
    Ok(participants_from_rows(rows)?.pop())
}

/// The hub participant (the row with `is_hub`), with its accounts.
pub async fn hub(conn: &mut MySqlConnection) -> Result<ParticipantView> {
    load_participants(conn, Filter::Hub)
        .await?
        .pop()
        .ok_or_else(|| crate::StoreError::Corrupt("no hub participant".into()))
}
