//! The transfer aggregate: duplicate checks, the transfer row with its current state, the state
//! journal, fulfilments, errors, extensions, ILP packets and timeout rows.
//!
//! Reads take a whole batch of ids at once; writes are multi-row statements. Every function that
//! changes a transfer's state takes the batch transaction, in which the rows were locked.

use std::collections::HashMap;

use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use ferroloop_core::state::TransferState;
use rust_decimal::Decimal;
use sqlx::mysql::MySqlRow;
use sqlx::{MySql, MySqlConnection, MySqlPool, QueryBuilder, Row};
use time::PrimitiveDateTime;

use crate::statements::power_of_two_chunks;
use crate::{Result, StoreError};

/// Rows per multi-row statement; keeps every statement far below MySQL's 65,535 placeholders.
pub const MAX_ROWS_PER_STATEMENT: usize = crate::statements::MAX_ROWS;

/// A transfer as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferRecord {
    pub transfer_id: String,
    pub kind: TransferKind,
    pub payer_fsp: String,
    pub payee_fsp: String,
    pub payer_participant_id: Option<ParticipantId>,
    pub payee_participant_id: Option<ParticipantId>,
    pub payer_account_id: Option<AccountId>,
    pub payee_account_id: Option<AccountId>,
    pub amount: Option<Decimal>,
    pub currency: String,
    pub ilp_condition: Option<String>,
    pub expiration: Option<PrimitiveDateTime>,
    pub state: TransferState,
    pub state_changed_at: PrimitiveDateTime,
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

const TRANSFER_COLUMNS: &str = "transfer_id, kind, payer_fsp, payee_fsp, payer_participant_id, \
     payee_participant_id, payer_account_id, payee_account_id, amount, currency, ilp_condition, \
     expiration, state, state_changed_at";

fn transfer_from_row(row: &MySqlRow) -> Result<TransferRecord> {
    let state: String = row.try_get("state")?;
    let kind: String = row.try_get("kind")?;
    Ok(TransferRecord {
        transfer_id: row.try_get("transfer_id")?,
        kind: TransferKind::parse(&kind)?,
        payer_fsp: row.try_get("payer_fsp")?,
        payee_fsp: row.try_get("payee_fsp")?,
        payer_participant_id: row.try_get("payer_participant_id")?,
        payee_participant_id: row.try_get("payee_participant_id")?,
        payer_account_id: row.try_get("payer_account_id")?,
        payee_account_id: row.try_get("payee_account_id")?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
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

fn push_id_list(builder: &mut QueryBuilder<MySql>, ids: &[&str]) {
    crate::statements::push_in_list(builder, ids);
}

fn sorted_unique<'a>(ids: &[&'a str]) -> Vec<&'a str> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Loads transfers by id. With `lock`, the rows are locked for update (in id order, so that two
/// handlers locking overlapping batches cannot deadlock on them).
pub async fn load_transfers(
    conn: &mut MySqlConnection,
    ids: &[&str],
    lock: bool,
) -> Result<HashMap<String, TransferRecord>> {
    let ids = sorted_unique(ids);
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new(format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfer WHERE transfer_id IN ("
        ));
        push_id_list(&mut builder, chunk);
        builder.push(" ORDER BY transfer_id");
        if lock {
            builder.push(" FOR UPDATE");
        }
        for row in builder.build().fetch_all(&mut *conn).await? {
            let record = transfer_from_row(&row)?;
            found.insert(record.transfer_id.clone(), record);
        }
    }
    Ok(found)
}

/// Locks the transfers that no other transaction holds right now and returns them; the others
/// are skipped (the timeout handler comes back for them), so a scanner never waits on — or
/// deadlocks with — a handler working on the same transfer.
pub async fn lock_transfers_skip_locked(
    conn: &mut MySqlConnection,
    ids: &[&str],
) -> Result<HashMap<String, TransferRecord>> {
    let ids = sorted_unique(ids);
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new(format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfer WHERE transfer_id IN ("
        ));
        push_id_list(&mut builder, chunk);
        builder.push(" ORDER BY transfer_id FOR UPDATE SKIP LOCKED");
        for row in builder.build().fetch_all(&mut *conn).await? {
            let record = transfer_from_row(&row)?;
            found.insert(record.transfer_id.clone(), record);
        }
    }
    Ok(found)
}

/// Which duplicate-check table: one per kind of request
/// (docs/duplicates-and-replays.md#insert-first-claims).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DuplicateCheck {
    /// POST /transfers (and admin funds in/out).
    Prepare,
    /// PUT /transfers/{id}.
    Fulfil,
    /// PUT /transfers/{id}/error.
    Error,
}

impl DuplicateCheck {
    const fn table(self) -> &'static str {
        match self {
            DuplicateCheck::Prepare => "transfer_duplicate_check",
            DuplicateCheck::Fulfil => "transfer_fulfilment_duplicate_check",
            DuplicateCheck::Error => "transfer_error_duplicate_check",
        }
    }
}

/// A request claiming a duplicate-check record: (transfer id, body hash, event id).
pub type DuplicateClaim<'a> = (&'a str, [u8; 32], &'a str);

/// A duplicate-check record: the first request's body hash and the event that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRecord {
    pub request_hash: Option<[u8; 32]>,
    pub source_event_id: String,
    /// The record was committed before this claim: with the caller's own event id, the message
    /// is a redelivery of one handled before, not a first request.
    pub stored_before: bool,
}

/// Insert-first duplicate check (docs/duplicates-and-replays.md#insert-first-claims): inserts a
/// record for every id that has none and returns the record each id has now. A returned record
/// whose `source_event_id` is the caller's event is the caller's own (new request, or a replay of
/// it); any other means the id was used before. Runs inside the batch transaction, so the insert
/// and the write it guards commit together; a racing first request waits on the unique key and then
/// sees ours.
pub async fn claim_duplicate_checks(
    conn: &mut MySqlConnection,
    check: DuplicateCheck,
    requests: &[DuplicateClaim<'_>],
) -> Result<HashMap<String, DuplicateRecord>> {
    let mut requests = requests.to_vec();
    // Stable: of several requests for one id in a batch, the first in batch order claims it.
    requests.sort_by(|a, b| a.0.cmp(b.0));
    requests.dedup_by(|later, first| later.0 == first.0);
    let ids: Vec<&str> = requests.iter().map(|r| r.0).collect();
    // Committed before this transaction (a racing uncommitted first request is not seen here,
    // and its record, read back below, carries another event id anyway).
    let stored_before = existing_claims(conn, check, &ids).await?;
    for chunk in power_of_two_chunks(&requests) {
        let mut builder = QueryBuilder::<MySql>::new(format!(
            "INSERT IGNORE INTO {} (transfer_id, request_hash, source_event_id) ",
            check.table()
        ));
        builder.push_values(chunk, |mut row, (id, hash, event)| {
            row.push_bind(id.to_string())
                .push_bind(hash.to_vec())
                .push_bind(event.to_string());
        });
        builder.build().execute(&mut *conn).await?;
    }
    let mut records = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new(format!(
            "SELECT transfer_id, request_hash, source_event_id FROM {} WHERE transfer_id IN (",
            check.table()
        ));
        push_id_list(&mut builder, chunk);
        for row in builder.build().fetch_all(&mut *conn).await? {
            let hash: Option<Vec<u8>> = row.try_get("request_hash")?;
            let request_hash =
                match hash {
                    None => None,
                    Some(bytes) => Some(<[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                        StoreError::Corrupt("request hash is not 32 bytes".to_owned())
                    })?),
                };
            let id: String = row.try_get("transfer_id")?;
            records.insert(
                id.clone(),
                DuplicateRecord {
                    request_hash,
                    source_event_id: row.try_get("source_event_id")?,
                    stored_before: stored_before.contains(&id),
                },
            );
        }
    }
    Ok(records)
}

/// The ids among `ids` that already have a committed duplicate-check record.
async fn existing_claims(
    conn: &mut MySqlConnection,
    check: DuplicateCheck,
    ids: &[&str],
) -> Result<std::collections::HashSet<String>> {
    let mut found = std::collections::HashSet::new();
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new(format!(
            "SELECT transfer_id FROM {} WHERE transfer_id IN (",
            check.table()
        ));
        push_id_list(&mut builder, chunk);
        for row in builder.build().fetch_all(&mut *conn).await? {
            found.insert(row.try_get("transfer_id")?);
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
    for chunk in power_of_two_chunks(transfers) {
        let mut builder =
            QueryBuilder::<MySql>::new(format!("INSERT INTO transfer ({TRANSFER_COLUMNS}) "));
        builder.push_values(chunk, |mut row, t| {
            let r = &t.record;
            row.push_bind(r.transfer_id.clone())
                .push_bind(r.kind.as_str())
                .push_bind(r.payer_fsp.clone())
                .push_bind(r.payee_fsp.clone())
                .push_bind(r.payer_participant_id)
                .push_bind(r.payee_participant_id)
                .push_bind(r.payer_account_id)
                .push_bind(r.payee_account_id)
                .push_bind(r.amount)
                .push_bind(r.currency.clone())
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
            transfer_id: t.record.transfer_id.clone(),
            from: None,
            to: t.record.state,
            reason: t.reason.clone(),
            at: t.record.state_changed_at,
        })
        .collect();
    insert_state_changes(conn, &changes, &DecidingEvents::new()).await
}

/// The events recorded as having moved each of `ids` into each state:
/// `(transfer id, state) → event id`. Changes without a recorded event are absent.
pub async fn load_deciding_events(
    conn: &mut MySqlConnection,
    ids: &[&str],
) -> Result<HashMap<(String, TransferState), String>> {
    let ids = sorted_unique(ids);
    let mut found = HashMap::new();
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new(
            "SELECT transfer_id, state, event_id FROM transfer_state_change \
             WHERE event_id IS NOT NULL AND transfer_id IN (",
        );
        push_id_list(&mut builder, chunk);
        for row in builder.build().fetch_all(&mut *conn).await? {
            let state: String = row.try_get("state")?;
            let state =
                state
                    .parse()
                    .map_err(|e: ferroloop_core::state::UnknownTransferState| {
                        StoreError::Corrupt(e.to_string())
                    })?;
            found.insert(
                (row.try_get("transfer_id")?, state),
                row.try_get("event_id")?,
            );
        }
    }
    Ok(found)
}

/// One state change of one transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    pub transfer_id: String,
    pub from: Option<TransferState>,
    pub to: TransferState,
    pub reason: Option<String>,
    pub at: PrimitiveDateTime,
}

/// Longest reason the journal keeps (column width).
pub const MAX_REASON_CHARS: usize = 512;

fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Which event made each change, by transfer id (absent: not recorded).
pub type DecidingEvents = HashMap<String, String>;

async fn insert_state_changes(
    conn: &mut MySqlConnection,
    changes: &[StateChange],
    events: &DecidingEvents,
) -> Result<()> {
    for chunk in power_of_two_chunks(changes) {
        let mut builder = QueryBuilder::<MySql>::new(
            "INSERT INTO transfer_state_change (transfer_id, from_state, state, reason, created_at, event_id) ",
        );
        builder.push_values(chunk, |mut row, c| {
            row.push_bind(c.transfer_id.clone())
                .push_bind(c.from.map(TransferState::as_str))
                .push_bind(c.to.as_str())
                .push_bind(
                    c.reason
                        .as_deref()
                        .map(|r| truncate_chars(r, MAX_REASON_CHARS)),
                )
                .push_bind(c.at)
                .push_bind(events.get(&c.transfer_id).cloned());
        });
        builder.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Moves existing transfers to new states: appends the journal rows and updates the current
/// state column in one statement per table. The caller holds the rows' locks and has checked
/// every transition with `ferroloop_core::state::transition`; the journal's unique key rejects a
/// state entered twice, so a doubly applied transition fails the whole transaction. Each update
/// also requires the transfer to be in the change's `from` state, so a caller working from a
/// stale view fails (nothing is written) instead of overwriting a newer state.
pub async fn change_states(conn: &mut MySqlConnection, changes: &[StateChange]) -> Result<()> {
    change_states_decided_by(conn, changes, &DecidingEvents::new()).await
}

/// [`change_states`], recording which event made each change (`events`, by transfer id): a
/// handler meeting the transfer again tells its own redelivered message from another request
/// ([`load_deciding_events`]).
pub async fn change_states_decided_by(
    conn: &mut MySqlConnection,
    changes: &[StateChange],
    events: &DecidingEvents,
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    insert_state_changes(conn, changes, events).await?;
    for (key, ids) in group_by_transition(changes) {
        update_current_state(conn, key, &ids).await?;
    }
    Ok(())
}

/// A transition and its instant, shared by all the transfers one decision moved.
type Transition = (Option<TransferState>, TransferState, PrimitiveDateTime);

/// The changes grouped by transition, in first-seen order. A batch's decision has one instant,
/// so a batch has as many groups as kinds of transition in it: a handful.
fn group_by_transition(changes: &[StateChange]) -> Vec<(Transition, Vec<&str>)> {
    let mut groups: Vec<(Transition, Vec<&str>)> = Vec::new();
    for c in changes {
        let key = (c.from, c.to, c.at);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, ids)) => ids.push(c.transfer_id.as_str()),
            None => groups.push((key, vec![c.transfer_id.as_str()])),
        }
    }
    groups
}

/// One `UPDATE … WHERE state = from AND transfer_id IN (…)` per group (and per chunk of ids).
/// It replaces a single statement with a `CASE transfer_id WHEN … END` per column, which
/// MariaDB evaluates by comparing each row's id with every `WHEN`: quadratic in the batch,
/// 16 µs of its CPU per row at 200 rows and 25 µs at 500, against 6.5–8 µs this way
/// (docs/performance.md#the-database).
async fn update_current_state(
    conn: &mut MySqlConnection,
    (from, to, at): Transition,
    ids: &[&str],
) -> Result<()> {
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new("UPDATE transfer SET state = ");
        builder
            .push_bind(to.as_str())
            .push(", state_changed_at = ")
            .push_bind(at)
            .push(" WHERE state = ")
            .push_bind(from.map(TransferState::as_str))
            .push(" AND transfer_id IN (");
        push_id_list(&mut builder, chunk);
        let updated = builder.build().execute(&mut *conn).await?.rows_affected();
        if updated != chunk.len() as u64 {
            return Err(StoreError::Corrupt(format!(
                "state update touched {updated} of {} transfers: some were not in the state \
                 the change leaves",
                chunk.len()
            )));
        }
    }
    Ok(())
}

pub async fn insert_ilp_packets(
    conn: &mut MySqlConnection,
    packets: &[(&str, &str)],
) -> Result<()> {
    for chunk in power_of_two_chunks(packets) {
        let mut builder =
            QueryBuilder::<MySql>::new("INSERT INTO ilp_packet (transfer_id, value) ");
        builder.push_values(chunk, |mut row, (id, value)| {
            row.push_bind(id.to_string()).push_bind(value.to_string());
        });
        builder.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Which message an extension list came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionPhase {
    Prepare,
    Fulfil,
    Error,
}

impl ExtensionPhase {
    const fn as_str(self) -> &'static str {
        match self {
            ExtensionPhase::Prepare => "PREPARE",
            ExtensionPhase::Fulfil => "FULFIL",
            ExtensionPhase::Error => "ERROR",
        }
    }
}

/// One extension (key, value) of a transfer's message, in list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionRow {
    pub transfer_id: String,
    pub phase: ExtensionPhase,
    pub key: String,
    pub value: String,
}

/// Inserts extensions; `position_in_list` is the order within one (transfer, phase).
pub async fn insert_extensions(conn: &mut MySqlConnection, rows: &[ExtensionRow]) -> Result<()> {
    let mut numbered = Vec::with_capacity(rows.len());
    let mut counters: HashMap<(&str, ExtensionPhase), u8> = HashMap::new();
    for row in rows {
        let n = counters
            .entry((row.transfer_id.as_str(), row.phase))
            .or_insert(0);
        numbered.push((row, *n));
        *n = n.saturating_add(1);
    }
    for chunk in power_of_two_chunks(&numbered) {
        let mut builder = QueryBuilder::<MySql>::new(
            "INSERT INTO transfer_extension (transfer_id, phase, position_in_list, ext_key, ext_value) ",
        );
        builder.push_values(chunk, |mut b, (row, n)| {
            b.push_bind(row.transfer_id.clone())
                .push_bind(row.phase.as_str())
                .push_bind(*n)
                .push_bind(truncate_chars(&row.key, 32))
                .push_bind(truncate_chars(&row.value, 128));
        });
        builder.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The error that decided a transfer's abort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferErrorRow {
    pub transfer_id: String,
    pub state: TransferState,
    pub error_code: u16,
    pub error_description: String,
}

/// Records errors; a transfer keeps the first one it got (the one that decided its fate).
pub async fn insert_errors(conn: &mut MySqlConnection, rows: &[TransferErrorRow]) -> Result<()> {
    for chunk in power_of_two_chunks(rows) {
        let mut builder = QueryBuilder::<MySql>::new(
            "INSERT IGNORE INTO transfer_error (transfer_id, state, error_code, error_description) ",
        );
        builder.push_values(chunk, |mut b, row| {
            b.push_bind(row.transfer_id.clone())
                .push_bind(row.state.as_str())
                .push_bind(row.error_code)
                .push_bind(truncate_chars(&row.error_description, 128));
        });
        builder.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Loads the recorded errors of transfers.
pub async fn load_errors(
    conn: &mut MySqlConnection,
    ids: &[&str],
) -> Result<HashMap<String, TransferErrorRow>> {
    let ids = sorted_unique(ids);
    let mut found = HashMap::new();
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new(
            "SELECT transfer_id, state, error_code, error_description FROM transfer_error WHERE transfer_id IN (",
        );
        push_id_list(&mut builder, chunk);
        for row in builder.build().fetch_all(&mut *conn).await? {
            let state: String = row.try_get("state")?;
            let id: String = row.try_get("transfer_id")?;
            found.insert(
                id.clone(),
                TransferErrorRow {
                    transfer_id: id,
                    state: state.parse().map_err(
                        |e: ferroloop_core::state::UnknownTransferState| {
                            StoreError::Corrupt(e.to_string())
                        },
                    )?,
                    error_code: row.try_get("error_code")?,
                    error_description: row.try_get("error_description")?,
                },
            );
        }
    }
    Ok(found)
}

/// A valid fulfilment accepted from the payee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfilmentRow {
    pub transfer_id: String,
    pub ilp_fulfilment: Option<String>,
    pub completed_at: PrimitiveDateTime,
    /// The payee's transferState: `COMMITTED`, or `RESERVED` for the PATCH flow.
    pub requested_state: &'static str,
}

pub async fn insert_fulfilments(conn: &mut MySqlConnection, rows: &[FulfilmentRow]) -> Result<()> {
    for chunk in power_of_two_chunks(rows) {
        let mut builder = QueryBuilder::<MySql>::new(
            "INSERT INTO transfer_fulfilment (transfer_id, ilp_fulfilment, completed_at, requested_state, is_valid) ",
        );
        builder.push_values(chunk, |mut b, row| {
            b.push_bind(row.transfer_id.clone())
                .push_bind(row.ilp_fulfilment.clone())
                .push_bind(row.completed_at)
                .push_bind(row.requested_state)
                .push_bind(true);
        });
        builder.build().execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn load_fulfilments(
    conn: &mut MySqlConnection,
    ids: &[&str],
) -> Result<HashMap<String, FulfilmentRow>> {
    let ids = sorted_unique(ids);
    let mut found = HashMap::new();
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new(
            "SELECT transfer_id, ilp_fulfilment, completed_at, requested_state FROM transfer_fulfilment WHERE transfer_id IN (",
        );
        push_id_list(&mut builder, chunk);
        for row in builder.build().fetch_all(&mut *conn).await? {
            let requested: String = row.try_get("requested_state")?;
            let id: String = row.try_get("transfer_id")?;
            found.insert(
                id.clone(),
                FulfilmentRow {
                    transfer_id: id,
                    ilp_fulfilment: row.try_get("ilp_fulfilment")?,
                    completed_at: row.try_get("completed_at")?,
                    requested_state: if requested == "RESERVED" {
                        "RESERVED"
                    } else {
                        "COMMITTED"
                    },
                },
            );
        }
    }
    Ok(found)
}

/// Loads extensions of the given transfers, in list order, grouped by transfer.
pub async fn load_extensions(
    conn: &mut MySqlConnection,
    ids: &[&str],
) -> Result<HashMap<String, Vec<ExtensionRow>>> {
    let ids = sorted_unique(ids);
    let mut found: HashMap<String, Vec<ExtensionRow>> = HashMap::new();
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new(
            "SELECT transfer_id, phase, ext_key, ext_value FROM transfer_extension WHERE transfer_id IN (",
        );
        push_id_list(&mut builder, chunk);
        builder.push(" ORDER BY transfer_id, phase, position_in_list");
        for row in builder.build().fetch_all(&mut *conn).await? {
            let phase: String = row.try_get("phase")?;
            let phase = match phase.as_str() {
                "PREPARE" => ExtensionPhase::Prepare,
                "FULFIL" => ExtensionPhase::Fulfil,
                _ => ExtensionPhase::Error,
            };
            let id: String = row.try_get("transfer_id")?;
            found.entry(id.clone()).or_default().push(ExtensionRow {
                transfer_id: id,
                phase,
                key: row.try_get("ext_key")?,
                value: row.try_get("ext_value")?,
            });
        }
    }
    Ok(found)
}

/// Registers transfers with the timeout handler: due at their expiration.
pub async fn insert_timeouts(
    conn: &mut MySqlConnection,
    rows: &[(&str, PrimitiveDateTime)],
) -> Result<()> {
    for chunk in power_of_two_chunks(rows) {
        let mut builder = QueryBuilder::<MySql>::new(
            "INSERT INTO transfer_timeout (transfer_id, expiration, due_at) ",
        );
        builder.push_values(chunk, |mut b, (id, expiration)| {
            b.push_bind(id.to_string())
                .push_bind(*expiration)
                .push_bind(*expiration);
        });
        builder.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Removes the timeout rows of transfers that reached a final state.
pub async fn delete_timeouts(conn: &mut MySqlConnection, ids: &[&str]) -> Result<()> {
    let ids = sorted_unique(ids);
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder =
            QueryBuilder::<MySql>::new("DELETE FROM transfer_timeout WHERE transfer_id IN (");
        push_id_list(&mut builder, chunk);
        builder.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Claims up to `limit` timeout rows that are due, skipping rows another timeout-handler
/// replica holds, so two replicas never work on one transfer at the same time.
pub async fn claim_due_timeouts(
    conn: &mut MySqlConnection,
    now: PrimitiveDateTime,
    limit: u32,
) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT transfer_id FROM transfer_timeout WHERE due_at <= ? ORDER BY due_at LIMIT ? FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| Ok(row.try_get("transfer_id")?))
        .collect()
}

/// Pushes the next check of still-open transfers to `due_at` (after re-driving a lost step).
pub async fn postpone_timeouts(
    conn: &mut MySqlConnection,
    ids: &[&str],
    due_at: PrimitiveDateTime,
) -> Result<()> {
    let ids = sorted_unique(ids);
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new("UPDATE transfer_timeout SET due_at = ");
        builder.push_bind(due_at).push(" WHERE transfer_id IN (");
        push_id_list(&mut builder, chunk);
        builder.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Pushes each transfer's next check to its own time (re-drives back off one by one).
pub async fn postpone_timeouts_each(
    conn: &mut MySqlConnection,
    rows: &[(&str, PrimitiveDateTime)],
) -> Result<()> {
    for chunk in rows.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder =
            QueryBuilder::<MySql>::new("UPDATE transfer_timeout SET due_at = CASE transfer_id");
        for (id, due_at) in chunk {
            builder
                .push(" WHEN ")
                .push_bind(id.to_string())
                .push(" THEN ")
                .push_bind(*due_at);
        }
        builder.push(" END WHERE transfer_id IN (");
        let ids: Vec<&str> = chunk.iter().map(|(id, _)| *id).collect();
        push_id_list(&mut builder, &ids);
        builder.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Everything a state body (GET / duplicate response) needs, for a batch of transfers: four
/// queries whatever the batch size. Unknown ids are absent.
pub async fn load_views(
    conn: &mut MySqlConnection,
    ids: &[&str],
) -> Result<HashMap<String, (TransferRecord, ferroloop_core::view::TransferView)>> {
    use ferroloop_core::api::Extension;
    let transfers = load_transfers(conn, ids, false).await?;
    if transfers.is_empty() {
        return Ok(HashMap::new());
    }
    let found: Vec<&str> = transfers.keys().map(String::as_str).collect();
    let mut fulfilments = load_fulfilments(conn, &found).await?;
    let mut extensions = load_extensions(conn, &found).await?;
    let mut errors = load_errors(conn, &found).await?;
    let mut views = HashMap::with_capacity(transfers.len());
    for (id, record) in transfers {
        let mut prepare_extensions = Vec::new();
        let mut fulfil_extensions = Vec::new();
        for row in extensions.remove(&id).unwrap_or_default() {
            let extension = Extension {
                key: row.key,
                value: row.value,
            };
            match row.phase {
                ExtensionPhase::Prepare => prepare_extensions.push(extension),
                ExtensionPhase::Fulfil => fulfil_extensions.push(extension),
                ExtensionPhase::Error => {}
            }
        }
        let view = ferroloop_core::view::TransferView {
            state: record.state,
            state_changed_at: record.state_changed_at.assume_utc(),
            fulfilment: fulfilments.remove(&id).and_then(|f| f.ilp_fulfilment),
            prepare_extensions,
            fulfil_extensions,
            error: errors
                .remove(&id)
                .map(|e| (e.error_code, e.error_description)),
        };
        views.insert(id, (record, view));
    }
    Ok(views)
}

/// The current state of every transfer whose payer is one of `payers` (the load test's
/// validity gate reads a run's transfers with it).
pub async fn states_by_payer(pool: &MySqlPool, payers: &[String]) -> Result<Vec<(String, String)>> {
    if payers.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = QueryBuilder::new(
        "SELECT transfer_id, state FROM transfer WHERE kind = 'TRANSFER' AND payer_fsp IN (",
    );
    let mut names = query.separated(", ");
    for name in payers {
        names.push_bind(name);
    }
    query.push(")");
    let rows = query.build().fetch_all(pool).await?;
    rows.iter()
        .map(|row| Ok((row.try_get("transfer_id")?, row.try_get("state")?)))
        .collect()
}
