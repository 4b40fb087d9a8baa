//! The prepare step on the runner: decode, load (participants, insert-first duplicate claims,
//! stored transfers, and what replays and resends need), decide (`decide.rs`, pure), apply.

use std::collections::HashMap;
use std::sync::Arc;

use ferroloop_core::api::PrepareBody;
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::hash::request_hash;
use ferroloop_core::id::TransferId;
use ferroloop_core::replay::{Fingerprint, Progress, Replay, classify};
use ferroloop_core::state::TransferState;
use ferroloop_messaging::boundary::NO_PRINCIPAL;
use ferroloop_messaging::events::{HubMessage, action};
use ferroloop_messaging::{
    Action, BoundaryArgs, Envelope, OutboundMessage, Outputs, ReceivedMessage, Topics,
};
use ferroloop_pipeline::Step;
use ferroloop_store::participants::{ParticipantCache, ParticipantRecord};
use ferroloop_store::transfers::{self, DuplicateCheck, DuplicateClaim};
use ferroloop_store::{MySqlConnection as Conn, StoreError};

use crate::decide::{self, Context, Item, Snapshot, Writes};

/// The prepare handler's step (run it with `ferroloop_pipeline::Runner`).
#[derive(Debug)]
pub struct PrepareStep {
    context: Context,
    boundary: BoundaryArgs,
    participants: ParticipantCache,
}

impl PrepareStep {
    pub fn new(topics: Topics, hub: String, allow_on_us: bool) -> Self {
        Self {
            context: Context {
                outputs: Outputs::new(topics, "prepare"),
                hub,
                allow_on_us,
                max_expiry: time::Duration::seconds(i64::from(
                    ferroloop_core::prepare::DEFAULT_MAX_EXPIRY_SECONDS,
                )),
            },
            boundary: BoundaryArgs::default(),
            participants: ParticipantCache::default(),
        }
    }

    /// How far ahead an expiration may lie (`TRANSFER_MAX_EXPIRY_SECONDS`).
    #[must_use]
    pub fn with_max_expiry(mut self, max_expiry: time::Duration) -> Self {
        self.context.max_expiry = max_expiry;
        self
    }

    /// Whether envelopes without a principal are believed (`ACCEPT_ENVELOPES_WITHOUT_PRINCIPAL`).
    #[must_use]
    pub fn with_boundary(mut self, boundary: BoundaryArgs) -> Self {
        self.boundary = boundary;
        self
    }

    fn notification(&self, envelope: &Envelope) -> OutboundMessage {
        self.context.outputs.notification(envelope)
    }

    /// A 3xxx for the message's sender alone, answering `envelope`.
    fn error_to_sender(
        &self,
        envelope: &Envelope,
        sender: &str,
        error: &FspiopError,
    ) -> OutboundMessage {
        let answer = HubMessage::fspiop_error(sender, action::PREPARE, error);
        self.notification(&answer.answering(envelope, &self.context.hub))
    }
}

impl Step for PrepareStep {
    type Decide = Context;

    fn decider(&self) -> &Context {
        &self.context
    }

    fn name(&self) -> &'static str {
        "prepare"
    }

    /// Decodes a message, or returns what to send instead (an error to the sender, or the
    /// message itself to the dead-letter topic when there is nobody to answer).
    fn decode(&self, message: &ReceivedMessage) -> Result<Item, OutboundMessage> {
        let outputs = &self.context.outputs;
        let envelope = Envelope::from_json_bytes(&message.payload)
            .map_err(|error| outputs.dead_letter(message, &format!("not an envelope: {error}")))?;
        // Every answer goes to the authenticated sender; without one there is nobody to answer.
        let Some(sender) = self.boundary.sender(&envelope) else {
            return Err(self.context.outputs.dead_letter(message, NO_PRINCIPAL));
        };
        if *envelope.event_action() != Action::Prepare {
            let error = FspiopError::with_detail(
                ErrorCode::INTERNAL_SERVER_ERROR,
                format!(
                    "Invalid event action:({}) and/or type:({})",
                    envelope.action(),
                    envelope.event_type()
                ),
            );
            return Err(self.error_to_sender(&envelope, sender, &error));
        }
        let invalid = |detail: String| {
            let error = FspiopError::with_detail(ErrorCode::VALIDATION_ERROR, detail);
            self.error_to_sender(&envelope, sender, &error)
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
            return Err(self.error_to_sender(&envelope, sender, &error));
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

    async fn load(&mut self, conn: &mut Conn, items: &[Item]) -> Result<Snapshot, StoreError> {
        self.participants.refresh(conn).await?;
        let names = decide::participant_names(items);
        let participants = self.participants.get_many(conn, &names).await?;
        load_transfers(conn, items, participants).await
    }

    /// The batch's writes, one statement per table, in the batch transaction.
    async fn apply(
        &mut self,
        conn: &mut Conn,
        _snapshot: &Snapshot,
        writes: &Writes,
    ) -> Result<(), StoreError> {
        transfers::insert_transfers(conn, &writes.transfers).await?;
        let packets: Vec<(TransferId, &str)> = writes
            .ilp_packets
            .iter()
            .map(|(id, packet)| (*id, packet.as_str()))
            .collect();
        transfers::insert_ilp_packets(conn, &packets).await?;
        transfers::insert_extensions(conn, &writes.extensions).await?;
        transfers::insert_errors(conn, &writes.errors).await?;
        transfers::insert_timeouts(conn, &writes.timeouts).await
    }
}

/// The claims (insert-first: `INSERT IGNORE`, then read back — a read-then-insert would let two
/// racing first requests both pass), the stored transfers, and only for the ids whose stored
/// state needs them, the recorded errors of replayed INVALID prepares and the state bodies of
/// resent finished ones (no query when there are none).
async fn load_transfers(
    conn: &mut Conn,
    items: &[Item],
    participants: HashMap<String, Arc<ParticipantRecord>>,
) -> Result<Snapshot, StoreError> {
    let claims: Vec<DuplicateClaim<'_>> = items
        .iter()
        .map(|i| (i.transfer_id, *i.hash.as_bytes(), i.event_id.as_str()))
        .collect();
    let records = transfers::claim_duplicate_checks(conn, DuplicateCheck::Prepare, &claims).await?;
    let ids: Vec<TransferId> = items.iter().map(|i| i.transfer_id).collect();
    let existing = transfers::load_transfers(conn, &ids, false).await?;
    let mut snapshot = Snapshot {
        participants,
        records,
        existing,
        ..Snapshot::default()
    };
    let class = |item: &Item| {
        let first = snapshot.first(item.transfer_id.as_str())?;
        let stored = snapshot.existing.get(item.transfer_id.as_str())?;
        let this = Fingerprint::new(&item.event_id, Some(item.hash));
        Some((
            classify(first, this, Progress::of_prepare(Some(stored.state))),
            stored.state,
        ))
    };
    let mut invalid = Vec::new();
    let mut finished = Vec::new();
    for item in items {
        match class(item) {
            Some((Replay::OwnReplay, TransferState::Invalid)) => {
                invalid.push(item.transfer_id);
            }
            Some((Replay::ResendFinished, _)) => finished.push(item.transfer_id),
            _ => {}
        }
    }
    snapshot.errors = transfers::load_errors(conn, &invalid).await?;
    let views = transfers::load_views(conn, &finished).await?;
    snapshot.views = views
        .into_iter()
        .map(|(id, (_, view))| (id, view))
        .collect();
    Ok(snapshot)
}
