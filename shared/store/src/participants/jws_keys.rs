//! Participants' public JWS keys (`participant_jws_key`), written by the admin API and read in
//! whole by the API adapter's background refresh — never on its request path.

use ferroloop_core::ledger_id::ParticipantId;
use sqlx::MySqlConnection;

use crate::Result;
use crate::epoch::admin_epoch;

/// A stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredJwsKey {
    pub public_key_pem: String,
    pub created_at: time::PrimitiveDateTime,
    pub created_by: String,
}

/// Registers or replaces (rotates) a participant's key. Call inside an admin change
/// (`admin::begin_admin_change`), which bumps the epoch the adapter watches.
pub async fn set_jws_key(
    conn: &mut MySqlConnection,
    participant_id: ParticipantId,
    public_key_pem: &str,
    created_by: &str,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO participant_jws_key (participant_id, public_key_pem, created_by) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE public_key_pem = VALUES(public_key_pem), \
         created_by = VALUES(created_by), created_at = CURRENT_TIMESTAMP(3)",
        participant_id,
        public_key_pem,
        created_by,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A participant's key, if it has one.
pub async fn jws_key(
    conn: &mut MySqlConnection,
    participant_id: ParticipantId,
) -> Result<Option<StoredJwsKey>> {
    Ok(sqlx::query_as!(
        StoredJwsKey,
        "SELECT public_key_pem, created_at, created_by FROM participant_jws_key WHERE participant_id = ?",
        participant_id,
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Removes a participant's key; returns whether it had one.
pub async fn delete_jws_key(
    conn: &mut MySqlConnection,
    participant_id: ParticipantId,
) -> Result<bool> {
    let deleted = sqlx::query!(
        "DELETE FROM participant_jws_key WHERE participant_id = ?",
        participant_id
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(deleted > 0)
}

/// Every key by participant name, with the admin change epoch read *before* them: a change
/// committed between the two reads shows as a newer epoch on the next poll and is read again,
/// never missed (sessions run in READ COMMITTED, so the reads are not one snapshot).
pub async fn all_jws_keys(conn: &mut MySqlConnection) -> Result<(u64, Vec<(String, String)>)> {
    let epoch = admin_epoch(conn).await?;
    let keys = sqlx::query!(
        "SELECT p.name, k.public_key_pem FROM participant_jws_key k \
         JOIN participant p ON p.participant_id = k.participant_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok((
        epoch,
        keys.into_iter()
            .map(|k| (k.name, k.public_key_pem))
            .collect(),
    ))
}

/// The admin change epoch alone: the cheap read the adapter polls.
pub async fn current_epoch(conn: &mut MySqlConnection) -> Result<u64> {
    admin_epoch(conn).await
}
