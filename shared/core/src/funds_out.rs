//! How much liquidity a DFSP may withdraw (funds-out) — docs/positions.md#funds-in-and-out.
//!
//! A DFSP's liquidity cover (the negated value of its settlement account) is what backs its net
//! debit position: every reservation is granted only while `value + reserved ≤ cover`
//! ([`crate::position::decide_reservation`]). A funds-out lowers the cover, so it may take only
//! the part that backs nothing:
//!
//! ```text
//! cover_after = −(settlement + amount)
//! cover_after ≥ 0                       (no overdraft: central-ledger's rule)
//! cover_after ≥ value + reserved        (the obligations stay covered)
//! ```
//!
//! central-ledger checks only the first rule, so collateral backing open obligations can be
//! withdrawn; the second is ferroloop's (docs/mojaloop-differences.md). The caller evaluates it
//! with both accounts locked, so no reservation can slip in between the check and the debit.

use rust_decimal::Decimal;

use crate::position::AccountPosition;
use crate::state::{TransferEvent, TransferState};

/// Why a funds-out is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FundsOutRefusal {
    /// The settlement account would turn positive: more out than in.
    Overdraft,
    /// The cover left would not cover the net debit position and reservations.
    BacksPosition,
}

impl FundsOutRefusal {
    /// The reason stored with the funds-out's `ABORTED_REJECTED` state change. Both begin with
    /// central-ledger's text, so tools that look for it still find it.
    pub const fn reason(self) -> &'static str {
        match self {
            FundsOutRefusal::Overdraft => "Aborted due to insufficient funds",
            FundsOutRefusal::BacksPosition => {
                "Aborted due to insufficient funds: the liquidity cover backs the net debit position and reservations"
            }
        }
    }
}

/// The liquidity a funds-out may take now: the cover less what the position and reservations
/// use (never below zero). `None` on overflow (impossible within the ledger's magnitudes).
pub fn free_liquidity(settlement_value: Decimal, position: &AccountPosition) -> Option<Decimal> {
    // Negation only flips the sign; it cannot overflow.
    let cover = -settlement_value;
    let used = position.effective()?.max(Decimal::ZERO);
    Some(cover.checked_sub(used)?.max(Decimal::ZERO))
}

/// Decides a funds-out of `amount` (> 0) from a settlement account with `settlement_value`
/// whose POSITION account stands at `position`. Total: an overflow refuses, never grants.
pub fn decide_funds_out(
    settlement_value: Decimal,
    position: &AccountPosition,
    amount: Decimal,
) -> Result<(), FundsOutRefusal> {
    let Some(cover_after) = settlement_value.checked_add(amount).map(|v| -v) else {
        return Err(FundsOutRefusal::Overdraft);
    };
    if cover_after < Decimal::ZERO {
        return Err(FundsOutRefusal::Overdraft);
    }
    match position.effective() {
        Some(used) if used <= cover_after => Ok(()),
        _ => Err(FundsOutRefusal::BacksPosition),
    }
}

/// The operator's decision on a reserved funds-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FundsOutDecision {
    /// `recordFundsOutCommit`: credit the hub reconciliation account (−amount).
    Commit,
    /// `recordFundsOutAbort`: reverse the settlement account's debit (−amount).
    Abort,
}

/// The position journal entry that finishes a funds-out, always −amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FinishEntry {
    /// COMMIT on the credit side (payee: the hub reconciliation account).
    CommitPayee,
    /// REVERSE on the debit side (payer: the DFSP's settlement account).
    ReversePayer,
}

/// What a commit or abort does to a funds-out in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Walk the two events (the operator's reason goes with the first) and write the entry.
    Apply {
        events: [TransferEvent; 2],
        entry: FinishEntry,
    },
    /// The transfer already reached the state this decision leads to: nothing to do (a resend).
    AlreadyDone,
    /// Another state than RESERVED, e.g. committed and then asked to abort: refused.
    NotReserved(TransferState),
}

/// Decides a funds-out's commit (RESERVED → RECEIVED_FULFIL → COMMITTED) or abort (RESERVED →
/// RECEIVED_REJECT → ABORTED_REJECTED) from its current state.
pub fn decide_finish(state: TransferState, decision: FundsOutDecision) -> Finish {
    let (done, events, entry) = match decision {
        FundsOutDecision::Commit => (
            TransferState::Committed,
            [TransferEvent::FulfilAccepted, TransferEvent::Commit],
            FinishEntry::CommitPayee,
        ),
        FundsOutDecision::Abort => (
            TransferState::AbortedRejected,
            [TransferEvent::FundsOutReject, TransferEvent::RejectFinal],
            FinishEntry::ReversePayer,
        ),
    };
    if state == done {
        Finish::AlreadyDone
    } else if state == TransferState::Reserved {
        Finish::Apply { events, entry }
    } else {
        Finish::NotReserved(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_reserved_funds_out_finishes_by_the_decision_taken() {
        use FundsOutDecision::{Abort, Commit};
        use TransferState as S;
        let commit = decide_finish(S::Reserved, Commit);
        let Finish::Apply { events, entry } = commit else {
            panic!("{commit:?}")
        };
        assert_eq!(entry, FinishEntry::CommitPayee);
        let walked = crate::state::walk(S::Reserved, &events).unwrap();
        assert_eq!(walked.last().map(|s| s.to), Some(S::Committed));
        let abort = decide_finish(S::Reserved, Abort);
        let Finish::Apply { events, entry } = abort else {
            panic!("{abort:?}")
        };
        assert_eq!(entry, FinishEntry::ReversePayer);
        let walked = crate::state::walk(S::Reserved, &events).unwrap();
        assert_eq!(walked.last().map(|s| s.to), Some(S::AbortedRejected));
        // A resend of the decision taken changes nothing; the other decision is refused.
        assert_eq!(decide_finish(S::Committed, Commit), Finish::AlreadyDone);
        assert_eq!(
            decide_finish(S::AbortedRejected, Abort),
            Finish::AlreadyDone
        );
        assert_eq!(
            decide_finish(S::Committed, Abort),
            Finish::NotReserved(S::Committed)
        );
        assert_eq!(
            decide_finish(S::ReceivedPrepare, Commit),
            Finish::NotReserved(S::ReceivedPrepare)
        );
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn at(value: &str, reserved: &str) -> AccountPosition {
        AccountPosition::new(d(value), d(reserved))
    }

    #[test]
    fn the_cover_backing_the_position_stays() {
        // Funds-in 1000, position 900: 100 is free.
        let position = at("900", "0");
        assert_eq!(free_liquidity(d("-1000"), &position), Some(d("100")));
        assert_eq!(decide_funds_out(d("-1000"), &position, d("100")), Ok(()));
        assert_eq!(
            decide_funds_out(d("-1000"), &position, d("100.0001")),
            Err(FundsOutRefusal::BacksPosition)
        );
        assert_eq!(
            decide_funds_out(d("-1000"), &position, d("1000")),
            Err(FundsOutRefusal::BacksPosition)
        );
        // More than was ever paid in is an overdraft, whatever the position.
        assert_eq!(
            decide_funds_out(d("-1000"), &position, d("1000.01")),
            Err(FundsOutRefusal::Overdraft)
        );
        // Reservations count like the position.
        assert_eq!(
            decide_funds_out(d("-1000"), &at("800", "100"), d("100.01")),
            Err(FundsOutRefusal::BacksPosition)
        );
    }

    #[test]
    fn a_net_creditor_may_not_withdraw_what_it_is_owed() {
        // Position −500 (owed 500 at settlement): the cover may go to zero, not beyond.
        let position = at("-500", "0");
        assert_eq!(free_liquidity(d("-1000"), &position), Some(d("1000")));
        assert_eq!(decide_funds_out(d("-1000"), &position, d("1000")), Ok(()));
        assert_eq!(
            decide_funds_out(d("-1000"), &position, d("1500")),
            Err(FundsOutRefusal::Overdraft)
        );
    }

    #[test]
    fn overflow_refuses() {
        assert_eq!(
            decide_funds_out(Decimal::MAX, &at("0", "0"), Decimal::MAX),
            Err(FundsOutRefusal::Overdraft)
        );
        assert!(
            FundsOutRefusal::BacksPosition
                .reason()
                .starts_with(FundsOutRefusal::Overdraft.reason())
        );
    }

    fn money() -> impl Strategy<Value = Decimal> {
        (-2_000_000i64..=2_000_000, 0u32..=4).prop_map(|(m, s)| Decimal::new(m, s))
    }

    proptest! {
        #[test]
        fn granted_exactly_up_to_the_free_liquidity(
            settlement in money(),
            value in money(),
            reserved in (0i64..=100_000, 0u32..=4).prop_map(|(m, s)| Decimal::new(m, s)),
            amount in (1i64..=2_000_000, 0u32..=4).prop_map(|(m, s)| Decimal::new(m, s)),
        ) {
            let position = AccountPosition::new(value, reserved);
            let decision = decide_funds_out(settlement, &position, amount);
            let cover_after = -(settlement + amount);
            // Granted ⇔ the cover left is non-negative and covers position + reserved.
            prop_assert_eq!(
                decision.is_ok(),
                cover_after >= Decimal::ZERO && cover_after >= value + reserved
            );
            // Granted ⇔ within the free liquidity.
            let free = free_liquidity(settlement, &position).unwrap();
            prop_assert_eq!(decision.is_ok(), amount <= free);
        }
    }
}
