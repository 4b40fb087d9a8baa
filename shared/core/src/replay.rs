//! The replay rule: how a handler tells its own redelivered work from a DFSP's resend and from a
//! reused id (docs/duplicates-and-replays.md#the-replay-rule).
//!
//! Every request that can arrive twice leaves a fingerprint of its first arrival: the event id of
//! the message that carried it and the hash of its body (the duplicate-check record for prepare,
//! fulfil, error and admin funds requests; the event recorded with a state change for position
//! messages, which carry no hash). A later request is compared with that fingerprint and with
//! how far this step has got with the transfer, and falls into exactly one [`Replay`] class.
//! Prepare, fulfil, position and the admin funds paths all match on this one classification, so
//! the rule is written once and tested here over every combination.

use crate::hash::RequestHash;
use crate::state::{ApiTransferState, TransferState};

/// What a request is, compared with the first request for its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Replay {
    /// The first request itself, not acted on yet: decide it.
    New,
    /// A redelivery of the message this step already acted on (a crash or rebalance before the
    /// offsets were stored): produce the same output again, change nothing.
    OwnReplay,
    /// The sender repeated the request while the transfer is still in flight: ignore it, the
    /// outcome will be told.
    ResendInFlight,
    /// The sender repeated the request after the transfer finished: answer with its state.
    ResendFinished,
    /// The id was reused with another body: 3106 to the sender.
    Modified,
}

/// How far the step that guards the record has got with the transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Progress {
    /// Nothing written for this request yet (no transfer, or not past this step's input state).
    Unwritten,
    /// Written, and the transfer has not reached a state the sender is told on a resend.
    InFlight,
    /// Written, and the transfer is in a state a resend is answered with.
    Finished,
}

impl Progress {
    pub const ALL: [Progress; 3] = [Progress::Unwritten, Progress::InFlight, Progress::Finished];

    /// A prepare's progress: a prepare counts `RESERVED` as finished (the payer learns its funds
    /// are reserved and the payee was asked, Mojaloop's rule), only `RECEIVED` is in flight.
    pub fn of_prepare(state: Option<TransferState>) -> Self {
        match state.map(TransferState::api_state) {
            None => Progress::Unwritten,
            Some(ApiTransferState::Received) => Progress::InFlight,
            Some(_) => Progress::Finished,
        }
    }

    /// A payee response's (fulfil or error) progress: finished once the transfer is committed
    /// or aborted; the transfer always exists when a payee answers.
    pub fn of_payee_response(state: TransferState) -> Self {
        match state.api_state() {
            ApiTransferState::Committed | ApiTransferState::Aborted => Progress::Finished,
            ApiTransferState::Received | ApiTransferState::Reserved => Progress::InFlight,
        }
    }
}

/// The identity of one arrival of a request: the message's event id and the body's hash
/// (`None` for messages that carry no DFSP body, like the position topic's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint<'a> {
    pub event: &'a str,
    pub hash: Option<RequestHash>,
}

impl<'a> Fingerprint<'a> {
    pub const fn new(event: &'a str, hash: Option<RequestHash>) -> Self {
        Self { event, hash }
    }
}

/// Classifies `this` request against `first`, the fingerprint recorded for its id (which is
/// `this` itself when its claim just succeeded).
///
/// A body that differs from the first one is always [`Replay::Modified`], whichever event
/// carried it: a broker redelivery repeats the same bytes, so only the admin funds paths, whose
/// event id is fixed per kind of request, can meet their own event with another body.
pub fn classify(first: Fingerprint<'_>, this: Fingerprint<'_>, progress: Progress) -> Replay {
    if first.hash != this.hash {
        return Replay::Modified;
    }
    match (first.event == this.event, progress) {
        (true, Progress::Unwritten) => Replay::New,
        (true, Progress::InFlight | Progress::Finished) => Replay::OwnReplay,
        // A racing first request with the same body that has not written yet is in flight too.
        (false, Progress::Unwritten | Progress::InFlight) => Replay::ResendInFlight,
        (false, Progress::Finished) => Replay::ResendFinished,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H1: RequestHash = RequestHash::from_bytes([1; 32]);
    const H2: RequestHash = RequestHash::from_bytes([2; 32]);

    /// The docs' table, row by row: (same event, same body, progress) → class.
    #[test]
    fn every_row_of_the_replay_table() {
        use Progress::{Finished, InFlight, Unwritten};
        let rows = [
            (true, true, Unwritten, Replay::New),
            (true, true, InFlight, Replay::OwnReplay),
            (true, true, Finished, Replay::OwnReplay),
            (false, true, Unwritten, Replay::ResendInFlight),
            (false, true, InFlight, Replay::ResendInFlight),
            (false, true, Finished, Replay::ResendFinished),
            (true, false, Unwritten, Replay::Modified),
            (true, false, InFlight, Replay::Modified),
            (true, false, Finished, Replay::Modified),
            (false, false, Unwritten, Replay::Modified),
            (false, false, InFlight, Replay::Modified),
            (false, false, Finished, Replay::Modified),
        ];
        assert_eq!(rows.len(), 2 * 2 * Progress::ALL.len(), "every combination");
        for (same_event, same_body, progress, expected) in rows {
            let first = Fingerprint::new("e1", Some(H1));
            let this = Fingerprint::new(
                if same_event { "e1" } else { "e2" },
                Some(if same_body { H1 } else { H2 }),
            );
            assert_eq!(
                classify(first, this, progress),
                expected,
                "same event {same_event}, same body {same_body}, {progress:?}"
            );
        }
    }

    #[test]
    fn a_message_without_a_body_hash_is_compared_by_event_only() {
        let first = Fingerprint::new("e1", None);
        assert_eq!(
            classify(first, Fingerprint::new("e1", None), Progress::Finished),
            Replay::OwnReplay
        );
        assert_eq!(
            classify(first, Fingerprint::new("e2", None), Progress::Finished),
            Replay::ResendFinished
        );
        // A record that lost its hash never matches a hashed request.
        assert_eq!(
            classify(first, Fingerprint::new("e1", Some(H1)), Progress::Unwritten),
            Replay::Modified
        );
    }

    #[test]
    fn prepare_progress_over_every_state() {
        assert_eq!(Progress::of_prepare(None), Progress::Unwritten);
        for state in TransferState::ALL {
            let expected = match state.api_state() {
                ApiTransferState::Received => Progress::InFlight,
                // RESERVED counts as finished for a prepare.
                ApiTransferState::Reserved
                | ApiTransferState::Committed
                | ApiTransferState::Aborted => Progress::Finished,
            };
            assert_eq!(Progress::of_prepare(Some(state)), expected, "{state}");
        }
    }

    #[test]
    fn payee_response_progress_over_every_state() {
        for state in TransferState::ALL {
            let finished = matches!(
                state.api_state(),
                ApiTransferState::Committed | ApiTransferState::Aborted
            );
            assert_eq!(
                Progress::of_payee_response(state) == Progress::Finished,
                finished,
                "{state}"
            );
            assert_ne!(Progress::of_payee_response(state), Progress::Unwritten);
        }
    }

    fn any_hash() -> impl Strategy<Value = Option<RequestHash>> {
        prop::option::of(any::<[u8; 32]>().prop_map(RequestHash::from_bytes))
    }

    fn any_progress() -> impl Strategy<Value = Progress> {
        proptest::sample::select(Progress::ALL.to_vec())
    }

    proptest! {
        /// The rule's invariants, over arbitrary events, hashes and progress.
        #[test]
        fn the_rule_holds_for_any_pair(
            first_event in "[a-c]{1,2}", this_event in "[a-c]{1,2}",
            first_hash in any_hash(), this_hash in any_hash(), progress in any_progress(),
        ) {
            let first = Fingerprint::new(&first_event, first_hash);
            let this = Fingerprint::new(&this_event, this_hash);
            let class = classify(first, this, progress);
            // Another body is modified, whatever else holds; the same body never is.
            prop_assert_eq!(class == Replay::Modified, first_hash != this_hash);
            // Only the first request's own event is ever decided or replayed.
            if matches!(class, Replay::New | Replay::OwnReplay) {
                prop_assert_eq!(&first_event, &this_event);
            }
            // Nothing is decided twice: once written, no request is new.
            if progress != Progress::Unwritten {
                prop_assert_ne!(class, Replay::New);
            }
            // A resend is answered with the state only when the transfer finished.
            if class == Replay::ResendFinished {
                prop_assert_eq!(progress, Progress::Finished);
            }
            // A request is always classified against itself as new or its own replay.
            let own = classify(this, this, progress);
            prop_assert!(matches!(own, Replay::New | Replay::OwnReplay));
        }
    }
}
