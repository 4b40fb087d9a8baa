//! The transfer aggregate: the transfer row with its current state, and beside it the duplicate
//! checks ([`duplicates`]), the state journal ([`states`]), fulfilments, errors, extensions and
//! ILP packets ([`details`]), timeout rows ([`timeouts`]), the state bodies of GET and
//! duplicate answers ([`views`]) and the admin API's funds in and out ([`funds`]).
//!
//! Reads take a whole batch of ids at once; writes are multi-row statements. Every function that
//! changes a transfer's state takes the batch transaction, in which the rows were locked. The
//! submodules' items are re-exported here, so callers name the aggregate (`transfers::…`).

pub mod details;
pub mod duplicates;
pub mod funds;
pub mod states;
pub mod timeouts;
pub mod views;

pub use details::*;
pub use duplicates::*;
pub use states::*;
pub use timeouts::*;
pub use views::*;

use std::collections::HashMap;

use ferroloop_core::currency::Currency;
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use ferroloop_core::state::TransferState;
use rust_decimal::Decimal;
use sqlx::mysql::MySqlRow;
use sqlx::{MySql, MySqlConnection, QueryBuilder, Row};
use time::PrimitiveDateTime;

use crate::{Result, StoreError};

pub use crate::MAX_ROWS_PER_STATEMENT;

/// A transfer as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferRecord {
    pub transfer_id: TransferId,
    pub kind: TransferKind,
    pub payer_fsp: String,
    pub payee_fsp: String,
    pub payer_participant_id: Option<ParticipantId>,
    pub payee_participant_id: Option<ParticipantId>,
    pub payer_account_id: Option<AccountId>,
    pub payee_account_id: Option<AccountId>,
    pub amount: Option<Decimal>,
    pub currency: TransferCurrency,
    pub ilp_condition: Option<String>,
    pub expiration: Option<PrimitiveDateTime>,
    pub state: TransferState,
    pub state_changed_at: PrimitiveDateTime,
}

/// A transfer row's currency. Every transfer that moves money has a [`Currency`]; an INVALID
/// prepare keeps the three ASCII characters it named even when they are no FSPIOP currency
/// (and nothing when it named something longer or not ASCII), so its row still says what was
/// asked. A committed transfer whose currency is unlisted is a corrupt row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferCurrency {
    Listed(Currency),
    /// At most three ASCII characters that are no currency of the FSPIOP list.
    Unlisted(String),
}

impl TransferCurrency {
    /// The column's text: a currency when it is one, else kept as text.
    pub fn from_column(text: String) -> Self {
        match Currency::parse(&text) {
            Ok(currency) => TransferCurrency::Listed(currency),
            Err(_) => TransferCurrency::Unlisted(text),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            TransferCurrency::Listed(currency) => currency.as_str(),
            TransferCurrency::Unlisted(text) => text,
        }
    }

    /// The currency, if the text is one.
    pub fn listed(&self) -> Option<Currency> {
        match self {
            TransferCurrency::Listed(currency) => Some(*currency),
            TransferCurrency::Unlisted(_) => None,
        }
    }
}

impl From<Currency> for TransferCurrency {
    fn from(currency: Currency) -> Self {
        TransferCurrency::Listed(currency)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferKind {
    Transfer,
    FundsIn,
    FundsOut,
    /// A settlement moving a DFSP's net amount between its position and settlement accounts.
    Settlement,
}

impl TransferKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            TransferKind::Transfer => "TRANSFER",
            TransferKind::FundsIn => "FUNDS_IN",
            TransferKind::FundsOut => "FUNDS_OUT",
            TransferKind::Settlement => "SETTLEMENT",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "TRANSFER" => Ok(TransferKind::Transfer),
            "FUNDS_IN" => Ok(TransferKind::FundsIn),
            "FUNDS_OUT" => Ok(TransferKind::FundsOut),
            "SETTLEMENT" => Ok(TransferKind::Settlement),
            other => Err(StoreError::Corrupt(format!(
                "unknown transfer kind {other}"
            ))),
        }
    }
}

pub(crate) const TRANSFER_COLUMNS: &str = "transfer_id, kind, payer_fsp, payee_fsp, payer_participant_id, \
     payee_participant_id, payer_account_id, payee_account_id, amount, currency, ilp_condition, \
     expiration, state, state_changed_at";

pub(crate) fn transfer_from_row(row: &MySqlRow) -> Result<TransferRecord> {
    let state: String = row.try_get("state")?;
    let kind: String = row.try_get("kind")?;
    Ok(TransferRecord {
        transfer_id: crate::columns::transfer_id(row, "transfer_id")?,
        kind: TransferKind::parse(&kind)?,
        payer_fsp: row.try_get("payer_fsp")?,
        payee_fsp: row.try_get("payee_fsp")?,
        payer_participant_id: row.try_get("payer_participant_id")?,
        payee_participant_id: row.try_get("payee_participant_id")?,
        payer_account_id: row.try_get("payer_account_id")?,
        payee_account_id: row.try_get("payee_account_id")?,
        amount: row.try_get("amount")?,
        currency: TransferCurrency::from_column(row.try_get("currency")?),
        ilp_condition: row.try_get("ilp_condition")?,
        expiration: row.try_get("expiration")?,
        state: state
            .parse()
            .map_err(|e: ferroloop_core::state::UnknownTransferState| {
                StoreError::Corrupt(e.to_string())
            })?,
        state_changed_at: row.try_get("state_changed_at")?,
    })
}

/// Binds the ids' texts as the rest of an `IN (` list and closes it.
pub(crate) fn push_id_list(builder: &mut QueryBuilder<MySql>, ids: &[TransferId]) {
    let texts: Vec<&str> = ids.iter().map(TransferId::as_str).collect();
    crate::statements::push_in_list(builder, &texts);
}

/// The ids sorted (by their text) and without repeats: the order rows are locked in.
pub(crate) fn sorted_unique(ids: &[TransferId]) -> Vec<TransferId> {
    crate::statements::sorted_unique(ids.to_vec())
}

/// Loads transfers by id. With `lock`, the rows are locked for update (in id order, so that two
/// handlers locking overlapping batches cannot deadlock on them). Ids that are no transfer's are
/// absent from the result, which is keyed by id.
pub async fn load_transfers(
    conn: &mut MySqlConnection,
    ids: &[TransferId],
    lock: bool,
) -> Result<HashMap<TransferId, TransferRecord>> {
    let order = if lock {
        " ORDER BY transfer_id FOR UPDATE"
    } else {
        " ORDER BY transfer_id"
    };
    select_transfers(conn, ids, order).await
}

/// Locks the transfers that no other transaction holds right now and returns them; the others
/// are skipped (the timeout handler comes back for them), so a scanner never waits on — or
/// deadlocks with — a handler working on the same transfer.
pub async fn lock_transfers_skip_locked(
    conn: &mut MySqlConnection,
    ids: &[TransferId],
) -> Result<HashMap<TransferId, TransferRecord>> {
    select_transfers(conn, ids, " ORDER BY transfer_id FOR UPDATE SKIP LOCKED").await
}

/// The transfers with these ids, in chunks of at most `MAX_ROWS_PER_STATEMENT`, each statement
/// ending with `tail` (order and locking).
async fn select_transfers(
    conn: &mut MySqlConnection,
    ids: &[TransferId],
    tail: &str,
) -> Result<HashMap<TransferId, TransferRecord>> {
    let ids = sorted_unique(ids);
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new(format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfer WHERE transfer_id IN ("
        ));
        push_id_list(&mut builder, chunk);
        builder.push(tail);
        for row in builder.build().fetch_all(&mut *conn).await? {
            let record = transfer_from_row(&row)?;
            found.insert(record.transfer_id, record);
        }
    }
    Ok(found)
}

/// A transfer to insert together with its first journal row.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTransfer {
    pub record: TransferRecord,
    /// Reason for the first state (the validation failure of an INVALID prepare).
    pub reason: Option<String>,
}

/// Inserts transfers and their first state-change rows.
pub async fn insert_transfers(conn: &mut MySqlConnection, transfers: &[NewTransfer]) -> Result<()> {
    for chunk in crate::statements::power_of_two_chunks(transfers) {
        let mut builder =
            QueryBuilder::<MySql>::new(format!("INSERT INTO transfer ({TRANSFER_COLUMNS}) "));
        builder.push_values(chunk, |mut row, t| {
            let r = &t.record;
            row.push_bind(r.transfer_id.as_str())
                .push_bind(r.kind.as_str())
                .push_bind(r.payer_fsp.clone())
                .push_bind(r.payee_fsp.clone())
                .push_bind(r.payer_participant_id)
                .push_bind(r.payee_participant_id)
                .push_bind(r.payer_account_id)
                .push_bind(r.payee_account_id)
                .push_bind(r.amount)
                .push_bind(r.currency.as_str())
                .push_bind(r.ilp_condition.clone())
                .push_bind(r.expiration)
                .push_bind(r.state.as_str())
                .push_bind(r.state_changed_at);
        });
        builder.build().execute(&mut *conn).await?;
    }
    let changes: Vec<StateChange> = transfers
        .iter()
        .map(|t| StateChange {
            transfer_id: t.record.transfer_id,
            from: None,
            to: t.record.state,
            reason: t.reason.clone(),
            at: t.record.state_changed_at,
        })
        .collect();
    insert_state_changes(conn, &changes, &DecidingEvents::new()).await
}
