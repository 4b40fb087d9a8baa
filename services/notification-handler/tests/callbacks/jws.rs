//! Hub signatures on hub-originated callbacks; DFSP signatures on forwarded ones.

use std::time::Duration;

use ferroloop_fspiop::jws::{self, SignedForm, VerifyingKey};
use ferroloop_messaging::EventState;
use ferroloop_messaging::events::{self, action, event_type};
use time::OffsetDateTime;

use crate::harness::*;

#[tokio::test]
async fn hub_callbacks_are_signed_and_forwarded_ones_keep_the_dfsps_signature() {
    let payer = Sim::start().await;
    let payee = Sim::start().await;
    let mut h = Harness::start_with(|c| {
        c.jws_sign = true;
        c.jws_signing_key_path =
            Some(testdata_path("test-only-keys/sdk-standard-components_jwsSigningKey.pem").into());
    })
    .await;
    h.dfsp("payerfsp", &payer).await;
    h.dfsp("payeefsp", &payee).await;
    let public = VerifyingKey::from_pem(
        &std::fs::read_to_string(testdata_path(
            "test-only-keys/sdk-standard-components_jwsValidationKey.pem",
        ))
        .unwrap(),
    )
    .unwrap();

    let id = new_id();
    let bytes = prepare_bytes(
        &id,
        "payerfsp",
        "payeefsp",
        OffsetDateTime::now_utc() + Duration::from_secs(60),
    );
    let inbound = prepare_inbound(&id, "payerfsp", "payeefsp", &bytes);
    let view = committed_view(None);
    h.send(&[
        prepare_notification(&inbound),
        events::HubMessage {
            to: "payerfsp",
            event_type: event_type::NOTIFICATION,
            action: action::PREPARE_DUPLICATE.into(),
            state: EventState::success(),
            payload: events::json_payload(&view.to_state_body()),
            parties: None,
        }
        .answering(&inbound, HUB),
    ])
    .await;

    let forwarded = payee.one("/payeefsp/transfers").await;
    assert_eq!(
        forwarded.header("fspiop-signature"),
        dfsp_headers("payerfsp", None)
            .get("fspiop-signature")
            .map(String::as_str)
    );
    let answer = payer.one(&id).await;
    assert_eq!(answer.header_names(), hub_header_names(true));
    let form = jws::verify_detailed(&answer.body, &answer.headers, &public)
        .expect("the hub's signature verifies with the hub's public key");
    // The hub's body is canonical JSON: raw and SDK (canonical) validation agree.
    assert_eq!(form, SignedForm::Raw);
}
