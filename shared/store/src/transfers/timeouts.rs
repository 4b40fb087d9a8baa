//! Timeout rows (`transfer_timeout`): when the timeout handler looks at an open transfer next.

use ferroloop_core::id::TransferId;
use sqlx::{MySql, MySqlConnection, QueryBuilder};
use time::PrimitiveDateTime;

use super::*;
use crate::Result;

/// Registers transfers with the timeout handler: due at their expiration.
pub async fn insert_timeouts(
    conn: &mut MySqlConnection,
    rows: &[(TransferId, PrimitiveDateTime)],
) -> Result<()> {
    for chunk in crate::statements::power_of_two_chunks(rows) {
        let mut builder = QueryBuilder::<MySql>::new(
            "INSERT INTO transfer_timeout (transfer_id, expiration, due_at) ",
        );
        builder.push_values(chunk, |mut b, (id, expiration)| {
            b.push_bind(id.as_str())
                .push_bind(*expiration)
                .push_bind(*expiration);
        });
        builder.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Removes the timeout rows of transfers that reached a final state.
pub async fn delete_timeouts(conn: &mut MySqlConnection, ids: &[TransferId]) -> Result<()> {
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
) -> Result<Vec<TransferId>> {
    let rows = sqlx::query(
        "SELECT transfer_id FROM transfer_timeout WHERE due_at <= ? ORDER BY due_at LIMIT ? FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| crate::columns::transfer_id(row, "transfer_id"))
        .collect()
}

/// Pushes the next check of still-open transfers to `due_at` (after re-driving a lost step).
pub async fn postpone_timeouts(
    conn: &mut MySqlConnection,
    ids: &[TransferId],
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
    rows: &[(TransferId, PrimitiveDateTime)],
) -> Result<()> {
    for chunk in rows.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder =
            QueryBuilder::<MySql>::new("UPDATE transfer_timeout SET due_at = CASE transfer_id");
        for (id, due_at) in chunk {
            builder
                .push(" WHEN ")
                .push_bind(id.as_str())
                .push(" THEN ")
                .push_bind(*due_at);
        }
        builder.push(" END WHERE transfer_id IN (");
        let ids: Vec<TransferId> = chunk.iter().map(|(id, _)| *id).collect();
        push_id_list(&mut builder, &ids);
        builder.build().execute(&mut *conn).await?;
    }
    Ok(())
}
