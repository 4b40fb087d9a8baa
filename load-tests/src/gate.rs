//! The validity gate: after the run, from the callbacks and (when the database is reachable)
//! from the ledger itself. A fast run that loses, duplicates or mis-books a transfer fails.

use std::collections::HashMap;

use anyhow::Result;
use ferroloop_core::state::{ApiTransferState, TransferState};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::book::{Outcome, PayeeBehaviour, RecordView};
use crate::run::Run;

/// FSPIOP codes a transfer may legitimately end with when limits bind.
const LIMIT_CODES: [u16; 2] = [4001, 4200];
/// Transfer expired (what a silent payee causes).
const EXPIRED_CODE: u16 = 3303;
/// Examples of each failure kept for the report.
const EXAMPLES_MAX: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    pub passed: bool,
    /// False when no database URL was given: only the callback half ran.
    pub database_checked: bool,
    pub checks: Vec<Check>,
}

/// What a DFSP's position did during the run.
#[derive(Debug, Clone, Serialize)]
pub struct PositionChange {
    pub dfsp: String,
    pub net_debit_cap: Decimal,
    pub before: Decimal,
    pub after: Decimal,
    /// What settlements during the run took off the position (`--settle-every-seconds`).
    #[serde(skip_serializing_if = "Decimal::is_zero")]
    pub settled: Decimal,
}

/// What the gate needs to know about the run's set-up.
#[derive(Debug, Clone, Copy)]
pub struct Expectations {
    pub limits_bind: bool,
    pub amount: Decimal,
    /// Faults are injected (`--under-faults`): POSTs the adapter never answered and expiries of
    /// transfers whose answer was lost are not failures.
    pub under_faults: bool,
    /// Duplicate callbacks (payer and payee) that pass.
    pub allowed_duplicates: u64,
}

/// The database half of the gate in numbers (the fault counts read them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbCounts {
    /// Accepted transfers without one final state.
    pub not_final: u64,
    pub disagreeing: u64,
    pub i1: u64,
    pub i2: u64,
    pub i3: u64,
    pub i4: u64,
    pub settlement: u64,
}

struct Checks(Vec<Check>);

impl Checks {
    fn add(&mut self, name: &str, failures: u64, detail: String) {
        self.0.push(Check {
            name: name.to_owned(),
            passed: failures == 0,
            detail,
        });
    }
}

fn examples(ids: &[String]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!(" (e.g. {})", ids.join(", "))
    }
}

/// Whether the transfer ended as its payee's behaviour and the limits say it should.
fn as_expected(view: &RecordView, expect: Expectations) -> bool {
    let limit_refusal = view.outcome == Outcome::Aborted && LIMIT_CODES.contains(&view.error_code);
    match view.behaviour {
        Some(PayeeBehaviour::Fulfil | PayeeBehaviour::Reserve) => {
            let lost_answer_expired = expect.under_faults
                && view.outcome == Outcome::Aborted
                && view.error_code == EXPIRED_CODE;
            view.outcome == Outcome::Committed
                || (expect.limits_bind && limit_refusal)
                || lost_answer_expired
        }
        Some(PayeeBehaviour::Silent) => {
            (view.outcome == Outcome::Aborted && view.error_code == EXPIRED_CODE)
                || (expect.limits_bind && limit_refusal)
        }
        None => false,
    }
}

/// The checks that need only what the simulators saw.
pub fn check_callbacks(
    run: &Run,
    views: &[RecordView],
    positions: &[PositionChange],
    expect: Expectations,
) -> Vec<Check> {
    let mut checks = Checks(Vec::new());
    let id = |v: &RecordView| run.ids.id(v.index).to_string();

    let pending: Vec<_> = views
        .iter()
        .filter(|v| v.outcome == Outcome::Pending)
        .collect();
    let pending_examples: Vec<_> = pending.iter().take(EXAMPLES_MAX).map(|v| id(v)).collect();
    checks.add(
        "every transfer ended (payer heard the outcome)",
        pending.len() as u64,
        format!(
            "{} of {} still open{}",
            pending.len(),
            views.len(),
            examples(&pending_examples)
        ),
    );

    let refused: Vec<_> = views
        .iter()
        .filter(|v| matches!(v.outcome, Outcome::Refused | Outcome::SendFailed))
        .collect();
    let refused_examples: Vec<_> = refused
        .iter()
        .take(EXAMPLES_MAX)
        .map(|v| format!("{} ({})", id(v), v.error_code))
        .collect();
    // Under faults a POST the adapter could not take is the DFSP's to resend, not a loss.
    checks.add(
        "every POST /transfers was accepted with 202",
        if expect.under_faults {
            0
        } else {
            refused.len() as u64
        },
        format!(
            "{} refused or unanswered{}",
            refused.len(),
            examples(&refused_examples)
        ),
    );

    let unexpected: Vec<_> = views
        .iter()
        .filter(|v| {
            !matches!(
                v.outcome,
                Outcome::Pending | Outcome::Refused | Outcome::SendFailed
            )
        })
        .filter(|v| !as_expected(v, expect))
        .collect();
    let unexpected_examples: Vec<_> = unexpected
        .iter()
        .take(EXAMPLES_MAX)
        .map(|v| format!("{} {:?} {}", id(v), v.outcome, v.error_code))
        .collect();
    checks.add(
        "every transfer ended as its payee answered",
        unexpected.len() as u64,
        format!(
            "{} unexpected outcomes{}",
            unexpected.len(),
            examples(&unexpected_examples)
        ),
    );

    let duplicated = views.iter().filter(|v| v.payer_finals > 1).count() as u64;
    let payee_extra: u64 = views
        .iter()
        .filter(|v| v.payee_prepare_us.is_some())
        .map(|v| u64::from(v.payee_notices.saturating_sub(1)))
        .sum();
    let payer_extra: u64 = views
        .iter()
        .map(|v| u64::from(v.payer_finals.saturating_sub(1)))
        .sum();
    let over = if expect.under_faults {
        (payer_extra + payee_extra).saturating_sub(expect.allowed_duplicates)
    } else {
        duplicated
    };
    checks.add(
        "no payer heard an outcome twice (under faults: duplicates within the bound)",
        over,
        format!(
            "{duplicated} transfers with more than one final callback; {payer_extra} extra to payers, {payee_extra} to payees (allowed {})",
            expect.allowed_duplicates
        ),
    );

    let answers_refused = views.iter().filter(|v| v.payee_answer_refused).count() as u64;
    checks.add(
        "the hub accepted every payee answer",
        if expect.under_faults {
            0
        } else {
            answers_refused
        },
        format!("{answers_refused} payee PUTs refused or unanswered"),
    );

    let misdirected = run
        .counters
        .misdirected_callbacks
        .load(std::sync::atomic::Ordering::Acquire);
    checks.add(
        "every callback reached the transfer's payer or payee",
        misdirected,
        format!("{misdirected} callbacks reached another DFSP"),
    );

    // Money: each DFSP's position moved by exactly what it paid minus what it received.
    let mut expected_delta: HashMap<u16, Decimal> = HashMap::new();
    for v in views.iter().filter(|v| v.outcome == Outcome::Committed) {
        *expected_delta.entry(v.payer).or_default() += expect.amount;
        *expected_delta.entry(v.payee).or_default() -= expect.amount;
    }
    let mut wrong = Vec::new();
    for (i, p) in positions.iter().enumerate() {
        let expected = u16::try_from(i)
            .ok()
            .and_then(|i| expected_delta.get(&i))
            .copied()
            .unwrap_or_default();
        // A settlement moved the position by −net on top of the transfers.
        let moved = p.after - p.before + p.settled;
        if moved != expected {
            wrong.push(format!(
                "{}: moved {moved} but committed transfers say {expected}",
                p.dfsp
            ));
        }
    }
    checks.add(
        "positions moved by exactly the committed transfers",
        wrong.len() as u64,
        if wrong.is_empty() {
            format!("{} DFSPs balanced", positions.len())
        } else {
            wrong.join("; ")
        },
    );

    let above: Vec<_> = positions
        .iter()
        .filter(|p| p.after > p.net_debit_cap)
        .map(|p| format!("{} at {} over {}", p.dfsp, p.after, p.net_debit_cap))
        .collect();
    checks.add(
        "no position above its net debit cap",
        above.len() as u64,
        above.join("; "),
    );
    checks.0
}

/// The checks against the hub's database: states, counts and invariants I1–I4.
pub async fn check_database(
    run: &Run,
    views: &[RecordView],
    database_url: &str,
) -> Result<(Vec<Check>, DbCounts)> {
    let mut checks = Checks(Vec::new());
    let pool =
        ferroloop_store::connect(&ferroloop_store::DatabaseArgs::for_url(database_url)).await?;

    let stored: HashMap<String, String> =
        ferroloop_store::transfers::states_by_payer(&pool, &run.dfsps)
            .await?
            .into_iter()
            .collect();
    let mut not_final = Vec::new();
    let mut disagreeing = Vec::new();
    let mut accepted = 0_u64;
    for v in views.iter().filter(|v| v.accepted_us.is_some()) {
        accepted += 1;
        let id = run.ids.id(v.index).to_string();
        let state = stored
            .get(&id)
            .and_then(|s| s.parse::<TransferState>().ok());
        match state {
            Some(state) if state.is_final() => {
                let committed = state.api_state() == ApiTransferState::Committed;
                if committed != (v.outcome == Outcome::Committed) {
                    disagreeing.push(format!(
                        "{id} is {} but the payer heard {:?}",
                        state.as_str(),
                        v.outcome
                    ));
                }
            }
            other => not_final.push(format!(
                "{id} {}",
                other.map_or("missing", TransferState::as_str)
            )),
        }
    }
    checks.add(
        "every accepted transfer reached one final state in the database",
        not_final.len() as u64,
        format!(
            "{accepted} accepted, {} not final{}",
            not_final.len(),
            examples(
                &not_final
                    .iter()
                    .take(EXAMPLES_MAX)
                    .cloned()
                    .collect::<Vec<_>>()
            )
        ),
    );
    checks.add(
        "the database and the payer agree on every outcome",
        disagreeing.len() as u64,
        format!(
            "{} disagree{}",
            disagreeing.len(),
            examples(
                &disagreeing
                    .iter()
                    .take(EXAMPLES_MAX)
                    .cloned()
                    .collect::<Vec<_>>()
            )
        ),
    );

    // Over the accepted transfers only: under faults a POST whose 202 was lost can still commit.
    let committed_stored = views
        .iter()
        .filter(|v| v.accepted_us.is_some())
        .filter_map(|v| stored.get(&run.ids.id(v.index).to_string()))
        .filter(|s| s.as_str() == TransferState::Committed.as_str())
        .count() as u64;
    let committed_heard = views
        .iter()
        .filter(|v| v.outcome == Outcome::Committed)
        .count() as u64;
    checks.add(
        "committed in the database = COMMITTED callbacks to payers",
        committed_stored.abs_diff(committed_heard),
        format!("{committed_stored} stored, {committed_heard} heard"),
    );

    let i1 = ferroloop_store::invariants::i1_violations(&pool).await?;
    checks.add(
        "I1 every position = opening value + its journal",
        i1.len() as u64,
        format!("{} accounts off{}", i1.len(), debug_examples(&i1)),
    );
    let i2 = ferroloop_store::invariants::i2_violations(&pool).await?;
    checks.add(
        "I2 committed transfers moved +amount/−amount once, aborted ones net to zero",
        i2.len() as u64,
        format!("{} transfers off{}", i2.len(), debug_examples(&i2)),
    );
    let i3 = ferroloop_store::invariants::i3_violations(&pool, &run.dfsps).await?;
    checks.add(
        "I3 no reservation above min(net debit cap, liquidity cover)",
        i3.len() as u64,
        format!("{} reservations over{}", i3.len(), debug_examples(&i3)),
    );
    let i4 = ferroloop_store::invariants::i4_violations(&pool).await?;
    checks.add(
        "I4 every state change allowed, one final state each",
        i4.len() as u64,
        format!("{} anomalies{}", i4.len(), debug_examples(&i4)),
    );
    let settlement = ferroloop_store::settlement::checks::violations(&pool).await?;
    checks.add(
        "S1–S4 every committed transfer in one window, settlements net to zero, money conserved",
        settlement.len() as u64,
        format!(
            "{} violations{}",
            settlement.len(),
            debug_examples(&settlement)
        ),
    );
    pool.close().await;
    let counts = DbCounts {
        not_final: not_final.len() as u64,
        disagreeing: disagreeing.len() as u64,
        i1: i1.len() as u64,
        i2: i2.len() as u64,
        i3: i3.len() as u64,
        i4: i4.len() as u64,
        settlement: settlement.len() as u64,
    };
    Ok((checks.0, counts))
}

fn debug_examples<T: std::fmt::Debug>(items: &[T]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let shown: Vec<_> = items
        .iter()
        .take(EXAMPLES_MAX)
        .map(|i| format!("{i:?}"))
        .collect();
    format!(": {}", shown.join("; "))
}

pub fn gate(checks: Vec<Check>, database_checked: bool) -> Gate {
    Gate {
        passed: checks.iter().all(|c| c.passed),
        database_checked,
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(behaviour: PayeeBehaviour, outcome: Outcome, code: u16) -> RecordView {
        RecordView {
            index: 0,
            scheduled_us: Some(0),
            accepted_us: Some(1),
            payee_prepare_us: None,
            payee_answer_us: None,
            finished_us: Some(2),
            payer: 0,
            payee: 1,
            behaviour: Some(behaviour),
            outcome,
            error_code: code,
            payer_finals: 1,
            payee_notices: 0,
            payee_answer_refused: false,
        }
    }

    #[test]
    fn limit_refusals_are_expected_only_when_limits_bind() {
        let loose = Expectations {
            limits_bind: false,
            amount: Decimal::ONE,
            under_faults: false,
            allowed_duplicates: 0,
        };
        let binding = Expectations {
            limits_bind: true,
            ..loose
        };
        let refused = view(PayeeBehaviour::Fulfil, Outcome::Aborted, 4200);
        assert!(!as_expected(&refused, loose));
        assert!(as_expected(&refused, binding));
        let committed = view(PayeeBehaviour::Reserve, Outcome::Committed, 0);
        assert!(as_expected(&committed, loose));
        let expired = view(PayeeBehaviour::Silent, Outcome::Aborted, 3303);
        assert!(as_expected(&expired, loose));
        let committed_silently = view(PayeeBehaviour::Silent, Outcome::Committed, 0);
        assert!(!as_expected(&committed_silently, loose));
        let other_error = view(PayeeBehaviour::Fulfil, Outcome::Aborted, 3100);
        assert!(!as_expected(&other_error, binding));
    }

    #[test]
    fn under_faults_an_expiry_of_an_answered_transfer_is_a_final_state() {
        let calm = Expectations {
            limits_bind: true,
            amount: Decimal::ONE,
            under_faults: false,
            allowed_duplicates: 0,
        };
        let faults = Expectations {
            under_faults: true,
            ..calm
        };
        let expired = view(PayeeBehaviour::Fulfil, Outcome::Aborted, 3303);
        assert!(!as_expected(&expired, calm));
        assert!(as_expected(&expired, faults));
        let other_error = view(PayeeBehaviour::Fulfil, Outcome::Aborted, 3100);
        assert!(!as_expected(&other_error, faults));
    }
}
