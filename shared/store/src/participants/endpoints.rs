//! Participants' callback endpoints (`participant_endpoint`), by participant name, with the
//! read-through cache the notification handler uses.
//!
//! The cache is [`crate::cache`]'s: a participant whose endpoints are registered a moment ago is
//! found by the next batch, and every admin change (which bumps the admin change epoch, see
//! [`set_endpoint`]) empties it at the next [`ReadThrough::refresh`].

use std::collections::{BTreeMap, HashMap};

use ferroloop_core::ledger_id::ParticipantId;
use sqlx::mysql::MySqlRow;
use sqlx::{MySqlConnection, Row};

use crate::Result;
use crate::cache::{LoadByName, ReadThrough};
use crate::epoch::bump_admin_epoch;

/// One participant's endpoints: endpoint type (e.g. `FSPIOP_CALLBACK_URL_TRANSFER_PUT`) →
/// value (a URL template such as `https://dfsp.example/transfers/{{transferId}}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParticipantEndpoints {
    pub by_type: BTreeMap<String, String>,
}

impl ParticipantEndpoints {
    /// The value of an endpoint type, if registered.
    pub fn get(&self, endpoint_type: &str) -> Option<&str> {
        self.by_type.get(endpoint_type).map(String::as_str)
    }
}

/// Read-through cache of endpoints by participant name (the notification handler's),
/// invalidated by the admin change epoch.
pub type EndpointCache = ReadThrough<ParticipantEndpoints>;

/// The endpoints of the participants named, through [`crate::cache::load_by_names`]: one row per
/// endpoint, so a name that is unknown or has no endpoint at all is absent from the result.
impl LoadByName for ParticipantEndpoints {
    const SELECT: &'static str = "SELECT p.name, e.endpoint_type, e.value
         FROM participant p JOIN participant_endpoint e ON e.participant_id = p.participant_id
         WHERE p.name IN (";
    const AFTER_NAMES: &'static str = "";

    fn add_row(found: &mut HashMap<String, Self>, row: &MySqlRow) -> Result<()> {
        let name: String = row.try_get("name")?;
        found
            .entry(name)
            .or_default()
            .by_type
            .insert(row.try_get("endpoint_type")?, row.try_get("value")?);
        Ok(())
    }
}

/// Upserts a callback endpoint of a participant.
pub async fn set_endpoint(
    conn: &mut MySqlConnection,
    participant_id: ParticipantId,
    endpoint_type: &str,
    value: &str,
    changed_by: &str,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO participant_endpoint (participant_id, endpoint_type, value, changed_by) VALUES (?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE value = VALUES(value), changed_by = VALUES(changed_by), changed_at = CURRENT_TIMESTAMP(3)",
        participant_id,
        endpoint_type,
        value,
        changed_by,
    )
    .execute(&mut *conn)
    .await?;
    bump_admin_epoch(conn).await
}

/// The endpoints of a participant: (type, value).
pub async fn of_participant(
    conn: &mut MySqlConnection,
    participant_id: ParticipantId,
) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query!(
        "SELECT endpoint_type, value FROM participant_endpoint WHERE participant_id = ? ORDER BY endpoint_type",
        participant_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.endpoint_type, r.value))
        .collect())
}
