//! The prepare step's decisions: every row of the prepare table of
//! docs/duplicates-and-replays.md, with no database and no broker.

use std::collections::BTreeMap;

use ferroloop_core::api::MoneyBody;
use ferroloop_messaging::events::{InboundKind, InboundRequest, inbound_envelope};
use ferroloop_messaging::{Authentication, Principal, Topics};
use ferroloop_store::participants::AccountRecord;
use time::macros::datetime;

use ferroloop_core::ledger_id::{AccountId, ParticipantId};

use super::*;

const T1: &str = "b51ec534-ee48-4575-b6a9-ead2955b8069";

fn t1() -> TransferId {
    TransferId::parse(T1).unwrap()
}
const NOW: OffsetDateTime = datetime!(2026-11-22 10:00:00 UTC);
const PAYER_ACCOUNT: AccountId = AccountId(10);

fn context() -> Context {
    Context {
        outputs: Outputs::new(Topics::new("t-"), "prepare"),
        hub: "Hub".to_owned(),
        allow_on_us: false,
        max_expiry: time::Duration::hours(1),
    }
}

fn body(amount: &str) -> PrepareBody {
    PrepareBody {
        amount: MoneyBody {
            amount: amount.into(),
            currency: "USD".into(),
        },
        condition: ferroloop_core::ilp::condition_for(&[7; 32]),
        expiration: "2026-11-22T10:00:30.000Z".into(),
        extension_list: None,
        ilp_packet: "AYIBgQAAAAAAAASw".into(),
        payee_fsp: "payeefsp".into(),
        payer_fsp: "payerfsp".into(),
        transfer_id: T1.into(),
    }
}

fn item(body: PrepareBody, event: &str) -> Item {
    let bytes = serde_json::to_vec(&body).expect("json");
    let envelope = inbound_envelope(&InboundRequest {
        kind: InboundKind::Prepare,
        transfer_id: T1,
        headers: BTreeMap::from([("fspiop-source".to_owned(), "payerfsp".to_owned())]),
        body: &bytes,
        payer_payee: Some(("payerfsp", "payeefsp")),
        transfer_state: None,
        principal: Principal::new("payerfsp", Authentication::Mtls),
    });
    Item {
        envelope,
        hash: ferroloop_core::hash::request_hash(&bytes).expect("hash"),
        transfer_id: TransferId::parse(&body.transfer_id).expect("an id"),
        body,
        event_id: event.to_owned(),
    }
}

fn dfsp(name: &str, id: u32) -> (String, Arc<ParticipantRecord>) {
    let account = AccountRecord {
        account_id: AccountId(id * 10),
        participant_id: ParticipantId(id),
        currency: Currency::parse("USD").unwrap(),
        ledger_account_type: "POSITION".to_owned(),
        is_active: true,
    };
    let record = ParticipantRecord {
        participant_id: ParticipantId(id),
        name: name.to_owned(),
        is_active: true,
        is_hub: false,
        accounts: vec![account],
    };
    (name.to_owned(), Arc::new(record))
}

/// A snapshot whose record for T1 was claimed by `first` (event, body).
fn snapshot(first: &Item) -> Snapshot {
    let record = DuplicateRecord {
        request_hash: Some(first.hash),
        source_event_id: first.event_id.clone(),
        stored_before: false,
    };
    Snapshot {
        participants: [dfsp("payerfsp", 1), dfsp("payeefsp", 2)].into(),
        records: [(t1(), record)].into(),
        ..Snapshot::default()
    }
}

fn stored(state: TransferState) -> TransferRecord {
    TransferRecord {
        transfer_id: t1(),
        kind: TransferKind::Transfer,
        payer_fsp: "payerfsp".to_owned(),
        payee_fsp: "payeefsp".to_owned(),
        payer_participant_id: Some(ParticipantId(1)),
        payee_participant_id: Some(ParticipantId(2)),
        payer_account_id: Some(PAYER_ACCOUNT),
        payee_account_id: Some(AccountId(20)),
        amount: Some(rust_decimal::Decimal::from(100)),
        currency: Currency::parse("USD").unwrap().into(),
        ilp_condition: None,
        expiration: None,
        state,
        state_changed_at: datetime!(2026-11-22 9:59:00),
    }
}

fn run(snapshot: &Snapshot, items: &[Item]) -> Plan<Writes> {
    context().decide(snapshot, items, NOW).expect("decides")
}

/// (topic suffix, action, event code) of every output.
fn told(plan: &Plan<Writes>) -> Vec<(&'static str, String, String)> {
    plan.outputs
        .iter()
        .map(|out| {
            let topic = if out.topic.ends_with("position") {
                "position"
            } else {
                "notification"
            };
            let envelope = Envelope::from_json_bytes(&out.payload).expect("an envelope");
            let code = envelope.metadata.event.state.code.to_string();
            (topic, envelope.action().to_owned(), code)
        })
        .collect()
}

#[test]
fn a_new_valid_prepare_is_stored_and_sent_to_the_position_handler() {
    let first = item(body("100"), "e1");
    let plan = run(&snapshot(&first), &[first]);
    let writes = &plan.writes;
    assert_eq!(writes.transfers.len(), 1);
    assert_eq!(
        writes.transfers[0].record.state,
        TransferState::ReceivedPrepare
    );
    assert_eq!(writes.timeouts.len(), 1);
    assert_eq!(writes.ilp_packets.len(), 1);
    assert!(writes.errors.is_empty());
    assert_eq!(
        told(&plan),
        [("position", action::PREPARE.to_owned(), "0".to_owned())]
    );
    assert_eq!(
        plan.outputs[0].key.as_deref(),
        Some("10"),
        "keyed by the payer's account"
    );
}

#[test]
fn a_new_invalid_prepare_is_stored_invalid_and_answered_3100() {
    let first = item(body("1.23456"), "e1");
    let plan = run(&snapshot(&first), &[first]);
    assert_eq!(
        plan.writes.transfers[0].record.state,
        TransferState::Invalid
    );
    assert!(plan.writes.transfers[0].reason.is_some());
    assert_eq!(plan.writes.errors[0].error_code, 3100);
    assert!(
        plan.writes.timeouts.is_empty(),
        "an INVALID transfer never expires"
    );
    assert_eq!(
        told(&plan),
        [(
            "notification",
            action::PREPARE.to_owned(),
            "3100".to_owned()
        )]
    );
}

/// (topic, action, event code) of one output.
type Told = (&'static str, &'static str, &'static str);

#[test]
fn a_replay_repeats_the_output_while_the_transfer_is_where_it_was_left() {
    let first = item(body("100"), "e1");
    // (stored state, what the replay says)
    let cases: [(TransferState, &[Told]); 4] = [
        (
            TransferState::ReceivedPrepare,
            &[("position", "prepare", "0")],
        ),
        (
            TransferState::Invalid,
            &[("notification", "prepare", "3100")],
        ),
        (TransferState::Reserved, &[]),
        (TransferState::Committed, &[]),
    ];
    for (state, expected) in cases {
        let mut snap = snapshot(&first);
        snap.existing.insert(t1(), stored(state));
        snap.errors.insert(
            t1(),
            TransferErrorRow {
                transfer_id: t1(),
                state: TransferState::Invalid,
                error_code: 3100,
                error_description: "Generic validation error".to_owned(),
            },
        );
        let plan = run(&snap, std::slice::from_ref(&first));
        assert_eq!(
            plan.writes,
            Writes::default(),
            "{state}: a replay writes nothing"
        );
        let expected: Vec<_> = expected
            .iter()
            .map(|(t, a, c)| (*t, (*a).to_owned(), (*c).to_owned()))
            .collect();
        assert_eq!(told(&plan), expected, "{state}");
    }
}

#[test]
fn the_same_message_twice_in_one_batch_is_answered_once() {
    let first = item(body("100"), "e1");
    let plan = run(&snapshot(&first), &[first.clone(), first]);
    assert_eq!(plan.writes.transfers.len(), 1);
    assert_eq!(plan.outputs.len(), 1);
}

/// A resend (another event, same body) against every state: ignored while RECEIVED, the state
/// to the payer once reserved, committed or aborted.
#[test]
fn a_resend_is_ignored_in_flight_and_answered_with_the_state_when_finished() {
    let first = item(body("100"), "e1");
    let resend = item(body("100"), "e2");
    for state in TransferState::ALL {
        let mut snap = snapshot(&first);
        snap.existing.insert(t1(), stored(state));
        let view = TransferView {
            state,
            state_changed_at: NOW,
            fulfilment: None,
            prepare_extensions: Vec::new(),
            fulfil_extensions: Vec::new(),
            error: None,
        };
        snap.views.insert(t1(), view);
        let plan = run(&snap, std::slice::from_ref(&resend));
        assert_eq!(plan.writes, Writes::default(), "{state}");
        let finished = Progress::of_prepare(Some(state)) == Progress::Finished;
        let expected = if finished {
            vec![(
                "notification",
                action::PREPARE_DUPLICATE.to_owned(),
                "0".to_owned(),
            )]
        } else {
            Vec::new()
        };
        assert_eq!(told(&plan), expected, "{state}");
    }
}

#[test]
fn a_resend_behind_a_new_prepare_in_the_same_batch_is_in_flight() {
    let first = item(body("100"), "e1");
    let plan = run(&snapshot(&first), &[first, item(body("100"), "e2")]);
    assert_eq!(plan.writes.transfers.len(), 1);
    assert_eq!(plan.outputs.len(), 1, "only the position message");
}

#[test]
fn another_body_under_a_used_id_is_3106_whatever_the_state() {
    let first = item(body("100"), "e1");
    let modified = item(body("200"), "e2");
    for existing in [
        None,
        Some(TransferState::ReceivedPrepare),
        Some(TransferState::Committed),
    ] {
        let mut snap = snapshot(&first);
        if let Some(state) = existing {
            snap.existing.insert(t1(), stored(state));
        }
        let plan = run(&snap, std::slice::from_ref(&modified));
        assert_eq!(plan.writes, Writes::default());
        assert_eq!(
            told(&plan),
            [(
                "notification",
                action::PREPARE.to_owned(),
                "3106".to_owned()
            )]
        );
    }
    // And behind a new prepare of the same batch.
    let plan = run(&snapshot(&first), &[first, modified]);
    assert_eq!(plan.writes.transfers.len(), 1);
    assert_eq!(
        told(&plan)[1],
        (
            "notification",
            action::PREPARE.to_owned(),
            "3106".to_owned()
        )
    );
}

#[test]
fn a_missing_claim_fails_the_batch() {
    let first = item(body("100"), "e1");
    let mut snap = snapshot(&first);
    snap.records.clear();
    assert!(matches!(
        context().decide(&snap, &[first], NOW),
        Err(HandlerError::Permanent(_))
    ));
}
