//! The timeout scan's decisions over every state, fresh and stuck, with no database and no
//! broker.

use ferroloop_messaging::Topics;
use rust_decimal::Decimal;
use time::macros::datetime;

use ferroloop_core::ledger_id::{AccountId, ParticipantId};

use super::*;

const T1: &str = "b51ec534-ee48-4575-b6a9-ead2955b8069";
fn t1() -> TransferId {
    TransferId::parse(T1).unwrap()
}

const NOW: OffsetDateTime = datetime!(2026-11-22 10:00:00 UTC);

fn context() -> Context {
    Context {
        outputs: Outputs::new(Topics::new("t-"), "timeout"),
        hub: "Hub".to_owned(),
        redrive_after: Duration::from_secs(5),
        redrive_max: Duration::from_secs(60),
    }
}

/// A transfer in `state` since `since`.
fn transfer(state: TransferState, since: PrimitiveDateTime) -> TransferRecord {
    TransferRecord {
        transfer_id: t1(),
        kind: ferroloop_store::transfers::TransferKind::Transfer,
        payer_fsp: "payerfsp".to_owned(),
        payee_fsp: "payeefsp".to_owned(),
        payer_participant_id: Some(ParticipantId(1)),
        payee_participant_id: Some(ParticipantId(2)),
        payer_account_id: Some(AccountId(10)),
        payee_account_id: Some(AccountId(20)),
        amount: Some(Decimal::from(100)),
        currency: ferroloop_core::currency::Currency::parse("USD")
            .unwrap()
            .into(),
        ilp_condition: None,
        expiration: Some(datetime!(2026-11-22 9:59:00)),
        state,
        state_changed_at: since,
    }
}

fn snapshot(transfer: TransferRecord) -> Snapshot {
    let view = TransferView {
        state: transfer.state,
        state_changed_at: transfer.state_changed_at.assume_utc(),
        fulfilment: Some("f".to_owned()),
        prepare_extensions: Vec::new(),
        fulfil_extensions: Vec::new(),
        error: None,
    };
    Snapshot {
        due: vec![t1()],
        views: [(t1(), (transfer.clone(), view))].into(),
        locked: [(t1(), transfer)].into(),
        ..Snapshot::default()
    }
}

/// (topic, action) of every output.
fn told(plan: &ScanPlan) -> Vec<(String, String)> {
    plan.outputs
        .iter()
        .map(|out| {
            let envelope = Envelope::from_json_bytes(&out.payload).expect("an envelope");
            let topic = out.topic.trim_start_matches("t-").to_owned();
            (topic, envelope.action().to_owned())
        })
        .collect()
}

const FRESH: PrimitiveDateTime = datetime!(2026-11-22 9:59:58);
const STUCK: PrimitiveDateTime = datetime!(2026-11-22 9:59:00);

#[test]
fn every_state_fresh_and_stuck() {
    let position = "topic-transfer-position";
    let notification = "topic-notification-event";
    for state in TransferState::ALL {
        for since in [FRESH, STUCK] {
            let plan = context().decide(&snapshot(transfer(state, since)), NOW);
            let stuck = since == STUCK;
            let (change, message) = match state {
                TransferState::ReceivedPrepare => (
                    Some(TransferState::ExpiredPrepared),
                    Some((notification, action::TIMEOUT_RECEIVED)),
                ),
                TransferState::ExpiredPrepared => {
                    (None, Some((notification, action::TIMEOUT_RECEIVED)))
                }
                TransferState::Reserved => (
                    Some(TransferState::ReservedTimeout),
                    Some((position, action::TIMEOUT_RESERVED)),
                ),
                TransferState::ReservedTimeout if stuck => {
                    (None, Some((position, action::TIMEOUT_RESERVED)))
                }
                TransferState::ReceivedFulfil if stuck => (None, Some((position, action::COMMIT))),
                TransferState::ReceivedError if stuck => {
                    (None, Some((position, action::ABORT_VALIDATION)))
                }
                _ => (None, None),
            };
            let changes: Vec<_> = plan.writes.changes.iter().map(|c| c.to).collect();
            assert_eq!(
                changes,
                change.into_iter().collect::<Vec<_>>(),
                "{state} stuck {stuck}"
            );
            let expected: Vec<_> = message
                .iter()
                .map(|(t, a)| ((*t).to_owned(), (*a).to_owned()))
                .collect();
            assert_eq!(told(&plan), expected, "{state} stuck {stuck}");
            // A final transfer's row goes; every other is looked at again later.
            assert_eq!(
                plan.writes.finished.len(),
                usize::from(state.is_final() && state != TransferState::ExpiredPrepared),
                "{state}"
            );
            assert_eq!(
                plan.writes.postponed.len() + plan.writes.finished.len(),
                1,
                "{state}"
            );
        }
    }
}

#[test]
fn an_expired_prepare_is_told_and_its_row_waits_for_the_acknowledgement() {
    let plan = context().decide(
        &snapshot(transfer(TransferState::ReceivedPrepare, FRESH)),
        NOW,
    );
    assert_eq!(plan.told, [t1()]);
    assert_eq!(plan.writes.errors[0].error_code, 3303);
    assert_eq!(plan.outcome.expired_prepared, 1);
    let event = Envelope::from_json_bytes(&plan.outputs[0].payload)
        .expect("an envelope")
        .metadata
        .event
        .id;
    assert_eq!(
        plan.writes.deciding[T1], event,
        "the change records the event that tells it"
    );
}

#[test]
fn re_drives_back_off_up_to_the_maximum() {
    let long_stuck = datetime!(2026-11-22 8:00:00);
    let plan = context().decide(
        &snapshot(transfer(TransferState::ReservedTimeout, long_stuck)),
        NOW,
    );
    assert_eq!(
        plan.writes.postponed[0].1,
        datetime!(2026-11-22 10:01:00),
        "capped at 60 s"
    );
    let plan = context().decide(
        &snapshot(transfer(TransferState::ReservedTimeout, STUCK)),
        NOW,
    );
    assert_eq!(
        plan.writes.postponed[0].1,
        datetime!(2026-11-22 10:01:00),
        "as long as it was stuck"
    );
    assert_eq!(plan.outcome.redriven, 1);
}

#[test]
fn a_patch_flow_commit_is_re_driven_as_reserve() {
    let mut snap = snapshot(transfer(TransferState::ReceivedFulfil, STUCK));
    snap.fulfilments.insert(
        t1(),
        FulfilmentRow {
            transfer_id: t1(),
            ilp_fulfilment: Some("f".to_owned()),
            completed_at: STUCK,
            requested_state: "RESERVED",
        },
    );
    let plan = context().decide(&snap, NOW);
    assert_eq!(
        told(&plan),
        [(
            "topic-transfer-position".to_owned(),
            action::RESERVE.to_owned()
        )]
    );
    assert_eq!(
        plan.outputs[0].key.as_deref(),
        Some("20"),
        "keyed by the payee's account"
    );
}

#[test]
fn transfers_that_could_not_be_locked_are_left_for_the_next_scan() {
    let mut snap = snapshot(transfer(TransferState::Reserved, FRESH));
    snap.locked.clear();
    let plan = context().decide(&snap, NOW);
    assert!(plan.outputs.is_empty() && plan.writes == Writes::default());
}
