//! One batch of payee responses.

use std::collections::HashMap;

use ferroloop_core::api::{
    ErrorInformation, ErrorInformationObject, Extension, ExtensionList, FulfilBody, PatchBody,
};
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::hash::{RequestHash, request_hash};
use ferroloop_core::ilp::verify_fulfilment;
use ferroloop_core::payee_response::{Answer, PayeeRequest, Situation, classify};
use ferroloop_core::state::{ApiTransferState, TransferEvent, TransferState, transition};
use ferroloop_messaging::boundary::NO_PRINCIPAL;
use ferroloop_messaging::events::{self, action, event_type};
use ferroloop_messaging::{
    BatchHandler, BoundaryArgs, Envelope, EventState, HandlerError, OutboundMessage, Outputs,
    ReceivedMessage, Topics,
};
use ferroloop_store::transfers::{
    self, DecidingEvents, DuplicateCheck, DuplicateClaim, DuplicateRecord, ExtensionPhase,
    ExtensionRow, FulfilmentRow, StateChange, TransferErrorRow, TransferKind, TransferRecord,
};
use ferroloop_store::{MySqlPool, StoreError, db_time};
use time::OffsetDateTime;

#[derive(Debug)]
pub struct FulfilHandler {
    pool: MySqlPool,
    outputs: Outputs,
    hub: String,
    boundary: BoundaryArgs,
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

    const fn request(self) -> PayeeRequest {
        match self {
            Kind::Abort => PayeeRequest::Error,
            Kind::Commit | Kind::Reserve | Kind::Reject => PayeeRequest::Fulfil,
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
    /// The authenticated sender (the envelope's principal), never a header the DFSP wrote.
    sender: String,
}

impl Item {
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
    /// The event that made each change (by transfer id).
    deciding: DecidingEvents,
}

impl FulfilHandler {
    pub fn new(pool: MySqlPool, topics: Topics, hub: String) -> Self {
        Self {
            pool,
            outputs: Outputs::new(topics, "fulfil"),
            hub,
            boundary: BoundaryArgs::default(),
        }
    }

    /// Whether envelopes without a principal are believed (`ACCEPT_ENVELOPES_WITHOUT_PRINCIPAL`).
    #[must_use]
    pub fn with_boundary(mut self, boundary: BoundaryArgs) -> Self {
        self.boundary = boundary;
        self
    }

    fn decode(&self, message: &ReceivedMessage) -> Result<Item, OutboundMessage> {
        let envelope = Envelope::from_json_bytes(&message.payload).map_err(|error| {
            self.outputs
                .dead_letter(message, &format!("not an envelope: {error}"))
        })?;
        let Some(sender) = self.boundary.sender(&envelope).map(str::to_owned) else {
            return Err(self.outputs.dead_letter(message, NO_PRINCIPAL));
        };
        let to_sender = |error: FspiopError| {
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
            sender,
        })
    }

    /// An error only for the sender (action `commit` → `PUT …/error` to `to`); no state change.
    fn to_sender(&self, item: &Item, error: &FspiopError) -> OutboundMessage {
        self.outputs.notification(&events::error_from_switch(
            &item.envelope,
            &self.hub,
            &item.sender,
            action::COMMIT,
            error,
        ))
    }

    /// 3106 to the sender: the transfer was answered differently before.
    fn modified(&self, item: &Item) -> OutboundMessage {
        self.outputs.notification(&events::error_from_switch(
            &item.envelope,
            &self.hub,
            &item.sender,
            item.kind.duplicate_action(),
            &FspiopError::new(ErrorCode::MODIFIED_REQUEST),
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
            item,
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
        item: &Item,
        transfer: &TransferRecord,
        event: TransferEvent,
        reason: Option<&str>,
        now: OffsetDateTime,
        writes: &mut Writes,
    ) -> Result<TransferState, HandlerError> {
        let to = transition(Some(transfer.state), event)
            .map_err(|e| HandlerError::permanent(format!("{}: {e}", transfer.transfer_id)))?;
        writes
            .deciding
            .insert(transfer.transfer_id.clone(), item.event_id.clone());
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

        let passed = self.refuse_strangers(&items, &stored, &mut output);
        let records = claim(&mut tx, &items, &passed).await?;
        let waiting: Vec<&str> = passed
            .iter()
            .map(|&i| items[i].transfer_id.as_str())
            .filter(|id| stored[*id].state != TransferState::Reserved)
            .collect();
        let decided = transfers::load_deciding_events(&mut tx, &waiting)
            .await
            .map_err(db_error)?;

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
                self.another_request_came_first(
                    item,
                    record,
                    &transfer,
                    index,
                    &mut writes,
                    &mut output,
                );
                continue;
            }
            let decided_it = writes.deciding.get(&item.transfer_id) == Some(&item.event_id)
                || decided.get(&(item.transfer_id.clone(), transfer.state)) == Some(&item.event_id);
            let situation = Situation {
                request: item.kind.request(),
                state: transfer.state,
                redelivered: record.stored_before,
                decided_it,
            };
            let new_state = match classify(situation) {
                Answer::Decide => match item.kind {
                    Kind::Commit | Kind::Reserve | Kind::Reject => {
                        self.fulfil(item, &transfer, now, &mut writes, &mut output)?
                    }
                    Kind::Abort => self.abort(item, &transfer, now, &mut writes, &mut output)?,
                },
                answer => {
                    self.answer_without_deciding(
                        answer,
                        item,
                        &transfer,
                        index,
                        &mut writes,
                        &mut output,
                    )?;
                    None
                }
            };
            if let Some(state) = new_state {
                if let Some(t) = stored.get_mut(&item.transfer_id) {
                    t.state = state;
                }
                changed_in_batch.insert(item.transfer_id.clone(), index);
            }
        }

        transfers::change_states_decided_by(&mut tx, &writes.changes, &writes.deciding)
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
        self.repeat_from_storage(&mut tx, &items, &stored, &writes, &mut output)
            .await?;
        tx.commit().await.map_err(|e| db_error(e.into()))?;
        Ok(output)
    }

    /// The answers that need stored data: hub aborts produced again from the recorded error,
    /// and the state bodies of duplicates of finished transfers.
    async fn repeat_from_storage(
        &self,
        tx: &mut ferroloop_store::MySqlConnection,
        items: &[Item],
        stored: &HashMap<String, TransferRecord>,
        writes: &Writes,
        output: &mut Vec<OutboundMessage>,
    ) -> Result<(), HandlerError> {
        if !writes.replay_aborts.is_empty() {
            let ids: Vec<&str> = writes
                .replay_aborts
                .iter()
                .map(|i| items[*i].transfer_id.as_str())
                .collect();
            let errors = transfers::load_errors(&mut *tx, &ids)
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
            let views = transfers::load_views(&mut *tx, &ids)
                .await
                .map_err(db_error)?;
            for index in &writes.resend_state {
                let item = &items[*index];
                if let Some((_, view)) = views.get(&item.transfer_id) {
                    output.push(self.outputs.notification(&events::from_switch(
                        &item.envelope,
                        &self.hub,
                        &item.sender,
                        event_type::NOTIFICATION,
                        item.kind.duplicate_action(),
                        EventState::success(),
                        events::json_payload(&view.to_state_body()),
                        None,
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks that come before the duplicate check, so that a stranger's request cannot occupy
    /// the transfer's duplicate-check record: the transfer must exist and be a DFSP-to-DFSP
    /// transfer (a funds transfer answers as unknown), the authenticated sender must be its
    /// payee (names compare exactly), and a `PUT /error` must name the payer as its
    /// destination. Returns the indexes of the items that passed.
    fn refuse_strangers(
        &self,
        items: &[Item],
        stored: &HashMap<String, TransferRecord>,
        output: &mut Vec<OutboundMessage>,
    ) -> Vec<usize> {
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
            let refusal = match stored.get(&item.transfer_id) {
                Some(t) if t.kind != TransferKind::Transfer => Some(not_found()),
                None => Some(not_found()),
                Some(t) if item.sender != t.payee_fsp => {
                    metrics::counter!("ferroloop_fulfils_total", "outcome" => "not-payee")
                        .increment(1);
                    Some(validation(
                        "fspiop-source does not match payee fsp on the Fulfil callback response",
                    ))
                }
                Some(t) if item.kind == Kind::Abort && item.destination() != Some(&t.payer_fsp) => {
                    metrics::counter!("ferroloop_fulfils_total", "outcome" => "wrong-destination")
                        .increment(1);
                    Some(validation(
                        "fspiop-destination does not match payer fsp on the Error callback",
                    ))
                }
                Some(_) if item.kind == Kind::Reject => Some(validation(
                    "transferState ABORTED is not supported, use PUT /transfers/{ID}/error to abort",
                )),
                Some(_) => None,
            };
            match refusal {
                Some(error) => output.push(self.to_sender(item, &error)),
                None => passed.push(index),
            }
        }
        passed
    }

    /// A request whose kind's duplicate-check record another request holds: a DFSP resend.
    fn another_request_came_first(
        &self,
        item: &Item,
        record: &DuplicateRecord,
        transfer: &TransferRecord,
        index: usize,
        writes: &mut Writes,
        output: &mut Vec<OutboundMessage>,
    ) {
        if record.request_hash != Some(*item.hash.as_bytes()) {
            metrics::counter!("ferroloop_fulfils_total", "outcome" => "modified").increment(1);
            output.push(self.modified(item));
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
    }

    /// The payee's request meets a transfer that is not RESERVED
    /// (`ferroloop_core::payee_response`).
    fn answer_without_deciding(
        &self,
        answer: Answer,
        item: &Item,
        transfer: &TransferRecord,
        index: usize,
        writes: &mut Writes,
        output: &mut Vec<OutboundMessage>,
    ) -> Result<(), HandlerError> {
        let outcome = match answer {
            Answer::Decide => return Ok(()),
            Answer::RepeatAccepted => {
                output.push(self.accepted_output(item, transfer)?);
                "replay"
            }
            Answer::RepeatHubAbort => {
                writes.replay_aborts.push(index);
                "replay"
            }
            Answer::Nothing => "nothing-more",
            Answer::SendState => {
                writes.resend_state.push(index);
                "duplicate-resent"
            }
            Answer::Modified => {
                output.push(self.modified(item));
                "modified"
            }
            Answer::Expired => {
                output.push(self.to_sender(item, &FspiopError::new(ErrorCode::TRANSFER_EXPIRED)));
                "expired"
            }
            Answer::NotReserved => {
                output.push(self.to_sender(item, &validation("non-RESERVED transfer state")));
                "not-reserved"
            }
        };
        metrics::counter!("ferroloop_fulfils_total", "outcome" => outcome).increment(1);
        Ok(())
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
        if item.destination().is_some_and(|d| d != transfer.payer_fsp) {
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
        let to = self.change(
            item,
            transfer,
            TransferEvent::FulfilAccepted,
            None,
            now,
            writes,
        )?;
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
            item,
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

/// The answer to a request about a transfer the hub does not know as a DFSP-to-DFSP transfer.
fn not_found() -> FspiopError {
    FspiopError::with_detail(ErrorCode::INTERNAL_SERVER_ERROR, "transfer not found")
}

/// Claims the duplicate-check records of the items that passed, one statement per table.
async fn claim(
    tx: &mut ferroloop_store::MySqlConnection,
    items: &[Item],
    passed: &[usize],
) -> Result<HashMap<DuplicateCheck, HashMap<String, DuplicateRecord>>, HandlerError> {
    let mut claims: HashMap<DuplicateCheck, Vec<DuplicateClaim<'_>>> = HashMap::new();
    for &index in passed {
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
        let found = transfers::claim_duplicate_checks(tx, *check, list)
            .await
            .map_err(db_error)?;
        records.insert(*check, found);
    }
    Ok(records)
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
