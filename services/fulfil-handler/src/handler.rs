//! One batch of payee responses.

use std::collections::HashMap;

use ferroloop_core::api::{
    ErrorInformation, ErrorInformationObject, Extension, ExtensionList, FulfilBody, PatchBody,
};
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::hash::{RequestHash, request_hash};
use ferroloop_core::ilp::verify_fulfilment;
use ferroloop_core::state::{ApiTransferState, TransferEvent, TransferState, transition};
use ferroloop_messaging::events::{self, action, event_type};
use ferroloop_messaging::{
    BatchHandler, Envelope, EventState, HandlerError, OutboundMessage, Outputs, ReceivedMessage,
    Topics,
};
use ferroloop_store::transfers::{
    self, DuplicateCheck, DuplicateClaim, ExtensionPhase, ExtensionRow, FulfilmentRow, StateChange,
    TransferErrorRow, TransferRecord,
};
use ferroloop_store::{MySqlPool, StoreError, db_time};
use time::OffsetDateTime;

#[derive(Debug)]
pub struct FulfilHandler {
    pool: MySqlPool,
    outputs: Outputs,
    hub: String,
}

/// What the payee sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `PUT /transfers/{id}` with COMMITTED (or anything but RESERVED/ABORTED).
    Commit,
    /// `PUT /transfers/{id}` with RESERVED: commit, then PATCH the payee.
    Reserve,
    /// `PUT /transfers/{id}` with ABORTED: not a way to abort since FSPIOP v1.1.
    Reject,
    /// `PUT /transfers/{id}/error`.
    Abort,
}

impl Kind {
    fn parse(action: &str) -> Option<Self> {
        match action {
            action::COMMIT => Some(Kind::Commit),
            action::RESERVE => Some(Kind::Reserve),
            action::REJECT => Some(Kind::Reject),
            action::ABORT => Some(Kind::Abort),
            _ => None,
        }
    }

    const fn duplicate_check(self) -> DuplicateCheck {
        match self {
            Kind::Abort => DuplicateCheck::Error,
            Kind::Commit | Kind::Reserve | Kind::Reject => DuplicateCheck::Fulfil,
        }
    }

    const fn duplicate_action(self) -> &'static str {
        match self {
            Kind::Abort => action::ABORT_DUPLICATE,
            Kind::Commit | Kind::Reserve | Kind::Reject => action::FULFIL_DUPLICATE,
        }
    }

    /// The state this step leaves an accepted request in.
    const fn produces(self) -> TransferState {
        match self {
            Kind::Abort => TransferState::ReceivedError,
            Kind::Commit | Kind::Reserve | Kind::Reject => TransferState::ReceivedFulfil,
        }
    }
}

#[derive(Debug)]
struct Item {
    envelope: Envelope,
    kind: Kind,
    transfer_id: String,
    hash: RequestHash,
    bytes: Vec<u8>,
    event_id: String,
}

impl Item {
    fn source(&self) -> &str {
        self.envelope
            .header("fspiop-source")
            .unwrap_or(self.envelope.from.as_str())
    }

    fn destination(&self) -> Option<&str> {
        self.envelope.header("fspiop-destination")
    }

    /// `Content-Type: …;version=1.0`.
    fn is_version_1_0(&self) -> bool {
        self.envelope
            .header("content-type")
            .is_some_and(|ct| ct.replace(' ', "").ends_with("version=1.0"))
    }
}

fn db_error(error: StoreError) -> HandlerError {
    let transient = error.is_transient();
    HandlerError::classified(error, transient)
}

fn validation(detail: &str) -> FspiopError {
    FspiopError::with_detail(ErrorCode::VALIDATION_ERROR, detail)
}

/// The writes and reads one batch collects.
#[derive(Debug, Default)]
struct Writes {
    changes: Vec<StateChange>,
    fulfilments: Vec<FulfilmentRow>,
    extensions: Vec<ExtensionRow>,
    errors: Vec<TransferErrorRow>,
    /// Finished duplicates whose state must be read: (item index).
    resend_state: Vec<usize>,
    /// Replayed fulfilments whose hub abort must be produced again: (item index).
    replay_aborts: Vec<usize>,
}

impl FulfilHandler {
    pub fn new(pool: MySqlPool, topics: Topics, hub: String) -> Self {
        Self {
            pool,
            outputs: Outputs::new(topics, "fulfil"),
            hub,
        }
    }

    fn decode(&self, message: &ReceivedMessage) -> Result<Item, OutboundMessage> {
        let envelope = Envelope::from_json_bytes(&message.payload).map_err(|error| {
            self.outputs
                .dead_letter(message, &format!("not an envelope: {error}"))
        })?;
        let to_sender = |error: FspiopError| {
            let sender = envelope
                .header("fspiop-source")
                .unwrap_or(envelope.from.as_str())
                .to_owned();
            self.outputs.notification(&events::error_from_switch(
                &envelope,
                &self.hub,
                &sender,
                action::COMMIT,
                &error,
            ))
        };
        let Some(kind) = Kind::parse(envelope.action()) else {
            return Err(to_sender(FspiopError::with_detail(
                ErrorCode::INTERNAL_SERVER_ERROR,
                format!(
                    "Invalid event action:({}) and/or type:({})",
                    envelope.action(),
                    envelope.event_type()
                ),
            )));
        };
        let bytes = envelope
            .original_body()
            .map_err(|e| to_sender(validation(&format!("payload could not be decoded: {e}"))))?;
        let hash = request_hash(&bytes)
            .map_err(|e| to_sender(validation(&format!("payload is not JSON: {e}"))))?;
        let event_id = envelope.metadata.event.id.clone();
        Ok(Item {
            transfer_id: envelope.transfer_id().to_owned(),
            envelope,
            kind,
            hash,
            bytes,
            event_id,
        })
    }

    /// An error only for the sender (action `commit` → `PUT …/error` to `to`); no state change.
    fn to_sender(&self, item: &Item, error: &FspiopError) -> OutboundMessage {
        self.outputs.notification(&events::error_from_switch(
            &item.envelope,
            &self.hub,
            item.source(),
            action::COMMIT,
            error,
        ))
    }

    /// `PATCH` with ABORTED to a payee that answered RESERVED (`reserved-aborted`,
    /// docs/callbacks.md#the-reserved-flow).
    fn reserved_aborted(
        &self,
        item: &Item,
        transfer: &TransferRecord,
        error: &ErrorInformation,
        aborted_at: OffsetDateTime,
    ) -> OutboundMessage {
        let mut patch = PatchBody::new(aborted_at, ApiTransferState::Aborted);
        patch.extension_list = Some(ExtensionList {
            extension: vec![Extension {
                key: "cause".to_owned(),
                value: format!("{}: {}", error.error_code, error.error_description)
                    .chars()
                    .take(ferroloop_core::api::EXTENSION_VALUE_MAX_CHARS)
                    .collect(),
            }],
        });
        self.outputs.notification(&events::from_switch(
            &item.envelope,
            &self.hub,
            &transfer.payee_fsp,
            event_type::NOTIFICATION,
            action::RESERVED_ABORTED,
            EventState::success(),
            events::json_payload(&patch),
            Some((&transfer.payer_fsp, &transfer.payee_fsp)),
        ))
    }

    /// The hub aborts a reserved transfer (invalid fulfilment, wrong destination): the payer's
    /// reservation is reversed by the position handler, which then tells payer and payee.
    #[allow(clippy::too_many_arguments)]
    fn abort_validation(
        &self,
        item: &Item,
        transfer: &TransferRecord,
        error: &FspiopError,
        now: OffsetDateTime,
        writes: &mut Writes,
        output: &mut Vec<OutboundMessage>,
    ) -> Result<TransferState, HandlerError> {
        let to = self.change(
            transfer,
            TransferEvent::PayeeAbort,
            Some(error.description()),
            now,
            writes,
        )?;
        writes.errors.push(TransferErrorRow {
            transfer_id: transfer.transfer_id.clone(),
            state: to,
            error_code: error.code().as_u16(),
            error_description: error.description().to_owned(),
        });
        let aborted_at = db_time(now).assume_utc();
        output.extend(self.abort_validation_output(
            item,
            transfer,
            &error.to_error_information(),
            aborted_at,
        )?);
        Ok(to)
    }

    /// What a hub abort produces (also on replay, from the recorded error): the reversal for
    /// the position handler and, in the RESERVED flow, the PATCH to the payee.
    fn abort_validation_output(
        &self,
        item: &Item,
        transfer: &TransferRecord,
        error: &ErrorInformation,
        aborted_at: OffsetDateTime,
    ) -> Result<Vec<OutboundMessage>, HandlerError> {
        let message = events::from_switch(
            &item.envelope,
            &self.hub,
            &transfer.payer_fsp,
            event_type::POSITION,
            action::ABORT_VALIDATION,
            events::error_information_state(error),
            events::json_payload(&ErrorInformationObject {
                error_information: error.clone(),
            }),
            Some((&transfer.payer_fsp, &transfer.payee_fsp)),
        );
        let mut output = vec![self.outputs.position(&message, payer_account(transfer)?)];
        if item.kind == Kind::Reserve {
            output.push(self.reserved_aborted(item, transfer, error, aborted_at));
        }
        Ok(output)
    }

    fn change(
        &self,
        transfer: &TransferRecord,
        event: TransferEvent,
        reason: Option<&str>,
        now: OffsetDateTime,
        writes: &mut Writes,
    ) -> Result<TransferState, HandlerError> {
        let to = transition(Some(transfer.state), event)
            .map_err(|e| HandlerError::permanent(format!("{}: {e}", transfer.transfer_id)))?;
        writes.changes.push(StateChange {
            transfer_id: transfer.transfer_id.clone(),
            from: Some(transfer.state),
            to,
            reason: reason.map(str::to_owned),
            at: db_time(now),
        });
        Ok(to)
    }

    /// The output of an accepted request (also what a replay produces again).
    fn accepted_output(
        &self,
        item: &Item,
        transfer: &TransferRecord,
    ) -> Result<OutboundMessage, HandlerError> {
        Ok(match item.kind {
            Kind::Abort => {
                let (code, description) = payee_error(&item.bytes);
                let message = item.envelope.next_event(
                    event_type::POSITION,
                    action::ABORT,
                    EventState::error(code, description),
                );
                self.outputs.position(&message, payer_account(transfer)?)
            }
            Kind::Commit | Kind::Reserve | Kind::Reject => {
                let action = if item.kind == Kind::Reserve {
                    action::RESERVE
                } else {
                    action::COMMIT
                };
                let message = events::forward(&item.envelope, event_type::POSITION, action);
                let payee_account = transfer.payee_account_id.ok_or_else(|| {
                    HandlerError::permanent(format!(
                        "transfer {} has no payee account",
                        transfer.transfer_id
                    ))
                })?;
                self.outputs.position(&message, payee_account)
            }
        })
    }

    async fn handle_batch(
        &mut self,
        batch: &[ReceivedMessage],
    ) -> Result<Vec<OutboundMessage>, HandlerError> {
        let mut output = Vec::new();
        let mut items = Vec::with_capacity(batch.len());
        for message in batch {
            match self.decode(message) {
                Ok(item) => items.push(item),
                Err(answer) => output.push(answer),
            }
        }
        if items.is_empty() {
            return Ok(output);
        }
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await.map_err(|e| db_error(e.into()))?;
        let ids: Vec<&str> = items.iter().map(|i| i.transfer_id.as_str()).collect();
        let mut stored = transfers::load_transfers(&mut tx, &ids, true)
            .await
            .map_err(db_error)?;

        // Checks that come before the duplicate check: they must not let a stranger's request
        // occupy the transfer's duplicate-check record.
        let mut passed = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            if item.kind == Kind::Reserve && item.is_version_1_0() {
                // FSPIOP v1.0 has no PATCH to tell the payee the outcome: Mojaloop drops it and
                // the transfer times out.
                tracing::info!(transfer_id = %item.transfer_id, "v1.0 RESERVED response dropped");
                metrics::counter!("ferroloop_fulfils_total", "outcome" => "dropped-v1.0-reserved")
                    .increment(1);
                continue;
            }
            let Some(transfer) = stored.get(&item.transfer_id) else {
                output.push(self.to_sender(
                    item,
                    &FspiopError::with_detail(
                        ErrorCode::INTERNAL_SERVER_ERROR,
                        "transfer not found",
                    ),
                ));
                continue;
            };
            if !item.source().eq_ignore_ascii_case(&transfer.payee_fsp) {
                metrics::counter!("ferroloop_fulfils_total", "outcome" => "not-payee").increment(1);
                output.push(self.to_sender(
                    item,
                    &validation(
                        "fspiop-source does not match payee fsp on the Fulfil callback response",
                    ),
                ));
                continue;
            }
            if item.kind == Kind::Reject {
                output.push(self.to_sender(
                    item,
                    &validation("transferState ABORTED is not supported, use PUT /transfers/{ID}/error to abort"),
                ));
                continue;
            }
            passed.push(index);
        }

        // Duplicate checks, one statement per table.
        let mut claims: HashMap<DuplicateCheck, Vec<DuplicateClaim<'_>>> = HashMap::new();
        for &index in &passed {
            let item = &items[index];
            claims
                .entry(item.kind.duplicate_check())
                .or_default()
                .push((
                    item.transfer_id.as_str(),
                    *item.hash.as_bytes(),
                    item.event_id.as_str(),
                ));
        }
        let mut records = HashMap::new();
        for (check, list) in &claims {
            let found = transfers::claim_duplicate_checks(&mut tx, *check, list)
                .await
                .map_err(db_error)?;
            records.insert(*check, found);
        }

        let mut writes = Writes::default();
        let mut changed_in_batch: HashMap<String, usize> = HashMap::new();
        for &index in &passed {
            let item = &items[index];
            if changed_in_batch
                .get(&item.transfer_id)
                .is_some_and(|first| items[*first].event_id == item.event_id)
            {
                continue; // delivered twice in one batch
            }
            let transfer = stored[&item.transfer_id].clone();
            let record = records
                .get(&item.kind.duplicate_check())
                .and_then(|r| r.get(&item.transfer_id))
                .ok_or_else(|| {
                    HandlerError::permanent(format!(
                        "duplicate check of {} missing",
                        item.transfer_id
                    ))
                })?;
            if record.source_event_id != item.event_id {
                // Another request for this transfer came first.
                let duplicate_action = item.kind.duplicate_action();
                if record.request_hash != Some(*item.hash.as_bytes()) {
                    metrics::counter!("ferroloop_fulfils_total", "outcome" => "modified")
                        .increment(1);
                    output.push(self.outputs.notification(&events::error_from_switch(
                        &item.envelope,
                        &self.hub,
                        item.source(),
                        duplicate_action,
                        &FspiopError::new(ErrorCode::MODIFIED_REQUEST),
                    )));
                } else if matches!(
                    transfer.state.api_state(),
                    ApiTransferState::Committed | ApiTransferState::Aborted
                ) {
                    metrics::counter!("ferroloop_fulfils_total", "outcome" => "duplicate-resent")
                        .increment(1);
                    writes.resend_state.push(index);
                } else {
                    metrics::counter!("ferroloop_fulfils_total", "outcome" => "duplicate-ignored")
                        .increment(1);
                }
                continue;
            }
            if transfer.state == item.kind.produces() {
                // Our own earlier work, replayed: produce the same output again.
                metrics::counter!("ferroloop_fulfils_total", "outcome" => "replay").increment(1);
                output.push(self.accepted_output(item, &transfer)?);
                continue;
            }
            if item.kind != Kind::Abort && transfer.state == TransferState::ReceivedError {
                // Our fulfilment, replayed after it made the hub abort the transfer (invalid
                // fulfilment, wrong destination): produce that abort again.
                metrics::counter!("ferroloop_fulfils_total", "outcome" => "replay").increment(1);
                writes.replay_aborts.push(index);
                continue;
            }
            if transfer.state != TransferState::Reserved {
                output.push(self.to_sender(item, &validation("non-RESERVED transfer state")));
                continue;
            }
            let new_state = match item.kind {
                Kind::Commit | Kind::Reserve | Kind::Reject => {
                    self.fulfil(item, &transfer, now, &mut writes, &mut output)?
                }
                Kind::Abort => self.abort(item, &transfer, now, &mut writes, &mut output)?,
            };
            if let Some(state) = new_state {
                if let Some(t) = stored.get_mut(&item.transfer_id) {
                    t.state = state;
                }
                changed_in_batch.insert(item.transfer_id.clone(), index);
            }
        }

        transfers::change_states(&mut tx, &writes.changes)
            .await
            .map_err(db_error)?;
        transfers::insert_fulfilments(&mut tx, &writes.fulfilments)
            .await
            .map_err(db_error)?;
        transfers::insert_extensions(&mut tx, &writes.extensions)
            .await
            .map_err(db_error)?;
        transfers::insert_errors(&mut tx, &writes.errors)
            .await
            .map_err(db_error)?;
        if !writes.replay_aborts.is_empty() {
            let ids: Vec<&str> = writes
                .replay_aborts
                .iter()
                .map(|i| items[*i].transfer_id.as_str())
                .collect();
            let errors = transfers::load_errors(&mut tx, &ids)
                .await
                .map_err(db_error)?;
            for index in &writes.replay_aborts {
                let item = &items[*index];
                let (Some(error), Some(transfer)) =
                    (errors.get(&item.transfer_id), stored.get(&item.transfer_id))
                else {
                    continue;
                };
                let information = ErrorInformation {
                    error_code: error.error_code.to_string(),
                    error_description: error.error_description.clone(),
                    extension_list: None,
                };
                output.extend(self.abort_validation_output(
                    item,
                    transfer,
                    &information,
                    transfer.state_changed_at.assume_utc(),
                )?);
            }
        }
        if !writes.resend_state.is_empty() {
            let ids: Vec<&str> = writes
                .resend_state
                .iter()
                .map(|i| items[*i].transfer_id.as_str())
                .collect();
            let views = transfers::load_views(&mut tx, &ids)
                .await
                .map_err(db_error)?;
            for index in &writes.resend_state {
                let item = &items[*index];
                if let Some((_, view)) = views.get(&item.transfer_id) {
                    output.push(self.outputs.notification(&events::from_switch(
                        &item.envelope,
                        &self.hub,
                        item.source(),
                        event_type::NOTIFICATION,
                        item.kind.duplicate_action(),
                        EventState::success(),
                        events::json_payload(&view.to_state_body()),
                        None,
                    )));
                }
            }
        }
        tx.commit().await.map_err(|e| db_error(e.into()))?;
        Ok(output)
    }

    /// A `PUT` with a fulfilment for a RESERVED transfer. Returns the new state if it changed.
    fn fulfil(
        &self,
        item: &Item,
        transfer: &TransferRecord,
        now: OffsetDateTime,
        writes: &mut Writes,
        output: &mut Vec<OutboundMessage>,
    ) -> Result<Option<TransferState>, HandlerError> {
        let body: Option<FulfilBody> = serde_json::from_slice(&item.bytes).ok();
        let fulfilment = body.as_ref().and_then(|b| b.fulfilment.clone());
        // Destination must be the payer (when named): a payee answering to someone else aborts.
        if item
            .destination()
            .is_some_and(|d| !d.eq_ignore_ascii_case(&transfer.payer_fsp))
        {
            metrics::counter!("ferroloop_fulfils_total", "outcome" => "wrong-destination")
                .increment(1);
            let error = validation(
                "fspiop-destination does not match payer fsp on the Fulfil callback response",
            );
            return self
                .abort_validation(item, transfer, &error, now, writes, output)
                .map(Some);
        }
        let valid = match (&fulfilment, &transfer.ilp_condition) {
            (Some(f), Some(condition)) => verify_fulfilment(f, condition).is_ok(),
            _ => false,
        };
        if !valid {
            metrics::counter!("ferroloop_fulfils_total", "outcome" => "invalid-fulfilment")
                .increment(1);
            return self
                .abort_validation(
                    item,
                    transfer,
                    &validation("invalid fulfilment"),
                    now,
                    writes,
                    output,
                )
                .map(Some);
        }
        if is_expired(transfer, now) {
            metrics::counter!("ferroloop_fulfils_total", "outcome" => "expired").increment(1);
            output.push(self.to_sender(item, &FspiopError::new(ErrorCode::TRANSFER_EXPIRED)));
            return Ok(None);
        }
        let to = self.change(transfer, TransferEvent::FulfilAccepted, None, now, writes)?;
        let completed = body
            .as_ref()
            .and_then(|b| b.completed_timestamp.as_deref())
            .and_then(|t| ferroloop_core::fspiop_time::parse(t).ok())
            .unwrap_or(now);
        writes.fulfilments.push(FulfilmentRow {
            transfer_id: transfer.transfer_id.clone(),
            ilp_fulfilment: fulfilment,
            completed_at: db_time(completed),
            requested_state: if item.kind == Kind::Reserve {
                "RESERVED"
            } else {
                "COMMITTED"
            },
        });
        writes.extensions.extend(
            body.iter()
                .flat_map(|b| b.extension_list.iter())
                .flat_map(|l| l.extension.iter())
                .map(|e| ExtensionRow {
                    transfer_id: transfer.transfer_id.clone(),
                    phase: ExtensionPhase::Fulfil,
                    key: e.key.clone(),
                    value: e.value.clone(),
                }),
        );
        metrics::counter!("ferroloop_fulfils_total", "outcome" => "accepted").increment(1);
        output.push(self.accepted_output(item, transfer)?);
        Ok(Some(to))
    }

    /// A `PUT /error` for a RESERVED transfer.
    fn abort(
        &self,
        item: &Item,
        transfer: &TransferRecord,
        now: OffsetDateTime,
        writes: &mut Writes,
        output: &mut Vec<OutboundMessage>,
    ) -> Result<Option<TransferState>, HandlerError> {
        if is_expired(transfer, now) {
            output.push(self.to_sender(item, &FspiopError::new(ErrorCode::TRANSFER_EXPIRED)));
            return Ok(None);
        }
        let (code, description) = payee_error(&item.bytes);
        let to = self.change(
            transfer,
            TransferEvent::PayeeAbort,
            Some(&description),
            now,
            writes,
        )?;
        writes.errors.push(TransferErrorRow {
            transfer_id: transfer.transfer_id.clone(),
            state: to,
            error_code: code,
            error_description: description,
        });
        if let Ok(body) = serde_json::from_slice::<ErrorInformationObject>(&item.bytes) {
            writes.extensions.extend(
                body.error_information
                    .extension_list
                    .iter()
                    .flat_map(|l| l.extension.iter())
                    .map(|e| ExtensionRow {
                        transfer_id: transfer.transfer_id.clone(),
                        phase: ExtensionPhase::Error,
                        key: e.key.clone(),
                        value: e.value.clone(),
                    }),
            );
        }
        metrics::counter!("ferroloop_fulfils_total", "outcome" => "payee-abort").increment(1);
        output.push(self.accepted_output(item, transfer)?);
        Ok(Some(to))
    }
}

/// The payee's error: its code when the catalogue knows it, else 3100 "API specification
/// undefined errorCode" (the transfer still aborts, docs/transfer-states.md#payee-responses).
fn payee_error(bytes: &[u8]) -> (u16, String) {
    let undefined = || {
        let error = FspiopError::with_detail(
            ErrorCode::VALIDATION_ERROR,
            "API specification undefined errorCode",
        );
        (error.code().as_u16(), error.description().to_owned())
    };
    let Ok(body) = serde_json::from_slice::<ErrorInformationObject>(bytes) else {
        return undefined();
    };
    match ErrorCode::parse(&body.error_information.error_code) {
        Ok(code) if code.entry().is_some() => (
            code.as_u16(),
            body.error_information
                .error_description
                .chars()
                .take(128)
                .collect(),
        ),
        _ => undefined(),
    }
}

fn is_expired(transfer: &TransferRecord, now: OffsetDateTime) -> bool {
    transfer.expiration.is_some_and(|e| e.assume_utc() <= now)
}

fn payer_account(transfer: &TransferRecord) -> Result<u32, HandlerError> {
    transfer.payer_account_id.ok_or_else(|| {
        HandlerError::permanent(format!(
            "transfer {} has no payer account",
            transfer.transfer_id
        ))
    })
}

impl BatchHandler for FulfilHandler {
    fn name(&self) -> &'static str {
        "fulfil"
    }

    async fn handle(
        &mut self,
        batch: &[ReceivedMessage],
    ) -> Result<Vec<OutboundMessage>, HandlerError> {
        self.handle_batch(batch).await
    }
}
