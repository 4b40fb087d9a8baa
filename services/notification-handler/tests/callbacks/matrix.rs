//! Every row of the callback matrix: method, URL, body bytes and headers.

use std::time::Duration;

use ferroloop_core::api::{Extension, ExtensionList, PatchBody};
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::state::ApiTransferState;
use ferroloop_fspiop::headers::ProtocolVersion;
use ferroloop_messaging::EventState;
use ferroloop_messaging::events::{self, action, event_type};
use ferroloop_store::transfers::{self, DuplicateCheck, NewTransfer, TransferKind, TransferRecord};
use serde_json::json;
use time::OffsetDateTime;

use crate::harness::*;

const PAYER: &str = "payerfsp";
const PAYEE: &str = "payeefsp";
const FULFILMENT: &str = "UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA";

/// A harness with a payer and a payee, each on its own simulator.
async fn two_dfsps(
    edit: impl FnOnce(&mut ferroloop_notification_handler::Config),
) -> (Harness, Sim, Sim) {
    let payer = Sim::start().await;
    let payee = Sim::start().await;
    let h = Harness::start_with(edit).await;
    h.dfsp(PAYER, &payer).await;
    h.dfsp(PAYEE, &payee).await;
    (h, payer, payee)
}

fn fulfil_bytes() -> Vec<u8> {
    // Not canonical on purpose: forwarded bodies must arrive byte for byte.
    format!(
        "{{\"transferState\": \"COMMITTED\",  \"fulfilment\": \"{FULFILMENT}\", \"completedTimestamp\": \"2026-11-22T08:00:00.000Z\"}}"
    )
    .into_bytes()
}

fn payee_error_bytes() -> Vec<u8> {
    br#"{ "errorInformation": {"errorDescription": "Payee FSP rejected", "errorCode": "5101"} }"#
        .to_vec()
}

#[tokio::test]
async fn prepare_is_forwarded_to_the_payee_byte_for_byte() {
    let (mut h, payer, payee) = two_dfsps(|_| {}).await;
    let id = new_id();
    let bytes = prepare_bytes(
        &id,
        PAYER,
        PAYEE,
        OffsetDateTime::now_utc() + Duration::from_secs(60),
    );
    let inbound = prepare_inbound(&id, PAYER, PAYEE, &bytes);
    h.send(&[prepare_notification(&inbound)]).await;

    let request = payee.one("/payeefsp/transfers").await;
    assert_eq!(request.path, "/payeefsp/transfers");
    assert_eq!(request.body.as_ref(), bytes.as_slice());
    assert_forwarded_headers(
        &request,
        &dfsp_headers(PAYER, Some(PAYEE)),
        "POST",
        "/transfers",
    );
    // POST keeps the payer's Accept and its signature; the credentials stay behind.
    assert_eq!(
        request.header("accept"),
        Some("application/vnd.interoperability.transfers+json;version=1")
    );
    assert_eq!(
        request.header("fspiop-signature"),
        dfsp_headers(PAYER, None)
            .get("fspiop-signature")
            .map(String::as_str)
    );
    assert!(request.header("authorization").is_none());
    h.wait_processed().await;
    assert!(payer.requests().is_empty());
    assert_eq!(
        h.metric(
            "ferroloop_callbacks_total",
            &[("kind", "post"), ("outcome", "delivered")]
        )
        .await,
        1
    );
}

#[tokio::test]
async fn hub_answers_go_to_to_with_hub_headers_and_hub_bodies() {
    let (mut h, payer, payee) = two_dfsps(|_| {}).await;
    let now = OffsetDateTime::now_utc();
    let view = committed_view(Some(FULFILMENT));
    let state_body = serde_json::to_value(view.to_state_body()).unwrap();
    let mut sent = Vec::new();
    let mut expected = Vec::new(); // (sim is payer?, id, kind, body)

    // prepare error → PUT /error to the payer; the `cause` extension is stripped, others stay.
    let id = new_id();
    let inbound = prepare_inbound(&id, PAYER, PAYEE, &prepare_bytes(&id, PAYER, PAYEE, now));
    let with_cause = FspiopError::with_detail(ErrorCode::VALIDATION_ERROR, "bad")
        .with_extension_list(ExtensionList {
            extension: vec![
                Extension {
                    key: "cause".into(),
                    value: "Error: at stack".into(),
                },
                Extension {
                    key: "k".into(),
                    value: "v".into(),
                },
            ],
        });
    sent.push(
        events::HubMessage::fspiop_error(PAYER, action::PREPARE, &with_cause)
            .answering(&inbound, HUB),
    );
    let mut stripped = serde_json::to_value(with_cause.to_body()).unwrap();
    stripped["errorInformation"]["extensionList"]["extension"] =
        json!([{"key": "k", "value": "v"}]);
    expected.push((true, id.clone(), "error", canonical(&stripped)));

    // prepare-duplicate → PUT to the payer with the state.
    let id = new_id();
    let inbound = prepare_inbound(&id, PAYER, PAYEE, &prepare_bytes(&id, PAYER, PAYEE, now));
    sent.push(
        events::HubMessage {
            to: PAYER,
            event_type: event_type::NOTIFICATION,
            action: action::PREPARE_DUPLICATE.into(),
            state: EventState::success(),
            payload: events::json_payload(&view.to_state_body()),
            parties: None,
        }
        .answering(&inbound, HUB),
    );
    expected.push((true, id.clone(), "put", canonical(&state_body)));

    // commit error (from the fulfil handler) → PUT /error to the sender.
    let id = new_id();
    let fulfil = fulfil_inbound(&id, PAYEE, Some(PAYER), &fulfil_bytes(), "COMMITTED");
    let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
    sent.push(
        events::HubMessage::fspiop_error(PAYEE, action::COMMIT, &expired).answering(&fulfil, HUB),
    );
    expected.push((false, id.clone(), "error", error_bytes(&expired)));

    // fulfil-duplicate: success → state; error → error.
    for (duplicate, inbound_of) in [
        (action::FULFIL_DUPLICATE, "fulfil"),
        (action::ABORT_DUPLICATE, "error"),
    ] {
        let id = new_id();
        let inbound = if inbound_of == "fulfil" {
            fulfil_inbound(&id, PAYEE, Some(PAYER), &fulfil_bytes(), "COMMITTED")
        } else {
            error_inbound(&id, PAYEE, Some(PAYER), &payee_error_bytes())
        };
        sent.push(
            events::HubMessage {
                to: PAYEE,
                event_type: event_type::NOTIFICATION,
                action: duplicate.into(),
                state: EventState::success(),
                payload: events::json_payload(&view.to_state_body()),
                parties: None,
            }
            .answering(&inbound, HUB),
        );
        expected.push((false, id.clone(), "put", canonical(&state_body)));
        let id = new_id();
        let inbound = fulfil_inbound(&id, PAYEE, Some(PAYER), &fulfil_bytes(), "COMMITTED");
        let modified = FspiopError::new(ErrorCode::MODIFIED_REQUEST);
        sent.push(
            events::HubMessage::fspiop_error(PAYEE, duplicate, &modified).answering(&inbound, HUB),
        );
        expected.push((false, id.clone(), "error", error_bytes(&modified)));
    }

    // get: success → state to the requester; error → 3208.
    let id = new_id();
    let get = get_inbound(&id, PAYEE);
    sent.push(
        events::HubMessage {
            to: PAYEE,
            event_type: event_type::NOTIFICATION,
            action: action::GET.into(),
            state: EventState::success(),
            payload: events::json_payload(&view.to_state_body()),
            parties: None,
        }
        .answering(&get, HUB),
    );
    expected.push((false, id.clone(), "put", canonical(&state_body)));
    let id = new_id();
    let get = get_inbound(&id, PAYER);
    let not_found = FspiopError::with_detail(
        ErrorCode::TRANSFER_ID_NOT_FOUND,
        "Provided Transfer ID was not found on the server.",
    );
    sent.push(
        events::HubMessage::fspiop_error(PAYER, action::GET, &not_found).answering(&get, HUB),
    );
    expected.push((true, id.clone(), "error", error_bytes(&not_found)));

    // timeout-received → PUT /error 3303 to the payer.
    let id = new_id();
    sent.push(
        events::HubMessage {
            to: PAYER,
            event_type: event_type::NOTIFICATION,
            action: action::TIMEOUT_RECEIVED.into(),
            state: EventState::error(3303, expired.description()),
            payload: events::json_payload(&expired.to_body()),
            parties: None,
        }
        .about(&transfer_id(&id), HUB),
    );
    expected.push((true, id.clone(), "error", error_bytes(&expired)));

    h.send(&sent).await;
    for (to_payer, id, kind, body) in expected {
        let (sim, name) = if to_payer {
            (&payer, PAYER)
        } else {
            (&payee, PAYEE)
        };
        let request = sim.one(&id).await;
        let (path, uri) = if kind == "error" {
            (
                format!("/{name}/transfers/{id}/error"),
                format!("/transfers/{id}/error"),
            )
        } else {
            (
                format!("/{name}/transfers/{id}"),
                format!("/transfers/{id}"),
            )
        };
        assert_eq!(request.path, path);
        assert_hub_headers(&request, name, "PUT", &uri);
        assert_eq!(
            String::from_utf8_lossy(&request.body),
            String::from_utf8_lossy(&body),
            "{kind} {path}"
        );
        assert!(request.json().get("transferId").is_none());
    }
    h.wait_processed().await;
    // Nothing else was sent.
    assert_eq!(payer.requests().len() + payee.requests().len(), 10);
}

#[tokio::test]
async fn commit_and_abort_are_forwarded_to_the_payer_and_confirmed_to_the_payee() {
    let (mut h, payer, payee) = two_dfsps(|_| {}).await;
    let commit_id = new_id();
    let fulfil = fulfil_inbound(&commit_id, PAYEE, Some(PAYER), &fulfil_bytes(), "COMMITTED");
    let abort_id = new_id();
    let error = error_inbound(&abort_id, PAYEE, Some(PAYER), &payee_error_bytes());
    h.send(&[
        commit_notification(&fulfil),
        abort_notification(&error, 5101, "Payee FSP rejected"),
    ])
    .await;

    // The payer gets the payee's own message: its headers and exact bytes.
    let put = payer.one(&commit_id).await;
    assert_eq!(put.path, format!("/payerfsp/transfers/{commit_id}"));
    assert_eq!(put.body.as_ref(), fulfil_bytes().as_slice());
    let payee_headers = dfsp_headers(PAYEE, Some(PAYER));
    assert_forwarded_headers(
        &put,
        &payee_headers,
        "PUT",
        &format!("/transfers/{commit_id}"),
    );
    assert!(put.header("accept").is_none());
    let put_error = payer.one(&abort_id).await;
    assert_eq!(
        put_error.path,
        format!("/payerfsp/transfers/{abort_id}/error")
    );
    assert_eq!(put_error.body.as_ref(), payee_error_bytes().as_slice());
    assert_forwarded_headers(
        &put_error,
        &payee_headers,
        "PUT",
        &format!("/transfers/{abort_id}/error"),
    );

    // The payee gets the same bytes from the hub.
    let copy = payee.one(&commit_id).await;
    assert_eq!(copy.path, format!("/payeefsp/transfers/{commit_id}"));
    assert_eq!(copy.body.as_ref(), fulfil_bytes().as_slice());
    assert_hub_headers(&copy, PAYEE, "PUT", &format!("/transfers/{commit_id}"));
    let error_copy = payee.one(&abort_id).await;
    assert_eq!(
        error_copy.path,
        format!("/payeefsp/transfers/{abort_id}/error")
    );
    assert_eq!(error_copy.body.as_ref(), payee_error_bytes().as_slice());
    assert_hub_headers(
        &error_copy,
        PAYEE,
        "PUT",
        &format!("/transfers/{abort_id}/error"),
    );

    h.wait_processed().await;
    assert_eq!(payer.requests().len(), 2);
    assert_eq!(payee.requests().len(), 2);
}

#[tokio::test]
async fn without_the_confirmation_flag_only_the_payer_hears() {
    let (mut h, payer, payee) = two_dfsps(|c| c.send_transfer_confirmation_to_payee = false).await;
    let commit_id = new_id();
    let fulfil = fulfil_inbound(&commit_id, PAYEE, Some(PAYER), &fulfil_bytes(), "COMMITTED");
    let abort_id = new_id();
    let error = error_inbound(&abort_id, PAYEE, Some(PAYER), &payee_error_bytes());
    h.send(&[
        commit_notification(&fulfil),
        abort_notification(&error, 5101, "Payee FSP rejected"),
    ])
    .await;
    payer.one(&commit_id).await;
    payer.one(&abort_id).await;
    // Both messages went through their batch: every callback they make had its first attempt.
    h.wait_processed().await;
    assert!(payee.requests().is_empty(), "{:#?}", payee.requests());
}

#[tokio::test]
async fn a_commit_without_destination_goes_to_the_transfers_payer() {
    let (mut h, payer, payee) = two_dfsps(|_| {}).await;
    let id = new_id();
    // The transfer as the prepare handler stored it.
    let mut conn = h.db.pool.acquire().await.unwrap();
    transfers::claim_duplicate_checks(
        &mut conn,
        DuplicateCheck::Prepare,
        &[(transfer_id(&id), [7; 32], "e")],
    )
    .await
    .unwrap();
    let now = ferroloop_store::db_time(OffsetDateTime::now_utc());
    transfers::insert_transfers(
        &mut conn,
        &[NewTransfer {
            record: TransferRecord {
                transfer_id: transfer_id(&id),
                kind: TransferKind::Transfer,
                payer_fsp: PAYER.into(),
                payee_fsp: PAYEE.into(),
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
                state: ferroloop_core::state::TransferState::ReceivedPrepare,
                state_changed_at: now,
            },
            reason: None,
        }],
    )
    .await
    .unwrap();
    drop(conn);
    // The payee's PUT named no FSPIOP-Destination: the message's `to` is empty.
    let fulfil = fulfil_inbound(&id, PAYEE, None, &fulfil_bytes(), "COMMITTED");
    let notification = commit_notification(&fulfil);
    assert_eq!(notification.to, "");
    h.send(&[notification]).await;
    let put = payer.one(&id).await;
    assert_eq!(put.path, format!("/payerfsp/transfers/{id}"));
    assert_eq!(put.body.as_ref(), fulfil_bytes().as_slice());
    let copy = payee.one(&id).await;
    assert_hub_headers(&copy, PAYEE, "PUT", &format!("/transfers/{id}"));
}

#[tokio::test]
async fn reserve_commits_to_the_payer_and_patches_the_payee() {
    let (mut h, payer, payee) = two_dfsps(|_| {}).await;
    let id = new_id();
    let reserved = fulfil_bytes();
    let fulfil = fulfil_inbound(&id, PAYEE, Some(PAYER), &reserved, "RESERVED");
    let position = events::forward(&fulfil, event_type::POSITION, action::RESERVE);
    let view = committed_view(Some(FULFILMENT));
    // As the position handler builds it after the commit.
    h.send(&[events::HubMessage {
        to: PAYER,
        event_type: event_type::NOTIFICATION,
        action: action::RESERVE.into(),
        state: EventState::success(),
        payload: events::json_payload(&view.to_state_body()),
        parties: Some((PAYER, PAYEE)),
    }
    .answering(&position, HUB)])
        .await;

    let state = serde_json::to_value(view.to_state_body()).unwrap();
    let put = payer.one(&id).await;
    assert_eq!(put.path, format!("/payerfsp/transfers/{id}"));
    assert_hub_headers(&put, PAYER, "PUT", &format!("/transfers/{id}"));
    assert_eq!(put.body.as_ref(), canonical(&state).as_slice());
    assert_eq!(put.json()["transferState"], "COMMITTED");
    assert_eq!(put.json()["fulfilment"], FULFILMENT);

    let patch = payee.one(&id).await;
    assert_eq!(patch.path, format!("/payeefsp/transfers/{id}"));
    assert_hub_headers(&patch, PAYEE, "PATCH", &format!("/transfers/{id}"));
    let mut without_fulfilment = state.clone();
    without_fulfilment
        .as_object_mut()
        .unwrap()
        .remove("fulfilment");
    assert_eq!(
        patch.body.as_ref(),
        canonical(&without_fulfilment).as_slice()
    );
    h.wait_processed().await;
    assert_eq!(payer.requests().len() + payee.requests().len(), 2);
}

#[tokio::test]
async fn hub_aborts_and_timeouts_reach_both_sides() {
    let (mut h, payer, payee) = two_dfsps(|_| {}).await;
    // abort-validation: the fulfil handler → position handler → notification.
    let av_id = new_id();
    let fulfil = fulfil_inbound(&av_id, PAYEE, Some(PAYER), &fulfil_bytes(), "COMMITTED");
    let invalid = FspiopError::with_detail(ErrorCode::VALIDATION_ERROR, "invalid fulfilment");
    let to_position = events::HubMessage {
        to: PAYER,
        event_type: event_type::POSITION,
        action: action::ABORT_VALIDATION.into(),
        state: EventState::error(3100, invalid.description()),
        payload: events::json_payload(&invalid.to_body()),
        parties: Some((PAYER, PAYEE)),
    }
    .answering(&fulfil, HUB);
    let abort_validation = events::forward_keeping_state(
        &to_position,
        event_type::NOTIFICATION,
        action::ABORT_VALIDATION,
    );
    // timeout-reserved: the timeout handler → position handler → notification.
    let tr_id = new_id();
    let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
    let to_position = events::HubMessage {
        to: PAYER,
        event_type: event_type::POSITION,
        action: action::TIMEOUT_RESERVED.into(),
        state: EventState::error(3303, expired.description()),
        payload: events::json_payload(&expired.to_body()),
        parties: Some((PAYER, PAYEE)),
    }
    .about(&transfer_id(&tr_id), HUB);
    let timeout_reserved = events::forward_keeping_state(
        &to_position,
        event_type::NOTIFICATION,
        action::TIMEOUT_RESERVED,
    );
    // reserved-aborted: the fulfil handler's PATCH to a payee that answered RESERVED.
    let ra_id = new_id();
    let reserve = fulfil_inbound(&ra_id, PAYEE, Some(PAYER), &fulfil_bytes(), "RESERVED");
    let mut patch = PatchBody::new(OffsetDateTime::now_utc(), ApiTransferState::Aborted);
    patch.extension_list = Some(ExtensionList {
        extension: vec![Extension {
            key: "cause".into(),
            value: "3100: Generic validation error - invalid fulfilment".into(),
        }],
    });
    let reserved_aborted = events::HubMessage {
        to: PAYEE,
        event_type: event_type::NOTIFICATION,
        action: action::RESERVED_ABORTED.into(),
        state: EventState::success(),
        payload: events::json_payload(&patch),
        parties: Some((PAYER, PAYEE)),
    }
    .answering(&reserve, HUB);
    h.send(&[abort_validation, timeout_reserved, reserved_aborted])
        .await;

    for (id, error) in [(&av_id, &invalid), (&tr_id, &expired)] {
        for (sim, name) in [(&payer, PAYER), (&payee, PAYEE)] {
            let request = sim.one(id).await;
            assert_eq!(request.path, format!("/{name}/transfers/{id}/error"));
            assert_hub_headers(&request, name, "PUT", &format!("/transfers/{id}/error"));
            assert_eq!(request.body.as_ref(), error_bytes(error).as_slice());
        }
    }
    let request = payee.one(&ra_id).await;
    assert_eq!(request.path, format!("/payeefsp/transfers/{ra_id}"));
    assert_hub_headers(&request, PAYEE, "PATCH", &format!("/transfers/{ra_id}"));
    // A state body, not an error: its cause extension is the reason and stays.
    assert_eq!(
        request.body.as_ref(),
        canonical(&serde_json::to_value(&patch).unwrap()).as_slice()
    );
    h.wait_processed().await;
    assert!(payer.requests_for(&ra_id).is_empty());
    assert_eq!(payer.requests().len() + payee.requests().len(), 5);
}

#[tokio::test]
async fn content_version_1_0_sends_no_patch() {
    let (mut h, payer, payee) = two_dfsps(|c| c.protocol_version = ProtocolVersion::V1_0).await;
    let ra_id = new_id();
    let reserve = fulfil_inbound(&ra_id, PAYEE, Some(PAYER), &fulfil_bytes(), "RESERVED");
    let patch = PatchBody::new(OffsetDateTime::now_utc(), ApiTransferState::Aborted);
    let tr_id = new_id();
    let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
    h.send(&[
        events::HubMessage {
            to: PAYEE,
            event_type: event_type::NOTIFICATION,
            action: action::RESERVED_ABORTED.into(),
            state: EventState::success(),
            payload: events::json_payload(&patch),
            parties: Some((PAYER, PAYEE)),
        }
        .answering(&reserve, HUB),
        events::HubMessage {
            to: PAYER,
            event_type: event_type::NOTIFICATION,
            action: action::TIMEOUT_RECEIVED.into(),
            state: EventState::error(3303, expired.description()),
            payload: events::json_payload(&expired.to_body()),
            parties: None,
        }
        .about(&transfer_id(&tr_id), HUB),
    ])
    .await;
    let request = payer.one(&tr_id).await;
    assert_hub_headers_versioned(
        &request,
        PAYER,
        "PUT",
        &format!("/transfers/{tr_id}/error"),
        "1.0",
    );
    h.wait_processed().await;
    assert!(payee.requests().is_empty());
    assert_eq!(
        h.metric(
            "ferroloop_notifications_total",
            &[("action", "reserved-aborted"), ("outcome", "skipped")]
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_hub_commit_redriven_by_the_timeout_handler_is_sent_as_the_hubs() {
    let (mut h, payer, payee) = two_dfsps(|_| {}).await;
    let id = new_id();
    let view = committed_view(Some(FULFILMENT));
    // The payee's message was lost: the timeout handler reports the commit in its own words.
    let to_position = events::HubMessage {
        to: PAYER,
        event_type: event_type::POSITION,
        action: action::COMMIT.into(),
        state: EventState::success(),
        payload: events::json_payload(&view.to_state_body()),
        parties: Some((PAYER, PAYEE)),
    }
    .about(&transfer_id(&id), HUB);
    h.send(&[events::forward(
        &to_position,
        event_type::NOTIFICATION,
        action::COMMIT,
    )])
    .await;
    let body = canonical(&serde_json::to_value(view.to_state_body()).unwrap());
    let put = payer.one(&id).await;
    assert_hub_headers(&put, PAYER, "PUT", &format!("/transfers/{id}"));
    assert_eq!(put.body.as_ref(), body.as_slice());
    let copy = payee.one(&id).await;
    assert_hub_headers(&copy, PAYEE, "PUT", &format!("/transfers/{id}"));
    assert_eq!(copy.body.as_ref(), body.as_slice());
}

#[tokio::test]
async fn unknown_actions_and_broken_messages_are_counted_and_skipped() {
    let (mut h, payer, _payee) = two_dfsps(|_| {}).await;
    let id = new_id();
    let mut odd = events::HubMessage {
        to: PAYER,
        event_type: event_type::NOTIFICATION,
        action: "bogus-action".into(),
        state: EventState::success(),
        payload: events::json_payload(&json!({})),
        parties: None,
    }
    .about(&transfer_id(&id), HUB);
    odd.metadata.event.action = "bogus-action".into();
    h.send(&[odd]).await;
    h.send_raw(vec![b"not an envelope".to_vec()]).await;
    // The handler moves on: a later message is answered.
    let after = new_id();
    let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
    h.send(&[events::HubMessage {
        to: PAYER,
        event_type: event_type::NOTIFICATION,
        action: action::TIMEOUT_RECEIVED.into(),
        state: EventState::error(3303, expired.description()),
        payload: events::json_payload(&expired.to_body()),
        parties: None,
    }
    .about(&transfer_id(&after), HUB)])
        .await;
    payer.one(&after).await;
    h.wait_processed().await;
    assert!(payer.requests_for(&id).is_empty());
    assert_eq!(
        h.metric(
            "ferroloop_notifications_total",
            &[("action", "other"), ("outcome", "unknown_action")]
        )
        .await,
        1
    );
    assert_eq!(
        h.metric(
            "ferroloop_notifications_total",
            &[("outcome", "undecodable")]
        )
        .await,
        1
    );
}
