//! Settlement windows: the one OPEN window, the committed money recorded in it by the position
//! handler, closing it (and opening the next) atomically, and the read models of the API.
//!
//! The open window's id lives in the single row of `settlement_window_current`. A commit batch
//! reads it with a shared lock, which other commit batches share, so they never wait for each
//! other; a close takes it exclusively and therefore waits for every batch that is recording
//! into the old window, and every batch after the close records into the new one. No transfer
//! can fall between two windows.

use std::collections::{BTreeMap, HashMap};

use ferroloop_core::currency::Currency;
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use ferroloop_core::settlement::{WindowState, window_state};
use ferroloop_core::state::TransferState;
use rust_decimal::Decimal;
use sqlx::mysql::MySqlRow;
use sqlx::{MySql, MySqlConnection, QueryBuilder, Row};
use time::PrimitiveDateTime;

use super::{journal_state, push_list, push_state_and_dates};
use crate::transfers::{MAX_ROWS_PER_STATEMENT, StateChange, TransferKind, TransferRecord};
use crate::{Result, StoreError};

/// The ledger account type of the money transfers move (window content of transfers).
pub const TRANSFER_LEDGER_ACCOUNT_TYPE: &str = "POSITION";

/// Records the transfers this batch committed in the open window: the money of each
/// (payee, payer) POSITION account pair, aggregated in memory first, so the batch writes one row
/// per pair. Call it in the batch transaction, after the state changes, with the batch's
/// transfers; changes to any state but COMMITTED, and transfers that are not DFSP-to-DFSP
/// transfers, are ignored. Replays never reach it: a transfer enters COMMITTED once.
pub async fn record_committed(
    conn: &mut MySqlConnection,
    changes: &[StateChange],
    transfers: &HashMap<TransferId, TransferRecord>,
) -> Result<()> {
    let mut flows: BTreeMap<(AccountId, AccountId), (Currency, Decimal, u64)> = BTreeMap::new();
    for change in changes.iter().filter(|c| c.to == TransferState::Committed) {
        let Some(t) = transfers.get(&change.transfer_id) else {
            return Err(StoreError::Corrupt(format!(
                "committed transfer {} not loaded",
                change.transfer_id
            )));
        };
        if t.kind != TransferKind::Transfer {
            continue;
        }
        let (Some(payer), Some(payee), Some(amount)) =
            (t.payer_account_id, t.payee_account_id, t.amount)
        else {
            return Err(StoreError::Corrupt(format!(
                "committed transfer {} lacks its accounts or amount",
                t.transfer_id
            )));
        };
        let Some(currency) = t.currency.listed() else {
            return Err(StoreError::Corrupt(format!(
                "committed transfer {} has no currency",
                t.transfer_id
            )));
        };
        let flow = flows
            .entry((payee, payer))
            .or_insert_with(|| (currency, Decimal::ZERO, 0));
        flow.1 += amount;
        flow.2 += 1;
    }
    if flows.is_empty() {
        return Ok(());
    }
    let window: u64 = sqlx::query_scalar(
        "SELECT settlement_window_id FROM settlement_window_current WHERE id = 1 LOCK IN SHARE MODE",
    )
    .fetch_one(&mut *conn)
    .await?;
    // Rows in key order: two batches that touch the same rows lock them in the same order.
    let rows: Vec<_> = flows.into_iter().collect();
    for chunk in rows.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new(
            "INSERT INTO settlement_window_flow (settlement_window_id, payee_account_id, \
             payer_account_id, currency, amount, transfer_count) ",
        );
        builder.push_values(
            chunk,
            |mut b, ((payee, payer), (currency, amount, count))| {
                b.push_bind(window)
                    .push_bind(*payee)
                    .push_bind(*payer)
                    .push_bind(currency.as_str())
                    .push_bind(*amount)
                    .push_bind(*count);
            },
        );
        builder.push(
            " ON DUPLICATE KEY UPDATE amount = amount + VALUES(amount), \
             transfer_count = transfer_count + VALUES(transfer_count)",
        );
        builder.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// A window's content: one ledger account type in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentView {
    pub content_id: u64,
    pub window_id: u64,
    pub ledger_account_type: String,
    pub currency: Currency,
    pub state: WindowState,
    pub settlement_id: Option<u64>,
    pub created_at: PrimitiveDateTime,
    pub changed_at: PrimitiveDateTime,
}

/// A window with its content (empty while it is OPEN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowView {
    pub window_id: u64,
    pub state: WindowState,
    pub reason: Option<String>,
    pub created_at: PrimitiveDateTime,
    pub changed_at: PrimitiveDateTime,
    pub content: Vec<ContentView>,
}

fn window_state_of(row: &MySqlRow) -> Result<WindowState> {
    parse_window_state(row.try_get("state")?)
}

fn parse_window_state(text: &str) -> Result<WindowState> {
    WindowState::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown settlement window state {text}")))
}

fn window_from_row(row: &MySqlRow) -> Result<WindowView> {
    Ok(WindowView {
        window_id: row.try_get("settlement_window_id")?,
        state: window_state_of(row)?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
        changed_at: row.try_get("changed_at")?,
        content: Vec::new(),
    })
}

/// The contents of `windows`, by window.
pub async fn contents(
    conn: &mut MySqlConnection,
    windows: &[u64],
) -> Result<BTreeMap<u64, Vec<ContentView>>> {
    let mut found: BTreeMap<u64, Vec<ContentView>> = BTreeMap::new();
    if windows.is_empty() {
        return Ok(found);
    }
    let mut builder = QueryBuilder::<MySql>::new(
        "SELECT settlement_window_content_id, settlement_window_id, ledger_account_type, currency, \
         state, settlement_id, created_at, changed_at FROM settlement_window_content \
         WHERE settlement_window_id IN (",
    );
    push_list(&mut builder, windows);
    builder.push(" ORDER BY settlement_window_content_id");
    for row in builder.build().fetch_all(&mut *conn).await? {
        let content = ContentView {
            content_id: row.try_get("settlement_window_content_id")?,
            window_id: row.try_get("settlement_window_id")?,
            ledger_account_type: row.try_get("ledger_account_type")?,
            currency: crate::columns::currency(&row, "currency")?,
            state: window_state_of(&row)?,
            settlement_id: row.try_get("settlement_id")?,
            created_at: row.try_get("created_at")?,
            changed_at: row.try_get("changed_at")?,
        };
        found.entry(content.window_id).or_default().push(content);
    }
    Ok(found)
}

async fn with_contents(
    conn: &mut MySqlConnection,
    mut windows: Vec<WindowView>,
) -> Result<Vec<WindowView>> {
    let ids: Vec<u64> = windows.iter().map(|w| w.window_id).collect();
    let mut by_window = contents(conn, &ids).await?;
    for window in &mut windows {
        window.content = by_window.remove(&window.window_id).unwrap_or_default();
    }
    Ok(windows)
}

const WINDOW_COLUMNS: &str =
    "w.settlement_window_id, w.state, w.reason, w.created_at, w.changed_at";

/// One window with its content.
pub async fn window(conn: &mut MySqlConnection, window_id: u64) -> Result<Option<WindowView>> {
    let row = sqlx::query!(
        "SELECT w.settlement_window_id, w.state, w.reason, w.created_at, w.changed_at
         FROM settlement_window w WHERE w.settlement_window_id = ?",
        window_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let found = WindowView {
        window_id: row.settlement_window_id,
        state: parse_window_state(&row.state)?,
        reason: row.reason,
        created_at: row.created_at,
        changed_at: row.changed_at,
        content: Vec::new(),
    };
    Ok(with_contents(conn, vec![found]).await?.pop())
}

/// The filters of `GET /settlementWindows`.
#[derive(Debug, Clone, Default)]
pub struct WindowFilter {
    /// Windows in which the participant's accounts moved money.
    pub participant_id: Option<ParticipantId>,
    pub state: Option<WindowState>,
    /// Created at or after.
    pub from: Option<PrimitiveDateTime>,
    /// Created at or before.
    pub to: Option<PrimitiveDateTime>,
    /// Windows with money in the currency.
    pub currency: Option<Currency>,
}

/// Windows matching `filter`, newest first, at most `limit`.
pub async fn list_windows(
    conn: &mut MySqlConnection,
    filter: &WindowFilter,
    limit: u32,
) -> Result<Vec<WindowView>> {
    let mut builder = QueryBuilder::<MySql>::new(format!(
        "SELECT {WINDOW_COLUMNS} FROM settlement_window w WHERE 1 = 1"
    ));
    let state = filter.state.map(WindowState::as_str);
    push_state_and_dates(&mut builder, "w", state, filter.from, filter.to);
    if let Some(currency) = &filter.currency {
        builder
            .push(" AND EXISTS (SELECT 1 FROM settlement_window_flow f WHERE f.settlement_window_id = w.settlement_window_id AND f.currency = ")
            .push_bind(currency.as_str().to_owned())
            .push(")");
    }
    if let Some(participant) = filter.participant_id {
        builder
            .push(
                " AND EXISTS (SELECT 1 FROM settlement_window_flow f JOIN account a \
                 ON a.account_id IN (f.payer_account_id, f.payee_account_id) \
                 WHERE f.settlement_window_id = w.settlement_window_id AND a.participant_id = ",
            )
            .push_bind(participant)
            .push(")");
    }
    builder
        .push(" ORDER BY w.settlement_window_id DESC LIMIT ")
        .push_bind(limit);
    let rows = builder.build().fetch_all(&mut *conn).await?;
    let windows = rows
        .iter()
        .map(window_from_row)
        .collect::<Result<Vec<_>>>()?;
    with_contents(conn, windows).await
}

/// What a close did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseOutcome {
    /// `closed` is CLOSED with its content; `opened` is the new OPEN window.
    Closed {
        closed: u64,
        opened: u64,
    },
    NotFound,
    /// Only the OPEN window can be closed.
    NotOpen(WindowState),
    /// No transfer committed in it: closing would make an empty window.
    Empty,
}

async fn insert_window_state_change(
    conn: &mut MySqlConnection,
    window_id: u64,
    state: WindowState,
    reason: Option<&str>,
    now: PrimitiveDateTime,
) -> Result<()> {
    let table = "settlement_window_state_change";
    journal_state(
        conn,
        table,
        "settlement_window_id",
        window_id,
        state.as_str(),
        reason,
        now,
    )
    .await
}

/// Closes the OPEN window `window_id` and opens the next, in the caller's transaction: the
/// current-window row is locked exclusively first (waiting for commit batches recording into
/// it), then the window becomes CLOSED with one content row per currency of its money, and a
/// new OPEN window becomes current.
pub async fn close_window(
    conn: &mut MySqlConnection,
    window_id: u64,
    reason: &str,
    now: PrimitiveDateTime,
) -> Result<CloseOutcome> {
    let current = sqlx::query_scalar!(
        "SELECT settlement_window_id FROM settlement_window_current WHERE id = 1 FOR UPDATE",
    )
    .fetch_one(&mut *conn)
    .await?;
    let Some(found) = window(conn, window_id).await? else {
        return Ok(CloseOutcome::NotFound);
    };
    if found.state != WindowState::Open || current != window_id {
        return Ok(CloseOutcome::NotOpen(found.state));
    }
    // A locking read sees every batch that recorded before the lock was granted.
    let flows: i64 = sqlx::query_scalar!(
        "SELECT COUNT(*) FROM settlement_window_flow WHERE settlement_window_id = ? LOCK IN SHARE MODE",
        window_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    if flows == 0 {
        return Ok(CloseOutcome::Empty);
    }
    sqlx::query!(
        "UPDATE settlement_window SET state = 'CLOSED', reason = ?, changed_at = ? \
         WHERE settlement_window_id = ? AND state = 'OPEN'",
        reason,
        now,
        window_id,
    )
    .execute(&mut *conn)
    .await?;
    insert_window_state_change(conn, window_id, WindowState::Closed, Some(reason), now).await?;
    sqlx::query!(
        "INSERT INTO settlement_window_content (settlement_window_id, ledger_account_type, currency, \
         state, settlement_id, created_at, changed_at) \
         SELECT settlement_window_id, ?, currency, 'CLOSED', NULL, ?, ? FROM settlement_window_flow \
         WHERE settlement_window_id = ? GROUP BY settlement_window_id, currency",
        TRANSFER_LEDGER_ACCOUNT_TYPE,
        now,
        now,
        window_id,
    )
    .execute(&mut *conn)
    .await?;
    let opened = sqlx::query!(
        "INSERT INTO settlement_window (state, reason, created_at, changed_at) VALUES ('OPEN', ?, ?, ?)",
        reason,
        now,
        now,
    )
    .execute(&mut *conn)
    .await?
    .last_insert_id();
    insert_window_state_change(conn, opened, WindowState::Open, Some(reason), now).await?;
    sqlx::query!(
        "UPDATE settlement_window_current SET settlement_window_id = ? WHERE id = 1",
        opened
    )
    .execute(&mut *conn)
    .await?;
    Ok(CloseOutcome::Closed {
        closed: window_id,
        opened,
    })
}

/// Sets each of `windows` to the state its contents give it (`core::settlement::window_state`),
/// journaling the windows that change.
pub async fn refresh_window_states(
    conn: &mut MySqlConnection,
    windows: &[u64],
    reason: Option<&str>,
    now: PrimitiveDateTime,
) -> Result<()> {
    let by_window = contents(conn, windows).await?;
    for (window_id, content) in by_window {
        let states: Vec<WindowState> = content.iter().map(|c| c.state).collect();
        let Some(state) = window_state(&states) else {
            continue;
        };
        let changed = sqlx::query!(
            "UPDATE settlement_window SET state = ?, changed_at = ? \
             WHERE settlement_window_id = ? AND state <> ?",
            state.as_str(),
            now,
            window_id,
            state.as_str(),
        )
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if changed > 0 {
            insert_window_state_change(conn, window_id, state, reason, now).await?;
        }
    }
    Ok(())
}
