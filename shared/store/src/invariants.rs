//! The SQL that checks the storage invariants (docs/invariants.md). Each function returns the rows
//! that violate its invariant, so "holds" means "returned nothing". The test suite calls these
//! after every scenario and the load test's validity gate calls them after a run.
//!
//! Transfer ids are [`TransferId`]s here as everywhere in the store: every row's id was written
//! from one, so a column that does not parse is [`crate::StoreError::InvalidColumn`] naming it and
//! its text (the check fails with that error instead of listing the row).

use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::AccountId;
use ferroloop_core::state::TransferState;
use rust_decimal::Decimal;
use sqlx::mysql::MySqlRow;
use sqlx::{MySqlPool, Row};

use crate::Result;

/// An account whose position differs from its opening value plus its journal (I1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionJournalMismatch {
    pub account_id: AccountId,
    pub position_value: Decimal,
    pub journal_value: Decimal,
}

/// I1: every position equals its opening value plus the sum of its journal entries, and the
/// newest journal entry of an account records the position the account now has.
pub async fn i1_violations(pool: &MySqlPool) -> Result<Vec<PositionJournalMismatch>> {
    let rows = sqlx::query(
        "SELECT p.account_id, p.value, p.opening_value + COALESCE(j.total, 0) AS journal_value
         FROM participant_position p
         LEFT JOIN (SELECT account_id, SUM(change_amount) AS total, MAX(position_change_id) AS last_id
                    FROM position_change GROUP BY account_id) j ON j.account_id = p.account_id
         LEFT JOIN position_change last ON last.position_change_id = j.last_id
         WHERE p.value <> p.opening_value + COALESCE(j.total, 0)
            OR (last.position_change_id IS NOT NULL AND last.value_after <> p.value)",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(PositionJournalMismatch {
                account_id: row.try_get("account_id")?,
                position_value: row.try_get("value")?,
                journal_value: row.try_get("journal_value")?,
            })
        })
        .collect()
}

/// A transfer whose journal entries do not match its state (I2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferJournalMismatch {
    pub transfer_id: TransferId,
    pub state: String,
    pub amount: Option<Decimal>,
    pub reserved: Decimal,
    pub committed: Decimal,
    pub reversed: Decimal,
}

/// I2: a committed transfer moved +amount on the payer (debit side) and −amount on the payee
/// (credit side) exactly once; an aborted or expired one nets to zero; one still in flight has
/// at most its reservation. Entries must sit on the transfer's own accounts.
pub async fn i2_violations(pool: &MySqlPool) -> Result<Vec<TransferJournalMismatch>> {
    let rows = sqlx::query(
        "SELECT t.transfer_id, t.state, t.amount, s.enumeration,
                COALESCE(SUM(CASE WHEN pc.phase = 'RESERVE' THEN pc.change_amount END), 0) AS reserved,
                COALESCE(SUM(CASE WHEN pc.phase = 'COMMIT' THEN pc.change_amount END), 0) AS committed,
                COALESCE(SUM(CASE WHEN pc.phase = 'REVERSE' THEN pc.change_amount END), 0) AS reversed,
                COUNT(pc.position_change_id) AS entries,
                COUNT(CASE WHEN pc.phase = 'RESERVE' THEN 1 END) AS reserve_entries,
                COUNT(CASE WHEN (pc.phase IN ('RESERVE', 'REVERSE') AND pc.account_id <> t.payer_account_id)
                             OR (pc.phase = 'COMMIT' AND pc.account_id <> t.payee_account_id) THEN 1 END) AS misplaced
         FROM transfer t
         JOIN transfer_state s ON s.state = t.state
         LEFT JOIN position_change pc ON pc.transfer_id = t.transfer_id
         GROUP BY t.transfer_id, t.state, t.amount, s.enumeration
         HAVING misplaced > 0
             OR (s.enumeration = 'COMMITTED' AND NOT (reserved = t.amount AND committed = -t.amount AND reversed = 0))
             OR (s.enumeration = 'ABORTED' AND NOT (committed = 0 AND reserved + reversed = 0
                                                    AND (reserve_entries = 0 OR reserved = t.amount)))
             OR (s.enumeration = 'RESERVED' AND NOT (reserved = t.amount AND committed = 0 AND reversed = 0))
             OR (s.enumeration = 'RECEIVED' AND entries > 0)",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TransferJournalMismatch {
                transfer_id: transfer_id(row)?,
                state: row.try_get("state")?,
                amount: row.try_get("amount")?,
                reserved: row.try_get("reserved")?,
                committed: row.try_get("committed")?,
                reversed: row.try_get("reversed")?,
            })
        })
        .collect()
}

/// A state-journal anomaly (I4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateJournalViolation {
    /// A journal row records a transition the state machine does not allow.
    IllegalTransition {
        transfer_id: TransferId,
        from: Option<String>,
        to: String,
    },
    /// The transfer's current state is not the newest journal entry (or it has none).
    CurrentStateMismatch {
        transfer_id: TransferId,
        current: String,
        newest_journal: Option<String>,
    },
    /// More than one final state was recorded.
    SeveralFinalStates { transfer_id: TransferId, count: i64 },
}

/// I4: every state change is an allowed transition, consecutive journal entries chain
/// (`from_state` of one is the state of the previous), the transfer row holds the newest state,
/// and no transfer reached more than one final state.
pub async fn i4_violations(pool: &MySqlPool) -> Result<Vec<StateJournalViolation>> {
    let mut violations = Vec::new();

    let rows = sqlx::query(
        "SELECT c.transfer_id, c.from_state, c.state,
                LAG(c.state) OVER (PARTITION BY c.transfer_id ORDER BY c.transfer_state_change_id) AS previous
         FROM transfer_state_change c",
    )
    .fetch_all(pool)
    .await?;
    for row in &rows {
        let transfer_id = transfer_id(row)?;
        let from: Option<String> = row.try_get("from_state")?;
        let to: String = row.try_get("state")?;
        let previous: Option<String> = row.try_get("previous")?;
        let allowed = from == previous && is_allowed_edge(from.as_deref(), &to);
        if !allowed {
            violations.push(StateJournalViolation::IllegalTransition {
                transfer_id,
                from,
                to,
            });
        }
    }

    // One pass over the journal (its newest row per transfer by MAX), not a dependent
    // `ORDER BY … LIMIT 1` per transfer: MariaDB may run that as a backward scan of the whole
    // journal for each transfer, and a gate over a few minutes of load then never ends.
    let rows = sqlx::query(
        "SELECT t.transfer_id, t.state, c.state AS newest
         FROM transfer t
         LEFT JOIN (SELECT transfer_id, MAX(transfer_state_change_id) AS newest_id
                    FROM transfer_state_change GROUP BY transfer_id) m
           ON m.transfer_id = t.transfer_id
         LEFT JOIN transfer_state_change c ON c.transfer_state_change_id = m.newest_id
         WHERE c.state IS NULL OR c.state <> t.state",
    )
    .fetch_all(pool)
    .await?;
    for row in &rows {
        violations.push(StateJournalViolation::CurrentStateMismatch {
            transfer_id: transfer_id(row)?,
            current: row.try_get("state")?,
            newest_journal: row.try_get("newest")?,
        });
    }

    let rows = sqlx::query(
        "SELECT c.transfer_id, COUNT(*) AS finals
         FROM transfer_state_change c JOIN transfer_state s ON s.state = c.state
         WHERE s.is_final GROUP BY c.transfer_id HAVING finals > 1",
    )
    .fetch_all(pool)
    .await?;
    for row in &rows {
        violations.push(StateJournalViolation::SeveralFinalStates {
            transfer_id: transfer_id(row)?,
            count: row.try_get("finals")?,
        });
    }
    Ok(violations)
}

/// The row's `transfer_id` column.
fn transfer_id(row: &MySqlRow) -> Result<TransferId> {
    crate::columns::transfer_id(row, "transfer_id")
}

fn is_allowed_edge(from: Option<&str>, to: &str) -> bool {
    let parse = |s: &str| s.parse::<TransferState>().ok();
    let Some(to) = parse(to) else { return false };
    let from = match from {
        None => None,
        Some(s) => match parse(s) {
            Some(state) => Some(state),
            None => return false,
        },
    };
    use ferroloop_core::state::{TransferEvent, transition};
    TransferEvent::ALL
        .into_iter()
        .any(|event| transition(from, event) == Ok(to))
}

/// A reservation that took an account beyond its limits (I3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitBreach {
    pub account_id: AccountId,
    pub transfer_id: TransferId,
    /// Position plus reserved value right after the reservation.
    pub position_after: Decimal,
    pub net_debit_cap: Decimal,
    /// −(settlement account value): the participant's liquidity cover.
    pub liquidity_cover: Decimal,
}

/// I3: no reservation took a POSITION account above the lower of its net debit cap and its
/// liquidity cover. The schema keeps only the current limit and settlement balance, so this is
/// exact while limits and funds did not change after the reservations it checks (a load test
/// sets them before it starts); the position handler enforces the rule at every reservation.
/// `participants` narrows the check to those participants' accounts (empty = every account).
pub async fn i3_violations(pool: &MySqlPool, participants: &[String]) -> Result<Vec<LimitBreach>> {
    let mut query = sqlx::QueryBuilder::new(
        "SELECT pc.account_id, pc.transfer_id, pc.value_after + pc.reserved_after AS position_after,
                l.value AS net_debit_cap, -sp.value AS liquidity_cover
         FROM position_change pc
         JOIN account a ON a.account_id = pc.account_id AND a.ledger_account_type = 'POSITION'
         JOIN participant p ON p.participant_id = a.participant_id
         JOIN participant_limit l ON l.account_id = a.account_id AND l.limit_type = 'NET_DEBIT_CAP'
         JOIN account sa ON sa.participant_id = a.participant_id AND sa.currency = a.currency
                        AND sa.ledger_account_type = 'SETTLEMENT'
         JOIN participant_position sp ON sp.account_id = sa.account_id
         WHERE pc.phase = 'RESERVE'
           AND pc.value_after + pc.reserved_after > LEAST(l.value, -sp.value)",
    );
    if !participants.is_empty() {
        query.push(" AND p.name IN (");
        let mut names = query.separated(", ");
        for name in participants {
            names.push_bind(name);
        }
        query.push(")");
    }
    let rows = query.build().fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            Ok(LimitBreach {
                account_id: row.try_get("account_id")?,
                transfer_id: transfer_id(row)?,
                position_after: row.try_get("position_after")?,
                net_debit_cap: row.try_get("net_debit_cap")?,
                liquidity_cover: row.try_get("liquidity_cover")?,
            })
        })
        .collect()
}

/// All three storage invariants at once; the error lists every violation found.
pub async fn assert_storage_invariants(pool: &MySqlPool) -> std::result::Result<(), String> {
    let i1 = i1_violations(pool).await.map_err(|e| e.to_string())?;
    let i2 = i2_violations(pool).await.map_err(|e| e.to_string())?;
    let i4 = i4_violations(pool).await.map_err(|e| e.to_string())?;
    if i1.is_empty() && i2.is_empty() && i4.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "storage invariants violated:\nI1 {i1:#?}\nI2 {i2:#?}\nI4 {i4:#?}"
        ))
    }
}
