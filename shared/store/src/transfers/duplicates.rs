//! Insert-first duplicate checks, one table per kind of request
//! (docs/duplicates-and-replays.md#insert-first-claims).

use std::collections::{HashMap, HashSet};

use ferroloop_core::hash::RequestHash;
use ferroloop_core::id::TransferId;
use sqlx::{MySql, MySqlConnection, QueryBuilder, Row};

use super::*;
use crate::Result;

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
pub type DuplicateClaim<'a> = (TransferId, [u8; 32], &'a str);

/// A duplicate-check record: the first request's body hash and the event that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRecord {
    pub request_hash: Option<RequestHash>,
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
) -> Result<HashMap<TransferId, DuplicateRecord>> {
    let mut requests = requests.to_vec();
    // Stable: of several requests for one id in a batch, the first in batch order claims it.
    requests.sort_by_key(|r| r.0);
    requests.dedup_by(|later, first| later.0 == first.0);
    let ids: Vec<TransferId> = requests.iter().map(|r| r.0).collect();
    // Committed before this transaction (a racing uncommitted first request is not seen here,
    // and its record, read back below, carries another event id anyway).
    let stored_before = existing_claims(conn, check, &ids).await?;
    for chunk in crate::statements::power_of_two_chunks(&requests) {
        let mut builder = QueryBuilder::<MySql>::new(format!(
            "INSERT IGNORE INTO {} (transfer_id, request_hash, source_event_id) ",
            check.table()
        ));
        builder.push_values(chunk, |mut row, (id, hash, event)| {
            row.push_bind(id.as_str())
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
            let request_hash = crate::columns::optional_request_hash(&row, "request_hash")?;
            let id = crate::columns::transfer_id(&row, "transfer_id")?;
            records.insert(
                id,
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
    ids: &[TransferId],
) -> Result<HashSet<TransferId>> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new(format!(
            "SELECT transfer_id FROM {} WHERE transfer_id IN (",
            check.table()
        ));
        push_id_list(&mut builder, chunk);
        for row in builder.build().fetch_all(&mut *conn).await? {
            found.insert(crate::columns::transfer_id(&row, "transfer_id")?);
        }
    }
    Ok(found)
}
