//! Mojaloop's event vocabulary (docs/fspiop-api.md#event-types-and-actions) and the builders
//! handlers use to turn the message they consumed into the message they produce.
//!
//! Two kinds of output exist:
//! - *forwarded*: the DFSP's original content (headers and body bytes) travels on, so the
//!   counterparty receives the original bytes and signature;
//! - *from switch*: the hub speaks (`from` = hub name, headers rewritten, payload built by the
//!   hub, the original body dropped so no callback can carry it by mistake).

use std::collections::BTreeMap;

use ferroloop_core::api::{ErrorInformation, ErrorInformationObject};
use ferroloop_core::error::FspiopError;
use ferroloop_core::id::TransferId;
use serde::Serialize;

use crate::action::Action;
use crate::envelope::{
    Content, Context, Envelope, Event, EventState, Metadata, Payload, Principal, UriParams, now_iso,
};

/// `metadata.event.type` values.
pub mod event_type {
    pub const PREPARE: &str = "prepare";
    pub const FULFIL: &str = "fulfil";
    pub const POSITION: &str = "position";
    pub const NOTIFICATION: &str = "notification";
    pub const GET: &str = "get";
    pub const TRANSFER: &str = "transfer";
}

/// `metadata.event.action` values used by the transfer flow.
pub use crate::action::names as action;

/// The media type hub-built messages carry (FSPIOP transfers resource, v1.1 bodies).
pub const HUB_CONTENT_TYPE: &str = "application/vnd.interoperability.transfers+json;version=1.1";

/// The original message, re-addressed as the next event with the same content.
pub fn forward(original: &Envelope, event_type: &str, action: impl Into<Action>) -> Envelope {
    original.next_event(event_type, action, EventState::success())
}

/// Like [`forward`] but keeps the consumed event's state (an error decided upstream travels on).
pub fn forward_keeping_state(
    original: &Envelope,
    event_type: &str,
    action: impl Into<Action>,
) -> Envelope {
    original.next_event(event_type, action, original.metadata.event.state.clone())
}

/// Headers of a message the hub originates.
pub fn hub_headers(hub: &str, destination: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("content-type".to_owned(), HUB_CONTENT_TYPE.to_owned()),
        (
            "date".to_owned(),
            httpdate::fmt_http_date(std::time::SystemTime::now()),
        ),
        ("fspiop-source".to_owned(), hub.to_owned()),
        ("fspiop-destination".to_owned(), destination.to_owned()),
    ])
}

/// A message the hub speaks, named field by field: to whom, which event, what it carries.
/// [`HubMessage::answering`] sends it in answer to a consumed message, [`HubMessage::about`]
/// about a transfer without one (the timeout handler's).
///
/// The recipient is the message's own field and the hub's name goes with the sending, so a call
/// site reads which is which — `HubMessage::fspiop_error(payer, action, &error)
/// .answering(&consumed, hub)` — where positional arguments would take the two names side by side as
/// `&str`s that swap without a compiler noticing.
#[derive(Debug, Clone, PartialEq)]
pub struct HubMessage<'a> {
    /// The recipient (`to` and `FSPIOP-Destination`).
    pub to: &'a str,
    pub event_type: &'a str,
    pub action: Action,
    pub state: EventState,
    pub payload: Payload,
    /// Payer and payee in the context, so a fan-out (timeout of a reserved transfer) can reach
    /// both sides.
    pub parties: Option<(&'a str, &'a str)>,
}

impl<'a> HubMessage<'a> {
    /// A successful notification to `to` carrying `payload`.
    pub fn notification(to: &'a str, action: impl Into<Action>, payload: Payload) -> Self {
        Self {
            to,
            event_type: event_type::NOTIFICATION,
            action: action.into(),
            state: EventState::success(),
            payload,
            parties: None,
        }
    }

    /// An FSPIOP error to `to`: its event state and an `errorInformation` body.
    pub fn error(to: &'a str, action: impl Into<Action>, error: &ErrorInformation) -> Self {
        Self {
            state: error_information_state(error),
            ..Self::notification(
                to,
                action,
                json_payload(&ErrorInformationObject {
                    error_information: error.clone(),
                }),
            )
        }
    }

    /// [`HubMessage::error`] of an error the hub decided now (its catalogue code and text).
    pub fn fspiop_error(to: &'a str, action: impl Into<Action>, error: &FspiopError) -> Self {
        Self::error(to, action, &error.to_error_information())
    }

    /// The same message as another event type (e.g. a position message).
    pub fn of_type(self, event_type: &'a str) -> Self {
        Self { event_type, ..self }
    }

    /// The same message with another event state.
    pub fn with_state(self, state: EventState) -> Self {
        Self { state, ..self }
    }

    /// The same message naming the transfer's payer and payee.
    pub fn with_parties(self, payer: &'a str, payee: &'a str) -> Self {
        Self {
            parties: Some((payer, payee)),
            ..self
        }
    }

    /// The message from `hub` in answer to `original` (same transfer, `responseTo` its event),
    /// with hub headers and without the original body, so no callback can carry it by mistake.
    pub fn answering(self, original: &Envelope, hub: &str) -> Envelope {
        let mut next = original.next_event(self.event_type, self.action, self.state);
        next.from = hub.to_owned();
        next.to = self.to.to_owned();
        next.content_type = "application/json".to_owned();
        next.content.headers = hub_headers(hub, self.to);
        next.content.payload = self.payload;
        next.content.uri_params = Some(UriParams {
            id: original.transfer_id().to_owned(),
        });
        next.content.context = parties_context(self.parties);
        next
    }

    /// The message from `hub` about `transfer_id`, answering no consumed message.
    pub fn about(self, transfer_id: &TransferId, hub: &str) -> Envelope {
        let transfer_id = transfer_id.as_str();
        Envelope {
            id: transfer_id.to_owned(),
            from: hub.to_owned(),
            to: self.to.to_owned(),
            content_type: "application/json".to_owned(),
            content: Content {
                uri_params: Some(UriParams {
                    id: transfer_id.to_owned(),
                }),
                headers: hub_headers(hub, self.to),
                payload: self.payload,
                context: parties_context(self.parties),
            },
            metadata: Metadata {
                correlation_id: transfer_id.to_owned(),
                event: Event {
                    id: uuid::Uuid::now_v7().to_string(),
                    response_to: None,
                    event_type: self.event_type.to_owned(),
                    action: self.action,
                    created_at: now_iso(),
                    state: self.state,
                },
                trace: None,
            },
        }
    }
}

fn parties_context(parties: Option<(&str, &str)>) -> Option<Context> {
    parties.map(|(payer, payee)| Context {
        payer: Some(payer.to_owned()),
        payee: Some(payee.to_owned()),
        ..Context::default()
    })
}

/// The event state of an error: status `error`, its code and description.
pub fn error_information_state(error: &ErrorInformation) -> EventState {
    EventState {
        status: "error".to_owned(),
        code: serde_json::Value::from(error.error_code.parse::<u16>().unwrap_or(2001)),
        description: error.error_description.clone(),
    }
}

pub fn json_payload<T: Serialize>(body: &T) -> Payload {
    // Our body types are plain data; serialising them cannot fail.
    Payload::Json(serde_json::to_value(body).expect("body serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Authentication, data_uri};
    use ferroloop_core::error::ErrorCode;

    fn prepare() -> Envelope {
        let body = br#"{"transferId":"t"}"#;
        Envelope {
            id: "t".into(),
            from: "payerfsp".into(),
            to: "payeefsp".into(),
            content_type: HUB_CONTENT_TYPE.into(),
            content: Content {
                uri_params: None,
                headers: BTreeMap::from([
                    ("fspiop-source".to_owned(), "payerfsp".to_owned()),
                    ("fspiop-signature".to_owned(), "sig".to_owned()),
                ]),
                payload: Payload::Text(data_uri(HUB_CONTENT_TYPE, body)),
                context: Some(Context {
                    original_request_payload: Some(data_uri(HUB_CONTENT_TYPE, body)),
                    ..Context::default()
                }),
            },
            metadata: Metadata {
                correlation_id: "t".into(),
                event: Event {
                    id: "e0".into(),
                    response_to: None,
                    event_type: "prepare".into(),
                    action: "prepare".into(),
                    created_at: now_iso(),
                    state: EventState::success(),
                },
                trace: None,
            },
        }
    }

    #[test]
    fn an_fspiop_error_speaks_as_the_hub_and_drops_the_original_body() {
        let error = FspiopError::with_detail(ErrorCode::VALIDATION_ERROR, "bad");
        let out = HubMessage::fspiop_error("payerfsp", action::PREPARE, &error)
            .answering(&prepare(), "Hub");
        assert_hub_error(&out);
    }

    /// A 3100 from the hub to the payer answering [`prepare`].
    fn assert_hub_error(out: &Envelope) {
        assert_eq!(out.from, "Hub");
        assert_eq!(out.to, "payerfsp");
        assert_eq!(out.header("fspiop-source"), Some("Hub"));
        assert_eq!(out.header("fspiop-destination"), Some("payerfsp"));
        assert_eq!(out.header("fspiop-signature"), None);
        assert!(
            out.content.context.is_none(),
            "no original bytes may travel on"
        );
        assert_eq!(out.metadata.event.state.code, serde_json::json!(3100));
        let body: serde_json::Value = out.content.payload.decode().unwrap();
        assert_eq!(body["errorInformation"]["errorCode"], "3100");
        assert_eq!(
            body["errorInformation"]["errorDescription"],
            "Generic validation error - bad"
        );
        assert_eq!(out.transfer_id(), "t");
        assert_eq!(out.metadata.event.response_to.as_deref(), Some("e0"));
    }

    #[test]
    fn the_adapters_principal_travels_in_the_context_and_survives_json() {
        for kind in [InboundKind::Prepare, InboundKind::Fulfil, InboundKind::Get] {
            let envelope = inbound_envelope(&InboundRequest {
                kind,
                transfer_id: "t",
                headers: BTreeMap::from([("fspiop-source".to_owned(), "payerfsp".to_owned())]),
                body: b"{}",
                payer_payee: Some(("payerfsp", "payeefsp")),
                transfer_state: None,
                principal: Principal::new("payerfsp", Authentication::Mtls),
            });
            let parsed = Envelope::from_json_bytes(&envelope.to_json_bytes()).unwrap();
            let principal = parsed.principal().expect("a principal");
            assert_eq!(principal.fsp, "payerfsp");
            assert_eq!(principal.authenticated_by, Authentication::Mtls);
        }
    }

    #[test]
    fn forward_keeps_the_original_bytes_and_headers() {
        let original = prepare();
        let out = forward(&original, event_type::NOTIFICATION, action::PREPARE);
        assert_eq!(out.original_body().unwrap(), br#"{"transferId":"t"}"#);
        assert_eq!(out.header("fspiop-signature"), Some("sig"));
        assert_eq!(out.metadata.event.event_type, "notification");
    }
}

/// Which FSPIOP request an inbound envelope carries (docs/fspiop-api.md#event-types-and-actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundKind {
    /// `POST /transfers`.
    Prepare,
    /// `PUT /transfers/{id}`; the action follows `transferState`.
    Fulfil,
    /// `PUT /transfers/{id}/error`.
    Error,
    /// `GET /transfers/{id}`.
    Get,
}

/// A DFSP request as the API adapter hands it to Kafka.
#[derive(Debug, Clone)]
pub struct InboundRequest<'a> {
    pub kind: InboundKind,
    /// `{ID}` of the path, or the body's `transferId` for a prepare.
    pub transfer_id: &'a str,
    /// Headers with lower-case names, as received.
    pub headers: BTreeMap<String, String>,
    /// The exact body bytes (empty for GET).
    pub body: &'a [u8],
    /// For a prepare: the body's payer and payee (`from`/`to` of the message).
    pub payer_payee: Option<(&'a str, &'a str)>,
    /// For a fulfil: the body's `transferState`.
    pub transfer_state: Option<&'a str>,
    /// The sender as the adapter authenticated it.
    pub principal: Principal,
}

/// Builds the boundary envelope Mojaloop's adapter produces for a request: the body travels as
/// a data URI in `content.payload` and in `context.originalRequestPayload` (where Mojaloop's
/// notification handler looks for the bytes to forward).
pub fn inbound_envelope(request: &InboundRequest<'_>) -> Envelope {
    let content_type = request
        .headers
        .get("content-type")
        .cloned()
        .unwrap_or_else(|| HUB_CONTENT_TYPE.to_owned());
    let header = |name: &str| request.headers.get(name).cloned().unwrap_or_default();
    let (from, to) = match (request.kind, request.payer_payee) {
        (InboundKind::Prepare, Some((payer, payee))) => (payer.to_owned(), payee.to_owned()),
        _ => (header("fspiop-source"), header("fspiop-destination")),
    };
    let (event_type, action) = match request.kind {
        InboundKind::Prepare => (event_type::PREPARE, action::PREPARE),
        InboundKind::Fulfil => (
            event_type::FULFIL,
            match request.transfer_state {
                Some("ABORTED") => action::REJECT,
                Some("RESERVED") => action::RESERVE,
                _ => action::COMMIT,
            },
        ),
        InboundKind::Error => (event_type::FULFIL, action::ABORT),
        InboundKind::Get => (event_type::GET, action::GET),
    };
    let (payload, original) = if request.kind == InboundKind::Get {
        (Payload::Json(serde_json::json!({})), None)
    } else {
        let uri = crate::envelope::data_uri(&content_type, request.body);
        (Payload::Text(uri.clone()), Some(uri))
    };
    let context = Some(Context {
        original_request_payload: original,
        principal: Some(request.principal.clone()),
        ..Context::default()
    });
    Envelope {
        id: request.transfer_id.to_owned(),
        from,
        to,
        content_type,
        content: Content {
            uri_params: (request.kind != InboundKind::Prepare).then(|| UriParams {
                id: request.transfer_id.to_owned(),
            }),
            headers: request.headers.clone(),
            payload,
            context,
        },
        metadata: Metadata {
            correlation_id: request.transfer_id.to_owned(),
            event: Event {
                id: uuid::Uuid::now_v7().to_string(),
                response_to: None,
                event_type: event_type.to_owned(),
                action: action.into(),
                created_at: now_iso(),
                state: EventState::success(),
            },
            trace: None,
        },
    }
}
