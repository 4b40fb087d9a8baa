//! What a run under injected faults (`make chaos`, docs/reliability.md) must account for: lost
//! transfers, double applications, invariant violations, parties never told, duplicate
//! callbacks, and how long the stream stalled. Counted on every run, so a fault-free run shows
//! the zeros the chaos runs are compared with.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::book::{Outcome, RecordView};
use crate::gate::DbCounts;

/// The FSPIOP code of an expiry.
const EXPIRED_CODE: u16 = 3303;
/// Limit refusals (net debit cap, liquidity).
const LIMIT_CODES: [u16; 2] = [4001, 4200];
/// "Generic validation error": what a payee gets for an answer to a transfer that is not
/// RESERVED any more — never legitimate for the simulators' valid answers.
const VALIDATION_CODE: u16 = 3100;

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Faults {
    /// POSTs answered 202.
    pub accepted: u64,
    /// POSTs refused or unanswered (the adapter down): never the hub's to finish.
    pub not_accepted: u64,
    /// Accepted transfers without a final state in the database (`None`: no database given).
    pub lost: Option<u64>,
    /// Accepted transfers whose payer heard no final state, GET recovery included.
    pub payer_untold: u64,
    /// Accepted transfers the payer learnt only by asking (`--recover-with-get`).
    pub told_after_get: u64,
    /// Transfers whose payee got the prepare, and which ended, but whose payee heard nothing
    /// after (commit copy, PATCH or error).
    pub payee_untold: u64,
    /// Final callbacks to payers beyond the first.
    pub duplicate_payer_callbacks: u64,
    /// Callbacks to payees beyond the one each ended transfer owes them.
    pub duplicate_payee_callbacks: u64,
    /// Ended by expiry (3303).
    pub expired: u64,
    /// Refused by the net debit cap or liquidity (4001, 4200): final states, not losses.
    pub limit_refusals: u64,
    /// Committed transfers in the database.
    pub committed: u64,
    /// I2 (money moved more than once) and I4 (more than one final state) violations.
    pub applied_twice: Option<u64>,
    /// I1–I4 and S1–S4 violations together.
    pub invariant_violations: Option<u64>,
    /// `PUT …/error` callbacks received, by FSPIOP code.
    pub error_callbacks_by_code: BTreeMap<String, u64>,
    /// 3100 error callbacks (e.g. "non-RESERVED transfer state" for a replayed answer).
    pub validation_errors: u64,
    /// Longest time between two consecutive final callbacks to payers.
    pub max_stall_ms: u64,
    /// Payee answers sent again after a failed attempt (`--payee-answer-attempts`).
    pub payee_answer_resends: u64,
    /// Callbacks the failing DFSP refused with 503 (`--failing-dfsp-*`).
    pub failed_on_purpose: u64,
}

/// What the simulators counted besides the records.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub error_callbacks: BTreeMap<u16, u64>,
    pub told_after_get: u64,
    pub payee_answer_resends: u64,
    pub failed_on_purpose: u64,
}

/// The fault counts of a run.
pub fn count(views: &[RecordView], seen: &Seen, db: Option<&DbCounts>) -> Faults {
    let mut faults = Faults {
        told_after_get: seen.told_after_get,
        payee_answer_resends: seen.payee_answer_resends,
        failed_on_purpose: seen.failed_on_purpose,
        error_callbacks_by_code: seen
            .error_callbacks
            .iter()
            .map(|(code, n)| (code.to_string(), *n))
            .collect(),
        validation_errors: seen
            .error_callbacks
            .get(&VALIDATION_CODE)
            .copied()
            .unwrap_or(0),
        ..Faults::default()
    };
    for v in views {
        faults.duplicate_payer_callbacks += u64::from(v.payer_finals.saturating_sub(1));
        if v.accepted_us.is_none() {
            faults.not_accepted += 1;
            continue;
        }
        faults.accepted += 1;
        match v.outcome {
            Outcome::Pending | Outcome::Refused | Outcome::SendFailed => faults.payer_untold += 1,
            Outcome::Committed => faults.committed += 1,
            Outcome::Aborted if v.error_code == EXPIRED_CODE => faults.expired += 1,
            Outcome::Aborted if LIMIT_CODES.contains(&v.error_code) => faults.limit_refusals += 1,
            Outcome::Aborted => {}
        }
        let ended = matches!(v.outcome, Outcome::Committed | Outcome::Aborted);
        if v.payee_prepare_us.is_some() && ended {
            if v.payee_notices == 0 {
                faults.payee_untold += 1;
            }
            faults.duplicate_payee_callbacks += u64::from(v.payee_notices.saturating_sub(1));
        }
    }
    faults.max_stall_ms = max_stall_us(views) / 1_000;
    if let Some(db) = db {
        faults.lost = Some(db.not_final);
        faults.applied_twice = Some(db.i2 + db.i4);
        faults.invariant_violations = Some(db.i1 + db.i2 + db.i3 + db.i4 + db.settlement);
    }
    faults
}

/// The longest gap between consecutive final callbacks to payers, in microseconds.
fn max_stall_us(views: &[RecordView]) -> u64 {
    let mut finished: Vec<u64> = views
        .iter()
        .filter(|v| matches!(v.outcome, Outcome::Committed | Outcome::Aborted))
        .filter_map(|v| v.finished_us)
        .collect();
    finished.sort_unstable();
    finished.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::PayeeBehaviour;

    fn view(outcome: Outcome, code: u16, finished_us: u64) -> RecordView {
        RecordView {
            index: 0,
            scheduled_us: Some(0),
            accepted_us: Some(1),
            payee_prepare_us: Some(2),
            payee_answer_us: Some(3),
            finished_us: Some(finished_us),
            payer: 0,
            payee: 1,
            behaviour: Some(PayeeBehaviour::Fulfil),
            outcome,
            error_code: code,
            payer_finals: 1,
            payee_notices: 1,
            payee_answer_refused: false,
        }
    }

    #[test]
    fn counts_what_each_transfer_went_through() {
        let mut duplicate = view(Outcome::Committed, 0, 1_000);
        duplicate.payer_finals = 3;
        duplicate.payee_notices = 2;
        let mut untold_payee = view(Outcome::Aborted, EXPIRED_CODE, 5_000_000);
        untold_payee.payee_notices = 0;
        let mut never_heard = view(Outcome::Pending, 0, 0);
        never_heard.finished_us = None;
        let mut refused_at_post = view(Outcome::SendFailed, 0, 0);
        refused_at_post.accepted_us = None;
        let limit = view(Outcome::Aborted, 4001, 2_000_000);
        let views = [duplicate, untold_payee, never_heard, refused_at_post, limit];
        let seen = Seen {
            error_callbacks: BTreeMap::from([(3100, 2), (3303, 1)]),
            ..Seen::default()
        };
        let db = DbCounts {
            not_final: 1,
            i2: 1,
            i4: 2,
            i1: 3,
            ..DbCounts::default()
        };
        let faults = count(&views, &seen, Some(&db));
        assert_eq!(faults.accepted, 4);
        assert_eq!(faults.not_accepted, 1);
        assert_eq!(faults.payer_untold, 1);
        assert_eq!(faults.payee_untold, 1);
        assert_eq!(faults.duplicate_payer_callbacks, 2);
        assert_eq!(faults.duplicate_payee_callbacks, 1);
        assert_eq!(faults.expired, 1);
        assert_eq!(faults.limit_refusals, 1);
        assert_eq!(faults.committed, 1);
        assert_eq!(faults.validation_errors, 2);
        assert_eq!(faults.lost, Some(1));
        assert_eq!(faults.applied_twice, Some(3));
        assert_eq!(faults.invariant_violations, Some(6));
        // 1 ms, 2 s, 5 s: the longest gap is the last 3 s.
        assert_eq!(faults.max_stall_ms, 3_000);
    }
}
