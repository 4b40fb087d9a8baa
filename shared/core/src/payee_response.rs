//! What the hub does with a payee's response (`PUT /transfers/{id}` or `PUT …/error`) from the
//! payee itself, that holds its kind's duplicate-check record (it is the first such request, or
//! a redelivery of it), given where the transfer is
//! (docs/duplicates-and-replays.md#who-decided).
//!
//! A redelivery of the hub's own earlier work must never reach a DFSP twice once the transfer
//! moved on, and a request that did not decide the transfer must never be mistaken for the one
//! that did: a payee's error after a hub abort is a duplicate, a fulfilment after the payee's
//! own error is a modified request.

use crate::state::{ApiTransferState, TransferState};

/// The payee's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayeeRequest {
    /// `PUT /transfers/{id}` (commit, or RESERVED for the PATCH flow).
    Fulfil,
    /// `PUT /transfers/{id}/error`.
    Error,
}

/// Where the request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Situation {
    pub request: PayeeRequest,
    pub state: TransferState,
    /// The message was handled before (a redelivery after a crash or rebalance).
    pub redelivered: bool,
    /// This message is recorded as the one that moved the transfer into `state`.
    pub decided_it: bool,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The transfer is RESERVED: decide the request now.
    Decide,
    /// This request was accepted before and the transfer is still where that left it: produce
    /// the same output again (it may not have been produced).
    RepeatAccepted,
    /// This fulfilment made the hub abort and the reversal is still pending: produce that
    /// abort again.
    RepeatHubAbort,
    /// Nothing to say: already said, or the outcome is still being reached and will be told.
    Nothing,
    /// A duplicate of a finished transfer: send its state to the sender.
    SendState,
    /// The transfer was decided by the payee's other kind of request: 3106 to the sender.
    Modified,
    /// The transfer expired: 3303 to the sender.
    Expired,
    /// The transfer is in no state the payee can answer (not yet reserved): 3100.
    NotReserved,
}

/// Classifies a payee's request.
pub fn classify(s: Situation) -> Answer {
    use PayeeRequest::{Error, Fulfil};
    use TransferState as T;
    if s.state == T::Reserved {
        return Answer::Decide;
    }
    if s.redelivered && s.state.is_final() {
        // Whatever was said the first time was about a transfer that has moved on since.
        return Answer::Nothing;
    }
    match (s.request, s.state) {
        // Only the holder of the fulfil record can have been accepted.
        (Fulfil, T::ReceivedFulfil) => Answer::RepeatAccepted,
        (Error, T::ReceivedError) if s.decided_it => Answer::RepeatAccepted,
        (Fulfil, T::ReceivedError) if s.decided_it => Answer::RepeatHubAbort,
        // The hub aborted (on the payee's fulfilment): the payee's error agrees with the outcome.
        (Error, T::ReceivedError | T::AbortedError) => finished_or_nothing(s.state),
        // The payee answered the other way first.
        (Fulfil, T::ReceivedError | T::AbortedError)
        | (Error, T::ReceivedFulfil | T::Committed) => Answer::Modified,
        (Fulfil, T::Committed) => Answer::SendState,
        (_, T::ReservedTimeout | T::ExpiredReserved | T::ExpiredPrepared) => Answer::Expired,
        _ => Answer::NotReserved,
    }
}

fn finished_or_nothing(state: TransferState) -> Answer {
    match state.api_state() {
        ApiTransferState::Committed | ApiTransferState::Aborted => Answer::SendState,
        _ => Answer::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PayeeRequest::{Error, Fulfil};
    use TransferState as T;

    fn situation(request: PayeeRequest, state: TransferState) -> Situation {
        Situation {
            request,
            state,
            redelivered: false,
            decided_it: false,
        }
    }

    #[test]
    fn a_reserved_transfer_is_decided() {
        for request in [Fulfil, Error] {
            for redelivered in [false, true] {
                let s = Situation {
                    redelivered,
                    ..situation(request, T::Reserved)
                };
                assert_eq!(classify(s), Answer::Decide);
            }
        }
    }

    #[test]
    fn a_redelivery_after_the_transfer_moved_on_says_nothing() {
        for state in [
            T::Committed,
            T::AbortedError,
            T::AbortedRejected,
            T::ExpiredReserved,
            T::ExpiredPrepared,
        ] {
            for request in [Fulfil, Error] {
                for decided_it in [false, true] {
                    let s = Situation {
                        redelivered: true,
                        decided_it,
                        ..situation(request, state)
                    };
                    assert_eq!(classify(s), Answer::Nothing, "{request:?} in {state}");
                }
            }
        }
    }

    #[test]
    fn a_redelivery_before_the_position_step_repeats_its_output() {
        let accepted = Situation {
            redelivered: true,
            decided_it: true,
            ..situation(Fulfil, T::ReceivedFulfil)
        };
        assert_eq!(classify(accepted), Answer::RepeatAccepted);
        let error = Situation {
            decided_it: true,
            ..accepted
        };
        assert_eq!(
            classify(Situation {
                request: Error,
                state: T::ReceivedError,
                ..error
            }),
            Answer::RepeatAccepted
        );
        assert_eq!(
            classify(Situation {
                state: T::ReceivedError,
                ..error
            }),
            Answer::RepeatHubAbort
        );
    }

    #[test]
    fn a_payee_error_after_a_hub_abort_is_a_duplicate() {
        assert_eq!(
            classify(situation(Error, T::ReceivedError)),
            Answer::Nothing
        );
        assert_eq!(
            classify(situation(Error, T::AbortedError)),
            Answer::SendState
        );
    }

    #[test]
    fn a_response_after_the_payees_other_response_is_modified() {
        assert_eq!(
            classify(situation(Fulfil, T::ReceivedError)),
            Answer::Modified
        );
        assert_eq!(
            classify(situation(Fulfil, T::AbortedError)),
            Answer::Modified
        );
        assert_eq!(
            classify(situation(Error, T::ReceivedFulfil)),
            Answer::Modified
        );
        assert_eq!(classify(situation(Error, T::Committed)), Answer::Modified);
    }

    #[test]
    fn late_and_early_responses() {
        for state in [T::ReservedTimeout, T::ExpiredReserved, T::ExpiredPrepared] {
            assert_eq!(classify(situation(Fulfil, state)), Answer::Expired);
        }
        assert_eq!(
            classify(situation(Fulfil, T::ReceivedPrepare)),
            Answer::NotReserved
        );
        assert_eq!(
            classify(situation(Error, T::AbortedRejected)),
            Answer::NotReserved
        );
    }
}
