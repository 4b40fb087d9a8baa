//! Settlement: windows, models, netting and the settlement state machine (docs/settlement.md).
//!
//! Every committed transfer belongs to the settlement window that was open when it committed.
//! A closed window is settled under a settlement model: each DFSP's POSITION account gets a net
//! amount per currency — what it paid minus what it received in the windows — and the
//! settlement moves each account through
//!
//! ```text
//! PENDING_SETTLEMENT → PS_TRANSFERS_RECORDED → PS_TRANSFERS_RESERVED → PS_TRANSFERS_COMMITTED → SETTLED
//! ```
//!
//! one step at a time, or is aborted as a whole before any account has committed. The ledger
//! effect of each step is [`ledger_action`]; the settlement transfer each account needs is
//! [`settlement_transfer`]. Everything here is pure; the store applies it.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;

use crate::currency::Currency;
use crate::ledger_id::AccountId;

/// A settlement window's state (central-settlement's `settlementWindowStateId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WindowState {
    Open,
    Closed,
    PendingSettlement,
    Settled,
    Aborted,
}

impl WindowState {
    pub const ALL: [WindowState; 5] = [
        WindowState::Open,
        WindowState::Closed,
        WindowState::PendingSettlement,
        WindowState::Settled,
        WindowState::Aborted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            WindowState::Open => "OPEN",
            WindowState::Closed => "CLOSED",
            WindowState::PendingSettlement => "PENDING_SETTLEMENT",
            WindowState::Settled => "SETTLED",
            WindowState::Aborted => "ABORTED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a settlement may take the window: closed, or released by an aborted settlement.
    pub const fn is_settleable(self) -> bool {
        matches!(self, WindowState::Closed | WindowState::Aborted)
    }
}

impl fmt::Display for WindowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A closed window's state from its contents' (one per ledger account type and currency, each
/// settled on its own): all SETTLED → SETTLED; any in a settlement, or some settled and some
/// not → PENDING_SETTLEMENT; otherwise ABORTED if a settlement of it was aborted, else CLOSED.
/// `None` without contents (the window keeps its state).
pub fn window_state(contents: &[WindowState]) -> Option<WindowState> {
    use WindowState as W;
    if contents.is_empty() {
        return None;
    }
    let all = |s: W| contents.iter().all(|c| *c == s);
    let any = |s: W| contents.contains(&s);
    Some(if all(W::Settled) {
        W::Settled
    } else if any(W::PendingSettlement) || any(W::Settled) {
        W::PendingSettlement
    } else if any(W::Aborted) {
        W::Aborted
    } else {
        W::Closed
    })
}

/// A settlement's (and a settlement account's) state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SettlementState {
    PendingSettlement,
    PsTransfersRecorded,
    PsTransfersReserved,
    PsTransfersCommitted,
    /// Some accounts SETTLED, the others still PS_TRANSFERS_COMMITTED (settlements only).
    Settling,
    Settled,
    Aborted,
}

impl SettlementState {
    pub const ALL: [SettlementState; 7] = [
        SettlementState::PendingSettlement,
        SettlementState::PsTransfersRecorded,
        SettlementState::PsTransfersReserved,
        SettlementState::PsTransfersCommitted,
        SettlementState::Settling,
        SettlementState::Settled,
        SettlementState::Aborted,
    ];

    /// The states an account walks, in order (no SETTLING, no ABORTED).
    pub const ACCOUNT_PATH: [SettlementState; 5] = [
        SettlementState::PendingSettlement,
        SettlementState::PsTransfersRecorded,
        SettlementState::PsTransfersReserved,
        SettlementState::PsTransfersCommitted,
        SettlementState::Settled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SettlementState::PendingSettlement => "PENDING_SETTLEMENT",
            SettlementState::PsTransfersRecorded => "PS_TRANSFERS_RECORDED",
            SettlementState::PsTransfersReserved => "PS_TRANSFERS_RESERVED",
            SettlementState::PsTransfersCommitted => "PS_TRANSFERS_COMMITTED",
            SettlementState::Settling => "SETTLING",
            SettlementState::Settled => "SETTLED",
            SettlementState::Aborted => "ABORTED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    fn path_index(self) -> Option<usize> {
        Self::ACCOUNT_PATH.iter().position(|s| *s == self)
    }

    /// Final: nothing moves it any more.
    pub const fn is_final(self) -> bool {
        matches!(self, SettlementState::Settled | SettlementState::Aborted)
    }
}

impl fmt::Display for SettlementState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a settlement request is refused (3100 with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementRefusal {
    #[error("State change from {from} to {to} is not allowed")]
    NotAllowed {
        from: SettlementState,
        to: SettlementState,
    },
    #[error("Settlement {0} cannot be aborted: {1}")]
    AbortRefused(u64, &'static str),
    #[error("{0}")]
    Model(String),
}

/// What an account's requested state means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStep {
    /// Already there: nothing changes.
    Unchanged,
    /// The next state of the path.
    Advance(SettlementState),
}

/// An account's state change: only to the same state or the next one on the path.
pub fn account_step(
    from: SettlementState,
    to: SettlementState,
) -> Result<AccountStep, SettlementRefusal> {
    let refused = SettlementRefusal::NotAllowed { from, to };
    let (Some(i), Some(j)) = (from.path_index(), to.path_index()) else {
        return Err(refused);
    };
    match j {
        _ if j == i => Ok(AccountStep::Unchanged),
        _ if j == i + 1 => Ok(AccountStep::Advance(to)),
        _ => Err(refused),
    }
}

/// What the ledger does when an account enters `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerAction {
    /// Nothing moves (PENDING_SETTLEMENT, SETTLED: the bank confirmed, the ledger already moved).
    None,
    /// The settlement transfer is recorded (RECEIVED_PREPARE).
    Record,
    /// Its debit side is reserved (RESERVED, journal RESERVE on the payer account).
    Reserve,
    /// Its credit side is committed (COMMITTED, journal COMMIT on the payee account).
    Commit,
}

pub const fn ledger_action(to: SettlementState) -> LedgerAction {
    match to {
        SettlementState::PsTransfersRecorded => LedgerAction::Record,
        SettlementState::PsTransfersReserved => LedgerAction::Reserve,
        SettlementState::PsTransfersCommitted => LedgerAction::Commit,
        _ => LedgerAction::None,
    }
}

/// A settlement's state from its accounts': all in one state → that state; some SETTLED and
/// the rest PS_TRANSFERS_COMMITTED → SETTLING; otherwise the earliest state any account is in
/// (the settlement has reached only what every account has). No accounts: SETTLED at once
/// would hide an error, so an empty settlement stays PENDING_SETTLEMENT.
pub fn settlement_state(accounts: &[SettlementState]) -> SettlementState {
    if accounts.contains(&SettlementState::Aborted) {
        return SettlementState::Aborted;
    }
    let Some(min) = accounts.iter().copied().min() else {
        return SettlementState::PendingSettlement;
    };
    let max = accounts.iter().copied().max().unwrap_or(min);
    if min == SettlementState::PsTransfersCommitted && max == SettlementState::Settled {
        return SettlementState::Settling;
    }
    min
}

/// Whether a settlement in `settlement` with these accounts may be aborted: only before any
/// account's transfers were committed (after that, money has moved at the bank).
pub fn check_abort(
    settlement_id: u64,
    settlement: SettlementState,
    accounts: &[SettlementState],
) -> Result<(), SettlementRefusal> {
    if settlement == SettlementState::Aborted {
        return Err(SettlementRefusal::AbortRefused(
            settlement_id,
            "it is already ABORTED",
        ));
    }
    if accounts
        .iter()
        .any(|s| *s >= SettlementState::PsTransfersCommitted)
    {
        return Err(SettlementRefusal::AbortRefused(
            settlement_id,
            "accounts have reached PS_TRANSFERS_COMMITTED",
        ));
    }
    Ok(())
}

/// A settlement model as requested (`POST /settlementModels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec<'a> {
    pub granularity: &'a str,
    pub interchange: &'a str,
    pub delay: &'a str,
    pub ledger_account_type: &'a str,
    pub settlement_account_type: &'a str,
    pub require_liquidity_check: bool,
    pub auto_position_reset: bool,
}

/// The ledger account pairs a settlement model may settle: the transfer positions against the
/// DFSPs' settlement accounts, and interchange fees against their fee settlement accounts.
pub const ACCOUNT_PAIRS: [(&str, &str); 2] = [
    ("POSITION", "SETTLEMENT"),
    ("INTERCHANGE_FEE", "INTERCHANGE_FEE_SETTLEMENT"),
];

/// The settlement models ferroloop settles: deferred multilateral net settlement of one of
/// [`ACCOUNT_PAIRS`], positions reset by the settlement, the liquidity check on exactly when
/// the hub performs one (the position handler checks every POSITION reservation against the
/// liquidity cover; nothing reserves against interchange fee accounts). Anything else would be
/// stored and then silently not honoured, so it is refused with the reason.
pub fn validate_model(spec: &ModelSpec<'_>) -> Result<(), SettlementRefusal> {
    let refuse = |why: String| Err(SettlementRefusal::Model(why));
    if (spec.delay, spec.granularity, spec.interchange) != ("DEFERRED", "NET", "MULTILATERAL") {
        return refuse(format!(
            "Settlement model {}/{}/{} is not supported: only DEFERRED NET MULTILATERAL settlement is",
            spec.delay, spec.granularity, spec.interchange
        ));
    }
    let pair = (spec.ledger_account_type, spec.settlement_account_type);
    if !ACCOUNT_PAIRS.contains(&pair) {
        // FSPIOP error descriptions stop at 128 characters: name the one pair that would do.
        return refuse(
            match ACCOUNT_PAIRS.iter().find(|(ledger, _)| *ledger == pair.0) {
                Some((ledger, settlement)) => {
                    format!("Ledger account type {ledger} settles only to {settlement}")
                }
                None => format!("Ledger account type {} is not settled by the hub", pair.0),
            },
        );
    }
    if !spec.auto_position_reset {
        return refuse(
            "autoPositionReset false is not supported: a settlement always resets the positions it settles".into(),
        );
    }
    let checks_liquidity = pair.0 == "POSITION";
    if spec.require_liquidity_check != checks_liquidity {
        return refuse(format!(
            "requireLiquidityCheck must be {checks_liquidity} for {}: the hub {} the liquidity cover of these accounts",
            pair.0,
            if checks_liquidity {
                "always checks"
            } else {
                "never checks"
            }
        ));
    }
    Ok(())
}

/// Money that moved from one POSITION account to another in a window (aggregated committed
/// transfers): the payer's position went up by `amount`, the payee's down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub payer: AccountId,
    pub payee: AccountId,
    pub currency: Currency,
    pub amount: Decimal,
}

/// The netting rule: each account's net amount is what it paid minus what it received.
/// Positive: a net sender (owes the others); negative: a net receiver. Per currency the net
/// amounts sum to zero, since every flow adds its amount to one account and removes it from
/// another. `None` on overflow (impossible within the ledger's magnitudes).
pub fn net_amounts(flows: &[Flow]) -> Option<BTreeMap<(AccountId, Currency), Decimal>> {
    let mut net: BTreeMap<(AccountId, Currency), Decimal> = BTreeMap::new();
    for flow in flows {
        let payer = net.entry((flow.payer, flow.currency)).or_default();
        *payer = payer.checked_add(flow.amount)?;
        let payee = net.entry((flow.payee, flow.currency)).or_default();
        *payee = payee.checked_sub(flow.amount)?;
    }
    Some(net)
}

/// Which of a DFSP's two accounts a settlement transfer leg touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The settled ledger account (POSITION).
    Ledger,
    /// Its settlement account (SETTLEMENT).
    Settlement,
}

/// The settlement transfer of one account with net amount `net`: `(payer, payee, amount)`.
///
/// A net sender (`net > 0`) pays from its settlement account (+net, its liquidity cover
/// shrinks) into its position (−net, its debt is reset). A net receiver (`net < 0`) is the
/// mirror image: its position rises by |net| back toward zero and its settlement account falls
/// by |net| (its cover grows). Either way the account's position plus its settlement account
/// stays what it was, and the sum over all accounts of each kind is unchanged because the net
/// amounts sum to zero. A zero net amount moves nothing.
pub fn settlement_transfer(net: Decimal) -> Option<(Side, Side, Decimal)> {
    if net > Decimal::ZERO {
        Some((Side::Settlement, Side::Ledger, net))
    } else if net < Decimal::ZERO {
        Some((Side::Ledger, Side::Settlement, -net))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn states_print_and_parse_as_central_settlement_names() {
        for s in WindowState::ALL {
            assert_eq!(WindowState::parse(s.as_str()), Some(s));
        }
        for s in SettlementState::ALL {
            assert_eq!(SettlementState::parse(s.as_str()), Some(s));
        }
        assert_eq!(WindowState::parse("open"), None);
        assert_eq!(
            SettlementState::PsTransfersReserved.as_str(),
            "PS_TRANSFERS_RESERVED"
        );
    }

    #[test]
    fn a_window_is_settled_when_all_its_contents_are() {
        use WindowState as W;
        assert_eq!(window_state(&[]), None);
        assert_eq!(window_state(&[W::Closed, W::Closed]), Some(W::Closed));
        assert_eq!(window_state(&[W::Settled, W::Settled]), Some(W::Settled));
        assert_eq!(
            window_state(&[W::Settled, W::Closed]),
            Some(W::PendingSettlement)
        );
        assert_eq!(
            window_state(&[W::PendingSettlement, W::Aborted]),
            Some(W::PendingSettlement)
        );
        assert_eq!(window_state(&[W::Aborted, W::Closed]), Some(W::Aborted));
    }

    #[test]
    fn accounts_move_one_step_at_a_time() {
        use SettlementState as S;
        for pair in S::ACCOUNT_PATH.windows(2) {
            assert_eq!(
                account_step(pair[0], pair[1]),
                Ok(AccountStep::Advance(pair[1]))
            );
            assert!(account_step(pair[1], pair[0]).is_err(), "no way back");
            assert_eq!(account_step(pair[0], pair[0]), Ok(AccountStep::Unchanged));
        }
        assert!(account_step(S::PendingSettlement, S::PsTransfersReserved).is_err());
        assert!(account_step(S::PendingSettlement, S::Settled).is_err());
        assert!(account_step(S::PsTransfersCommitted, S::Settling).is_err());
        assert!(account_step(S::Aborted, S::PsTransfersRecorded).is_err());
        assert_eq!(
            account_step(S::PendingSettlement, S::Settled)
                .unwrap_err()
                .to_string(),
            "State change from PENDING_SETTLEMENT to SETTLED is not allowed"
        );
    }

    #[test]
    fn the_ledger_moves_at_record_reserve_and_commit_only() {
        use SettlementState as S;
        assert_eq!(ledger_action(S::PendingSettlement), LedgerAction::None);
        assert_eq!(ledger_action(S::PsTransfersRecorded), LedgerAction::Record);
        assert_eq!(ledger_action(S::PsTransfersReserved), LedgerAction::Reserve);
        assert_eq!(ledger_action(S::PsTransfersCommitted), LedgerAction::Commit);
        assert_eq!(ledger_action(S::Settled), LedgerAction::None);
    }

    #[test]
    fn a_settlement_is_where_all_its_accounts_are() {
        use SettlementState as S;
        assert_eq!(settlement_state(&[]), S::PendingSettlement);
        assert_eq!(
            settlement_state(&[S::PsTransfersRecorded, S::PsTransfersRecorded]),
            S::PsTransfersRecorded
        );
        assert_eq!(
            settlement_state(&[S::PsTransfersReserved, S::PsTransfersRecorded]),
            S::PsTransfersRecorded
        );
        assert_eq!(
            settlement_state(&[S::PsTransfersCommitted, S::Settled]),
            S::Settling
        );
        assert_eq!(settlement_state(&[S::Settled, S::Settled]), S::Settled);
        assert_eq!(
            settlement_state(&[S::PsTransfersReserved, S::Settled]),
            S::PsTransfersReserved
        );
    }

    #[test]
    fn abort_is_allowed_only_before_any_commit() {
        use SettlementState as S;
        assert!(check_abort(1, S::PsTransfersReserved, &[S::PsTransfersReserved]).is_ok());
        assert!(check_abort(1, S::PendingSettlement, &[]).is_ok());
        let refused = check_abort(7, S::PsTransfersReserved, &[S::PsTransfersCommitted]);
        assert_eq!(
            refused.unwrap_err().to_string(),
            "Settlement 7 cannot be aborted: accounts have reached PS_TRANSFERS_COMMITTED"
        );
        assert!(check_abort(1, S::Aborted, &[]).is_err());
        assert!(check_abort(1, S::Settled, &[S::Settled]).is_err());
    }

    fn model<'a>(ledger: &'a str, settlement: &'a str, liquidity: bool) -> ModelSpec<'a> {
        ModelSpec {
            granularity: "NET",
            interchange: "MULTILATERAL",
            delay: "DEFERRED",
            ledger_account_type: ledger,
            settlement_account_type: settlement,
            require_liquidity_check: liquidity,
            auto_position_reset: true,
        }
    }

    #[test]
    fn the_deployed_models_are_accepted_and_every_other_combination_refused() {
        assert_eq!(
            validate_model(&model("POSITION", "SETTLEMENT", true)),
            Ok(())
        );
        assert_eq!(
            validate_model(&model(
                "INTERCHANGE_FEE",
                "INTERCHANGE_FEE_SETTLEMENT",
                false
            )),
            Ok(())
        );
        let refused = [
            model("POSITION", "SETTLEMENT", false),
            model("INTERCHANGE_FEE", "INTERCHANGE_FEE_SETTLEMENT", true),
            model("POSITION", "INTERCHANGE_FEE_SETTLEMENT", true),
            model("INTERCHANGE_FEE", "SETTLEMENT", false),
            model("HUB_RECONCILIATION", "SETTLEMENT", true),
            ModelSpec {
                auto_position_reset: false,
                ..model("POSITION", "SETTLEMENT", true)
            },
            ModelSpec {
                granularity: "GROSS",
                interchange: "BILATERAL",
                ..model("POSITION", "SETTLEMENT", true)
            },
            ModelSpec {
                interchange: "BILATERAL",
                ..model("POSITION", "SETTLEMENT", true)
            },
            ModelSpec {
                delay: "IMMEDIATE",
                ..model("POSITION", "SETTLEMENT", true)
            },
        ];
        for spec in refused {
            let error = validate_model(&spec).unwrap_err().to_string();
            assert!(
                error.contains("not supported")
                    || error.contains("must be")
                    || error.contains("settles only to")
                    || error.contains("not settled by"),
                "{spec:?}: {error}"
            );
        }
    }

    #[test]
    fn net_amounts_follow_the_flows() {
        let flows = [
            Flow {
                payer: AccountId(1),
                payee: AccountId(3),
                currency: usd(),
                amount: Decimal::new(1000, 2),
            },
            Flow {
                payer: AccountId(3),
                payee: AccountId(1),
                currency: usd(),
                amount: Decimal::new(250, 2),
            },
        ];
        let net = net_amounts(&flows).unwrap();
        assert_eq!(net[&(AccountId(1), usd())], Decimal::new(750, 2));
        assert_eq!(net[&(AccountId(3), usd())], Decimal::new(-750, 2));
    }

    #[test]
    fn a_settlement_transfer_resets_the_position_against_the_settlement_account() {
        let ten = Decimal::TEN;
        assert_eq!(
            settlement_transfer(ten),
            Some((Side::Settlement, Side::Ledger, ten))
        );
        assert_eq!(
            settlement_transfer(-ten),
            Some((Side::Ledger, Side::Settlement, ten))
        );
        assert_eq!(settlement_transfer(Decimal::ZERO), None);
    }

    fn currency_strategy() -> impl Strategy<Value = Currency> {
        prop_oneof![Just("USD"), Just("EUR"), Just("XOF")].prop_map(|c| Currency::parse(c).unwrap())
    }

    fn flow_strategy() -> impl Strategy<Value = Flow> {
        (
            1u32..8,
            1u32..8,
            currency_strategy(),
            1i64..100_000_000_000i64,
        )
            .prop_map(|(payer, payee, currency, minor)| Flow {
                payer: AccountId(payer),
                payee: AccountId(payee),
                currency,
                amount: Decimal::new(minor, 4),
            })
    }

    proptest! {
        /// Over any stream of committed transfers, the net amounts of each currency sum to zero,
        /// each account's net is what it paid minus what it received, and applying every
        /// account's settlement transfer resets the positions while conserving position plus
        /// settlement account, per account and in total.
        #[test]
        fn netting_conserves_money(flows in proptest::collection::vec(flow_strategy(), 0..200)) {
            let net = net_amounts(&flows).unwrap();
            let mut per_currency: BTreeMap<Currency, Decimal> = BTreeMap::new();
            for ((account, currency), amount) in &net {
                *per_currency.entry(*currency).or_default() += amount;
                let paid: Decimal = flows.iter()
                    .filter(|f| f.payer == *account && f.currency == *currency)
                    .map(|f| f.amount).sum();
                let received: Decimal = flows.iter()
                    .filter(|f| f.payee == *account && f.currency == *currency)
                    .map(|f| f.amount).sum();
                prop_assert_eq!(*amount, paid - received);
                // The account's position moved by its net amount over the windows; settle it.
                let (mut position, mut settlement) = (*amount, Decimal::ZERO);
                if let Some((payer, payee, value)) = settlement_transfer(*amount) {
                    prop_assert!(value > Decimal::ZERO);
                    for (side, change) in [(payer, value), (payee, -value)] {
                        match side {
                            Side::Ledger => position += change,
                            Side::Settlement => settlement += change,
                        }
                    }
                }
                prop_assert_eq!(position, Decimal::ZERO);
                prop_assert_eq!(position + settlement, *amount);
            }
            for total in per_currency.values() {
                prop_assert_eq!(*total, Decimal::ZERO);
            }
        }

        /// Whatever the accounts' states, the settlement's state is one the accounts justify,
        /// and abort is possible exactly while no account has committed.
        #[test]
        fn the_settlement_state_follows_its_accounts(
            indices in proptest::collection::vec(0usize..5, 1..10)
        ) {
            let accounts: Vec<SettlementState> =
                indices.iter().map(|i| SettlementState::ACCOUNT_PATH[*i]).collect();
            let state = settlement_state(&accounts);
            let min = *accounts.iter().min().unwrap();
            if state == SettlementState::Settling {
                prop_assert!(accounts.iter().all(|s| *s >= SettlementState::PsTransfersCommitted));
            } else {
                prop_assert_eq!(state, min);
            }
            let committed = accounts.iter().any(|s| *s >= SettlementState::PsTransfersCommitted);
            prop_assert_eq!(check_abort(1, state, &accounts).is_ok(), !committed);
        }
    }
}
