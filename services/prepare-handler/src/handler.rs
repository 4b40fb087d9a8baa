//! One batch of prepares: decode, claim duplicate checks, decide each message in order, write
//! the batch in one transaction, return the output messages.

use std::collections::HashMap;
use std::sync::Arc;

use ferroloop_core::api::{ErrorInformation, Extension, PrepareBody};
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::hash::{RequestHash, request_hash};
use ferroloop_core::id::TransferId;
use ferroloop_core::prepare::{AccountView, ParticipantView, PrepareCheck, validate_prepare};
use ferroloop_core::state::{ApiTransferState, TransferEvent, TransferState, transition};
use ferroloop_core::view::TransferView;
use ferroloop_messaging::boundary::NO_PRINCIPAL;
use ferroloop_messaging::events::{self, action, event_type};
use ferroloop_messaging::{
    BatchHandler, BoundaryArgs, Envelope, EventState, HandlerError, OutboundMessage, Outputs,
    ReceivedMessage, Topics,
};
use ferroloop_store::participants::{ParticipantCache, ParticipantRecord};
use ferroloop_store::transfers::{
    self, DuplicateCheck, ExtensionPhase, ExtensionRow, NewTransfer, TransferErrorRow,
    TransferKind, TransferRecord,
};
use ferroloop_store::{MySqlPool, StoreError, db_time};
use time::OffsetDateTime;

/// Widths of the columns an INVALID prepare's free text lands in.
const FSP_NAME_MAX_CHARS: usize = 32;
const CONDITION_MAX_CHARS: usize = 48;

#[derive(Debug)]
pub struct PrepareHandler {
    pool: MySqlPool,
    outputs: Outputs,
    hub: String,
    allow_on_us: bool,
    max_expiry: time::Duration,
    boundary: BoundaryArgs,
    participants: ParticipantCache,
}

/// A decoded prepare message.
#[derive(Debug)]
struct Item {
    envelope: Envelope,
    body: PrepareBody,
    transfer_id: TransferId,
    hash: RequestHash,
    event_id: String,
}

/// What this batch created for a transfer id (for duplicates later in the same batch).
#[derive(Debug, Clone)]
struct Created {
    hash: RequestHash,
    view: TransferView,
}

fn db_error(error: StoreError) -> HandlerError {
    let transient = error.is_transient();
    HandlerError::classified(error, transient)
}

impl PrepareHandler {
    pub fn new(pool: MySqlPool, topics: Topics, hub: String, allow_on_us: bool) -> Self {
        Self {
            pool,
            outputs: Outputs::new(topics, "prepare"),
            hub,
            allow_on_us,
            max_expiry: time::Duration::seconds(i64::from(
                ferroloop_core::prepare::DEFAULT_MAX_EXPIRY_SECONDS,
            )),
            boundary: BoundaryArgs::default(),
            participants: ParticipantCache::default(),
        }
    }

    /// How far ahead an expiration may lie (`TRANSFER_MAX_EXPIRY_SECONDS`).
    #[must_use]
    pub fn with_max_expiry(mut self, max_expiry: time::Duration) -> Self {
        self.max_expiry = max_expiry;
        self
    }

    /// Whether envelopes without a principal are believed (`ACCEPT_ENVELOPES_WITHOUT_PRINCIPAL`).
    #[must_use]
    pub fn with_boundary(mut self, boundary: BoundaryArgs) -> Self {
        self.boundary = boundary;
        self
    }

    /// Decodes a message, or returns what to send instead (an error to the sender, or the
    /// message itself to the dead-letter topic when there is nobody to answer).
    fn decode(&self, message: &ReceivedMessage) -> Result<Item, OutboundMessage> {
        let envelope = match Envelope::from_json_bytes(&message.payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                return Err(self
                    .outputs
                    .dead_letter(message, &format!("not an envelope: {error}")));
            }
        };
        // Every answer goes to the authenticated sender; without one there is nobody to answer.
        let Some(sender) = self.boundary.sender(&envelope) else {
            return Err(self.outputs.dead_letter(message, NO_PRINCIPAL));
        };
        if envelope.action() != action::PREPARE {
            let error = FspiopError::with_detail(
                ErrorCode::INTERNAL_SERVER_ERROR,
                format!(
                    "Invalid event action:({}) and/or type:({})",
                    envelope.action(),
                    envelope.event_type()
                ),
            );
            return Err(self.notification(&events::error_from_switch(
                &envelope,
                &self.hub,
                sender,
                action::PREPARE,
                &error,
            )));
        }
        let invalid = |detail: String| {
            let error = FspiopError::with_detail(ErrorCode::VALIDATION_ERROR, detail);
            self.notification(&events::error_from_switch(
                &envelope,
                &self.hub,
                sender,
                action::PREPARE,
                &error,
            ))
        };
        let bytes = envelope
            .original_body()
            .map_err(|e| invalid(format!("Payload could not be decoded: {e}")))?;
        let hash =
            request_hash(&bytes).map_err(|e| invalid(format!("Payload is not JSON: {e}")))?;
        let body: PrepareBody = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("Payload is not a transfer prepare: {e}")))?;
        // Only the payer may prepare: a request the adapter authenticated as anyone else is
        // answered to its sender alone, and stores nothing (it must not occupy the id).
        if sender != body.payer_fsp {
            let error = FspiopError::with_detail(
                ErrorCode::VALIDATION_ERROR,
                "FSPIOP-Source header should match Payer",
            );
            return Err(self.notification(&events::error_from_switch(
                &envelope,
                &self.hub,
                sender,
                action::PREPARE,
                &error,
            )));
        }
        let transfer_id = TransferId::parse(&body.transfer_id)
            .map_err(|e| invalid(format!("transferId {} is invalid: {e}", body.transfer_id)))?;
        let event_id = envelope.metadata.event.id.clone();
        Ok(Item {
            envelope,
            body,
            transfer_id,
            hash,
            event_id,
        })
    }

    fn notification(&self, envelope: &Envelope) -> OutboundMessage {
        self.outputs.notification(envelope)
    }

    fn position(&self, item: &Item, payer_account_id: u32) -> OutboundMessage {
        let message = events::forward(&item.envelope, event_type::POSITION, action::PREPARE);
        self.outputs.position(&message, payer_account_id)
    }

    fn error_to_payer(&self, item: &Item, error: &FspiopError) -> OutboundMessage {
        self.notification(&events::error_from_switch(
            &item.envelope,
            &self.hub,
            &item.body.payer_fsp,
            action::PREPARE,
            error,
        ))
    }

    fn state_to_payer(&self, item: &Item, view: &TransferView) -> OutboundMessage {
        self.notification(&events::from_switch(
            &item.envelope,
            &self.hub,
            &item.body.payer_fsp,
            event_type::NOTIFICATION,
            action::PREPARE_DUPLICATE,
            EventState::success(),
            events::json_payload(&view.to_state_body()),
            None,
        ))
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
        let now_db = db_time(now);
        let mut tx = self.pool.begin().await.map_err(|e| db_error(e.into()))?;

        // Reads for the whole batch.
        self.participants.refresh(&mut tx).await.map_err(db_error)?;
        let names: Vec<&str> = items
            .iter()
            .flat_map(|i| [i.body.payer_fsp.as_str(), i.body.payee_fsp.as_str()])
            .filter(|n| n.chars().count() <= FSP_NAME_MAX_CHARS)
            .collect();
        let participants = self
            .participants
            .get_many(&mut tx, &names)
            .await
            .map_err(db_error)?;
        let claims: Vec<(&str, [u8; 32], &str)> = items
            .iter()
            .map(|i| {
                (
                    i.transfer_id.as_str(),
                    *i.hash.as_bytes(),
                    i.event_id.as_str(),
                )
            })
            .collect();
        let records = transfers::claim_duplicate_checks(&mut tx, DuplicateCheck::Prepare, &claims)
            .await
            .map_err(db_error)?;
        let ids: Vec<&str> = items.iter().map(|i| i.transfer_id.as_str()).collect();
        let existing = transfers::load_transfers(&mut tx, &ids, false)
            .await
            .map_err(db_error)?;

        // Decide in batch order.
        let mut new_transfers = Vec::new();
        let mut extensions = Vec::new();
        let mut ilp_packets: Vec<(String, String)> = Vec::new();
        let mut timeouts = Vec::new();
        let mut errors = Vec::new();
        let mut created: HashMap<String, Created> = HashMap::new();
        let mut replays_invalid: Vec<usize> = Vec::new();
        let mut resend_state: Vec<usize> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let id = item.transfer_id.as_str();
            let Some(record) = records.get(id) else {
                return Err(HandlerError::permanent(format!(
                    "duplicate check record of {id} missing after claim"
                )));
            };
            let ours = record.source_event_id == item.event_id;
            let stored = existing.get(id);
            let in_batch = created.get(id);
            if ours && stored.is_none() && in_batch.is_none() {
                // A new transfer.
                let outcome = self.create(item, &participants, now);
                match outcome {
                    Created2::Valid {
                        record,
                        payer_account_id,
                    } => {
                        timeouts.push((id.to_owned(), record.expiration.unwrap_or(now_db)));
                        ilp_packets.push((id.to_owned(), item.body.ilp_packet.clone()));
                        output.push(self.position(item, payer_account_id));
                        metrics::counter!("ferroloop_prepares_total", "outcome" => "received")
                            .increment(1);
                        created.insert(
                            id.to_owned(),
                            Created {
                                hash: item.hash,
                                view: view_of(&record, item, None),
                            },
                        );
                        new_transfers.push(NewTransfer {
                            record,
                            reason: None,
                        });
                    }
                    Created2::Invalid { record, reason } => {
                        let error =
                            FspiopError::with_detail(ErrorCode::VALIDATION_ERROR, reason.clone());
                        errors.push(TransferErrorRow {
                            transfer_id: id.to_owned(),
                            state: TransferState::Invalid,
                            error_code: error.code().as_u16(),
                            error_description: error.description().to_owned(),
                        });
                        output.push(self.error_to_payer(item, &error));
                        metrics::counter!("ferroloop_prepares_total", "outcome" => "invalid")
                            .increment(1);
                        created.insert(
                            id.to_owned(),
                            Created {
                                hash: item.hash,
                                view: view_of(
                                    &record,
                                    item,
                                    Some((error.code().as_u16(), error.description().to_owned())),
                                ),
                            },
                        );
                        new_transfers.push(NewTransfer {
                            record,
                            reason: Some(reason),
                        });
                    }
                }
                extensions.extend(prepare_extensions(item));
            } else if ours && in_batch.is_some() {
                // Delivered twice within this batch: answered once already.
                continue;
            } else if ours {
                // A replay of a message we processed before (a crash between our commit and
                // storing offsets): emit the same output again while the transfer is still in
                // the state we left it in; if it moved on, our output was consumed already.
                let Some(stored) = stored else { continue };
                match stored.state {
                    TransferState::ReceivedPrepare => {
                        if let Some(account) = stored.payer_account_id {
                            output.push(self.position(item, account));
                        }
                    }
                    TransferState::Invalid => replays_invalid.push(index),
                    _ => {}
                }
                metrics::counter!("ferroloop_prepares_total", "outcome" => "replay").increment(1);
            } else {
                // Another request with this id: a DFSP resend, or a racing first request.
                let first_hash = in_batch
                    .map(|c| c.hash)
                    .or_else(|| record.request_hash.map(RequestHash::from_bytes));
                if first_hash != Some(item.hash) {
                    metrics::counter!("ferroloop_prepares_total", "outcome" => "modified")
                        .increment(1);
                    output.push(
                        self.error_to_payer(item, &FspiopError::new(ErrorCode::MODIFIED_REQUEST)),
                    );
                    continue;
                }
                metrics::counter!("ferroloop_prepares_total", "outcome" => "duplicate")
                    .increment(1);
                let state = in_batch
                    .map(|c| c.view.state)
                    .or_else(|| stored.map(|s| s.state));
                match state {
                    // In progress: the DFSP will hear about it. Prepare counts RESERVED as
                    // finished (docs/duplicates-and-replays.md#prepare): the payer gets the
                    // state.
                    None => {}
                    Some(state) if state.api_state() == ApiTransferState::Received => {}
                    Some(_) => match in_batch {
                        Some(c) => output.push(self.state_to_payer(item, &c.view)),
                        None => resend_state.push(index),
                    },
                }
            }
        }

        // Writes, one statement per table.
        transfers::insert_transfers(&mut tx, &new_transfers)
            .await
            .map_err(db_error)?;
        let packet_refs: Vec<(&str, &str)> = ilp_packets
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        transfers::insert_ilp_packets(&mut tx, &packet_refs)
            .await
            .map_err(db_error)?;
        transfers::insert_extensions(&mut tx, &extensions)
            .await
            .map_err(db_error)?;
        transfers::insert_errors(&mut tx, &errors)
            .await
            .map_err(db_error)?;
        let timeout_refs: Vec<(&str, time::PrimitiveDateTime)> =
            timeouts.iter().map(|(a, b)| (a.as_str(), *b)).collect();
        transfers::insert_timeouts(&mut tx, &timeout_refs)
            .await
            .map_err(db_error)?;

        // Rare paths that need more reads: replayed INVALID prepares and finished duplicates.
        if !replays_invalid.is_empty() {
            let ids: Vec<&str> = replays_invalid
                .iter()
                .map(|i| items[*i].transfer_id.as_str())
                .collect();
            let stored_errors = transfers::load_errors(&mut tx, &ids)
                .await
                .map_err(db_error)?;
            for index in replays_invalid {
                let item = &items[index];
                if let Some(error) = stored_errors.get(item.transfer_id.as_str()) {
                    output.push(self.notification(&events::stored_error_from_switch(
                        &item.envelope,
                        &self.hub,
                        &item.body.payer_fsp,
                        action::PREPARE,
                        &ErrorInformation {
                            error_code: error.error_code.to_string(),
                            error_description: error.error_description.clone(),
                            extension_list: None,
                        },
                    )));
                }
            }
        }
        if !resend_state.is_empty() {
            let ids: Vec<&str> = resend_state
                .iter()
                .map(|i| items[*i].transfer_id.as_str())
                .collect();
            let views = transfers::load_views(&mut tx, &ids)
                .await
                .map_err(db_error)?;
            for index in resend_state {
                let item = &items[index];
                if let Some((_, view)) = views.get(item.transfer_id.as_str()) {
                    output.push(self.state_to_payer(item, view));
                }
            }
        }
        tx.commit().await.map_err(|e| db_error(e.into()))?;
        Ok(output)
    }

    /// Validates a new prepare and builds its transfer row.
    fn create(
        &self,
        item: &Item,
        participants: &HashMap<String, Arc<ParticipantRecord>>,
        now: OffsetDateTime,
    ) -> Created2 {
        let body = &item.body;
        let currency = body.amount.currency.as_str();
        let view = |name: &str| {
            participants.get(name).map(|p| ParticipantView {
                participant_id: p.participant_id,
                is_active: p.is_active,
                position_account: p.position_account(currency).map(|a| AccountView {
                    account_id: a.account_id,
                    is_active: a.is_active,
                }),
            })
        };
        let payer = view(&body.payer_fsp);
        let payee = view(&body.payee_fsp);
        let check = PrepareCheck {
            body,
            source: item.envelope.header("fspiop-source"),
            payer: payer.as_ref(),
            payee: payee.as_ref(),
            now,
            allow_on_us: self.allow_on_us,
            max_expiry: self.max_expiry,
        };
        let now_db = db_time(now);
        match validate_prepare(&check) {
            Ok(valid) => {
                let state = transition(None, TransferEvent::PrepareAccepted)
                    .expect("a new transfer may be accepted");
                Created2::Valid {
                    payer_account_id: valid.payer_account_id,
                    record: TransferRecord {
                        transfer_id: item.transfer_id.as_str().to_owned(),
                        kind: TransferKind::Transfer,
                        payer_fsp: body.payer_fsp.clone(),
                        payee_fsp: body.payee_fsp.clone(),
                        payer_participant_id: Some(valid.payer_participant_id),
                        payee_participant_id: Some(valid.payee_participant_id),
                        payer_account_id: Some(valid.payer_account_id),
                        payee_account_id: Some(valid.payee_account_id),
                        amount: Some(valid.amount.value()),
                        currency: valid.currency.as_str().to_owned(),
                        ilp_condition: Some(body.condition.clone()),
                        expiration: Some(db_time(valid.expiration)),
                        state,
                        state_changed_at: now_db,
                    },
                }
            }
            Err(rejection) => {
                let state = transition(None, TransferEvent::PrepareRejected)
                    .expect("a new transfer may be rejected");
                let account = |p: &Option<ParticipantView>| {
                    p.as_ref()
                        .and_then(|p| p.position_account.map(|a| a.account_id))
                };
                Created2::Invalid {
                    reason: rejection.reason,
                    record: TransferRecord {
                        transfer_id: item.transfer_id.as_str().to_owned(),
                        kind: TransferKind::Transfer,
                        payer_fsp: truncate(&body.payer_fsp, FSP_NAME_MAX_CHARS),
                        payee_fsp: truncate(&body.payee_fsp, FSP_NAME_MAX_CHARS),
                        payer_participant_id: payer.as_ref().map(|p| p.participant_id),
                        payee_participant_id: payee.as_ref().map(|p| p.participant_id),
                        payer_account_id: account(&payer),
                        payee_account_id: account(&payee),
                        amount: rejection.amount,
                        currency: if currency.len() == 3 && currency.is_ascii() {
                            currency.to_owned()
                        } else {
                            String::new()
                        },
                        ilp_condition: (body.condition.chars().count() <= CONDITION_MAX_CHARS)
                            .then(|| body.condition.clone()),
                        expiration: rejection.expiration.map(db_time),
                        state,
                        state_changed_at: now_db,
                    },
                }
            }
        }
    }
}

enum Created2 {
    Valid {
        record: TransferRecord,
        payer_account_id: u32,
    },
    Invalid {
        record: TransferRecord,
        reason: String,
    },
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn prepare_extensions(item: &Item) -> Vec<ExtensionRow> {
    item.body
        .extension_list
        .iter()
        .flat_map(|list| list.extension.iter())
        .map(|e| ExtensionRow {
            transfer_id: item.transfer_id.as_str().to_owned(),
            phase: ExtensionPhase::Prepare,
            key: e.key.clone(),
            value: e.value.clone(),
        })
        .collect()
}

fn view_of(record: &TransferRecord, item: &Item, error: Option<(u16, String)>) -> TransferView {
    TransferView {
        state: record.state,
        state_changed_at: record.state_changed_at.assume_utc(),
        fulfilment: None,
        prepare_extensions: item
            .body
            .extension_list
            .iter()
            .flat_map(|l| l.extension.iter().cloned())
            .collect::<Vec<Extension>>(),
        fulfil_extensions: Vec::new(),
        error,
    }
}

impl BatchHandler for PrepareHandler {
    fn name(&self) -> &'static str {
        "prepare"
    }

    async fn handle(
        &mut self,
        batch: &[ReceivedMessage],
    ) -> Result<Vec<OutboundMessage>, HandlerError> {
        self.handle_batch(batch).await
    }
}
