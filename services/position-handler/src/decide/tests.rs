//! The position step's decisions, table by table, with no database and no broker.

use std::collections::BTreeMap;

use ferroloop_core::ledger_id::ParticipantId;
use ferroloop_messaging::events::{InboundKind, InboundRequest, inbound_envelope};
use ferroloop_messaging::{Authentication, Principal, Topics};
use ferroloop_store::positions::LockedPosition;
use ferroloop_store::transfers::{StateChange, TransferErrorRow, TransferKind, TransferRecord};
use rust_decimal::Decimal;
use time::macros::datetime;

use super::*;

const T1: &str = "11111111-1111-4111-8111-111111111111";
const T2: &str = "22222222-2222-4222-8222-222222222222";
const PAYER_ACCOUNT: AccountId = AccountId(7);
const PAYEE_ACCOUNT: AccountId = AccountId(9);
const NOW: OffsetDateTime = datetime!(2026-12-06 12:00:00 UTC);

fn context() -> Context {
    Context {
        outputs: Outputs::new(Topics::new("t-"), "position"),
        hub: "Hub".to_owned(),
    }
}

fn id(text: &str) -> TransferId {
    TransferId::parse(text).unwrap()
}

fn transfer(text: &str, state: TransferState, amount: i64) -> TransferRecord {
    TransferRecord {
        transfer_id: id(text),
        kind: TransferKind::Transfer,
        payer_fsp: "payerfsp".to_owned(),
        payee_fsp: "payeefsp".to_owned(),
        payer_participant_id: Some(ParticipantId(1)),
        payee_participant_id: Some(ParticipantId(2)),
        payer_account_id: Some(PAYER_ACCOUNT),
        payee_account_id: Some(PAYEE_ACCOUNT),
        amount: Some(Decimal::from(amount)),
        currency: ferroloop_core::currency::Currency::parse("USD")
            .unwrap()
            .into(),
        ilp_condition: None,
        expiration: Some(datetime!(2026-12-06 12:05:00)),
        state,
        state_changed_at: datetime!(2026-12-06 11:59:00),
    }
}

/// A position with `ndc` and liquidity cover `liquidity` (settlement position −liquidity).
fn position(account_id: AccountId, value: i64, ndc: i64, liquidity: i64) -> LockedPosition {
    LockedPosition {
        account_id,
        value: Decimal::from(value),
        reserved_value: Decimal::ZERO,
        net_debit_cap: Some(Decimal::from(ndc)),
        settlement_account_id: Some(AccountId(account_id.get() + 100)),
        settlement_value: Some(Decimal::from(-liquidity)),
    }
}

fn item(id: &str, request: Request, event: &str) -> Item {
    let action = match request {
        Request::Reserve => action::PREPARE,
        Request::Commit { patch_flow: false } => action::COMMIT,
        Request::Commit { patch_flow: true } => action::RESERVE,
        Request::Abort => action::ABORT,
        Request::Expire => action::TIMEOUT_RESERVED,
    };
    let inbound = inbound_envelope(&InboundRequest {
        kind: InboundKind::Prepare,
        transfer_id: id,
        headers: BTreeMap::from([("fspiop-source".to_owned(), "payerfsp".to_owned())]),
        body: b"{}",
        payer_payee: Some(("payerfsp", "payeefsp")),
        transfer_state: None,
        principal: Principal::new("payerfsp", Authentication::Mtls),
    });
    let mut envelope = events::forward(&inbound, event_type::POSITION, action);
    envelope.metadata.event.id = event.to_owned();
    Item {
        envelope,
        request,
        transfer_id: TransferId::parse(id).ok(),
    }
}

fn snapshot(transfers: &[TransferRecord]) -> Snapshot {
    Snapshot {
        transfers: transfers
            .iter()
            .map(|t| (t.transfer_id, t.clone()))
            .collect(),
        positions: [
            (PAYER_ACCOUNT, position(PAYER_ACCOUNT, 0, 1_000, 1_000)),
            (PAYEE_ACCOUNT, position(PAYEE_ACCOUNT, 0, 1_000, 1_000)),
        ]
        .into(),
        ..Snapshot::default()
    }
}

fn run(snapshot: &Snapshot, items: &[Item]) -> Plan<Writes> {
    context().decide(snapshot, items, NOW).expect("decides")
}

/// (action, event code) of every output, all of which go to the notification topic.
fn told(plan: &Plan<Writes>) -> Vec<(String, String)> {
    plan.outputs
        .iter()
        .map(|out| {
            assert_eq!(out.topic, "t-topic-notification-event");
            let envelope = Envelope::from_json_bytes(&out.payload).expect("an envelope");
            let code = envelope.metadata.event.state.code.to_string();
            (envelope.action().to_owned(), code)
        })
        .collect()
}

fn states(plan: &Plan<Writes>) -> Vec<(TransferState, TransferState)> {
    let change = |c: &StateChange| (c.from.expect("an existing transfer"), c.to);
    plan.writes.changes.iter().map(change).collect()
}

#[test]
fn a_reservation_within_the_limits_reserves_and_tells_the_payee() {
    let snap = snapshot(&[transfer(T1, TransferState::ReceivedPrepare, 100)]);
    let plan = run(&snap, &[item(T1, Request::Reserve, "e1")]);
    assert_eq!(
        states(&plan),
        [(TransferState::ReceivedPrepare, TransferState::Reserved)]
    );
    let journal = &plan.writes.journal;
    assert_eq!(journal.len(), 1);
    assert_eq!(
        (journal[0].account_id, journal[0].phase),
        (PAYER_ACCOUNT, PositionPhase::Reserve)
    );
    assert_eq!(journal[0].value_after, Decimal::from(100));
    assert_eq!(
        plan.writes.deciding[T1], "e1",
        "the deciding event is recorded"
    );
    assert!(plan.writes.finished.is_empty() && plan.writes.errors.is_empty());
    assert_eq!(told(&plan), [(action::PREPARE.to_owned(), "0".to_owned())]);
    assert_eq!(
        plan.counts,
        [ferroloop_pipeline::Count {
            metric: RESERVATIONS,
            outcome: "reserved"
        }]
    );
}

#[test]
fn refused_reservations_record_and_tell_4001_or_4200() {
    // (NDC, liquidity cover, expected code): liquidity is checked first.
    for (ndc, liquidity, code) in [(1_000, 50, 4001_u16), (50, 1_000, 4200)] {
        let mut snap = snapshot(&[transfer(T1, TransferState::ReceivedPrepare, 100)]);
        snap.positions
            .insert(PAYER_ACCOUNT, position(PAYER_ACCOUNT, 0, ndc, liquidity));
        let plan = run(&snap, &[item(T1, Request::Reserve, "e1")]);
        assert_eq!(
            states(&plan),
            [(
                TransferState::ReceivedPrepare,
                TransferState::AbortedRejected
            )]
        );
        assert!(
            plan.writes.journal.is_empty(),
            "a refusal moves no position"
        );
        assert_eq!(plan.writes.errors[0].error_code, code);
        assert_eq!(plan.writes.finished, [id(T1)]);
        assert_eq!(
            told(&plan),
            [(action::PREPARE.to_owned(), code.to_string())]
        );
    }
}

#[test]
fn reservations_in_one_batch_are_applied_in_arrival_order() {
    let snap = snapshot(&[
        transfer(T1, TransferState::ReceivedPrepare, 600),
        transfer(T2, TransferState::ReceivedPrepare, 600),
    ]);
    let plan = run(
        &snap,
        &[
            item(T1, Request::Reserve, "e1"),
            item(T2, Request::Reserve, "e2"),
        ],
    );
    assert_eq!(
        states(&plan),
        [
            (TransferState::ReceivedPrepare, TransferState::Reserved),
            (
                TransferState::ReceivedPrepare,
                TransferState::AbortedRejected
            ),
        ],
        "the first fits the NDC of 1000, the second no longer does"
    );
}

#[test]
fn commits_credit_the_payee_and_reversals_undo_the_payer() {
    let cases = [
        (
            Request::Commit { patch_flow: false },
            TransferState::ReceivedFulfil,
            TransferState::Committed,
            PAYEE_ACCOUNT,
            PositionPhase::Commit,
            -100,
        ),
        (
            Request::Abort,
            TransferState::ReceivedError,
            TransferState::AbortedError,
            PAYER_ACCOUNT,
            PositionPhase::Reverse,
            -100,
        ),
        (
            Request::Expire,
            TransferState::ReservedTimeout,
            TransferState::ExpiredReserved,
            PAYER_ACCOUNT,
            PositionPhase::Reverse,
            -100,
        ),
    ];
    for (request, from, to, account, phase, value_after) in cases {
        let snap = snapshot(&[transfer(T1, from, 100)]);
        let plan = run(&snap, &[item(T1, request, "e1")]);
        assert_eq!(states(&plan), [(from, to)], "{request:?}");
        let entry = &plan.writes.journal[0];
        assert_eq!(
            (entry.account_id, entry.phase),
            (account, phase),
            "{request:?}"
        );
        assert_eq!(entry.value_after, Decimal::from(value_after), "{request:?}");
        assert_eq!(
            plan.writes.finished,
            [id(T1)],
            "{request:?} finishes the transfer"
        );
        assert_eq!(plan.outputs.len(), 1, "{request:?} is told");
    }
}

/// Every request against every state: new work only from the state it expects, a replay from
/// a state it produces, nothing from any other.
#[test]
fn every_request_against_every_state() {
    let requests = [
        Request::Reserve,
        Request::Commit { patch_flow: false },
        Request::Abort,
        Request::Expire,
    ];
    for request in requests {
        for state in TransferState::ALL {
            let mut snap = snapshot(&[transfer(T1, state, 100)]);
            snap.errors.insert(id(T1), refusal());
            let plan = run(&snap, &[item(T1, request, "e1")]);
            if state == request.expects() {
                assert_eq!(plan.writes.changes.len(), 1, "{request:?} in {state}");
            } else {
                assert!(
                    plan.writes.changes.is_empty(),
                    "{request:?} in {state} changes nothing"
                );
                assert!(
                    plan.writes.journal.is_empty(),
                    "{request:?} in {state} moves nothing"
                );
            }
            let told_again = request.produced(state) || state == request.expects();
            assert_eq!(
                !plan.outputs.is_empty(),
                told_again,
                "{request:?} in {state}"
            );
        }
    }
}

#[test]
fn a_replay_repeats_its_output_only_if_this_message_made_the_change() {
    let mut snap = snapshot(&[transfer(T1, TransferState::Reserved, 100)]);
    snap.deciding
        .insert((id(T1), TransferState::Reserved), "e1".to_owned());
    let own = run(&snap, &[item(T1, Request::Reserve, "e1")]);
    assert_eq!(told(&own), [(action::PREPARE.to_owned(), "0".to_owned())]);
    assert!(own.writes.changes.is_empty());
    // A re-drive copy (another event) finds a transfer another message moved and told.
    let copy = run(&snap, &[item(T1, Request::Reserve, "re-drive")]);
    assert!(copy.outputs.is_empty() && copy.writes.changes.is_empty());
    assert_eq!(copy.counts[0].outcome, "suppressed");
    // No recorded event (a change older than the record): treated as ours.
    snap.deciding.clear();
    assert_eq!(
        run(&snap, &[item(T1, Request::Reserve, "any")])
            .outputs
            .len(),
        1
    );
}

fn refusal() -> TransferErrorRow {
    TransferErrorRow {
        transfer_id: id(T1),
        state: TransferState::AbortedRejected,
        error_code: 4200,
        error_description: "Payer limit error".to_owned(),
    }
}

#[test]
fn a_replayed_refusal_tells_the_recorded_error_again() {
    let mut snap = snapshot(&[transfer(T1, TransferState::AbortedRejected, 100)]);
    snap.errors.insert(id(T1), refusal());
    let plan = run(&snap, &[item(T1, Request::Reserve, "e1")]);
    assert_eq!(
        told(&plan),
        [(action::PREPARE.to_owned(), "4200".to_owned())]
    );
}

#[test]
fn a_reservation_after_the_expiration_expires_the_transfer() {
    let mut late = transfer(T1, TransferState::ReceivedPrepare, 100);
    late.expiration = Some(datetime!(2026-12-06 11:00:00));
    let plan = run(&snapshot(&[late]), &[item(T1, Request::Reserve, "e1")]);
    assert_eq!(
        states(&plan),
        [(
            TransferState::ReceivedPrepare,
            TransferState::ExpiredPrepared
        )]
    );
    assert_eq!(
        plan.writes.changes[0].reason.as_deref(),
        Some(EXPIRED_UNRESERVED_REASON)
    );
    assert_eq!(plan.writes.errors[0].error_code, 3303);
    assert!(plan.writes.journal.is_empty(), "nothing was reserved");
    assert_eq!(
        told(&plan),
        [(action::TIMEOUT_RECEIVED.to_owned(), "3303".to_owned())]
    );
}

#[test]
fn a_transfer_changes_at_most_once_per_batch() {
    let snap = snapshot(&[transfer(T1, TransferState::ReceivedPrepare, 100)]);
    let plan = run(
        &snap,
        &[
            item(T1, Request::Reserve, "e1"),
            item(T1, Request::Reserve, "e1"),
        ],
    );
    assert_eq!(plan.writes.changes.len(), 1);
    assert_eq!(plan.outputs.len(), 1, "answered once");
}

#[test]
fn funds_transfers_and_unknown_transfers_are_ignored() {
    let mut funds = transfer(T1, TransferState::ReceivedPrepare, 100);
    funds.kind = TransferKind::FundsOut;
    let plan = run(
        &snapshot(&[funds]),
        &[
            item(T1, Request::Reserve, "e1"),
            item(T2, Request::Reserve, "e2"),
        ],
    );
    assert!(plan.outputs.is_empty() && plan.writes == Writes::default());
}

#[test]
fn a_patch_flow_commit_tells_the_committed_view() {
    let mut snap = snapshot(&[transfer(T1, TransferState::ReceivedFulfil, 100)]);
    let view = TransferView {
        state: TransferState::ReceivedFulfil,
        state_changed_at: datetime!(2026-12-06 11:59:00 UTC),
        fulfilment: Some("fulfilment".to_owned()),
        prepare_extensions: Vec::new(),
        fulfil_extensions: Vec::new(),
        error: None,
    };
    snap.views
        .insert(id(T1), (snap.transfers[T1].clone(), view));
    let plan = run(
        &snap,
        &[item(T1, Request::Commit { patch_flow: true }, "e1")],
    );
    assert_eq!(
        states(&plan),
        [(TransferState::ReceivedFulfil, TransferState::Committed)]
    );
    let envelope = Envelope::from_json_bytes(&plan.outputs[0].payload).expect("an envelope");
    assert_eq!(envelope.action(), action::RESERVE);
    let body = serde_json::to_string(&envelope.content.payload).expect("json");
    assert!(body.contains("COMMITTED"), "{body}");
}

#[test]
fn a_transfer_without_its_account_position_fails_the_batch() {
    let mut snap = snapshot(&[transfer(T1, TransferState::ReceivedPrepare, 100)]);
    snap.positions.clear();
    let error = context().decide(&snap, &[item(T1, Request::Reserve, "e1")], NOW);
    assert!(matches!(error, Err(HandlerError::Permanent(_))));
}

/// An id that is no `TransferId` names no transfer: every request with one is ignored exactly as
/// one about an unknown transfer (nothing written, nothing told, nothing counted), and it does not
/// disturb the batch's other messages.
#[test]
fn an_id_that_is_no_transfer_id_is_ignored_like_an_unknown_transfer() {
    let unparseable = [
        ("text", "not-a-transfer-id"),
        ("empty", ""),
        ("uppercase UUID", "11111111-1111-4111-8111-11111111111A"),
        ("UUID version 0", "11111111-1111-0111-8111-111111111111"),
        ("lowercase ULID", "01jebs69vk6aea8tgaje3za9eh"),
        ("too long", "11111111-1111-4111-8111-1111111111110"),
    ];
    let requests = [
        Request::Reserve,
        Request::Commit { patch_flow: false },
        Request::Commit { patch_flow: true },
        Request::Abort,
        Request::Expire,
    ];
    for (what, text) in unparseable {
        for request in requests {
            let bad = item(text, request, "e1");
            assert_eq!(bad.transfer_id, None, "{what}");
            // Alone: what an unknown transfer (T2) gets, which is nothing.
            let snap = snapshot(&[transfer(T1, request.expects(), 100)]);
            let bad_plan = run(&snap, std::slice::from_ref(&bad));
            let unknown_plan = run(&snap, &[item(T2, request, "e1")]);
            assert_eq!(bad_plan.writes, unknown_plan.writes, "{what} {request:?}");
            assert_eq!(told(&bad_plan), told(&unknown_plan), "{what} {request:?}");
            assert_eq!(bad_plan.counts, unknown_plan.counts, "{what} {request:?}");
            assert!(bad_plan.outputs.is_empty() && bad_plan.writes == Writes::default());
            // Beside a message for T1: T1's message is decided as if it were alone.
            let good = item(T1, request, "e2");
            let both = run(&snap, &[bad, good.clone()]);
            let alone = run(&snap, &[good]);
            assert_eq!(both.writes, alone.writes, "{what} {request:?}");
            assert_eq!(told(&both), told(&alone), "{what} {request:?}");
            assert_eq!(both.counts, alone.counts, "{what} {request:?}");
        }
    }
}
