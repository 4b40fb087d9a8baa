//! Settlement storage (docs/settlement.md): windows and the committed money in them
//! ([`windows`]), settlements and their ledger movements ([`settlements`]), and the settlement
//! invariants ([`checks`]). The rules are `ferroloop_core::settlement`; this module only reads,
//! locks and writes.

pub mod checks;
pub mod models;
pub mod settlements;
pub mod windows;

pub use windows::record_committed;

use sqlx::{MySql, MySqlConnection, QueryBuilder};
use time::PrimitiveDateTime;

use crate::Result;

fn push_list<T>(builder: &mut QueryBuilder<MySql>, values: &[T])
where
    T: Copy + Send + for<'q> sqlx::Encode<'q, MySql> + sqlx::Type<MySql> + 'static,
{
    let mut list = builder.separated(", ");
    for value in values {
        list.push_bind(*value);
    }
    list.push_unseparated(")");
}

/// ` AND {alias}.state = …` and the `created_at` bounds, for the filters that are set.
fn push_state_and_dates(
    builder: &mut QueryBuilder<MySql>,
    alias: &str,
    state: Option<&'static str>,
    from: Option<PrimitiveDateTime>,
    to: Option<PrimitiveDateTime>,
) {
    if let Some(state) = state {
        builder
            .push(format!(" AND {alias}.state = "))
            .push_bind(state);
    }
    if let Some(from) = from {
        builder
            .push(format!(" AND {alias}.created_at >= "))
            .push_bind(from);
    }
    if let Some(to) = to {
        builder
            .push(format!(" AND {alias}.created_at <= "))
            .push_bind(to);
    }
}

/// Appends a row to a state journal: `table` has `(key, state, reason, created_at)`.
async fn journal_state(
    conn: &mut MySqlConnection,
    table: &'static str,
    key: &'static str,
    id: u64,
    state: &'static str,
    reason: Option<&str>,
    now: PrimitiveDateTime,
) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} ({key}, state, reason, created_at) VALUES (?, ?, ?, ?)"
    )))
    .bind(id)
    .bind(state)
    .bind(reason)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
