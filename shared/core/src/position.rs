//! The reservation rule and in-order application of position changes
//! (docs/positions.md#the-reservation-rule, docs/positions.md#applying-a-batch-in-order,
//! docs/invariants.md#i3-no-reservation-above-the-limits).
//!
//! Sign convention (docs/positions.md#accounts-and-sign-convention): a DFSP's position is positive
//! when it is a net debtor; its liquidity cover is the negated value of its settlement account
//! (funds-in makes that account negative). A prepare of `amount` is reserved iff
//!
//! ```text
//! amount ≤ min(net_debit_cap, liquidity_cover) − (value + reserved)
//! ```
//!
//! checked as two rules in central-ledger's order: liquidity first (4001), then the net debit cap
//! (4200). All arithmetic is exact (`rust_decimal`).
//!
//! In a batch, every reservation is decided against the running position *including* every earlier
//! reservation of the batch; central-ledger's batch handler widens the available amount instead (a
//! sign bug; docs/mojaloop-differences.md#reservations-in-arrival-order), which lets a batch
//! overrun the cap. [`apply_batch`] has no separate "available" figure to get wrong: it recomputes
//! from the running position for each operation.

use rust_decimal::Decimal;

use crate::amount::Amount;
use crate::error::ErrorCode;

/// Bound on the magnitude of a position, limit or cover (10^24): the store keeps positions as
/// `DECIMAL(28,4)`, i.e. below 10^24. Within this bound no sum formed here can overflow a
/// `Decimal` (whose mantissa holds ~7.9·10^28).
pub const POSITION_MAGNITUDE_LIMIT: Decimal =
    Decimal::from_parts(0xa100_0000, 0x1bce_cced, 0xd3c2, false, 0);

/// A position account's current figures (`participantPosition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountPosition {
    /// The position: positive = net debtor.
    pub value: Decimal,
    /// Amounts held but not yet in `value` (always 0 at rest in Mojaloop; kept for the formula).
    pub reserved: Decimal,
}

impl AccountPosition {
    pub fn new(value: Decimal, reserved: Decimal) -> Self {
        Self { value, reserved }
    }

    /// `value + reserved`, what the limits are compared with. `None` on overflow.
    pub fn effective(&self) -> Option<Decimal> {
        self.value.checked_add(self.reserved)
    }
}

/// The limits a reservation must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    /// The active `NET_DEBIT_CAP` limit of the position account.
    pub net_debit_cap: Decimal,
    /// `−(settlement account value)`.
    pub liquidity_cover: Decimal,
}

impl AccountLimits {
    pub fn new(net_debit_cap: Decimal, liquidity_cover: Decimal) -> Self {
        Self {
            net_debit_cap,
            liquidity_cover,
        }
    }

    /// Limits from the settlement account's stored value (negative after funds-in).
    pub fn from_settlement_value(net_debit_cap: Decimal, settlement_value: Decimal) -> Self {
        Self {
            net_debit_cap,
            liquidity_cover: -settlement_value,
        }
    }

    /// The binding limit: `min(NDC, liquidity cover)`.
    pub fn ceiling(&self) -> Decimal {
        self.net_debit_cap.min(self.liquidity_cover)
    }
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationRejection {
    /// 4001 "Payer FSP insufficient liquidity".
    InsufficientLiquidity,
    /// 4200 "Payer limit error" (net debit cap).
    LimitExceeded,
}

impl ReservationRejection {
    pub const fn error_code(self) -> ErrorCode {
        match self {
            ReservationRejection::InsufficientLiquidity => {
                ErrorCode::PAYER_FSP_INSUFFICIENT_LIQUIDITY
            }
            ReservationRejection::LimitExceeded => ErrorCode::PAYER_LIMIT_ERROR,
        }
    }

    /// The reason text central-ledger stores with the `ABORTED_REJECTED` state change.
    pub const fn reason(self) -> &'static str {
        match self {
            ReservationRejection::InsufficientLiquidity => "Payer FSP insufficient liquidity",
            ReservationRejection::LimitExceeded => "Payer limit error",
        }
    }
}

/// Outcome of [`decide_reservation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationDecision {
    Reserve,
    Reject(ReservationRejection),
}

/// Decides one reservation: liquidity first, then the net debit cap.
///
/// Total: if an intermediate sum overflowed (impossible within [`POSITION_MAGNITUDE_LIMIT`]) the
/// availability cannot be shown, so the reservation is refused — never granted — as
/// insufficient liquidity.
pub fn decide_reservation(
    position: &AccountPosition,
    limits: &AccountLimits,
    amount: Amount,
) -> ReservationDecision {
    let limit = POSITION_MAGNITUDE_LIMIT;
    debug_assert!(position.value.abs() < limit && position.reserved.abs() < limit);
    debug_assert!(limits.net_debit_cap.abs() < limit && limits.liquidity_cover.abs() < limit);
    let Some(effective) = position.effective() else {
        return ReservationDecision::Reject(ReservationRejection::InsufficientLiquidity);
    };
    let available = |ceiling: Decimal| ceiling.checked_sub(effective);
    match available(limits.liquidity_cover) {
        Some(by_liquidity) if amount.value() <= by_liquidity => {}
        _ => return ReservationDecision::Reject(ReservationRejection::InsufficientLiquidity),
    }
    match available(limits.net_debit_cap) {
        Some(by_ndc) if amount.value() <= by_ndc => ReservationDecision::Reserve,
        _ => ReservationDecision::Reject(ReservationRejection::LimitExceeded),
    }
}

/// One change to apply to a position account, in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionOp {
    /// Payer prepare: `value += amount` if [`decide_reservation`] allows, else no change.
    Reserve { amount: Amount },
    /// Payee commit: `value −= amount` (the payee's position decreases).
    Commit { amount: Amount },
    /// Payer reversal after abort or expiry of a reserved transfer: `value −= amount`.
    Reverse { amount: Amount },
    /// An unconditional signed change (funds in/out on settlement or hub accounts).
    Adjust { change: Decimal },
}

/// What happened to one [`PositionOp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpOutcome {
    /// A `Reserve` that was granted.
    Reserved,
    /// A `Reserve` that was refused; the position is unchanged.
    Rejected(ReservationRejection),
    /// A `Commit`, `Reverse` or `Adjust`, always applied.
    Applied,
}

/// The journal facts of one operation (`participantPositionChange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpResult {
    pub outcome: OpOutcome,
    /// Signed change to `value` (zero for a rejection).
    pub change: Decimal,
    /// `value` after this operation.
    pub value_after: Decimal,
}

/// The result of a batch: the final position and one result per operation, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub end: AccountPosition,
    pub results: Vec<OpResult>,
}

/// A batch that cannot be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    /// A commit, reversal or adjustment would leave the representable range. Such data is
    /// corrupt; the batch must not be written.
    #[error("position overflow at operation {index}")]
    Overflow { index: usize },
}

/// Applies `ops` strictly in order to `start`, deciding each reservation against the running
/// position. `reserved` is carried through unchanged.
pub fn apply_batch(
    start: AccountPosition,
    limits: &AccountLimits,
    ops: &[PositionOp],
) -> Result<BatchOutcome, PositionError> {
    let mut current = start;
    let mut results = Vec::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        let (outcome, change) = match *op {
            PositionOp::Reserve { amount } => match decide_reservation(&current, limits, amount) {
                ReservationDecision::Reserve => (OpOutcome::Reserved, amount.value()),
                ReservationDecision::Reject(why) => (OpOutcome::Rejected(why), Decimal::ZERO),
            },
            PositionOp::Commit { amount } | PositionOp::Reverse { amount } => {
                (OpOutcome::Applied, -amount.value())
            }
            PositionOp::Adjust { change } => (OpOutcome::Applied, change),
        };
        current.value = current
            .value
            .checked_add(change)
            .ok_or(PositionError::Overflow { index })?;
        if outcome == OpOutcome::Reserved {
            // I3: a reservation never takes the position past min(NDC, cover).
            assert!(
                current.effective().is_some_and(|e| e <= limits.ceiling()),
                "reservation exceeded the ceiling"
            );
        }
        results.push(OpResult {
            outcome,
            change,
            value_after: current.value,
        });
    }
    debug_assert_eq!(results.len(), ops.len());
    Ok(BatchOutcome {
        end: current,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn a(s: &str) -> Amount {
        Amount::parse(s).unwrap()
    }

    #[test]
    fn magnitude_limit_is_ten_to_the_24() {
        assert_eq!(
            POSITION_MAGNITUDE_LIMIT,
            Decimal::from_i128_with_scale(10i128.pow(24), 0)
        );
    }

    #[test]
    fn reference_worked_example() {
        // docs/positions.md#worked-examples: NDC 1000, funds-in 2000, position 900, 150 → 4200.
        let position = AccountPosition::new(d("900"), Decimal::ZERO);
        let limits = AccountLimits::from_settlement_value(d("1000"), d("-2000"));
        assert_eq!(
            decide_reservation(&position, &limits, a("150")),
            ReservationDecision::Reject(ReservationRejection::LimitExceeded)
        );
        // NDC 5000, funds-in 1000: liquidity is checked first → 4001.
        let limits = AccountLimits::from_settlement_value(d("5000"), d("-1000"));
        assert_eq!(
            decide_reservation(&position, &limits, a("150")),
            ReservationDecision::Reject(ReservationRejection::InsufficientLiquidity)
        );
        assert_eq!(
            ReservationRejection::InsufficientLiquidity
                .error_code()
                .as_u16(),
            4001
        );
        assert_eq!(
            ReservationRejection::LimitExceeded.error_code().as_u16(),
            4200
        );
    }

    #[test]
    fn boundary_is_inclusive_and_exact() {
        let position = AccountPosition::new(d("900.0001"), d("0"));
        let limits = AccountLimits::new(d("1000"), d("1000"));
        assert_eq!(
            decide_reservation(&position, &limits, a("99.9999")),
            ReservationDecision::Reserve
        );
        assert_eq!(
            decide_reservation(&position, &limits, a("100")),
            ReservationDecision::Reject(ReservationRejection::InsufficientLiquidity)
        );
        // Reserved value counts against both limits.
        let position = AccountPosition::new(d("900"), d("50"));
        assert_eq!(
            decide_reservation(
                &position,
                &AccountLimits::new(d("1000"), d("2000")),
                a("51")
            ),
            ReservationDecision::Reject(ReservationRejection::LimitExceeded)
        );
    }

    #[test]
    fn batch_decrements_availability() {
        // central-ledger's batch bug would reserve all three (available grows by each amount).
        let limits = AccountLimits::new(d("100"), d("1000"));
        let ops = [
            PositionOp::Reserve { amount: a("60") },
            PositionOp::Reserve { amount: a("60") },
            PositionOp::Reverse { amount: a("60") },
            PositionOp::Reserve { amount: a("40") },
            PositionOp::Commit { amount: a("10") },
        ];
        let out = apply_batch(AccountPosition::default(), &limits, &ops).unwrap();
        let outcomes: Vec<_> = out.results.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            [
                OpOutcome::Reserved,
                OpOutcome::Rejected(ReservationRejection::LimitExceeded),
                OpOutcome::Applied,
                OpOutcome::Reserved,
                OpOutcome::Applied,
            ]
        );
        let after: Vec<_> = out.results.iter().map(|r| r.value_after).collect();
        assert_eq!(after, [d("60"), d("60"), d("0"), d("40"), d("30")]);
        assert_eq!(out.results[1].change, Decimal::ZERO);
        assert_eq!(out.end, AccountPosition::new(d("30"), Decimal::ZERO));
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let ops = [
            PositionOp::Adjust {
                change: Decimal::MAX,
            },
            PositionOp::Adjust {
                change: Decimal::MAX,
            },
        ];
        let err = apply_batch(
            AccountPosition::default(),
            &AccountLimits::new(d("0"), d("0")),
            &ops,
        );
        assert_eq!(err, Err(PositionError::Overflow { index: 1 }));
    }

    fn amount() -> impl Strategy<Value = Amount> {
        (0i64..=2_000_000, 0u32..=4)
            .prop_map(|(m, s)| Amount::from_decimal_checked(Decimal::new(m, s)).unwrap())
    }

    fn signed() -> impl Strategy<Value = Decimal> {
        (-2_000_000i64..=2_000_000, 0u32..=4).prop_map(|(m, s)| Decimal::new(m, s))
    }

    fn op() -> impl Strategy<Value = PositionOp> {
        prop_oneof![
            4 => amount().prop_map(|amount| PositionOp::Reserve { amount }),
            1 => amount().prop_map(|amount| PositionOp::Commit { amount }),
            1 => amount().prop_map(|amount| PositionOp::Reverse { amount }),
            1 => signed().prop_map(|change| PositionOp::Adjust { change }),
        ]
    }

    /// Naive model: the position before op `i` is recomputed from scratch as start plus every
    /// earlier granted change, and the rule is written as `effective + amount ≤ limit`.
    fn model(
        start: AccountPosition,
        limits: &AccountLimits,
        ops: &[PositionOp],
    ) -> Vec<(OpOutcome, Decimal)> {
        let mut granted: Vec<Decimal> = Vec::new();
        let mut out = Vec::new();
        for op in ops {
            let value: Decimal = start.value + granted.iter().copied().sum::<Decimal>();
            let (outcome, change) = match *op {
                PositionOp::Reserve { amount } => {
                    let needed = value + start.reserved + amount.value();
                    if needed > limits.liquidity_cover {
                        (
                            OpOutcome::Rejected(ReservationRejection::InsufficientLiquidity),
                            Decimal::ZERO,
                        )
                    } else if needed > limits.net_debit_cap {
                        (
                            OpOutcome::Rejected(ReservationRejection::LimitExceeded),
                            Decimal::ZERO,
                        )
                    } else {
                        (OpOutcome::Reserved, amount.value())
                    }
                }
                PositionOp::Commit { amount } | PositionOp::Reverse { amount } => {
                    (OpOutcome::Applied, -amount.value())
                }
                PositionOp::Adjust { change } => (OpOutcome::Applied, change),
            };
            granted.push(change);
            out.push((outcome, value + change));
        }
        out
    }

    proptest! {
        #[test]
        fn batch_matches_the_naive_model(
            start_value in signed(),
            reserved in (0i64..=100_000, 0u32..=4).prop_map(|(m, s)| Decimal::new(m, s)),
            ndc in signed(),
            cover in signed(),
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let start = AccountPosition::new(start_value, reserved);
            let limits = AccountLimits::new(ndc, cover);
            let out = apply_batch(start, &limits, &ops).unwrap();
            let expected = model(start, &limits, &ops);
            prop_assert_eq!(out.results.len(), ops.len());
            for (got, (outcome, value_after)) in out.results.iter().zip(&expected) {
                prop_assert_eq!(got.outcome, *outcome);
                prop_assert_eq!(got.value_after, *value_after);
                if got.outcome == OpOutcome::Reserved {
                    // I3 at the moment of reservation.
                    prop_assert!(got.value_after + reserved <= ndc.min(cover));
                }
            }
            let total: Decimal = out.results.iter().map(|r| r.change).sum();
            prop_assert_eq!(total, out.end.value - start.value);
            prop_assert_eq!(out.end.reserved, start.reserved);
            prop_assert_eq!(out.results.last().map_or(start.value, |r| r.value_after), out.end.value);
        }
    }
}
