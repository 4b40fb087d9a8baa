//! The fulfil step on the runner: decode, load (the transfers under lock, the duplicate claims
//! of the requests that pass the screen, and what replays and duplicates need), decide
//! (`decide.rs`, pure), apply.

use std::collections::HashMap;

use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::hash::request_hash;
use ferroloop_core::id::TransferId;
use ferroloop_core::state::{ApiTransferState, TransferState};
use ferroloop_messaging::boundary::NO_PRINCIPAL;
use ferroloop_messaging::events::{HubMessage, action};
use ferroloop_messaging::{
    BoundaryArgs, Envelope, OutboundMessage, Outputs, ReceivedMessage, Topics,
};
use ferroloop_pipeline::Step;
use ferroloop_store::transfers::{
    self, DuplicateCheck, DuplicateClaim, DuplicateRecord, TransferRecord,
};
use ferroloop_store::{MySqlConnection as Conn, StoreError};

use crate::decide::{self, Context, Item, Kind, Screen, Snapshot, Writes, validation};

/// The fulfil handler's step (run it with `ferroloop_pipeline::Runner`).
#[derive(Debug)]
pub struct FulfilStep {
    context: Context,
    boundary: BoundaryArgs,
}

impl FulfilStep {
    pub fn new(topics: Topics, hub: String) -> Self {
        Self {
            context: Context {
                outputs: Outputs::new(topics, "fulfil"),
                hub,
            },
            boundary: BoundaryArgs::default(),
        }
    }

    /// Whether envelopes without a principal are believed (`ACCEPT_ENVELOPES_WITHOUT_PRINCIPAL`).
    #[must_use]
    pub fn with_boundary(mut self, boundary: BoundaryArgs) -> Self {
        self.boundary = boundary;
        self
    }
}

impl Step for FulfilStep {
    type Decide = Context;

    fn decider(&self) -> &Context {
        &self.context
    }

    fn name(&self) -> &'static str {
        "fulfil"
    }

    fn decode(&self, message: &ReceivedMessage) -> Result<Item, OutboundMessage> {
        let outputs = &self.context.outputs;
        let envelope = Envelope::from_json_bytes(&message.payload)
            .map_err(|error| outputs.dead_letter(message, &format!("not an envelope: {error}")))?;
        let Some(sender) = self.boundary.sender(&envelope).map(str::to_owned) else {
            return Err(outputs.dead_letter(message, NO_PRINCIPAL));
        };
        let to_sender = |error: FspiopError| {
            let hub = &self.context.hub;
            let answer = HubMessage::fspiop_error(&sender, action::COMMIT, &error);
            outputs.notification(&answer.answering(&envelope, hub))
        };
        let Some(kind) = Kind::of(envelope.event_action()) else {
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
        Ok(Item {
            // Parsed once here: an id that is no `TransferId` is no transfer's (`None`), and
            // the screen answers it like an unknown transfer.
            transfer_id: TransferId::parse(envelope.transfer_id()).ok(),
            event_id: envelope.metadata.event.id.clone(),
            envelope,
            kind,
            hash,
            bytes,
            sender,
        })
    }

    async fn load(&mut self, conn: &mut Conn, items: &[Item]) -> Result<Snapshot, StoreError> {
        load(conn, items).await
    }

    /// The batch's writes, one statement per table, in the batch transaction.
    async fn apply(
        &mut self,
        conn: &mut Conn,
        _snapshot: &Snapshot,
        writes: &Writes,
    ) -> Result<(), StoreError> {
        transfers::change_states_decided_by(conn, &writes.changes, &writes.deciding).await?;
        transfers::insert_fulfilments(conn, &writes.fulfilments).await?;
        transfers::insert_extensions(conn, &writes.extensions).await?;
        transfers::insert_errors(conn, &writes.errors).await
    }
}

/// The transfers, locked; the claims of the requests that pass the screen (insert-first:
/// `INSERT IGNORE`, then read back); then, only for transfers that are not RESERVED, the
/// events recorded with their states, the errors of hub aborts and the state bodies of
/// finished transfers (no query when there are none).
async fn load(conn: &mut Conn, items: &[Item]) -> Result<Snapshot, StoreError> {
    let ids: Vec<TransferId> = items.iter().filter_map(|i| i.transfer_id).collect();
    let transfers = transfers::load_transfers(conn, &ids, true).await?;
    // A request that passes the screen names a loaded transfer.
    let passed: Vec<(&Item, &TransferRecord)> = items
        .iter()
        .filter(|i| decide::screen(i, &transfers) == Screen::Pass)
        .filter_map(|i| Some((i, transfers.get(&i.transfer_id?)?)))
        .collect();
    let records = claim(conn, &passed).await?;
    let waiting: Vec<TransferId> = passed
        .iter()
        .filter(|(_, t)| t.state != TransferState::Reserved)
        .map(|(_, t)| t.transfer_id)
        .collect();
    let hub_aborted: Vec<TransferId> = passed
        .iter()
        .filter(|(i, t)| i.kind != Kind::Abort && t.state == TransferState::ReceivedError)
        .map(|(_, t)| t.transfer_id)
        .collect();
    let finished: Vec<TransferId> = passed
        .iter()
        .filter(|(_, t)| {
            matches!(
                t.state.api_state(),
                ApiTransferState::Committed | ApiTransferState::Aborted
            )
        })
        .map(|(_, t)| t.transfer_id)
        .collect();
    let deciding = transfers::load_deciding_events(conn, &waiting).await?;
    let errors = transfers::load_errors(conn, &hub_aborted).await?;
    let views = transfers::load_views(conn, &finished).await?;
    Ok(Snapshot {
        transfers,
        records,
        deciding,
        errors,
        views: views
            .into_iter()
            .map(|(id, (_, view))| (id, view))
            .collect(),
    })
}

/// Claims the duplicate-check records of the requests that passed, one statement per table.
async fn claim(
    conn: &mut Conn,
    passed: &[(&Item, &TransferRecord)],
) -> Result<HashMap<DuplicateCheck, HashMap<TransferId, DuplicateRecord>>, StoreError> {
    let mut claims: HashMap<DuplicateCheck, Vec<DuplicateClaim<'_>>> = HashMap::new();
    for (item, transfer) in passed {
        let claim = (
            transfer.transfer_id,
            *item.hash.as_bytes(),
            item.event_id.as_str(),
        );
        claims
            .entry(item.kind.duplicate_check())
            .or_default()
            .push(claim);
    }
    let mut records = HashMap::new();
    for (check, list) in &claims {
        let found = transfers::claim_duplicate_checks(conn, *check, list).await?;
        records.insert(*check, found);
    }
    Ok(records)
}
