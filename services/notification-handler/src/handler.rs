//! One batch of notification events: decode, plan with the matrix, resolve recipients and
//! endpoints (one epoch check and at most two queries per batch), build the requests, put their
//! first attempts on the wire — the callbacks of one event in order, the events concurrently —
//! and return once their answers are in (or their DFSP is behind): retries are the delivery's,
//! per recipient DFSP, and the batch's output carries a retry record of every callback whose
//! fate is still open, so that a crash does not lose it ([`crate::retry`]).
//!
//! Every database read happens before the first HTTP request, so a batch that fails on the
//! database is retried by the batch loop without having sent anything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferroloop_core::id::TransferId;
use ferroloop_fspiop::callback::{
    CallbackError, callback_uri_path, forwarded_callback_headers, hub_callback_headers,
    name_missing_destination, render_endpoint,
};
use ferroloop_fspiop::endpoint::redacted;
use ferroloop_fspiop::jws::{self, Algorithm, ProtectedHeaders, SigningKey};
use ferroloop_messaging::{
    BatchHandler, Envelope, HandlerError, OutboundMessage, Outputs, ReceivedMessage, Topics,
};
use ferroloop_store::endpoints::{EndpointCache, ParticipantEndpoints};
use ferroloop_store::{MySqlPool, StoreError, transfers};
use http::{HeaderName, HeaderValue, Uri};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::delivery::{Delivery, Outcome, Outgoing, record_outcome};
use crate::matrix::{self, Callback, MatrixConfig, Origin, Plan, PlanError, Recipient};
use crate::retry::{self, Journal, RetryRecord};

/// The hub's JWS signing key and algorithm.
#[derive(Debug, Clone)]
pub struct Signer {
    pub key: SigningKey,
    pub algorithm: Algorithm,
}

#[derive(Debug)]
pub struct NotificationHandler {
    pool: MySqlPool,
    outputs: Outputs,
    matrix: MatrixConfig,
    signer: Option<Arc<Signer>>,
    endpoints: EndpointCache,
    delivery: Delivery,
    expiry_grace: Duration,
    /// Who writes the retry records, and when they are looked at.
    journal: Journal,
}

fn db_error(error: StoreError) -> HandlerError {
    let transient = error.is_transient();
    HandlerError::classified(error, transient)
}

fn count_event(action: &'static str, outcome: &'static str) {
    metrics::counter!("ferroloop_notifications_total", "action" => action, "outcome" => outcome)
        .increment(1);
}

/// A callback whose recipient is known by name.
struct Addressed<'a> {
    plan: &'a Plan,
    callback: &'a Callback,
    recipient: String,
}

impl NotificationHandler {
    pub fn new(
        pool: MySqlPool,
        topics: Topics,
        matrix: MatrixConfig,
        signer: Option<Signer>,
        delivery: Delivery,
        expiry_grace: Duration,
        journal: Journal,
    ) -> Self {
        Self {
            pool,
            outputs: Outputs::new(topics, "notification"),
            matrix,
            signer: signer.map(Arc::new),
            endpoints: EndpointCache::default(),
            delivery,
            expiry_grace,
            journal,
        }
    }

    /// The plan of a message, or nothing (counted, logged, and dead-lettered when the message
    /// itself is broken).
    fn decode(&self, message: &ReceivedMessage, output: &mut Vec<OutboundMessage>) -> Option<Plan> {
        let envelope = match Envelope::from_json_bytes(&message.payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                count_event("other", "undecodable");
                output.push(
                    self.outputs
                        .dead_letter(message, &format!("not an envelope: {error}")),
                );
                return None;
            }
        };
        match matrix::plan(&envelope, &self.matrix) {
            Ok(plan) => {
                count_event(plan.action, "planned");
                Some(plan)
            }
            Err(error @ PlanError::UnknownAction(_)) => {
                tracing::warn!(transfer_id = envelope.transfer_id(), %error,
                    "notification with an unknown action: no callback");
                count_event(error.action(), "unknown_action");
                None
            }
            Err(error @ PlanError::Skipped { .. }) => {
                tracing::info!(transfer_id = envelope.transfer_id(), %error, "notification skipped");
                count_event(error.action(), "skipped");
                None
            }
            Err(error) => {
                count_event(error.action(), "invalid");
                output.push(self.outputs.dead_letter(message, &error.to_string()));
                None
            }
        }
    }

    async fn handle_batch(
        &mut self,
        batch: &[ReceivedMessage],
    ) -> Result<Vec<OutboundMessage>, HandlerError> {
        let mut output = Vec::new();
        let plans: Vec<Plan> = batch
            .iter()
            .filter_map(|m| self.decode(m, &mut output))
            .collect();
        if plans.is_empty() {
            return Ok(output);
        }
        // Reads for the whole batch: the epoch, the payers of transfers whose message names
        // none, the endpoints of every recipient not cached.
        let mut conn = self.pool.acquire().await.map_err(|e| db_error(e.into()))?;
        self.endpoints.refresh(&mut conn).await.map_err(db_error)?;
        let payers = load_payers(&mut conn, &plans).await?;
        let chains: Vec<Vec<Addressed<'_>>> = plans.iter().map(|p| address(p, &payers)).collect();
        let names: Vec<&str> = chains
            .iter()
            .flatten()
            .map(|a| a.recipient.as_str())
            .collect();
        let endpoints = self
            .endpoints
            .get_many(&mut conn, &names)
            .await
            .map_err(db_error)?;
        drop(conn);
        let sends: Vec<Vec<Outgoing>> = chains
            .iter()
            .map(|chain| self.build_chain(chain, &endpoints))
            .collect();
        let topic = self.outputs.topics().notification_retry.clone();
        output.extend(
            self.hand_over(sends)
                .await
                .into_iter()
                .map(|record| record.message(&topic)),
        );
        Ok(output)
    }

    /// Hands the callbacks over: those of one event in order (the payer before the payee's copy,
    /// the PUT before the PATCH), the events concurrently; the delivery bounds what is in
    /// flight. Returns the retry records of the callbacks whose fate is still open.
    async fn hand_over(&self, sends: Vec<Vec<Outgoing>>) -> Vec<RetryRecord> {
        let journal = &self.journal;
        let open = futures::future::join_all(sends.into_iter().map(|chain| {
            let delivery = self.delivery.clone();
            async move {
                let mut records = Vec::new();
                for outgoing in chain {
                    let tracked = journal.track_new();
                    let fate = delivery.hand_over(outgoing.clone(), tracked.clone()).await;
                    records.extend(retry::record_after(
                        &delivery,
                        &outgoing,
                        &tracked,
                        fate,
                        journal.interval,
                    ));
                }
                records
            }
        }))
        .await;
        open.into_iter().flatten().collect()
    }

    /// The requests of one event's callbacks; one that cannot be built is counted and left out.
    fn build_chain(
        &self,
        chain: &[Addressed<'_>],
        endpoints: &HashMap<String, Arc<ParticipantEndpoints>>,
    ) -> Vec<Outgoing> {
        chain
            .iter()
            .filter_map(|a| match self.build(a, endpoints.get(&a.recipient)) {
                Ok(outgoing) => Some(outgoing),
                Err(outcome) => {
                    record_outcome(a.callback.kind, outcome, 0);
                    None
                }
            })
            .collect()
    }

    /// The HTTP request of a callback.
    fn build(
        &self,
        addressed: &Addressed<'_>,
        endpoints: Option<&Arc<ParticipantEndpoints>>,
    ) -> Result<Outgoing, Outcome> {
        let Addressed {
            plan,
            callback,
            recipient,
        } = addressed;
        let kind = callback.kind;
        let endpoint_type = kind.endpoint().endpoint_type();
        let transfer_id = plan.transfer_id.as_str();
        let Some(template) = endpoints.and_then(|e| e.get(endpoint_type)) else {
            tracing::warn!(
                transfer_id,
                recipient,
                endpoint_type,
                action = plan.action,
                "recipient has no callback endpoint of this type: callback not sent"
            );
            return Err(Outcome::NoEndpoint);
        };
        // The reason never carries the endpoint's user information or query: they may hold a
        // token (docs/callbacks.md#endpoints).
        let invalid = |reason: String| {
            tracing::error!(
                transfer_id,
                recipient,
                endpoint_type,
                action = plan.action,
                reason,
                "callback cannot be built"
            );
            Outcome::Invalid
        };
        let uri = callback_uri(template, &plan.transfer_id).map_err(invalid)?;
        let headers = self.headers(addressed).map_err(invalid)?;
        Ok(Outgoing {
            kind,
            method: kind.method(),
            uri,
            headers,
            body: callback.body.clone(),
            not_after: plan.expires_at.and_then(|at| self.instant_of(at)),
            transfer_id: transfer_id.to_owned(),
            recipient: recipient.clone(),
        })
    }

    /// A callback's headers: a forwarded request's own, or the hub's (signed when the hub
    /// signs), per docs/callbacks.md.
    fn headers(&self, addressed: &Addressed<'_>) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let Addressed {
            plan,
            callback,
            recipient,
        } = addressed;
        let method = callback.kind.method();
        let uri_path = callback_uri_path(callback.kind.endpoint(), &plan.transfer_id);
        let mut headers = match callback.origin {
            Origin::Forwarded => forwarded_callback_headers(&plan.headers, &method, &uri_path),
            Origin::Hub => hub_callback_headers(
                &self.matrix.hub_name,
                recipient,
                &method,
                &uri_path,
                self.matrix.content_version,
            ),
        }
        .map_err(|e| e.to_string())?;
        if callback.origin == Origin::Forwarded {
            name_missing_destination(&mut headers, recipient).map_err(|e| e.to_string())?;
        }
        if let (Origin::Hub, Some(signer)) = (callback.origin, &self.signer) {
            let signature = ProtectedHeaders::from_headers(&headers[..])
                .and_then(|protected| {
                    jws::sign(&callback.body, &protected, &signer.key, signer.algorithm)
                })
                .map_err(|e| format!("signing failed: {e}"))?;
            let value = HeaderValue::from_str(&signature).map_err(|e| format!("signature: {e}"))?;
            headers.push((HeaderName::from_static("fspiop-signature"), value));
        }
        Ok(headers)
    }

    /// The monotonic instant of a wall-clock time plus the expiry grace (now if that is past;
    /// none if it is too far ahead to represent).
    fn instant_of(&self, at: OffsetDateTime) -> Option<Instant> {
        let now = Instant::now();
        let grace = time::Duration::try_from(self.expiry_grace).unwrap_or(time::Duration::MAX);
        let left = (at - OffsetDateTime::now_utc()).saturating_add(grace);
        match Duration::try_from(left) {
            Ok(left) => now.checked_add(left),
            Err(_) => Some(now),
        }
    }
}

/// What is wrong with an endpoint template, without the template (it may hold a token).
fn template_problem(error: &CallbackError) -> String {
    match error {
        CallbackError::UnterminatedPlaceholder { .. } => {
            "the endpoint template has an unterminated placeholder".to_owned()
        }
        CallbackError::UnknownPlaceholder { name, .. } => {
            format!("the endpoint template uses the unknown placeholder {name:?}")
        }
        other => other.to_string(),
    }
}

/// Names the recipient of every callback of a plan; callbacks without one are counted and
/// dropped, and so is a confirmation copy that would go to the payer itself.
/// The endpoint template rendered for a transfer: an absolute http(s) URI, or why not (without
/// the endpoint's user information or query).
fn callback_uri(template: &str, transfer_id: &TransferId) -> Result<Uri, String> {
    let url = render_endpoint(template, transfer_id).map_err(|e| template_problem(&e))?;
    let uri: Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| format!("{}: {e}", redacted(&url)))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(format!(
            "{}: only absolute http:// and https:// endpoints are supported",
            redacted(&url)
        ));
    }
    Ok(uri)
}

/// The payer of every transfer whose plan has a callback for "the transfer's payer".
async fn load_payers(
    conn: &mut ferroloop_store::MySqlConnection,
    plans: &[Plan],
) -> Result<HashMap<TransferId, String>, HandlerError> {
    let needs_payer: Vec<TransferId> = plans
        .iter()
        .filter(|p| {
            p.callbacks
                .iter()
                .any(|c| c.recipient == Recipient::PayerOfTransfer)
        })
        .map(|p| p.transfer_id)
        .collect();
    if needs_payer.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(transfers::load_transfers(conn, &needs_payer, false)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|(id, t)| (id, t.payer_fsp))
        .collect())
}

fn address<'a>(plan: &'a Plan, payers: &HashMap<TransferId, String>) -> Vec<Addressed<'a>> {
    let mut chain: Vec<Addressed<'a>> = Vec::with_capacity(plan.callbacks.len());
    for callback in &plan.callbacks {
        let recipient = match &callback.recipient {
            Recipient::Named(name) => Some(name.clone()),
            Recipient::PayerOfTransfer => payers.get(&plan.transfer_id).cloned(),
            Recipient::Unknown(_) => None,
        };
        let Some(recipient) = recipient else {
            tracing::warn!(transfer_id = plan.transfer_id.as_str(), action = plan.action,
                role = ?callback.recipient, "no recipient for a callback: not sent");
            record_outcome(callback.kind, Outcome::NoRecipient, 0);
            continue;
        };
        if callback.copy
            && chain
                .first()
                .is_some_and(|first| first.recipient == recipient)
        {
            continue;
        }
        chain.push(Addressed {
            plan,
            callback,
            recipient,
        });
    }
    chain
}

impl BatchHandler for NotificationHandler {
    fn name(&self) -> &'static str {
        "notification"
    }

    async fn handle(
        &mut self,
        batch: &[ReceivedMessage],
    ) -> Result<Vec<OutboundMessage>, HandlerError> {
        self.handle_batch(batch).await
    }
}
