//! Positions, limits and the append-only position journal.
//!
//! The position handler locks the positions a batch touches (and the settlement positions that
//! give the liquidity cover) with one `SELECT … FOR UPDATE` in account-id order, decides in
//! memory with `ferroloop_core::position`, then writes the new values and the journal. Because
//! the lock is taken in every batch transaction, a second consumer that briefly believes it owns
//! the same partition waits instead of writing from a stale view
//! (docs/positions.md#locking-and-concurrent-consumers).

use std::collections::HashMap;

use rust_decimal::Decimal;
use sqlx::{MySql, MySqlConnection, QueryBuilder, Row};
use time::PrimitiveDateTime;

use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::AccountId;

use crate::Result;

/// A position account as the reservation rule needs it, read under lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedPosition {
    pub account_id: AccountId,
    pub value: Decimal,
    pub reserved_value: Decimal,
    /// Net debit cap of the account, if one is set (a POSITION account without one reserves
    /// nothing).
    pub net_debit_cap: Option<Decimal>,
    /// The participant's settlement account in the same currency and its position; the
    /// liquidity cover is its negation (funds in make it negative,
    /// docs/positions.md#accounts-and-sign-convention).
    pub settlement_account_id: Option<AccountId>,
    pub settlement_value: Option<Decimal>,
}

impl LockedPosition {
    /// −settlement position, or zero when the participant has no settlement account position.
    pub fn liquidity_cover(&self) -> Decimal {
        self.settlement_value.map_or(Decimal::ZERO, |v| -v)
    }
}

/// Locks the positions of `account_ids` and of their settlement accounts, then reads their NDC.
/// Accounts without a position row are absent from the result.
///
/// The limit is read after the lock is held: an NDC change locks the same position row
/// (`admin::set_net_debit_cap`), so a reservation that commits after a change was decided
/// under the new limit, never under the one in force before it.
pub async fn lock_positions(
    conn: &mut MySqlConnection,
    account_ids: &[AccountId],
) -> Result<HashMap<AccountId, LockedPosition>> {
    let ids = crate::statements::sorted_unique(account_ids.to_vec());
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let settlement_of = settlement_accounts(conn, &ids).await?;
    // Lock every involved position row in ascending account order.
    let mut lock_ids: Vec<AccountId> = ids.clone();
    lock_ids.extend(settlement_of.values().flatten());
    lock_ids.sort_unstable();
    lock_ids.dedup();
    let mut builder = QueryBuilder::<MySql>::new(
        "SELECT account_id, value, reserved_value FROM participant_position WHERE account_id IN (",
    );
    push_account_list(&mut builder, &lock_ids);
    builder.push(" ORDER BY account_id FOR UPDATE");
    let mut values: HashMap<AccountId, (Decimal, Decimal)> = HashMap::new();
    for row in builder.build().fetch_all(&mut *conn).await? {
        values.insert(
            row.try_get("account_id")?,
            (row.try_get("value")?, row.try_get("reserved_value")?),
        );
    }
    let caps = net_debit_caps(conn, &ids).await?;
    let mut locked = HashMap::with_capacity(ids.len());
    for id in ids {
        let Some((value, reserved_value)) = values.get(&id).copied() else {
            continue;
        };
        let settlement_account_id = settlement_of.get(&id).copied().flatten();
        locked.insert(
            id,
            LockedPosition {
                account_id: id,
                value,
                reserved_value,
                net_debit_cap: caps.get(&id).copied(),
                settlement_account_id,
                settlement_value: settlement_account_id
                    .and_then(|s| values.get(&s))
                    .map(|(v, _)| *v),
            },
        );
    }
    Ok(locked)
}

fn push_account_list(builder: &mut QueryBuilder<MySql>, ids: &[AccountId]) {
    let mut list = builder.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    list.push_unseparated(")");
}

/// Which settlement account backs each position account (same participant and currency).
async fn settlement_accounts(
    conn: &mut MySqlConnection,
    ids: &[AccountId],
) -> Result<HashMap<AccountId, Option<AccountId>>> {
    let mut builder = QueryBuilder::<MySql>::new(
        "SELECT a.account_id, s.account_id AS settlement_account_id
         FROM account a
         LEFT JOIN account s ON s.participant_id = a.participant_id AND s.currency = a.currency
                            AND s.ledger_account_type = 'SETTLEMENT'
         WHERE a.account_id IN (",
    );
    push_account_list(&mut builder, ids);
    let mut found = HashMap::new();
    for row in builder.build().fetch_all(&mut *conn).await? {
        found.insert(
            row.try_get("account_id")?,
            row.try_get("settlement_account_id")?,
        );
    }
    Ok(found)
}

/// The net debit caps of `ids`; call with their position rows locked.
async fn net_debit_caps(
    conn: &mut MySqlConnection,
    ids: &[AccountId],
) -> Result<HashMap<AccountId, Decimal>> {
    let mut builder = QueryBuilder::<MySql>::new(
        "SELECT account_id, value FROM participant_limit
         WHERE limit_type = 'NET_DEBIT_CAP' AND account_id IN (",
    );
    push_account_list(&mut builder, ids);
    let mut found = HashMap::new();
    for row in builder.build().fetch_all(&mut *conn).await? {
        found.insert(row.try_get("account_id")?, row.try_get("value")?);
    }
    Ok(found)
}

/// The phase of a position journal entry (see the schema): RESERVE debits the payer (+amount),
/// COMMIT credits the payee (−amount), REVERSE undoes a RESERVE (−amount).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionPhase {
    Reserve,
    Commit,
    Reverse,
}

impl PositionPhase {
    const fn as_str(self) -> &'static str {
        match self {
            PositionPhase::Reserve => "RESERVE",
            PositionPhase::Commit => "COMMIT",
            PositionPhase::Reverse => "REVERSE",
        }
    }
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionChange {
    pub account_id: AccountId,
    pub transfer_id: TransferId,
    pub phase: PositionPhase,
    pub change: Decimal,
    pub value_after: Decimal,
    pub reserved_after: Decimal,
    pub at: PrimitiveDateTime,
}

/// Appends journal entries and sets each touched account's position to the value after its
/// last entry, in the caller's (locked) transaction. The journal's unique key
/// (transfer, account, phase) makes a doubly applied change fail the whole transaction.
pub async fn apply_position_changes(
    conn: &mut MySqlConnection,
    changes: &[PositionChange],
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    for chunk in crate::statements::power_of_two_chunks(changes) {
        let mut builder = QueryBuilder::<MySql>::new(
            "INSERT INTO position_change (account_id, transfer_id, phase, change_amount, value_after, reserved_after, created_at) ",
        );
        builder.push_values(chunk, |mut b, c| {
            b.push_bind(c.account_id)
                .push_bind(c.transfer_id.as_str())
                .push_bind(c.phase.as_str())
                .push_bind(c.change)
                .push_bind(c.value_after)
                .push_bind(c.reserved_after)
                .push_bind(c.at);
        });
        builder.build().execute(&mut *conn).await?;
    }
    // Final value per account = value_after of its last entry in this batch.
    let mut last: HashMap<AccountId, &PositionChange> = HashMap::new();
    for change in changes {
        last.insert(change.account_id, change);
    }
    let mut finals: Vec<&PositionChange> = last.into_values().collect();
    finals.sort_unstable_by_key(|c| c.account_id);
    let mut builder =
        QueryBuilder::<MySql>::new("UPDATE participant_position SET value = CASE account_id");
    for c in &finals {
        builder
            .push(" WHEN ")
            .push_bind(c.account_id)
            .push(" THEN ")
            .push_bind(c.value_after);
    }
    builder.push(" END, reserved_value = CASE account_id");
    for c in &finals {
        builder
            .push(" WHEN ")
            .push_bind(c.account_id)
            .push(" THEN ")
            .push_bind(c.reserved_after);
    }
    builder.push(" END, changed_at = CASE account_id");
    for c in &finals {
        builder
            .push(" WHEN ")
            .push_bind(c.account_id)
            .push(" THEN ")
            .push_bind(c.at);
    }
    builder.push(" END WHERE account_id IN (");
    let mut list = builder.separated(", ");
    for c in &finals {
        list.push_bind(c.account_id);
    }
    list.push_unseparated(")");
    builder.build().execute(&mut *conn).await?;
    Ok(())
}

/// One entry of the position journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub account_id: AccountId,
    /// `RESERVE`, `COMMIT` or `REVERSE`.
    pub phase: String,
    pub change: Decimal,
    pub value_after: Decimal,
}

/// The position journal entries of one transfer, in the order they were written.
pub async fn position_journal(
    conn: &mut MySqlConnection,
    transfer_id: &TransferId,
) -> Result<Vec<JournalEntry>> {
    Ok(sqlx::query_as!(
        JournalEntry,
        r#"SELECT account_id AS "account_id: AccountId", phase, change_amount AS `change`,
             value_after
           FROM position_change WHERE transfer_id = ? ORDER BY position_change_id"#,
        transfer_id.as_str(),
    )
    .fetch_all(&mut *conn)
    .await?)
}
