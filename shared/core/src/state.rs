//! The transfer state machine of a regular (non-proxy, non-FX) transfer.
//!
//! Internal states are those central-ledger writes (docs/transfer-states.md#internal-states) and
//! are stored under exactly these names; DFSPs only ever see their [`ApiTransferState`].
//! [`transition`] is the one total function that says which event moves which state where: every
//! state change the switch writes goes through it (storage invariant I4). The graph has no cycles,
//! so a transfer enters each state at most once, and every non-final state has a
//! [`finishing_event`] that reaches a final state without outside input
//! (docs/transfer-states.md#final-states: nothing stays intermediate forever).
//!
//! ```text
//! (none) --PrepareAccepted--> RECEIVED_PREPARE
//! (none) --PrepareRejected--> INVALID                                        (final)
//! RECEIVED_PREPARE --Reserve--> RESERVED
//! RECEIVED_PREPARE --ReservationRejected--> ABORTED_REJECTED                  (final, 4001/4200)
//! RECEIVED_PREPARE --ExpirePrepared--> EXPIRED_PREPARED                      (final)
//! RESERVED --FulfilAccepted--> RECEIVED_FULFIL --Commit--> COMMITTED         (final)
//! RESERVED --PayeeAbort--> RECEIVED_ERROR --Abort--> ABORTED_ERROR           (final)
//! RESERVED --MarkTimeout--> RESERVED_TIMEOUT --ExpireReserved--> EXPIRED_RESERVED (final)
//! RESERVED --FundsOutReject--> RECEIVED_REJECT --RejectFinal--> ABORTED_REJECTED (final)
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Internal transfer state, stored in MySQL under [`TransferState::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransferState {
    /// Valid prepare stored, not yet reserved.
    ReceivedPrepare,
    /// Prepare failed validation (3100). Final.
    Invalid,
    /// Payer position debited.
    Reserved,
    /// Valid fulfilment received, commit pending.
    ReceivedFulfil,
    /// Funds-out abort received, reversal pending (admin funds-out only).
    ReceivedReject,
    /// Payee error or hub validation error received, reversal pending.
    ReceivedError,
    /// Expired while reserved, reversal pending.
    ReservedTimeout,
    /// Payee position credited. Final.
    Committed,
    /// Rejected by the position check (4001/4200) or a funds-out abort. Final.
    AbortedRejected,
    /// Aborted by an error, payer reversed. Final.
    AbortedError,
    /// Expired before reservation. Final.
    ExpiredPrepared,
    /// Expired after reservation, payer reversed. Final.
    ExpiredReserved,
}

impl TransferState {
    /// Every state, in the order of the table in docs/transfer-states.md#internal-states.
    pub const ALL: [TransferState; 12] = [
        TransferState::ReceivedPrepare,
        TransferState::Invalid,
        TransferState::Reserved,
        TransferState::ReceivedFulfil,
        TransferState::ReceivedReject,
        TransferState::ReceivedError,
        TransferState::ReservedTimeout,
        TransferState::Committed,
        TransferState::AbortedRejected,
        TransferState::AbortedError,
        TransferState::ExpiredPrepared,
        TransferState::ExpiredReserved,
    ];

    /// The stored name (central-ledger's `transferStateId`).
    pub const fn as_str(self) -> &'static str {
        match self {
            TransferState::ReceivedPrepare => "RECEIVED_PREPARE",
            TransferState::Invalid => "INVALID",
            TransferState::Reserved => "RESERVED",
            TransferState::ReceivedFulfil => "RECEIVED_FULFIL",
            TransferState::ReceivedReject => "RECEIVED_REJECT",
            TransferState::ReceivedError => "RECEIVED_ERROR",
            TransferState::ReservedTimeout => "RESERVED_TIMEOUT",
            TransferState::Committed => "COMMITTED",
            TransferState::AbortedRejected => "ABORTED_REJECTED",
            TransferState::AbortedError => "ABORTED_ERROR",
            TransferState::ExpiredPrepared => "EXPIRED_PREPARED",
            TransferState::ExpiredReserved => "EXPIRED_RESERVED",
        }
    }

    /// A final state accepts no event.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            TransferState::Invalid
                | TransferState::Committed
                | TransferState::AbortedRejected
                | TransferState::AbortedError
                | TransferState::ExpiredPrepared
                | TransferState::ExpiredReserved
        )
    }

    /// The enumeration DFSPs see in callbacks and GET responses
    /// (docs/transfer-states.md#the-api-enumeration).
    pub const fn api_state(self) -> ApiTransferState {
        match self {
            TransferState::ReceivedPrepare => ApiTransferState::Received,
            TransferState::Reserved
            | TransferState::ReceivedFulfil
            | TransferState::ReceivedReject
            | TransferState::ReceivedError
            | TransferState::ReservedTimeout => ApiTransferState::Reserved,
            TransferState::Committed => ApiTransferState::Committed,
            TransferState::Invalid
            | TransferState::AbortedRejected
            | TransferState::AbortedError
            | TransferState::ExpiredPrepared
            | TransferState::ExpiredReserved => ApiTransferState::Aborted,
        }
    }
}

impl fmt::Display for TransferState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of [`TransferState::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transfer state {0:?}")]
pub struct UnknownTransferState(pub String);

impl FromStr for TransferState {
    type Err = UnknownTransferState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TransferState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownTransferState(s.to_owned()))
    }
}

impl Serialize for TransferState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TransferState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The FSPIOP `TransferState` enumeration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApiTransferState {
    Received,
    Reserved,
    Committed,
    Aborted,
}

impl ApiTransferState {
    pub const ALL: [ApiTransferState; 4] = [
        ApiTransferState::Received,
        ApiTransferState::Reserved,
        ApiTransferState::Committed,
        ApiTransferState::Aborted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ApiTransferState::Received => "RECEIVED",
            ApiTransferState::Reserved => "RESERVED",
            ApiTransferState::Committed => "COMMITTED",
            ApiTransferState::Aborted => "ABORTED",
        }
    }
}

impl fmt::Display for ApiTransferState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the four FSPIOP transfer states.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown FSPIOP transfer state {0:?}")]
pub struct UnknownApiTransferState(pub String);

impl FromStr for ApiTransferState {
    type Err = UnknownApiTransferState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApiTransferState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownApiTransferState(s.to_owned()))
    }
}

/// What happened to a transfer. Named after the decision, not after the message that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferEvent {
    /// Prepare handler: the prepare passed validation.
    PrepareAccepted,
    /// Prepare handler: the prepare failed validation (3100).
    PrepareRejected,
    /// Position handler: liquidity and net debit cap allow the reservation.
    Reserve,
    /// Position handler: insufficient liquidity (4001) or limit exceeded (4200).
    ReservationRejected,
    /// Timeout handler: a prepared, unreserved transfer passed its expiration.
    ExpirePrepared,
    /// Fulfil handler: valid fulfilment from the payee (`COMMITTED` or `RESERVED` PUT).
    FulfilAccepted,
    /// Fulfil handler: payee `PUT /error`, invalid fulfilment, or payee with the wrong
    /// `FSPIOP-Destination`.
    PayeeAbort,
    /// Timeout handler: a reserved transfer passed its expiration.
    MarkTimeout,
    /// Position handler: payee credited.
    Commit,
    /// Position handler: payer reversed after an error.
    Abort,
    /// Position handler: payer reversed after expiry.
    ExpireReserved,
    /// Admin handler: funds-out abort of a reserved funds-out transfer.
    FundsOutReject,
    /// Position/admin handler: funds-out abort reversed.
    RejectFinal,
}

impl TransferEvent {
    pub const ALL: [TransferEvent; 13] = [
        TransferEvent::PrepareAccepted,
        TransferEvent::PrepareRejected,
        TransferEvent::Reserve,
        TransferEvent::ReservationRejected,
        TransferEvent::ExpirePrepared,
        TransferEvent::FulfilAccepted,
        TransferEvent::PayeeAbort,
        TransferEvent::MarkTimeout,
        TransferEvent::Commit,
        TransferEvent::Abort,
        TransferEvent::ExpireReserved,
        TransferEvent::FundsOutReject,
        TransferEvent::RejectFinal,
    ];
}

/// An event that the state graph does not allow from the given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal transfer transition: {event:?} from {origin}", origin = display_from(self.from))]
pub struct IllegalTransition {
    pub from: Option<TransferState>,
    pub event: TransferEvent,
}

fn display_from(from: Option<TransferState>) -> &'static str {
    from.map_or("(none)", TransferState::as_str)
}

/// The one transition function. `from = None` means the transfer does not exist yet.
pub const fn transition(
    from: Option<TransferState>,
    event: TransferEvent,
) -> Result<TransferState, IllegalTransition> {
    use TransferEvent as E;
    use TransferState as S;
    let to = match (from, event) {
        (None, E::PrepareAccepted) => S::ReceivedPrepare,
        (None, E::PrepareRejected) => S::Invalid,
        (Some(S::ReceivedPrepare), E::Reserve) => S::Reserved,
        (Some(S::ReceivedPrepare), E::ReservationRejected) => S::AbortedRejected,
        (Some(S::ReceivedPrepare), E::ExpirePrepared) => S::ExpiredPrepared,
        (Some(S::Reserved), E::FulfilAccepted) => S::ReceivedFulfil,
        (Some(S::Reserved), E::PayeeAbort) => S::ReceivedError,
        (Some(S::Reserved), E::MarkTimeout) => S::ReservedTimeout,
        (Some(S::Reserved), E::FundsOutReject) => S::ReceivedReject,
        (Some(S::ReceivedFulfil), E::Commit) => S::Committed,
        (Some(S::ReceivedError), E::Abort) => S::AbortedError,
        (Some(S::ReservedTimeout), E::ExpireReserved) => S::ExpiredReserved,
        (Some(S::ReceivedReject), E::RejectFinal) => S::AbortedRejected,
        _ => return Err(IllegalTransition { from, event }),
    };
    Ok(to)
}

/// One step of a [`walk`]: the state left and the state entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub from: TransferState,
    pub to: TransferState,
}

/// The steps `events` take a transfer through from `from`, each checked by [`transition`]:
/// what funds in and out and settlement transfers write to the state journal, one row per step,
/// in one transaction. An event the graph does not allow refuses the whole walk.
pub fn walk(from: TransferState, events: &[TransferEvent]) -> Result<Vec<Step>, IllegalTransition> {
    let mut steps = Vec::with_capacity(events.len());
    let mut current = from;
    for event in events {
        let to = transition(Some(current), *event)?;
        steps.push(Step { from: current, to });
        current = to;
    }
    Ok(steps)
}

/// For a non-final state, the event that moves it toward a final state with no outside input;
/// `None` for final states. The timeout handler uses it to finish transfers whose next message
/// was lost: an unreserved prepare expires, a reserved one is marked timed out, and every
/// "pending reversal/commit" state completes the decision already taken.
pub const fn finishing_event(state: TransferState) -> Option<TransferEvent> {
    use TransferEvent as E;
    use TransferState as S;
    match state {
        S::ReceivedPrepare => Some(E::ExpirePrepared),
        S::Reserved => Some(E::MarkTimeout),
        S::ReceivedFulfil => Some(E::Commit),
        S::ReceivedError => Some(E::Abort),
        S::ReservedTimeout => Some(E::ExpireReserved),
        S::ReceivedReject => Some(E::RejectFinal),
        S::Invalid
        | S::Committed
        | S::AbortedRejected
        | S::AbortedError
        | S::ExpiredPrepared
        | S::ExpiredReserved => None,
    }
}

/// Longest chain of [`finishing_event`] steps from any non-final state (RESERVED →
/// RESERVED_TIMEOUT → EXPIRED_RESERVED).
pub const MAX_FINISHING_STEPS: usize = 2;

/// Applies [`finishing_event`] until a final state is reached.
pub fn finish(state: TransferState) -> TransferState {
    let mut current = state;
    for _ in 0..MAX_FINISHING_STEPS {
        let Some(event) = finishing_event(current) else {
            return current;
        };
        current = match transition(Some(current), event) {
            Ok(next) => next,
            Err(e) => unreachable!("finishing_event proposed {e}"),
        };
    }
    assert!(
        current.is_final(),
        "{state} not final after {MAX_FINISHING_STEPS} finishing steps"
    );
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransferEvent as E;
    use TransferState as S;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashMap};

    #[test]
    fn a_walk_lists_every_step_and_refuses_an_illegal_event() {
        let steps = walk(
            S::ReceivedPrepare,
            &[E::Reserve, E::FulfilAccepted, E::Commit],
        )
        .unwrap();
        let entered: Vec<_> = steps.iter().map(|s| (s.from, s.to)).collect();
        assert_eq!(
            entered,
            [
                (S::ReceivedPrepare, S::Reserved),
                (S::Reserved, S::ReceivedFulfil),
                (S::ReceivedFulfil, S::Committed),
            ]
        );
        assert_eq!(walk(S::Committed, &[]).unwrap(), []);
        let refused = walk(S::ReceivedPrepare, &[E::Reserve, E::Commit]).unwrap_err();
        assert_eq!(
            refused,
            IllegalTransition {
                from: Some(S::Reserved),
                event: E::Commit
            }
        );
    }

    /// The graph of docs/transfer-states.md#transitions (regular transfers plus funds-out), written
    /// as data.
    const EDGES: [(Option<TransferState>, TransferEvent, TransferState); 13] = [
        (None, E::PrepareAccepted, S::ReceivedPrepare),
        (None, E::PrepareRejected, S::Invalid),
        (Some(S::ReceivedPrepare), E::Reserve, S::Reserved),
        (
            Some(S::ReceivedPrepare),
            E::ReservationRejected,
            S::AbortedRejected,
        ),
        (
            Some(S::ReceivedPrepare),
            E::ExpirePrepared,
            S::ExpiredPrepared,
        ),
        (Some(S::Reserved), E::FulfilAccepted, S::ReceivedFulfil),
        (Some(S::ReceivedFulfil), E::Commit, S::Committed),
        (Some(S::Reserved), E::PayeeAbort, S::ReceivedError),
        (Some(S::ReceivedError), E::Abort, S::AbortedError),
        (Some(S::Reserved), E::MarkTimeout, S::ReservedTimeout),
        (
            Some(S::ReservedTimeout),
            E::ExpireReserved,
            S::ExpiredReserved,
        ),
        (Some(S::Reserved), E::FundsOutReject, S::ReceivedReject),
        (Some(S::ReceivedReject), E::RejectFinal, S::AbortedRejected),
    ];

    fn edge_table() -> HashMap<(Option<TransferState>, TransferEvent), TransferState> {
        EDGES
            .iter()
            .map(|&(from, event, to)| ((from, event), to))
            .collect()
    }

    #[test]
    fn every_state_event_pair_matches_the_edge_table() {
        let table = edge_table();
        assert_eq!(table.len(), EDGES.len(), "duplicate edge in the table");
        let froms = std::iter::once(None).chain(TransferState::ALL.map(Some));
        for from in froms {
            for event in TransferEvent::ALL {
                let expected = table.get(&(from, event)).copied();
                let actual = transition(from, event).ok();
                assert_eq!(actual, expected, "{from:?} --{event:?}-->");
                if expected.is_none() {
                    assert_eq!(
                        transition(from, event),
                        Err(IllegalTransition { from, event })
                    );
                }
            }
        }
    }

    #[test]
    fn names_round_trip_and_match_the_stored_names() {
        let names: Vec<&str> = TransferState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "RECEIVED_PREPARE",
                "INVALID",
                "RESERVED",
                "RECEIVED_FULFIL",
                "RECEIVED_REJECT",
                "RECEIVED_ERROR",
                "RESERVED_TIMEOUT",
                "COMMITTED",
                "ABORTED_REJECTED",
                "ABORTED_ERROR",
                "EXPIRED_PREPARED",
                "EXPIRED_RESERVED",
            ]
        );
        for state in TransferState::ALL {
            assert_eq!(state.as_str().parse::<TransferState>(), Ok(state));
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
            assert_eq!(serde_json::from_str::<TransferState>(&json).unwrap(), state);
        }
        assert!("received_prepare".parse::<TransferState>().is_err());
        assert!("SETTLED".parse::<TransferState>().is_err());
    }

    #[test]
    fn api_states_follow_the_reference_table() {
        use ApiTransferState as A;
        let expected = [
            (S::ReceivedPrepare, A::Received),
            (S::Invalid, A::Aborted),
            (S::Reserved, A::Reserved),
            (S::ReceivedFulfil, A::Reserved),
            (S::ReceivedReject, A::Reserved),
            (S::ReceivedError, A::Reserved),
            (S::ReservedTimeout, A::Reserved),
            (S::Committed, A::Committed),
            (S::AbortedRejected, A::Aborted),
            (S::AbortedError, A::Aborted),
            (S::ExpiredPrepared, A::Aborted),
            (S::ExpiredReserved, A::Aborted),
        ];
        for (state, api) in expected {
            assert_eq!(state.api_state(), api, "{state}");
        }
        for api in ApiTransferState::ALL {
            let json = serde_json::to_string(&api).unwrap();
            assert_eq!(json, format!("\"{api}\""));
            assert_eq!(
                serde_json::from_str::<ApiTransferState>(&json).unwrap(),
                api
            );
            assert_eq!(api.as_str().parse::<ApiTransferState>(), Ok(api));
        }
    }

    #[test]
    fn final_states_are_exactly_those_without_outgoing_edges() {
        for state in TransferState::ALL {
            let has_out = EDGES.iter().any(|(from, _, _)| *from == Some(state));
            assert_eq!(state.is_final(), !has_out, "{state}");
            // Final states are exactly those finishing_event leaves alone.
            assert_eq!(
                finishing_event(state).is_none(),
                state.is_final(),
                "{state}"
            );
        }
    }

    #[test]
    fn graph_is_acyclic() {
        // Each state is entered at most once (the journal's unique key relies on it): a
        // depth-first search from the start finds no back edge.
        fn visit(state: TransferState, path: &mut Vec<TransferState>) {
            assert!(!path.contains(&state), "cycle through {state}: {path:?}");
            path.push(state);
            for event in TransferEvent::ALL {
                if let Ok(next) = transition(Some(state), event) {
                    visit(next, path);
                }
            }
            path.pop();
        }
        for event in TransferEvent::ALL {
            if let Ok(first) = transition(None, event) {
                visit(first, &mut Vec::new());
            }
        }
    }

    #[test]
    fn every_state_is_reachable() {
        let mut reached = BTreeSet::new();
        let mut frontier: Vec<Option<TransferState>> = vec![None];
        while let Some(from) = frontier.pop() {
            for event in TransferEvent::ALL {
                if let Ok(next) = transition(from, event)
                    && reached.insert(next)
                {
                    frontier.push(Some(next));
                }
            }
        }
        assert_eq!(reached, TransferState::ALL.into_iter().collect());
    }

    #[test]
    fn finish_reaches_the_expected_final_state() {
        let expected = [
            (S::ReceivedPrepare, S::ExpiredPrepared),
            (S::Reserved, S::ExpiredReserved),
            (S::ReceivedFulfil, S::Committed),
            (S::ReceivedError, S::AbortedError),
            (S::ReservedTimeout, S::ExpiredReserved),
            (S::ReceivedReject, S::AbortedRejected),
        ];
        for (state, end) in expected {
            assert_eq!(finish(state), end, "{state}");
        }
        for state in TransferState::ALL.into_iter().filter(|s| s.is_final()) {
            assert_eq!(finish(state), state);
        }
    }

    fn any_event() -> impl Strategy<Value = TransferEvent> {
        proptest::sample::select(TransferEvent::ALL.to_vec())
    }

    fn any_state() -> impl Strategy<Value = TransferState> {
        proptest::sample::select(TransferState::ALL.to_vec())
    }

    proptest! {
        /// Random event streams from "no transfer": every accepted step is an edge of the graph,
        /// no state is entered twice, and once final nothing more is accepted.
        #[test]
        fn random_event_sequences_follow_the_graph(events in proptest::collection::vec(any_event(), 0..40)) {
            let table = edge_table();
            let mut current: Option<TransferState> = None;
            let mut seen = BTreeSet::new();
            for event in events {
                match transition(current, event) {
                    Ok(next) => {
                        prop_assert_eq!(table.get(&(current, event)), Some(&next));
                        prop_assert!(current.is_none_or(|s| !s.is_final()));
                        prop_assert!(seen.insert(next), "{} entered twice", next);
                        current = Some(next);
                    }
                    Err(e) => {
                        prop_assert_eq!(e, IllegalTransition { from: current, event });
                        prop_assert!(!table.contains_key(&(current, event)));
                    }
                }
                if let Some(state) = current.filter(|s| s.is_final()) {
                    for event in TransferEvent::ALL {
                        prop_assert!(transition(Some(state), event).is_err());
                    }
                }
            }
        }

        /// From any non-final state, finishing events end in exactly one final state within
        /// MAX_FINISHING_STEPS, and every step is a legal transition.
        #[test]
        fn finishing_events_terminate(start in any_state()) {
            let mut current = start;
            let mut steps = 0;
            while let Some(event) = finishing_event(current) {
                prop_assert!(!current.is_final());
                current = transition(Some(current), event).expect("finishing event is legal");
                steps += 1;
                prop_assert!(steps <= MAX_FINISHING_STEPS);
            }
            prop_assert!(current.is_final());
            prop_assert_eq!(finish(start), current);
        }
    }
}
