//! GET answers: party, stranger (exact names), unknown id, funds transfer, inactive requester.

use std::collections::BTreeMap;

use ferroloop_core::state::TransferState;
use ferroloop_messaging::events::{InboundKind, InboundRequest, inbound_envelope};
use ferroloop_messaging::{Authentication, Principal, Topics};
use time::macros::datetime;

use super::*;

const T1: &str = "b51ec534-ee48-4575-b6a9-ead2955b8069";

fn t1() -> TransferId {
    TransferId::parse(T1).unwrap()
}

fn context() -> Context {
    Context {
        outputs: Outputs::new(Topics::new("t-"), "get"),
        hub: "Hub".to_owned(),
    }
}

fn get(requester: &str) -> Item {
    let envelope = inbound_envelope(&InboundRequest {
        kind: InboundKind::Get,
        transfer_id: T1,
        headers: BTreeMap::from([("fspiop-source".to_owned(), requester.to_owned())]),
        body: b"",
        payer_payee: None,
        transfer_state: None,
        principal: Principal::new(requester, Authentication::Mtls),
    });
    Item {
        envelope,
        requester: requester.to_owned(),
    }
}

fn participant(name: &str, is_active: bool) -> (String, Arc<ParticipantRecord>) {
    let record = ParticipantRecord {
        participant_id: ferroloop_core::ledger_id::ParticipantId(1),
        name: name.to_owned(),
        is_active,
        is_hub: false,
        accounts: Vec::new(),
    };
    (name.to_owned(), Arc::new(record))
}

fn snapshot(kind: TransferKind) -> Snapshot {
    let record = TransferRecord {
        transfer_id: t1(),
        kind,
        payer_fsp: "payerfsp".to_owned(),
        payee_fsp: "payeefsp".to_owned(),
        payer_participant_id: None,
        payee_participant_id: None,
        payer_account_id: None,
        payee_account_id: None,
        amount: None,
        currency: ferroloop_core::currency::Currency::parse("USD")
            .unwrap()
            .into(),
        ilp_condition: None,
        expiration: None,
        state: TransferState::Committed,
        state_changed_at: datetime!(2026-11-22 10:00:00),
    };
    let view = TransferView {
        state: TransferState::Committed,
        state_changed_at: datetime!(2026-11-22 10:00:00 UTC),
        fulfilment: None,
        prepare_extensions: Vec::new(),
        fulfil_extensions: Vec::new(),
        error: None,
    };
    Snapshot {
        requesters: ["payerfsp", "payeefsp", "otherfsp", "PayerFsp"]
            .into_iter()
            .map(|name| participant(name, true))
            .chain([participant("inactivefsp", false)])
            .collect(),
        views: [(t1(), (record, view))].into(),
    }
}

/// (addressee, event code) of the one answer, or None.
fn answer(snapshot: &Snapshot, item: Item) -> Option<(String, String)> {
    let now = datetime!(2026-11-22 10:00:01 UTC);
    let plan = context().decide(snapshot, &[item], now).expect("decides");
    assert!(plan.outputs.len() <= 1);
    plan.outputs.first().map(|out| {
        let envelope = Envelope::from_json_bytes(&out.payload).expect("an envelope");
        (envelope.to, envelope.metadata.event.state.code.to_string())
    })
}

#[test]
fn every_row_of_the_get_table() {
    let transfer = snapshot(TransferKind::Transfer);
    let rows = [
        ("payerfsp", Some("0")),
        ("payeefsp", Some("0")),
        ("otherfsp", Some("3000")),
        // Names compare exactly: a case variant is somebody else.
        ("PayerFsp", Some("3000")),
        ("inactivefsp", None),
        ("unknownfsp", None),
    ];
    for (who, code) in rows {
        let expected = code.map(|c| (who.to_owned(), c.to_owned()));
        assert_eq!(answer(&transfer, get(who)), expected, "{who}");
    }
    let mut missing = transfer.clone();
    missing.views.clear();
    assert_eq!(
        answer(&missing, get("payerfsp")),
        Some(("payerfsp".to_owned(), "3208".to_owned()))
    );
    let funds = snapshot(TransferKind::FundsIn);
    assert_eq!(
        answer(&funds, get("payerfsp")),
        Some(("payerfsp".to_owned(), "3208".to_owned()))
    );
}
