//! Mojaloop's message envelope ("streaming protocol", docs/fspiop-api.md#the-message-envelope) as
//! carried on the four boundary topics, so that Mojaloop's ml-api-adapter can sit in front of our
//! handlers and our adapter in front of Mojaloop's central-ledger.
//!
//! The original request body travels as a data URI (`data:<content-type>;base64,<bytes>`) so the
//! exact bytes — and with them a DFSP's JWS signature — reach the counterparty unchanged.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::Action;

/// The success state Mojaloop puts on every event that did not fail.
pub const SUCCESS_DESCRIPTION: &str = "action successful";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The transfer id (also the correlation id).
    pub id: String,
    pub from: String,
    pub to: String,
    #[serde(rename = "type")]
    pub content_type: String,
    pub content: Content,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    #[serde(rename = "uriParams", default, skip_serializing_if = "Option::is_none")]
    pub uri_params: Option<UriParams>,
    /// Request headers with lower-case names, as the adapter received them.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub payload: Payload,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UriParams {
    pub id: String,
}

/// `content.context`. The fields Mojaloop defines are typed; ferroloop's own routing data for
/// the internal position topic lives in `ferroloop`; anything else is kept as it came.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    #[serde(
        rename = "originalRequestPayload",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub original_request_payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ferroloop: Option<Value>,
    /// The sender the API adapter authenticated (ferroloop's own member): handlers authorise on
    /// it, never on a header the DFSP wrote (docs/security.md#the-principal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// Who sent a request, as the API adapter established it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The participant the request was authenticated as.
    pub fsp: String,
    /// How the adapter knows.
    #[serde(rename = "authenticatedBy")]
    pub authenticated_by: Authentication,
}

impl Principal {
    pub fn new(fsp: impl Into<String>, authenticated_by: Authentication) -> Self {
        Self {
            fsp: fsp.into(),
            authenticated_by,
        }
    }
}

/// How the API adapter established a request's sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Authentication {
    /// The TLS client certificate's identity.
    Mtls,
    /// The `X-Client-Id` an authenticating API gateway set.
    Gateway,
    /// A JWS signature verified with the participant's registered key.
    Jws,
    /// Nothing: the adapter runs without sender authentication and took `FSPIOP-Source` as
    /// written (development set-ups only; the adapter warns at start and exports a gauge).
    None,
}

/// `content.payload`: the body as a data URI, or as decoded JSON (Mojaloop uses both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Payload {
    Text(String),
    Json(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(rename = "correlationId")]
    pub correlation_id: String,
    pub event: Event,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(
        rename = "responseTo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_to: Option<String>,
    #[serde(rename = "type")]
    pub event_type: String,
    pub action: Action,
    #[serde(rename = "createdAt")]
    pub created_at: String,
    pub state: EventState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventState {
    pub status: String,
    /// `0` on success, the FSPIOP error code on failure (Mojaloop writes number or string).
    pub code: Value,
    pub description: String,
}

impl EventState {
    pub fn success() -> Self {
        Self {
            status: "success".to_owned(),
            code: Value::from(0),
            description: SUCCESS_DESCRIPTION.to_owned(),
        }
    }

    pub fn error(code: u16, description: impl Into<String>) -> Self {
        Self {
            status: "error".to_owned(),
            code: Value::from(code),
            description: description.into(),
        }
    }

    pub fn is_success(&self) -> bool {
        self.status == "success"
    }
}

/// Why a payload could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("payload data URI is malformed")]
    MalformedDataUri,
    #[error("payload data URI has a media type that is not allowed: {0}")]
    MediaTypeNotAllowed(String),
    #[error("payload base64 is invalid: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("payload JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
}

/// Builds `data:<content type>;base64,<body>`.
pub fn data_uri(content_type: &str, body: &[u8]) -> String {
    let mut uri = String::with_capacity(body.len() * 4 / 3 + content_type.len() + 16);
    uri.push_str("data:");
    uri.push_str(content_type);
    uri.push_str(";base64,");
    STANDARD.encode_string(body, &mut uri);
    uri
}

/// Decodes a data URI's bytes when its media type is one Mojaloop allows
/// (`text/plain`, `application/json`, `application/vnd.interoperability.*`).
pub fn decode_data_uri(uri: &str) -> Result<Vec<u8>, PayloadError> {
    let rest = uri
        .strip_prefix("data:")
        .ok_or(PayloadError::MalformedDataUri)?;
    let (media, data) = rest
        .split_once(";base64,")
        .ok_or(PayloadError::MalformedDataUri)?;
    let essence = media.split(';').next().unwrap_or_default().trim();
    let allowed = essence == "text/plain"
        || essence == "application/json"
        || essence.starts_with("application/vnd.interoperability.");
    if !allowed {
        return Err(PayloadError::MediaTypeNotAllowed(essence.to_owned()));
    }
    Ok(STANDARD.decode(data)?)
}

impl Payload {
    /// The payload's bytes: the data URI's content, a plain string's bytes, or the JSON
    /// serialised compactly.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PayloadError> {
        match self {
            Payload::Text(text) if text.starts_with("data:") => decode_data_uri(text),
            Payload::Text(text) => Ok(text.as_bytes().to_vec()),
            Payload::Json(value) => Ok(serde_json::to_vec(value)?),
        }
    }

    /// Decodes the payload per Mojaloop's rule: data URI → bytes → JSON; plain string → JSON;
    /// object → as is.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, PayloadError> {
        match self {
            Payload::Json(value) => Ok(T::deserialize(value)?),
            Payload::Text(_) => Ok(serde_json::from_slice(&self.to_bytes()?)?),
        }
    }
}

impl Envelope {
    /// The original request bytes: `context.originalRequestPayload` when present, else the
    /// payload. This is what a forwarded callback must carry byte for byte.
    pub fn original_body(&self) -> Result<Vec<u8>, PayloadError> {
        match self
            .content
            .context
            .as_ref()
            .and_then(|c| c.original_request_payload.as_deref())
        {
            Some(uri) => decode_data_uri(uri),
            None => self.content.payload.to_bytes(),
        }
    }

    /// The transfer id the message is about: `uriParams.id`, else the envelope id.
    pub fn transfer_id(&self) -> &str {
        self.content
            .uri_params
            .as_ref()
            .map_or(self.id.as_str(), |p| p.id.as_str())
    }

    /// The authenticated sender the API adapter recorded, if the envelope carries one (an
    /// envelope from another adapter, such as Mojaloop's, carries none).
    pub fn principal(&self) -> Option<&Principal> {
        self.content.context.as_ref()?.principal.as_ref()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        debug_assert!(
            name.bytes().all(|b| !b.is_ascii_uppercase()),
            "header names are stored lower-case"
        );
        self.content.headers.get(name).map(String::as_str)
    }

    /// The action's name on the wire.
    pub fn action(&self) -> &str {
        self.metadata.event.action.as_str()
    }

    /// The action, as parsed when the envelope was decoded.
    pub fn event_action(&self) -> &Action {
        &self.metadata.event.action
    }

    pub fn event_type(&self) -> &str {
        &self.metadata.event.event_type
    }

    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Serialising a tree of strings, maps and `Value`s cannot fail.
        serde_json::to_vec(self).expect("envelope serialises")
    }

    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// A copy for the next hop: a fresh event id, `responseTo` = this event, the new
    /// type/action/state, as Mojaloop's handlers republish.
    pub fn next_event(
        &self,
        event_type: &str,
        action: impl Into<Action>,
        state: EventState,
    ) -> Envelope {
        let mut next = self.clone();
        next.metadata.event = Event {
            id: uuid::Uuid::now_v7().to_string(),
            response_to: Some(self.metadata.event.id.clone()),
            event_type: event_type.to_owned(),
            action: action.into(),
            created_at: now_iso(),
            state,
        };
        next
    }
}

/// Current time as ISO-8601 with milliseconds, UTC.
pub fn now_iso() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTENT_TYPE: &str = "application/vnd.interoperability.transfers+json;version=1.1";

    #[test]
    fn data_uri_round_trips_exact_bytes() {
        let body = br#"{"b":1,  "a":"\u00e9"}"#;
        let uri = data_uri(CONTENT_TYPE, body);
        assert!(uri.starts_with(
            "data:application/vnd.interoperability.transfers+json;version=1.1;base64,"
        ));
        assert_eq!(decode_data_uri(&uri).unwrap(), body);
    }

    #[test]
    fn data_uri_with_foreign_media_type_is_refused() {
        let uri = data_uri("image/png", b"x");
        assert!(matches!(
            decode_data_uri(&uri),
            Err(PayloadError::MediaTypeNotAllowed(_))
        ));
        assert!(matches!(
            decode_data_uri("data:text/plain,abc"),
            Err(PayloadError::MalformedDataUri)
        ));
    }

    #[test]
    fn payload_decodes_all_three_forms() {
        #[derive(Deserialize, PartialEq, Debug)]
        struct Body {
            a: u32,
        }
        let forms = [
            Payload::Text(data_uri("application/json", br#"{"a":7}"#)),
            Payload::Text(r#"{"a":7}"#.to_owned()),
            Payload::Json(serde_json::json!({"a": 7})),
        ];
        for form in forms {
            assert_eq!(form.decode::<Body>().unwrap(), Body { a: 7 });
        }
    }

    #[test]
    fn mojaloop_envelope_parses_and_keeps_unknown_context() {
        let raw = serde_json::json!({
            "id": "b51ec534-ee48-4575-b6a9-ead2955b8069",
            "from": "payerfsp",
            "to": "payeefsp",
            "type": "application/json",
            "content": {
                "headers": {"content-type": CONTENT_TYPE, "fspiop-source": "payerfsp"},
                "payload": data_uri(CONTENT_TYPE, b"{}"),
                "context": {"cyrilResult": {"amount": "1"}, "isOriginalId": true}
            },
            "metadata": {
                "correlationId": "b51ec534-ee48-4575-b6a9-ead2955b8069",
                "event": {
                    "id": "e1", "type": "prepare", "action": "prepare",
                    "createdAt": "2026-01-01T00:00:00.000Z",
                    "state": {"status": "success", "code": 0, "description": "action successful"}
                },
                "trace": {"traceId": "abc"}
            }
        });
        let envelope: Envelope = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(envelope.header("fspiop-source"), Some("payerfsp"));
        assert_eq!(
            envelope.transfer_id(),
            "b51ec534-ee48-4575-b6a9-ead2955b8069"
        );
        let context = envelope.content.context.as_ref().unwrap();
        assert!(context.other.contains_key("cyrilResult"));
        // Re-serialising keeps every field Mojaloop sent.
        let back: Value = serde_json::from_slice(&envelope.to_json_bytes()).unwrap();
        assert_eq!(back, raw);
    }

    #[test]
    fn next_event_links_to_the_previous_one() {
        let envelope = Envelope {
            id: "t".into(),
            from: "a".into(),
            to: "b".into(),
            content_type: "application/json".into(),
            content: Content {
                uri_params: None,
                headers: BTreeMap::new(),
                payload: Payload::Json(Value::Null),
                context: None,
            },
            metadata: Metadata {
                correlation_id: "t".into(),
                event: Event {
                    id: "first".into(),
                    response_to: None,
                    event_type: "prepare".into(),
                    action: "prepare".into(),
                    created_at: now_iso(),
                    state: EventState::success(),
                },
                trace: None,
            },
        };
        let next = envelope.next_event("position", "prepare", EventState::error(4001, "x"));
        assert_eq!(next.metadata.event.response_to.as_deref(), Some("first"));
        assert_ne!(next.metadata.event.id, "first");
        assert_eq!(next.metadata.event.state.code, Value::from(4001));
        assert!(!next.metadata.event.state.is_success());
    }
}
