//! The fulfil step's decisions: the screen, the replay rule and the payee-response table of
//! docs/duplicates-and-replays.md#fulfil, with no database and no broker.

use std::collections::BTreeMap;

use ferroloop_core::ilp::{condition_for, decode_fulfilment, fulfilment_from_secret};
use ferroloop_messaging::events::{InboundKind, InboundRequest, inbound_envelope};
use ferroloop_messaging::{Authentication, Principal, Topics};
use rust_decimal::Decimal;
use time::macros::datetime;

use ferroloop_core::ledger_id::{AccountId, ParticipantId};

use super::*;

const T1: &str = "b51ec534-ee48-4575-b6a9-ead2955b8069";

fn t1() -> TransferId {
    TransferId::parse(T1).unwrap()
}
const NOW: OffsetDateTime = datetime!(2026-11-22 10:00:00 UTC);
const PAYER_ACCOUNT: AccountId = AccountId(10);
const PAYEE_ACCOUNT: AccountId = AccountId(20);

fn context() -> Context {
    Context {
        outputs: Outputs::new(Topics::new("t-"), "fulfil"),
        hub: "Hub".to_owned(),
    }
}

fn fulfilment() -> String {
    fulfilment_from_secret(b"secret", b"packet")
}

fn transfer(state: TransferState) -> TransferRecord {
    let preimage = decode_fulfilment(&fulfilment()).expect("a fulfilment");
    TransferRecord {
        transfer_id: t1(),
        kind: TransferKind::Transfer,
        payer_fsp: "payerfsp".to_owned(),
        payee_fsp: "payeefsp".to_owned(),
        payer_participant_id: Some(ParticipantId(1)),
        payee_participant_id: Some(ParticipantId(2)),
        payer_account_id: Some(PAYER_ACCOUNT),
        payee_account_id: Some(PAYEE_ACCOUNT),
        amount: Some(Decimal::from(100)),
        currency: ferroloop_core::currency::Currency::parse("USD")
            .unwrap()
            .into(),
        ilp_condition: Some(condition_for(&preimage)),
        expiration: Some(datetime!(2026-11-22 10:01:00)),
        state,
        state_changed_at: datetime!(2026-11-22 9:59:00),
    }
}

/// A payee response: `kind` with `body`, sent by `sender` as event `event`.
fn item(kind: Kind, body: &serde_json::Value, sender: &str, event: &str) -> Item {
    item_about(T1, kind, body, sender, event)
}

/// [`item`] about the transfer `id` names (decoded as the handler does: `None` when `id` is no
/// `TransferId`).
fn item_about(id: &str, kind: Kind, body: &serde_json::Value, sender: &str, event: &str) -> Item {
    let bytes = serde_json::to_vec(body).expect("json");
    let inbound = match kind {
        Kind::Abort => InboundKind::Error,
        Kind::Commit | Kind::Reserve | Kind::Reject => InboundKind::Fulfil,
    };
    let headers = BTreeMap::from([
        ("fspiop-source".to_owned(), sender.to_owned()),
        ("fspiop-destination".to_owned(), "payerfsp".to_owned()),
    ]);
    let envelope = inbound_envelope(&InboundRequest {
        kind: inbound,
        transfer_id: id,
        headers,
        body: &bytes,
        payer_payee: None,
        transfer_state: body["transferState"].as_str(),
        principal: Principal::new(sender, Authentication::Mtls),
    });
    Item {
        envelope,
        kind,
        transfer_id: TransferId::parse(id).ok(),
        hash: ferroloop_core::hash::request_hash(&bytes).expect("hash"),
        bytes,
        event_id: event.to_owned(),
        sender: sender.to_owned(),
    }
}

fn commit(fulfilment: &str, event: &str) -> Item {
    let body = serde_json::json!({
        "transferState": "COMMITTED",
        "fulfilment": fulfilment,
        "completedTimestamp": "2026-11-22T09:59:59.000Z",
    });
    item(Kind::Commit, &body, "payeefsp", event)
}

fn payee_error(event: &str) -> Item {
    let body = serde_json::json!({
        "errorInformation": {"errorCode": "5101", "errorDescription": "Payee transaction limit reached"}
    });
    item(Kind::Abort, &body, "payeefsp", event)
}

/// A snapshot with the transfer in `state` and `first` holding its kind's record.
fn snapshot(state: TransferState, first: &Item, stored_before: bool) -> Snapshot {
    let record = DuplicateRecord {
        request_hash: Some(first.hash),
        source_event_id: first.event_id.clone(),
        stored_before,
    };
    Snapshot {
        transfers: [(t1(), transfer(state))].into(),
        records: [(first.kind.duplicate_check(), [(t1(), record)].into())].into(),
        ..Snapshot::default()
    }
}

fn run(snapshot: &Snapshot, items: &[Item]) -> Plan<Writes> {
    context().decide(snapshot, items, NOW).expect("decides")
}

/// (topic, key, action, event code) of every output.
fn told(plan: &Plan<Writes>) -> Vec<(String, Option<String>, String, String)> {
    plan.outputs
        .iter()
        .map(|out| {
            let topic = out.topic.trim_start_matches("t-").to_owned();
            let envelope = Envelope::from_json_bytes(&out.payload).expect("an envelope");
            let code = envelope.metadata.event.state.code.to_string();
            (topic, out.key.clone(), envelope.action().to_owned(), code)
        })
        .collect()
}

fn one(
    topic: &str,
    key: Option<AccountId>,
    action: &str,
    code: &str,
) -> Vec<(String, Option<String>, String, String)> {
    vec![(
        topic.to_owned(),
        key.map(|k| k.to_string()),
        action.to_owned(),
        code.to_owned(),
    )]
}

const POSITION: &str = "topic-transfer-position";
const NOTIFICATION: &str = "topic-notification-event";

#[test]
fn a_valid_fulfilment_is_accepted_and_sent_to_the_payee_account() {
    let first = commit(&fulfilment(), "e1");
    let plan = run(
        &snapshot(TransferState::Reserved, &first, false),
        std::slice::from_ref(&first),
    );
    assert_eq!(plan.writes.changes[0].to, TransferState::ReceivedFulfil);
    assert_eq!(plan.writes.deciding[T1], "e1");
    assert_eq!(plan.writes.fulfilments.len(), 1);
    assert_eq!(
        told(&plan),
        one(POSITION, Some(PAYEE_ACCOUNT), action::COMMIT, "0")
    );
}

#[test]
fn an_invalid_fulfilment_makes_the_hub_abort() {
    let first = commit("bm90LXRoZS1yaWdodC1mdWxmaWxtZW50LW5vdC1pdC0", "e1");
    let plan = run(
        &snapshot(TransferState::Reserved, &first, false),
        std::slice::from_ref(&first),
    );
    assert_eq!(plan.writes.changes[0].to, TransferState::ReceivedError);
    assert_eq!(plan.writes.errors[0].error_code, 3100);
    assert_eq!(
        told(&plan),
        one(
            POSITION,
            Some(PAYER_ACCOUNT),
            action::ABORT_VALIDATION,
            "3100"
        )
    );
}

#[test]
fn a_fulfilment_after_the_expiration_is_3303_and_changes_nothing() {
    let first = commit(&fulfilment(), "e1");
    let snap = snapshot(TransferState::Reserved, &first, false);
    let late = datetime!(2026-11-22 10:02:00 UTC);
    let plan = context().decide(&snap, &[first], late).expect("decides");
    assert_eq!(plan.writes, Writes::default());
    assert_eq!(told(&plan), one(NOTIFICATION, None, action::COMMIT, "3303"));
}

#[test]
fn a_payee_error_aborts_through_the_payer_account() {
    let first = payee_error("e1");
    let plan = run(
        &snapshot(TransferState::Reserved, &first, false),
        std::slice::from_ref(&first),
    );
    assert_eq!(plan.writes.changes[0].to, TransferState::ReceivedError);
    assert_eq!(plan.writes.errors[0].error_code, 5101);
    assert_eq!(
        told(&plan),
        one(POSITION, Some(PAYER_ACCOUNT), action::ABORT, "5101")
    );
}

/// The screen: nobody but the payee answers, an error names the payer, ABORTED is refused,
/// a funds transfer or unknown id is "not found"; none of them claims the record.
#[test]
fn strangers_are_refused_before_the_duplicate_check() {
    let body = serde_json::json!({"transferState": "COMMITTED", "fulfilment": fulfilment()});
    let stranger = item(Kind::Commit, &body, "otherfsp", "e1");
    let case_variant = item(Kind::Commit, &body, "PayeeFsp", "e2");
    let rejected = item(
        Kind::Reject,
        &serde_json::json!({"transferState": "ABORTED"}),
        "payeefsp",
        "e3",
    );
    let mut wrong_destination = payee_error("e4");
    wrong_destination
        .envelope
        .content
        .headers
        .insert("fspiop-destination".to_owned(), "otherfsp".to_owned());
    let transfers = [(t1(), transfer(TransferState::Reserved))].into();
    for refused in [&stranger, &case_variant, &rejected, &wrong_destination] {
        assert!(
            matches!(screen(refused, &transfers), Screen::Refuse(..)),
            "{:?}",
            refused.kind
        );
    }
    let mut funds = transfer(TransferState::Reserved);
    funds.kind = TransferKind::FundsIn;
    let first = commit(&fulfilment(), "e5");
    assert!(matches!(
        screen(&first, &[(t1(), funds)].into()),
        Screen::Refuse(..)
    ));
    assert!(matches!(
        screen(&first, &HashMap::new()),
        Screen::Refuse(..)
    ));
    let snap = Snapshot {
        transfers,
        ..Snapshot::default()
    };
    let plan = run(
        &snap,
        &[stranger, case_variant, rejected, wrong_destination],
    );
    assert_eq!(plan.writes, Writes::default());
    assert!(
        told(&plan)
            .iter()
            .all(|(topic, _, _, code)| topic == NOTIFICATION && code == "3100")
    );
}

#[test]
fn a_v1_0_reserved_response_is_dropped() {
    let body = serde_json::json!({"transferState": "RESERVED", "fulfilment": fulfilment()});
    let mut reserved = item(Kind::Reserve, &body, "payeefsp", "e1");
    reserved.envelope.content.headers.insert(
        "content-type".to_owned(),
        "application/vnd.interoperability.transfers+json;version=1.0".to_owned(),
    );
    let snap = snapshot(TransferState::Reserved, &reserved, false);
    let plan = run(&snap, &[reserved]);
    assert!(plan.outputs.is_empty() && plan.writes == Writes::default());
}

/// A resend (another event) against every state: 3106 for another body; the state when the
/// transfer is committed or aborted; nothing while it is in flight.
#[test]
fn a_resend_against_every_state() {
    let first = commit(&fulfilment(), "e1");
    let resend = commit(&fulfilment(), "e2");
    let other_body = commit("b3RoZXItYm9keS1vdGhlci1ib2R5LW90aGVyLWJvZHk", "e3");
    for state in TransferState::ALL {
        let mut snap = snapshot(state, &first, true);
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
        let finished = Progress::of_payee_response(state) == Progress::Finished;
        let expected = if finished {
            one(NOTIFICATION, None, action::FULFIL_DUPLICATE, "0")
        } else {
            Vec::new()
        };
        assert_eq!(told(&plan), expected, "{state}");
        let plan = run(&snap, std::slice::from_ref(&other_body));
        assert_eq!(
            told(&plan),
            one(NOTIFICATION, None, action::FULFIL_DUPLICATE, "3106"),
            "{state}"
        );
        assert_eq!(plan.writes, Writes::default(), "{state}");
    }
}

#[test]
fn a_redelivery_repeats_its_output_only_while_the_transfer_is_where_it_left_it() {
    let first = commit(&fulfilment(), "e1");
    let snap = snapshot(TransferState::ReceivedFulfil, &first, true);
    let plan = run(&snap, std::slice::from_ref(&first));
    assert_eq!(
        told(&plan),
        one(POSITION, Some(PAYEE_ACCOUNT), action::COMMIT, "0")
    );
    assert_eq!(plan.writes, Writes::default());
    let snap = snapshot(TransferState::Committed, &first, true);
    assert!(
        run(&snap, std::slice::from_ref(&first)).outputs.is_empty(),
        "moved on: nothing"
    );
}

#[test]
fn a_replayed_fulfilment_repeats_the_hub_abort_from_the_recorded_error() {
    let first = commit("bm90LXRoZS1yaWdodC1mdWxmaWxtZW50LW5vdC1pdC0", "e1");
    let mut snap = snapshot(TransferState::ReceivedError, &first, true);
    snap.deciding
        .insert((t1(), TransferState::ReceivedError), "e1".to_owned());
    snap.errors.insert(
        t1(),
        TransferErrorRow {
            transfer_id: t1(),
            state: TransferState::ReceivedError,
            error_code: 3100,
            error_description: "Generic validation error - invalid fulfilment".to_owned(),
        },
    );
    let plan = run(&snap, std::slice::from_ref(&first));
    assert_eq!(
        told(&plan),
        one(
            POSITION,
            Some(PAYER_ACCOUNT),
            action::ABORT_VALIDATION,
            "3100"
        )
    );
}

#[test]
fn a_fulfilment_after_the_payees_own_error_is_modified() {
    let first = commit(&fulfilment(), "e2");
    let mut snap = snapshot(TransferState::ReceivedError, &first, false);
    snap.deciding
        .insert((t1(), TransferState::ReceivedError), "e1".to_owned());
    let plan = run(&snap, std::slice::from_ref(&first));
    assert_eq!(
        told(&plan),
        one(NOTIFICATION, None, action::FULFIL_DUPLICATE, "3106")
    );
}

#[test]
fn the_same_message_twice_in_one_batch_is_decided_once() {
    let first = commit(&fulfilment(), "e1");
    let snap = snapshot(TransferState::Reserved, &first, false);
    let plan = run(&snap, &[first.clone(), first]);
    assert_eq!(plan.writes.changes.len(), 1);
    assert_eq!(plan.outputs.len(), 1);
}

/// An id that is no `TransferId` names no transfer: every kind of response with one is answered
/// exactly as one about an unknown transfer (2001 to the sender, nothing written, no record
/// claimed), and a v1.0 RESERVED one is dropped all the same.
#[test]
fn an_id_that_is_no_transfer_id_is_answered_like_an_unknown_transfer() {
    const UNKNOWN: &str = "c0ffee00-ee48-4575-b6a9-ead2955b8069";
    let unparseable = [
        ("text", "not-a-transfer-id"),
        ("empty", ""),
        ("uppercase UUID", "B51EC534-EE48-4575-B6A9-EAD2955B8069"),
        ("UUID version 8", "b51ec534-ee48-8575-b6a9-ead2955b8069"),
        ("lowercase ULID", "01jebs69vk6aea8tgaje3za9eh"),
        ("too long", "b51ec534-ee48-4575-b6a9-ead2955b80690"),
    ];
    let fulfil = serde_json::json!({"transferState": "COMMITTED", "fulfilment": fulfilment()});
    let reserve = serde_json::json!({"transferState": "RESERVED", "fulfilment": fulfilment()});
    let reject = serde_json::json!({"transferState": "ABORTED"});
    let error = serde_json::json!({
        "errorInformation": {"errorCode": "5101", "errorDescription": "Payee limit reached"}
    });
    let kinds = [
        (Kind::Commit, &fulfil),
        (Kind::Reserve, &reserve),
        (Kind::Reject, &reject),
        (Kind::Abort, &error),
    ];
    // The transfer T1 exists and is RESERVED: neither id reaches it.
    let snap = Snapshot {
        transfers: [(t1(), transfer(TransferState::Reserved))].into(),
        ..Snapshot::default()
    };
    for (what, text) in unparseable {
        assert!(TransferId::parse(text).is_err(), "{what}");
        for (kind, body) in kinds {
            let bad = item_about(text, kind, body, "payeefsp", "e1");
            let unknown = item_about(UNKNOWN, kind, body, "payeefsp", "e1");
            assert_eq!(bad.transfer_id, None, "{what}");
            assert_eq!(
                screen(&bad, &snap.transfers),
                screen(&unknown, &snap.transfers)
            );
            let (bad_plan, unknown_plan) = (run(&snap, &[bad]), run(&snap, &[unknown]));
            assert_eq!(told(&bad_plan), told(&unknown_plan), "{what} {kind:?}");
            assert_eq!(
                told(&bad_plan),
                one(NOTIFICATION, None, action::COMMIT, "2001")
            );
            assert_eq!(bad_plan.counts, unknown_plan.counts, "{what} {kind:?}");
            assert_eq!(bad_plan.writes, Writes::default(), "{what} {kind:?}");
        }
        let mut v1_0 = item_about(text, Kind::Reserve, &reserve, "payeefsp", "e1");
        v1_0.envelope.content.headers.insert(
            "content-type".to_owned(),
            "application/vnd.interoperability.transfers+json;version=1.0".to_owned(),
        );
        assert_eq!(screen(&v1_0, &snap.transfers), Screen::Drop, "{what}");
        let plan = run(&snap, &[v1_0]);
        assert!(plan.outputs.is_empty() && plan.writes == Writes::default());
    }
}
