//! The callback matrix (docs/callbacks.md#the-callback-matrix): which HTTP callbacks one
//! notification event turns into — recipient, method, endpoint, whose headers, which body. Pure:
//! no I/O.
//!
//! | action | status | callbacks |
//! |---|---|---|
//! | `prepare` | success | `POST` → payee (`to`), forwarded |
//! | `prepare` | error | `PUT …/error` → `to`, hub |
//! | `prepare-duplicate` | success / error | `PUT` / `PUT …/error` → `to`, hub |
//! | `commit` | success | `PUT` → payer (`to`), forwarded; then, if the confirmation flag is on and payer ≠ payee, `PUT` → payee (`context.payee`, else `from`), hub, same body bytes |
//! | `commit` | error | `PUT …/error` → `to`, hub |
//! | `reserve` | success | `PUT` → payer (`to`), hub-built body; then `PATCH` → payee (`context.payee`), the same body without `fulfilment` |
//! | `reserve` | error | `PUT …/error` → `to`, hub |
//! | `reject` | any | `PUT` → `to`, forwarded (Mojaloop's row; our fulfil handler never emits it) |
//! | `abort` | any | `PUT …/error` → payer (`to`), forwarded; then, if the flag is on and payer ≠ payee, `PUT …/error` → payee, hub, same body bytes |
//! | `abort-validation` | any | `PUT …/error` → payer (`to`) and payee (`context.payee`, else a non-hub `from`), hub |
//! | `reserved-aborted` | any | `PATCH` → payee (`to`), hub; skipped when the content version is below 1.1 |
//! | `fulfil-duplicate`, `abort-duplicate` | success / error | `PUT` / `PUT …/error` → `to`, hub |
//! | `timeout-received` | any | `PUT …/error` → payer (`to`), hub |
//! | `timeout-reserved` | any | `PUT …/error` → payer (`context.payer`, else `to`) and payee (`context.payee`, else a non-hub `from`), hub |
//! | `get` | success / error | `PUT` / `PUT …/error` → `to`, hub |
//!
//! "Forwarded" callbacks carry the DFSP's original headers and the exact original body bytes
//! ([`Envelope::original_body`]), so the originator's JWS stays valid. When such a row's message
//! comes from the hub itself (`from` = hub name: the timeout handler re-driving a commit whose
//! payee message was lost), there is no DFSP message to forward and the callback is sent as the
//! hub's, with the hub-built payload.
//!
//! "Hub" callbacks carry hub headers and the hub-built `content.payload`, serialised as canonical
//! JSON (keys sorted, compact: what Mojaloop's SDK validators verify a signature against, so a hub
//! signature verifies with either kind of validator). Error bodies lose `cause`/`_cause`
//! extensions if they have any (Mojaloop's adapter strips the ledger's stack-trace cause); an error
//! event without an `errorInformation` payload gets one built from the event state. `PUT`/`PATCH`
//! state bodies never carry `transferId`.
//!
//! Confirmation copies to the payee are the hub's (hub headers, hub signature) but carry the very
//! bytes the payer received.

use std::collections::BTreeMap;

use bytes::Bytes;
use ferroloop_core::hash::canonical_json;
use ferroloop_core::id::TransferId;
use ferroloop_fspiop::callback::CallbackKind;
use ferroloop_fspiop::headers::ProtocolVersion;
use ferroloop_messaging::Envelope;
use ferroloop_messaging::events::action;
use http::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The four kinds of transfer callback (the `kind` label of the callback metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `POST /transfers`.
    Post,
    /// `PUT /transfers/{ID}`.
    Put,
    /// `PATCH /transfers/{ID}`.
    Patch,
    /// `PUT /transfers/{ID}/error`.
    Error,
}

impl Kind {
    pub fn method(self) -> Method {
        match self {
            Kind::Post => Method::POST,
            Kind::Put | Kind::Error => Method::PUT,
            Kind::Patch => Method::PATCH,
        }
    }

    /// Which endpoint (and `FSPIOP-URI`) the callback uses: PATCH uses the PUT endpoint.
    pub fn endpoint(self) -> CallbackKind {
        match self {
            Kind::Post => CallbackKind::Post,
            Kind::Put | Kind::Patch => CallbackKind::Put,
            Kind::Error => CallbackKind::Error,
        }
    }

    /// The kind of a [`Kind::label`].
    pub fn from_label(label: &str) -> Option<Kind> {
        [Kind::Post, Kind::Put, Kind::Patch, Kind::Error]
            .into_iter()
            .find(|kind| kind.label() == label)
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Post => "post",
            Kind::Put => "put",
            Kind::Patch => "patch",
            Kind::Error => "error",
        }
    }
}

/// Whose headers a callback carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The DFSP's original headers (and its signature).
    Forwarded,
    /// Hub headers, `FSPIOP-Source` = hub name, hub signature when signing is on.
    Hub,
}

/// Who a callback goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Named(String),
    /// The payer recorded on the transfer: a payee's `PUT` may omit `FSPIOP-Destination`, which
    /// leaves the message's `to` empty. Resolved from the database.
    PayerOfTransfer,
    /// The message names nobody in this role (the text says which role).
    Unknown(&'static str),
}

/// One callback to send.
#[derive(Debug, Clone)]
pub struct Callback {
    pub recipient: Recipient,
    pub kind: Kind,
    pub origin: Origin,
    pub body: Bytes,
    /// A confirmation copy to the payee: dropped when the payee turns out to be the recipient of
    /// the plan's first callback (payer = payee).
    pub copy: bool,
}

/// What one notification event becomes.
#[derive(Debug, Clone)]
pub struct Plan {
    pub transfer_id: TransferId,
    /// The action (one of [`action`]'s constants).
    pub action: &'static str,
    /// The original request headers (lower-case), for forwarded callbacks.
    pub headers: BTreeMap<String, String>,
    /// The transfer's expiry where the message tells it (a prepare's `expiration`).
    pub expires_at: Option<OffsetDateTime>,
    pub callbacks: Vec<Callback>,
}

/// The matrix's settings.
#[derive(Debug, Clone)]
pub struct MatrixConfig {
    /// `HUB_NAME`: the `FSPIOP-Source` of hub callbacks, and how hub messages are recognised.
    pub hub_name: String,
    /// `SEND_TRANSFER_CONFIRMATION_TO_PAYEE`.
    pub confirm_to_payee: bool,
    /// The content version of hub callbacks (`PROTOCOL_VERSION`).
    pub content_version: ProtocolVersion,
}

/// Why an event produces no callback.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("unknown action {0:?}")]
    UnknownAction(String),
    #[error("{action} not sent: {reason}")]
    Skipped {
        action: &'static str,
        reason: &'static str,
    },
    #[error("{action}: transfer id {id:?} is invalid: {error}")]
    TransferId {
        action: &'static str,
        id: String,
        error: String,
    },
    #[error("{action}: payload cannot be used: {error}")]
    Payload { action: &'static str, error: String },
}

impl PlanError {
    /// The action label for metrics (`other` for an unknown one, whose text is unbounded).
    pub fn action(&self) -> &'static str {
        match self {
            PlanError::UnknownAction(_) => "other",
            PlanError::Skipped { action, .. }
            | PlanError::TransferId { action, .. }
            | PlanError::Payload { action, .. } => action,
        }
    }
}

const KNOWN_ACTIONS: [&str; 13] = [
    action::PREPARE,
    action::PREPARE_DUPLICATE,
    action::COMMIT,
    action::RESERVE,
    action::REJECT,
    action::ABORT,
    action::ABORT_VALIDATION,
    action::RESERVED_ABORTED,
    action::FULFIL_DUPLICATE,
    action::ABORT_DUPLICATE,
    action::TIMEOUT_RECEIVED,
    action::TIMEOUT_RESERVED,
    action::GET,
];

/// Extension keys stripped from hub error bodies.
const CAUSE_KEYS: [&str; 2] = ["cause", "_cause"];

/// The callbacks of one event.
pub fn plan(envelope: &Envelope, config: &MatrixConfig) -> Result<Plan, PlanError> {
    let act = KNOWN_ACTIONS
        .into_iter()
        .find(|a| *a == envelope.action())
        .ok_or_else(|| PlanError::UnknownAction(envelope.action().to_owned()))?;
    let transfer_id =
        TransferId::parse(envelope.transfer_id()).map_err(|e| PlanError::TransferId {
            action: act,
            id: envelope.transfer_id().to_owned(),
            error: e.to_string(),
        })?;
    let b = Builder {
        envelope,
        config,
        action: act,
        from_hub: envelope.from == config.hub_name,
    };
    let (callbacks, expires_at) = callbacks(&b, envelope.metadata.event.state.is_success())?;
    Ok(Plan {
        transfer_id,
        action: act,
        headers: envelope.content.headers.clone(),
        expires_at,
        callbacks,
    })
}

/// The callbacks of an event with a known action, and for a prepare its expiration (the
/// docs' callback table, docs/callbacks.md).
fn callbacks(
    b: &Builder<'_>,
    success: bool,
) -> Result<(Vec<Callback>, Option<OffsetDateTime>), PlanError> {
    let mut expires_at = None;
    let callbacks = match b.action {
        action::PREPARE if success => {
            let body = b.original()?;
            expires_at = prepare_expiration(&body);
            vec![b.forwarded(Kind::Post, b.to(), body)]
        }
        action::COMMIT if success => {
            let payer = b.to_or_transfer_payer();
            let first = b.forwarded(Kind::Put, payer, b.original()?);
            let mut callbacks = vec![first];
            b.confirmation_copy(&mut callbacks);
            callbacks
        }
        action::ABORT => {
            let payer = b.to_or_transfer_payer();
            let first = b.forwarded(Kind::Error, payer, b.original()?);
            let mut callbacks = vec![first];
            b.confirmation_copy(&mut callbacks);
            callbacks
        }
        action::RESERVE if success => {
            let body = b.payload()?;
            let payer = b.context_payer_or_to();
            let patch = without(&body, &["transferId", "fulfilment"]);
            vec![
                b.hub(Kind::Put, payer, &without(&body, &["transferId"])),
                b.hub(Kind::Patch, b.payee(), &patch),
            ]
        }
        action::REJECT => vec![b.forwarded(Kind::Put, b.to(), b.original()?)],
        action::ABORT_VALIDATION | action::TIMEOUT_RESERVED => {
            let error = b.error_payload()?;
            let payer = b.context_payer_or_to();
            let payee = b.payee();
            let mut callbacks = vec![b.hub(Kind::Error, payer.clone(), &error)];
            if payee != payer {
                callbacks.push(b.hub(Kind::Error, payee, &error));
            }
            callbacks
        }
        action::RESERVED_ABORTED => {
            if b.config.content_version < ProtocolVersion::V1_1 {
                return Err(PlanError::Skipped {
                    action: b.action,
                    reason: "PATCH needs content version 1.1 or later",
                });
            }
            let body = without(&b.payload()?, &["transferId"]);
            vec![b.hub(Kind::Patch, b.to(), &body)]
        }
        action::TIMEOUT_RECEIVED => vec![b.hub(Kind::Error, b.to(), &b.error_payload()?)],
        // prepare, prepare-duplicate, commit, reserve, fulfil-duplicate, abort-duplicate and
        // get: success → the hub's state body, anything else → the hub's error.
        _ if success => {
            let body = without(&b.payload()?, &["transferId"]);
            vec![b.hub(Kind::Put, b.to(), &body)]
        }
        _ => vec![b.hub(Kind::Error, b.to(), &b.error_payload()?)],
    };
    Ok((callbacks, expires_at))
}

struct Builder<'a> {
    envelope: &'a Envelope,
    config: &'a MatrixConfig,
    action: &'static str,
    from_hub: bool,
}

impl Builder<'_> {
    fn payload_error(&self, error: impl std::fmt::Display) -> PlanError {
        PlanError::Payload {
            action: self.action,
            error: error.to_string(),
        }
    }

    fn named(name: &str, role: &'static str) -> Recipient {
        if name.is_empty() {
            Recipient::Unknown(role)
        } else {
            Recipient::Named(name.to_owned())
        }
    }

    fn to(&self) -> Recipient {
        Self::named(&self.envelope.to, "to")
    }

    fn context(
        &self,
        pick: fn(&ferroloop_messaging::envelope::Context) -> Option<&String>,
    ) -> Option<&str> {
        self.envelope
            .content
            .context
            .as_ref()
            .and_then(pick)
            .map(String::as_str)
            .filter(|n| !n.is_empty())
    }

    /// `context.payer`, else `to`.
    fn context_payer_or_to(&self) -> Recipient {
        self.context(|c| c.payer.as_ref())
            .map_or_else(|| self.to(), |n| Recipient::Named(n.to_owned()))
    }

    /// `to`, else `context.payer`, else the transfer's payer from the database.
    fn to_or_transfer_payer(&self) -> Recipient {
        if !self.envelope.to.is_empty() {
            return self.to();
        }
        self.context(|c| c.payer.as_ref())
            .map_or(Recipient::PayerOfTransfer, |n| {
                Recipient::Named(n.to_owned())
            })
    }

    /// `context.payee`, else `from` unless the hub sent the message.
    fn payee(&self) -> Recipient {
        if let Some(name) = self.context(|c| c.payee.as_ref()) {
            return Recipient::Named(name.to_owned());
        }
        if self.from_hub {
            Recipient::Unknown("payee")
        } else {
            Self::named(&self.envelope.from, "payee")
        }
    }

    /// The original request bytes (for a hub message: its payload, as JSON).
    fn original(&self) -> Result<Bytes, PlanError> {
        if self.from_hub {
            return Ok(canonical(&self.payload()?));
        }
        self.envelope
            .original_body()
            .map(Bytes::from)
            .map_err(|e| self.payload_error(e))
    }

    /// `content.payload` as JSON.
    fn payload(&self) -> Result<Value, PlanError> {
        self.envelope
            .content
            .payload
            .decode::<Value>()
            .map_err(|e| self.payload_error(e))
    }

    /// The hub's error body: the payload's `errorInformation` without cause extensions, or one
    /// built from the event state when the payload has none.
    fn error_payload(&self) -> Result<Value, PlanError> {
        let payload = self.payload().unwrap_or(Value::Null);
        if payload
            .get("errorInformation")
            .is_some_and(Value::is_object)
        {
            return Ok(strip_cause_extensions(payload));
        }
        let state = &self.envelope.metadata.event.state;
        let code = match &state.code {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        if code.is_empty() || code == "0" {
            return Err(self.payload_error("an error event without errorInformation or code"));
        }
        Ok(json!({"errorInformation": {
            "errorCode": code,
            "errorDescription": state.description,
        }}))
    }

    /// A forwarded callback, or the hub's when the hub sent the message.
    fn forwarded(&self, kind: Kind, recipient: Recipient, body: Bytes) -> Callback {
        Callback {
            recipient,
            kind,
            origin: if self.from_hub {
                Origin::Hub
            } else {
                Origin::Forwarded
            },
            body,
            copy: false,
        }
    }

    fn hub(&self, kind: Kind, recipient: Recipient, body: &Value) -> Callback {
        Callback {
            recipient,
            kind,
            origin: Origin::Hub,
            body: canonical(body),
            copy: false,
        }
    }

    /// Appends the confirmation copy of `callbacks[0]` to the payee when the flag is on.
    fn confirmation_copy(&self, callbacks: &mut Vec<Callback>) {
        if !self.config.confirm_to_payee {
            return;
        }
        let first = &callbacks[0];
        let payee = self.payee();
        if payee == first.recipient || matches!(payee, Recipient::Unknown(_)) {
            return;
        }
        callbacks.push(Callback {
            recipient: payee,
            kind: first.kind,
            origin: Origin::Hub,
            body: first.body.clone(),
            copy: true,
        });
    }
}

fn canonical(value: &Value) -> Bytes {
    Bytes::from(canonical_json(value))
}

/// A copy of an object without some top-level members.
fn without(value: &Value, keys: &[&str]) -> Value {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        for key in keys {
            object.remove(*key);
        }
    }
    value
}

/// Removes `cause`/`_cause` from `errorInformation.extensionList`, and the list if it empties.
fn strip_cause_extensions(mut payload: Value) -> Value {
    let Some(information) = payload
        .get_mut("errorInformation")
        .and_then(Value::as_object_mut)
    else {
        return payload;
    };
    let emptied = match information
        .get_mut("extensionList")
        .and_then(|l| l.get_mut("extension"))
        .and_then(Value::as_array_mut)
    {
        Some(extensions) => {
            extensions.retain(|e| {
                !e.get("key")
                    .and_then(Value::as_str)
                    .is_some_and(|k| CAUSE_KEYS.contains(&k))
            });
            extensions.is_empty()
        }
        None => false,
    };
    if emptied {
        information.remove("extensionList");
    }
    payload
}

/// The `expiration` of a prepare body, if it has a valid one.
fn prepare_expiration(body: &[u8]) -> Option<OffsetDateTime> {
    let value: Value = serde_json::from_slice(body).ok()?;
    ferroloop_core::fspiop_time::parse(value.get("expiration")?.as_str()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use ferroloop_messaging::EventState;
    use ferroloop_messaging::events::{self, event_type};

    const ID: &str = "b51ec534-ee48-4575-b6a9-ead2955b8069";

    fn config() -> MatrixConfig {
        MatrixConfig {
            hub_name: "Hub".into(),
            confirm_to_payee: true,
            content_version: ProtocolVersion::V1_1,
        }
    }

    /// A message as Mojaloop's ledger writes it: `from`/`to` only, no `context.payer/payee`.
    fn mojaloop_style(
        action: &str,
        from: &str,
        to: &str,
        state: EventState,
        payload: &Value,
    ) -> Envelope {
        let mut envelope = events::HubMessage {
            to,
            event_type: event_type::NOTIFICATION,
            action: action.into(),
            state,
            payload: events::json_payload(payload),
            parties: None,
        }
        .about(&TransferId::parse(ID).expect("an id"), "Hub");
        envelope.from = from.to_owned();
        envelope
    }

    fn recipients(plan: &Plan) -> Vec<(Recipient, Kind, Origin)> {
        plan.callbacks
            .iter()
            .map(|c| (c.recipient.clone(), c.kind, c.origin))
            .collect()
    }

    fn named(name: &str) -> Recipient {
        Recipient::Named(name.to_owned())
    }

    #[test]
    fn mojaloop_style_fan_outs_fall_back_to_from_and_to() {
        let expired = json!({"errorInformation": {"errorCode": "3303", "errorDescription": "Transfer expired"}});
        let message = mojaloop_style(
            action::TIMEOUT_RESERVED,
            "payeefsp",
            "payerfsp",
            EventState::error(3303, "Transfer expired"),
            &expired,
        );
        let plan = plan_of(&message).unwrap();
        assert_eq!(
            recipients(&plan),
            [
                (named("payerfsp"), Kind::Error, Origin::Hub),
                (named("payeefsp"), Kind::Error, Origin::Hub)
            ]
        );
        assert_eq!(plan.callbacks[0].body, canonical(&expired));
        // From the hub with no context: the payee is unknown and reported as such.
        let message = mojaloop_style(
            action::ABORT_VALIDATION,
            "Hub",
            "payerfsp",
            EventState::error(3100, "x"),
            &expired,
        );
        let plan = plan_of(&message).unwrap();
        assert_eq!(plan.callbacks.len(), 2);
        assert_eq!(plan.callbacks[1].recipient, Recipient::Unknown("payee"));
    }

    #[test]
    fn an_error_without_error_information_is_built_from_the_event_state() {
        let message = mojaloop_style(
            action::GET,
            "Hub",
            "payerfsp",
            EventState::error(3208, "Transfer ID not found"),
            &json!({}),
        );
        let plan = plan_of(&message).unwrap();
        assert_eq!(plan.callbacks[0].kind, Kind::Error);
        assert_eq!(
            plan.callbacks[0].body,
            canonical(
                &json!({"errorInformation": {"errorCode": "3208", "errorDescription": "Transfer ID not found"}})
            )
        );
        let no_code = mojaloop_style(
            action::GET,
            "Hub",
            "payerfsp",
            EventState::error(0, "?"),
            &json!({}),
        );
        assert!(matches!(plan_of(&no_code), Err(PlanError::Payload { .. })));
    }

    fn plan_of(envelope: &Envelope) -> Result<Plan, PlanError> {
        plan(envelope, &config())
    }

    #[test]
    fn reject_is_forwarded_and_bad_messages_are_refused() {
        let mut reject = mojaloop_style(
            action::REJECT,
            "payeefsp",
            "payerfsp",
            EventState::success(),
            &json!({"transferState": "ABORTED"}),
        );
        reject
            .content
            .headers
            .insert("fspiop-source".into(), "payeefsp".into());
        let plan = plan_of(&reject).unwrap();
        assert_eq!(
            recipients(&plan),
            [(named("payerfsp"), Kind::Put, Origin::Forwarded)]
        );
        assert_eq!(
            plan.callbacks[0].body.as_ref(),
            br#"{"transferState":"ABORTED"}"#
        );

        let unknown = mojaloop_style(
            "fx-prepare",
            "Hub",
            "payerfsp",
            EventState::success(),
            &json!({}),
        );
        assert!(matches!(plan_of(&unknown), Err(PlanError::UnknownAction(a)) if a == "fx-prepare"));
        let mut bad_id = mojaloop_style(
            action::GET,
            "Hub",
            "payerfsp",
            EventState::success(),
            &json!({}),
        );
        bad_id.content.uri_params = None;
        bad_id.id = "not-an-id".into();
        assert!(matches!(
            plan_of(&bad_id),
            Err(PlanError::TransferId { .. })
        ));
    }

    #[test]
    fn copies_and_patches_follow_the_configuration() {
        let commit = mojaloop_style(
            action::COMMIT,
            "payeefsp",
            "payerfsp",
            EventState::success(),
            &json!({"transferState": "COMMITTED"}),
        );
        let plan = plan_of(&commit).unwrap();
        assert_eq!(
            recipients(&plan),
            [
                (named("payerfsp"), Kind::Put, Origin::Forwarded),
                (named("payeefsp"), Kind::Put, Origin::Hub)
            ]
        );
        assert!(plan.callbacks[1].copy);
        let quiet = MatrixConfig {
            confirm_to_payee: false,
            ..config()
        };
        assert_eq!(super::plan(&commit, &quiet).unwrap().callbacks.len(), 1);
        // On-us: payer = payee, no copy.
        let on_us = mojaloop_style(
            action::COMMIT,
            "dfsp",
            "dfsp",
            EventState::success(),
            &json!({}),
        );
        assert_eq!(plan_of(&on_us).unwrap().callbacks.len(), 1);
        // No destination: the payer comes from the database.
        let no_to = mojaloop_style(
            action::ABORT,
            "payeefsp",
            "",
            EventState::error(5101, "x"),
            &json!({}),
        );
        assert_eq!(
            plan_of(&no_to).unwrap().callbacks[0].recipient,
            Recipient::PayerOfTransfer
        );
    }

    #[test]
    fn cause_extensions_are_stripped_and_an_empty_list_removed() {
        let payload = json!({"errorInformation": {"errorCode": "3100", "errorDescription": "x",
            "extensionList": {"extension": [{"key": "cause", "value": "stack"}, {"key": "k", "value": "v"}, {"key": "_cause", "value": "s"}]}}});
        assert_eq!(
            strip_cause_extensions(payload),
            json!({"errorInformation": {"errorCode": "3100", "errorDescription": "x",
                "extensionList": {"extension": [{"key": "k", "value": "v"}]}}})
        );
        let only_cause = json!({"errorInformation": {"errorCode": "3100", "errorDescription": "x",
            "extensionList": {"extension": [{"key": "cause", "value": "stack"}]}}});
        assert_eq!(
            strip_cause_extensions(only_cause),
            json!({"errorInformation": {"errorCode": "3100", "errorDescription": "x"}})
        );
        let none = json!({"errorInformation": {"errorCode": "3100", "errorDescription": "x"}});
        assert_eq!(strip_cause_extensions(none.clone()), none);
    }

    #[test]
    fn kinds_map_to_methods_and_endpoints() {
        assert_eq!(Kind::Patch.method(), Method::PATCH);
        assert_eq!(Kind::Patch.endpoint(), CallbackKind::Put);
        assert_eq!(Kind::Error.method(), Method::PUT);
        assert_eq!(Kind::Error.endpoint(), CallbackKind::Error);
        assert_eq!(Kind::Post.endpoint(), CallbackKind::Post);
    }

    #[test]
    fn prepare_expiration_is_read_from_the_body() {
        let at = prepare_expiration(br#"{"expiration":"2030-01-01T00:00:00.000Z"}"#).unwrap();
        assert_eq!(at.year(), 2030);
        assert!(prepare_expiration(b"{}").is_none());
        assert!(prepare_expiration(b"not json").is_none());
    }
}
