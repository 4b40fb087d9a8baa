//! Read models built from a transfer and its details: the state body of GET and duplicate
//! answers, and the load test's per-payer states.

use std::collections::HashMap;

use sqlx::{MySqlConnection, MySqlPool, QueryBuilder, Row};

use super::*;
use crate::Result;

/// Everything a state body (GET / duplicate response) needs, for a batch of transfers: four
/// queries whatever the batch size. Unknown ids are absent.
pub async fn load_views(
    conn: &mut MySqlConnection,
    ids: &[TransferId],
) -> Result<HashMap<TransferId, (TransferRecord, ferroloop_core::view::TransferView)>> {
    use ferroloop_core::api::Extension;
    let transfers = load_transfers(conn, ids, false).await?;
    if transfers.is_empty() {
        return Ok(HashMap::new());
    }
    let found: Vec<TransferId> = transfers.keys().copied().collect();
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
