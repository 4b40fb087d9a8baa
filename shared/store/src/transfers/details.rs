//! What a transfer's messages carried beside its state: ILP packets, extensions, the error that
//! decided an abort, the payee's fulfilment.

use std::collections::HashMap;

use ferroloop_core::id::TransferId;
use ferroloop_core::state::TransferState;
use sqlx::{MySql, MySqlConnection, QueryBuilder, Row};
use time::PrimitiveDateTime;

use super::*;
use crate::{Result, StoreError};

pub async fn insert_ilp_packets(
    conn: &mut MySqlConnection,
    packets: &[(TransferId, &str)],
) -> Result<()> {
    for chunk in crate::statements::power_of_two_chunks(packets) {
        let mut builder =
            QueryBuilder::<MySql>::new("INSERT INTO ilp_packet (transfer_id, value) ");
        builder.push_values(chunk, |mut row, (id, value)| {
            row.push_bind(id.as_str()).push_bind(value.to_string());
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
    pub transfer_id: TransferId,
    pub phase: ExtensionPhase,
    pub key: String,
    pub value: String,
}

/// Inserts extensions; `position_in_list` is the order within one (transfer, phase).
pub async fn insert_extensions(conn: &mut MySqlConnection, rows: &[ExtensionRow]) -> Result<()> {
    let mut numbered = Vec::with_capacity(rows.len());
    let mut counters: HashMap<(TransferId, ExtensionPhase), u8> = HashMap::new();
    for row in rows {
        let n = counters.entry((row.transfer_id, row.phase)).or_insert(0);
        numbered.push((row, *n));
        *n = n.saturating_add(1);
    }
    for chunk in crate::statements::power_of_two_chunks(&numbered) {
        let mut builder = QueryBuilder::<MySql>::new(
            "INSERT INTO transfer_extension (transfer_id, phase, position_in_list, ext_key, ext_value) ",
        );
        builder.push_values(chunk, |mut b, (row, n)| {
            b.push_bind(row.transfer_id.as_str())
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
    pub transfer_id: TransferId,
    pub state: TransferState,
    pub error_code: u16,
    pub error_description: String,
}

/// Records errors; a transfer keeps the first one it got (the one that decided its fate).
pub async fn insert_errors(conn: &mut MySqlConnection, rows: &[TransferErrorRow]) -> Result<()> {
    for chunk in crate::statements::power_of_two_chunks(rows) {
        let mut builder = QueryBuilder::<MySql>::new(
            "INSERT IGNORE INTO transfer_error (transfer_id, state, error_code, error_description) ",
        );
        builder.push_values(chunk, |mut b, row| {
            b.push_bind(row.transfer_id.as_str())
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
    ids: &[TransferId],
) -> Result<HashMap<TransferId, TransferErrorRow>> {
    let ids = sorted_unique(ids);
    let mut found = HashMap::new();
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new(
            "SELECT transfer_id, state, error_code, error_description FROM transfer_error WHERE transfer_id IN (",
        );
        push_id_list(&mut builder, chunk);
        for row in builder.build().fetch_all(&mut *conn).await? {
            let state: String = row.try_get("state")?;
            let id = crate::columns::transfer_id(&row, "transfer_id")?;
            found.insert(
                id,
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
    pub transfer_id: TransferId,
    pub ilp_fulfilment: Option<String>,
    pub completed_at: PrimitiveDateTime,
    /// The payee's transferState: `COMMITTED`, or `RESERVED` for the PATCH flow.
    pub requested_state: &'static str,
}

pub async fn insert_fulfilments(conn: &mut MySqlConnection, rows: &[FulfilmentRow]) -> Result<()> {
    for chunk in crate::statements::power_of_two_chunks(rows) {
        let mut builder = QueryBuilder::<MySql>::new(
            "INSERT INTO transfer_fulfilment (transfer_id, ilp_fulfilment, completed_at, requested_state, is_valid) ",
        );
        builder.push_values(chunk, |mut b, row| {
            b.push_bind(row.transfer_id.as_str())
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
    ids: &[TransferId],
) -> Result<HashMap<TransferId, FulfilmentRow>> {
    let ids = sorted_unique(ids);
    let mut found = HashMap::new();
    for chunk in ids.chunks(MAX_ROWS_PER_STATEMENT) {
        let mut builder = QueryBuilder::<MySql>::new(
            "SELECT transfer_id, ilp_fulfilment, completed_at, requested_state FROM transfer_fulfilment WHERE transfer_id IN (",
        );
        push_id_list(&mut builder, chunk);
        for row in builder.build().fetch_all(&mut *conn).await? {
            let requested: String = row.try_get("requested_state")?;
            let id = crate::columns::transfer_id(&row, "transfer_id")?;
            found.insert(
                id,
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
    ids: &[TransferId],
) -> Result<HashMap<TransferId, Vec<ExtensionRow>>> {
    let ids = sorted_unique(ids);
    let mut found: HashMap<TransferId, Vec<ExtensionRow>> = HashMap::new();
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
            let id = crate::columns::transfer_id(&row, "transfer_id")?;
            found.entry(id).or_default().push(ExtensionRow {
                transfer_id: id,
                phase,
                key: row.try_get("ext_key")?,
                value: row.try_get("ext_value")?,
            });
        }
    }
    Ok(found)
}
