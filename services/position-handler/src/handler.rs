//! The position step on the runner: decode, load every read of the batch under lock, decide
//! (`decide.rs`, pure), apply the writes.

use std::time::Instant;

use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::AccountId;
use ferroloop_core::state::TransferState;
use ferroloop_messaging::{Envelope, OutboundMessage, Outputs, ReceivedMessage, Topics};
use ferroloop_pipeline::Step;
use ferroloop_store::transfers::{self, TransferKind, TransferRecord};
use ferroloop_store::{MySqlConnection as Conn, StoreError, positions, settlement};

use crate::decide::{Context, Item, Request, Snapshot, Writes};

/// The position handler's step (run it with `ferroloop_pipeline::Runner`).
#[derive(Debug)]
pub struct PositionStep {
    context: Context,
}

impl PositionStep {
    pub fn new(topics: Topics, hub: String) -> Self {
        Self {
            context: Context {
                outputs: Outputs::new(topics, "position"),
                hub,
            },
        }
    }
}

impl Step for PositionStep {
    type Decide = Context;

    fn decider(&self) -> &Context {
        &self.context
    }

    fn name(&self) -> &'static str {
        "position"
    }

    fn decode(&self, message: &ReceivedMessage) -> Result<Item, OutboundMessage> {
        let outputs = &self.context.outputs;
        let envelope = Envelope::from_json_bytes(&message.payload)
            .map_err(|error| outputs.dead_letter(message, &format!("not an envelope: {error}")))?;
        let Some(request) = Request::of(envelope.event_action()) else {
            let reason = format!("unsupported position action {}", envelope.action());
            return Err(outputs.dead_letter(message, &reason));
        };
        Ok(Item {
            // Parsed once here: an id that is no `TransferId` is no transfer's (`None`), and
            // the guard ignores it like an unknown transfer.
            transfer_id: TransferId::parse(envelope.transfer_id()).ok(),
            envelope,
            request,
        })
    }

    async fn load(&mut self, conn: &mut Conn, items: &[Item]) -> Result<Snapshot, StoreError> {
        load(conn, items).await
    }

    /// The batch's writes, in the batch transaction: the one place a further write of the position
    /// step belongs (every committed position change passes here).
    async fn apply(
        &mut self,
        conn: &mut Conn,
        snapshot: &Snapshot,
        writes: &Writes,
    ) -> Result<(), StoreError> {
        transfers::change_states_decided_by(conn, &writes.changes, &writes.deciding).await?;
        // Settlement: this batch's commits join the open window (docs/settlement.md).
        settlement::record_committed(conn, &writes.changes, &snapshot.transfers).await?;
        positions::apply_position_changes(conn, &writes.journal).await?;
        transfers::insert_errors(conn, &writes.errors).await?;
        transfers::delete_timeouts(conn, &writes.finished).await
    }
}

/// Every read of the batch, in lock order: the transfers, then the positions they touch (every
/// writer locks in this order); then, only for the few messages whose transfer is already in a
/// state this step produces, what a replay needs (no query when there are none).
async fn load(conn: &mut Conn, items: &[Item]) -> Result<Snapshot, StoreError> {
    let ids: Vec<TransferId> = items.iter().filter_map(|i| i.transfer_id).collect();
    let transfers = transfers::load_transfers(conn, &ids, true).await?;
    // Each message with its transfer, if its id names a loaded one.
    let found: Vec<(&Item, &TransferRecord)> = items
        .iter()
        .filter_map(|i| Some((i, transfers.get(&i.transfer_id?)?)))
        .collect();
    let accounts: Vec<AccountId> = found
        .iter()
        .filter_map(|(i, t)| i.request.account(t))
        .collect();
    // How long the batch waits for its position rows: the dashboard's lock-wait panel.
    let lock_started = Instant::now();
    let positions = positions::lock_positions(conn, &accounts).await?;
    metrics::histogram!("ferroloop_position_lock_wait_seconds")
        .record(lock_started.elapsed().as_secs_f64());
    let wanted = |wanted: fn(Request, TransferState) -> bool| -> Vec<TransferId> {
        found
            .iter()
            .filter(|(i, t)| is_transfer(t) && wanted(i.request, t.state))
            .map(|(_, t)| t.transfer_id)
            .collect()
    };
    let deciding = transfers::load_deciding_events(conn, &wanted(Request::produced)).await?;
    let errors = transfers::load_errors(conn, &wanted(replays_a_refusal)).await?;
    let views = transfers::load_views(conn, &wanted(tells_a_patch_flow_commit)).await?;
    Ok(Snapshot {
        transfers,
        positions,
        deciding,
        errors,
        views,
    })
}

fn is_transfer(transfer: &TransferRecord) -> bool {
    transfer.kind == TransferKind::Transfer
}

/// A reservation meeting its refusal: the refusal's recorded error may be told again.
fn replays_a_refusal(request: Request, state: TransferState) -> bool {
    request == Request::Reserve && state == TransferState::AbortedRejected
}

/// A PATCH-flow commit, new or replayed: the payer's PUT carries the ledger's view.
fn tells_a_patch_flow_commit(request: Request, state: TransferState) -> bool {
    request == (Request::Commit { patch_flow: true })
        && matches!(
            state,
            TransferState::ReceivedFulfil | TransferState::Committed
        )
}
