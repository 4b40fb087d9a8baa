//! A transfer's state changes: the current state column and the append-only state journal,
//! with the event that decided each change.

use std::collections::HashMap;

use ferroloop_core::id::TransferId;
use ferroloop_core::state::{TransferEvent, TransferState, walk};
use sqlx::{MySql, MySqlConnection, QueryBuilder, Row};
use time::PrimitiveDateTime;

use super::*;
use crate::{Result, StoreError};

/// The events recorded as having moved each of `ids` into each state:
/// `(transfer id, state) → event id`. Changes without a recorded event are absent.
pub async fn load_deciding_events(
    conn: &mut MySqlConnection,
    ids: &[TransferId],
) -> Result<HashMap<(TransferId, TransferState), String>> {
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
                (crate::columns::transfer_id(&row, "transfer_id")?, state),
                row.try_get("event_id")?,
            );
        }
    }
    Ok(found)
}

/// One state change of one transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    pub transfer_id: TransferId,
    pub from: Option<TransferState>,
    pub to: TransferState,
    pub reason: Option<String>,
    pub at: PrimitiveDateTime,
}

/// Longest reason the journal keeps (column width).
pub const MAX_REASON_CHARS: usize = 512;

pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Which event made each change, by transfer id (absent: not recorded).
pub type DecidingEvents = HashMap<TransferId, String>;

pub(crate) async fn insert_state_changes(
    conn: &mut MySqlConnection,
    changes: &[StateChange],
    events: &DecidingEvents,
) -> Result<()> {
    for chunk in crate::statements::power_of_two_chunks(changes) {
        let mut builder = QueryBuilder::<MySql>::new(
            "INSERT INTO transfer_state_change (transfer_id, from_state, state, reason, created_at, event_id) ",
        );
        builder.push_values(chunk, |mut row, c| {
            row.push_bind(c.transfer_id.as_str())
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
fn group_by_transition(changes: &[StateChange]) -> Vec<(Transition, Vec<TransferId>)> {
    let mut groups: Vec<(Transition, Vec<TransferId>)> = Vec::new();
    for c in changes {
        let key = (c.from, c.to, c.at);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, ids)) => ids.push(c.transfer_id),
            None => groups.push((key, vec![c.transfer_id])),
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
    ids: &[TransferId],
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

/// The state journal of one transfer: (from, to, reason), in order.
pub async fn state_journal(
    conn: &mut MySqlConnection,
    transfer_id: &TransferId,
) -> Result<Vec<(Option<String>, String, Option<String>)>> {
    let rows = sqlx::query!(
        "SELECT from_state, state, reason FROM transfer_state_change
         WHERE transfer_id = ? ORDER BY transfer_state_change_id",
        transfer_id.as_str(),
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.from_state, r.state, r.reason))
        .collect())
}

/// Walks one transfer through `events` from `from`, each with its journal reason: the steps are
/// [`ferroloop_core::state::walk`]'s (an illegal event refuses the walk before anything is
/// written), written one statement per step because each update is guarded by the state the
/// step leaves. Returns the state reached.
pub(crate) async fn walk_states(
    conn: &mut MySqlConnection,
    transfer_id: TransferId,
    from: TransferState,
    events: &[(TransferEvent, Option<&str>)],
    now: PrimitiveDateTime,
) -> Result<TransferState> {
    let plain: Vec<TransferEvent> = events.iter().map(|(event, _)| *event).collect();
    let steps = walk(from, &plain).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    for (step, (_, reason)) in steps.iter().zip(events) {
        change_states(
            conn,
            &[StateChange {
                transfer_id,
                from: Some(step.from),
                to: step.to,
                reason: reason.map(str::to_owned),
                at: now,
            }],
        )
        .await?;
    }
    Ok(steps.last().map_or(from, |step| step.to))
}
