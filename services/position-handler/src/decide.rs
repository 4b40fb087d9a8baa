//! The position step's decision: pure, from the loaded [`Snapshot`] to a [`Plan`] of writes and
//! notifications (docs/duplicates-and-replays.md#replays-inside-the-handlers).
//!
//! Every message is guarded by its transfer's state, in arrival order: the state the message
//! expects means new work, a state this step produces means a replay (classified by
//! `ferroloop_core::replay` against the event recorded with that state), anything else is
//! ignored. A transfer changes at most once per batch. Each account's operations are then
//! applied in order with `ferroloop_core::position::apply_batch`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use ferroloop_core::amount::Amount;
use ferroloop_core::api::ErrorInformation;
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::AccountId;
use ferroloop_core::position::{
    AccountLimits, AccountPosition, OpOutcome, OpResult, PositionOp, apply_batch,
};
use ferroloop_core::replay::{Fingerprint, Progress, Replay, classify};
use ferroloop_core::state::{TransferEvent, TransferState, transition};
use ferroloop_core::view::TransferView;
use ferroloop_messaging::events::{self, HubMessage, action, event_type};
use ferroloop_messaging::{Action, Envelope, EventState, HandlerError, OutboundMessage, Outputs};
use ferroloop_pipeline::{Decide, Plan};
use ferroloop_store::db_time;
use ferroloop_store::positions::{LockedPosition, PositionChange, PositionPhase};
use ferroloop_store::transfers::{
    DecidingEvents, StateChange, TransferErrorRow, TransferKind, TransferRecord,
};
use rust_decimal::Decimal;
use time::{OffsetDateTime, PrimitiveDateTime};

const RESERVATIONS: &str = "ferroloop_reservations_total";
const REPLAYS: &str = "ferroloop_position_replays_total";

/// The reason recorded when a reservation is refused because the transfer already expired.
pub const EXPIRED_UNRESERVED_REASON: &str = "Expired before its reservation";

/// What a position message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Reserve the payer's funds (prepare).
    Reserve,
    /// Credit the payee (commit, or reserve = commit with the PATCH flow).
    Commit { patch_flow: bool },
    /// Reverse the payer's reservation after an error (abort, abort-validation).
    Abort,
    /// Reverse the payer's reservation after expiry (timeout-reserved).
    Expire,
}

impl Request {
    pub fn of(action: &Action) -> Option<Self> {
        match action {
            Action::Prepare => Some(Request::Reserve),
            Action::Commit => Some(Request::Commit { patch_flow: false }),
            Action::Reserve => Some(Request::Commit { patch_flow: true }),
            Action::Abort | Action::AbortValidation => Some(Request::Abort),
            Action::TimeoutReserved => Some(Request::Expire),
            _ => None,
        }
    }

    /// The state the transfer must be in for this request to change anything.
    pub const fn expects(self) -> TransferState {
        match self {
            Request::Reserve => TransferState::ReceivedPrepare,
            Request::Commit { .. } => TransferState::ReceivedFulfil,
            Request::Abort => TransferState::ReceivedError,
            Request::Expire => TransferState::ReservedTimeout,
        }
    }

    /// The states this step leaves a transfer in (a message finding one of them is a replay).
    pub fn produced(self, state: TransferState) -> bool {
        match self {
            Request::Reserve => matches!(
                state,
                TransferState::Reserved
                    | TransferState::AbortedRejected
                    | TransferState::ExpiredPrepared
            ),
            Request::Commit { .. } => state == TransferState::Committed,
            Request::Abort => state == TransferState::AbortedError,
            Request::Expire => state == TransferState::ExpiredReserved,
        }
    }

    /// The account the request changes: the payer's for reservations and reversals, the
    /// payee's for commits.
    pub fn account(self, transfer: &TransferRecord) -> Option<AccountId> {
        match self {
            Request::Commit { .. } => transfer.payee_account_id,
            Request::Reserve | Request::Abort | Request::Expire => transfer.payer_account_id,
        }
    }
}

/// A decoded position message.
#[derive(Debug, Clone)]
pub struct Item {
    pub envelope: Envelope,
    pub request: Request,
    /// The transfer the message is about; `None` when the message's id is no valid
    /// `TransferId`, which is no transfer's and is ignored like an unknown one.
    pub transfer_id: Option<TransferId>,
}

impl Item {
    fn event_id(&self) -> &str {
        &self.envelope.metadata.event.id
    }
}

impl Snapshot {
    /// The transfer of a message the guard let through (its id names a loaded transfer).
    fn transfer_of(&self, item: &Item) -> Result<&TransferRecord, HandlerError> {
        item.transfer_id
            .and_then(|id| self.transfers.get(&id))
            .ok_or_else(|| HandlerError::permanent("a guarded message names no loaded transfer"))
    }
}

/// Everything a batch reads, locked, before deciding.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// The batch's transfers, locked.
    pub transfers: HashMap<TransferId, TransferRecord>,
    /// The touched positions and their settlement positions, locked, with their NDC.
    pub positions: HashMap<AccountId, LockedPosition>,
    /// For transfers already in a state this step produces: the event that moved them there.
    pub deciding: HashMap<(TransferId, TransferState), String>,
    /// Recorded errors of reservations refused earlier (replayed refusals say them again).
    pub errors: HashMap<TransferId, TransferErrorRow>,
    /// State bodies of PATCH-flow commits, as stored before this batch.
    pub views: HashMap<TransferId, (TransferRecord, TransferView)>,
}

/// Everything a batch writes; `handler::apply` writes it in one place.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Writes {
    pub changes: Vec<StateChange>,
    /// Which event made each change (a later copy tells its own replay from another's).
    pub deciding: DecidingEvents,
    pub journal: Vec<PositionChange>,
    pub errors: Vec<TransferErrorRow>,
    /// Transfers that reached a final state: their timeout rows go.
    pub finished: Vec<TransferId>,
}

/// What the step needs besides the snapshot: where messages go and the hub's name.
#[derive(Debug, Clone)]
pub struct Context {
    pub outputs: Outputs,
    pub hub: String,
}

/// What the guard decided for one message.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Decision {
    /// Apply `op` to `account_id`, in arrival order.
    Apply {
        account_id: AccountId,
        op: PositionOp,
    },
    /// This message moved the transfer where it is: produce its output again.
    Replay(TransferState),
    /// Another message moved the transfer and was told: say nothing.
    Suppressed,
    /// A reservation for a transfer already past its expiration: expire it instead.
    ExpireUnreserved,
    /// Nothing to do.
    Skip,
}

impl Decide for Context {
    type Item = Item;
    type Snapshot = Snapshot;
    type Writes = Writes;

    /// The batch's plan.
    fn decide(
        &self,
        snapshot: &Snapshot,
        items: &[Item],
        now: OffsetDateTime,
    ) -> Result<Plan<Writes>, HandlerError> {
        let context = self;
        let (decisions, ops) = guard_all(snapshot, items, now)?;
        let mut results = run_accounts(snapshot, &ops)?;
        let mut plan = Plan::default();
        let now_db = db_time(now);
        for (item, decision) in items.iter().zip(decisions) {
            match decision {
                Decision::Skip => {}
                Decision::Suppressed => plan.count(REPLAYS, "suppressed"),
                Decision::ExpireUnreserved => {
                    expire_unreserved(context, snapshot, item, now_db, &mut plan)?
                }
                Decision::Replay(state) => replay(context, snapshot, item, state, &mut plan)?,
                Decision::Apply { account_id, op } => {
                    let result = results
                        .get_mut(&account_id)
                        .and_then(VecDeque::pop_front)
                        .ok_or_else(|| HandlerError::permanent("position result missing"))?;
                    let applied = Applied {
                        account_id,
                        op,
                        result,
                    };
                    apply_one(context, snapshot, item, applied, now_db, &mut plan)?;
                }
            }
        }
        debug_assert!(
            results.values().all(VecDeque::is_empty),
            "every result used"
        );
        Ok(plan)
    }
}

type Ops = BTreeMap<AccountId, Vec<PositionOp>>;

/// Guards every message by its transfer's state, in arrival order, collecting each account's
/// operations in that order.
fn guard_all(
    snapshot: &Snapshot,
    items: &[Item],
    now: OffsetDateTime,
) -> Result<(Vec<Decision>, Ops), HandlerError> {
    let mut ops = Ops::new();
    let mut changed_in_batch: HashSet<TransferId> = HashSet::new();
    let mut decisions = Vec::with_capacity(items.len());
    for item in items {
        // An id that is no `TransferId` is no transfer's: unknown.
        let found = item.transfer_id.and_then(|id| snapshot.transfers.get(&id));
        let decision = match found {
            None => {
                let id = item.envelope.transfer_id();
                tracing::warn!(transfer_id = %id, "position message for an unknown transfer");
                Decision::Skip
            }
            // A second message for a transfer changed in this batch has been answered.
            Some(transfer) if changed_in_batch.contains(&transfer.transfer_id) => Decision::Skip,
            Some(transfer) => guard(snapshot, item, transfer, now)?,
        };
        if let Decision::Apply { account_id, op } = decision {
            ops.entry(account_id).or_default().push(op);
        }
        if let (Decision::Apply { .. } | Decision::ExpireUnreserved, Some(transfer)) =
            (decision, found)
        {
            changed_in_batch.insert(transfer.transfer_id);
        }
        decisions.push(decision);
    }
    Ok((decisions, ops))
}

/// One message against its transfer (docs/duplicates-and-replays.md#replays-inside-the-handlers).
fn guard(
    snapshot: &Snapshot,
    item: &Item,
    transfer: &TransferRecord,
    now: OffsetDateTime,
) -> Result<Decision, HandlerError> {
    if transfer.kind != TransferKind::Transfer {
        // Funds transfers move only through the admin API's own steps.
        tracing::warn!(transfer_id = %transfer.transfer_id, "position message for a funds transfer ignored");
        return Ok(Decision::Skip);
    }
    let state = transfer.state;
    let progress = if state == item.request.expects() {
        Progress::Unwritten
    } else if item.request.produced(state) {
        if state.is_final() {
            Progress::Finished
        } else {
            Progress::InFlight
        }
    } else {
        tracing::info!(transfer_id = %transfer.transfer_id, %state, action = item.envelope.action(),
            "position message for a transfer in another state; nothing to do");
        return Ok(Decision::Skip);
    };
    // Position messages carry no body hash: the event recorded with the state is the
    // fingerprint (none recorded: the change predates the record, treat it as ours).
    let this = Fingerprint::new(item.event_id(), None);
    let first = match progress {
        Progress::Unwritten => this,
        Progress::InFlight | Progress::Finished => snapshot
            .deciding
            .get(&(transfer.transfer_id, state))
            .map_or(this, |event| Fingerprint::new(event, None)),
    };
    Ok(match classify(first, this, progress) {
        Replay::New if item.request == Request::Reserve && is_expired(transfer, now) => {
            Decision::ExpireUnreserved
        }
        Replay::New => new_op(item, transfer)?,
        Replay::OwnReplay => Decision::Replay(state),
        Replay::ResendInFlight | Replay::ResendFinished => Decision::Suppressed,
        Replay::Modified => unreachable!("position messages carry no hash"),
    })
}

fn new_op(item: &Item, transfer: &TransferRecord) -> Result<Decision, HandlerError> {
    let account = item.request.account(transfer);
    let amount = transfer
        .amount
        .and_then(|a| Amount::from_decimal_checked(a).ok());
    let (Some(account_id), Some(amount)) = (account, amount) else {
        return Err(HandlerError::permanent(format!(
            "transfer {} lacks its account or amount",
            transfer.transfer_id
        )));
    };
    let op = match item.request {
        Request::Reserve => PositionOp::Reserve { amount },
        Request::Commit { .. } => PositionOp::Commit { amount },
        Request::Abort | Request::Expire => PositionOp::Reverse { amount },
    };
    Ok(Decision::Apply { account_id, op })
}

/// Every account's operations, in order, against its locked position.
fn run_accounts(
    snapshot: &Snapshot,
    ops: &Ops,
) -> Result<HashMap<AccountId, VecDeque<OpResult>>, HandlerError> {
    let mut results = HashMap::with_capacity(ops.len());
    for (account_id, list) in ops {
        let Some(position) = snapshot.positions.get(account_id) else {
            return Err(HandlerError::permanent(format!(
                "account {account_id} has no position"
            )));
        };
        let outcome = apply_batch(
            AccountPosition::new(position.value, position.reserved_value),
            &limits_of(position),
            list,
        )
        .map_err(HandlerError::permanent)?;
        assert_eq!(
            outcome.results.len(),
            list.len(),
            "one result per operation"
        );
        results.insert(*account_id, outcome.results.into());
    }
    Ok(results)
}

/// An account without a net debit cap can reserve nothing (central-ledger requires one).
fn limits_of(position: &LockedPosition) -> AccountLimits {
    AccountLimits::new(
        position.net_debit_cap.unwrap_or(Decimal::ZERO),
        position.liquidity_cover(),
    )
}

/// One applied operation and its result.
#[derive(Debug, Clone, Copy)]
struct Applied {
    account_id: AccountId,
    op: PositionOp,
    result: OpResult,
}

/// The state change, journal entry, error and notification of one applied operation.
fn apply_one(
    context: &Context,
    snapshot: &Snapshot,
    item: &Item,
    applied: Applied,
    now_db: PrimitiveDateTime,
    plan: &mut Plan<Writes>,
) -> Result<(), HandlerError> {
    let transfer = snapshot.transfer_of(item)?;
    let (event, phase) = event_of(item.request, applied);
    let to = transition(Some(transfer.state), event)
        .map_err(|e| HandlerError::permanent(format!("{}: {e}", transfer.transfer_id)))?;
    let reason = match applied.result.outcome {
        OpOutcome::Rejected(why) => Some(why.reason().to_owned()),
        _ if to == TransferState::ExpiredReserved => Some("Transfer expired".to_owned()),
        _ => None,
    };
    record_change(plan, item, transfer, to, reason, now_db);
    if let Some(phase) = phase {
        plan.writes.journal.push(PositionChange {
            account_id: applied.account_id,
            transfer_id: transfer.transfer_id,
            phase,
            change: applied.result.change,
            value_after: applied.result.value_after,
            reserved_after: snapshot.positions[&applied.account_id].reserved_value,
            at: now_db,
        });
    }
    match applied.result.outcome {
        OpOutcome::Rejected(why) => {
            let error = FspiopError::new(why.error_code());
            plan.writes
                .errors
                .push(error_row(transfer.transfer_id, to, &error));
            plan.count(RESERVATIONS, why.reason());
            let envelope = HubMessage::fspiop_error(&transfer.payer_fsp, action::PREPARE, &error)
                .answering(&item.envelope, &context.hub);
            plan.outputs.push(context.outputs.notification(&envelope));
        }
        _ if item.request == (Request::Commit { patch_flow: true }) => {
            patch_flow_commit(context, snapshot, item, Some((to, now_db)), plan);
        }
        _ => {
            if matches!(applied.op, PositionOp::Reserve { .. }) {
                plan.count(RESERVATIONS, "reserved");
            }
            plan.outputs.push(success_notification(context, item));
        }
    }
    Ok(())
}

/// The state event and journal phase of an applied operation.
fn event_of(request: Request, applied: Applied) -> (TransferEvent, Option<PositionPhase>) {
    match (applied.op, applied.result.outcome) {
        (PositionOp::Reserve { .. }, OpOutcome::Reserved) => {
            (TransferEvent::Reserve, Some(PositionPhase::Reserve))
        }
        (PositionOp::Reserve { .. }, OpOutcome::Rejected(_)) => {
            (TransferEvent::ReservationRejected, None)
        }
        (PositionOp::Commit { .. }, _) => (TransferEvent::Commit, Some(PositionPhase::Commit)),
        _ if request == Request::Expire => {
            (TransferEvent::ExpireReserved, Some(PositionPhase::Reverse))
        }
        _ => (TransferEvent::Abort, Some(PositionPhase::Reverse)),
    }
}

/// Records a state change made by this message, and its timeout row's removal when final.
fn record_change(
    plan: &mut Plan<Writes>,
    item: &Item,
    transfer: &TransferRecord,
    to: TransferState,
    reason: Option<String>,
    at: PrimitiveDateTime,
) {
    let writes = &mut plan.writes;
    writes.changes.push(StateChange {
        transfer_id: transfer.transfer_id,
        from: Some(transfer.state),
        to,
        reason,
        at,
    });
    writes
        .deciding
        .insert(transfer.transfer_id, item.event_id().to_owned());
    if to.is_final() {
        writes.finished.push(transfer.transfer_id);
    }
}

fn error_row(
    transfer_id: TransferId,
    state: TransferState,
    error: &FspiopError,
) -> TransferErrorRow {
    TransferErrorRow {
        transfer_id,
        state,
        error_code: error.code().as_u16(),
        error_description: error.description().to_owned(),
    }
}

/// `RECEIVED_PREPARE → EXPIRED_PREPARED` with 3303 recorded and told, for a transfer whose
/// reservation comes too late (what the timeout handler does for the same transition).
fn expire_unreserved(
    context: &Context,
    snapshot: &Snapshot,
    item: &Item,
    now_db: PrimitiveDateTime,
    plan: &mut Plan<Writes>,
) -> Result<(), HandlerError> {
    let transfer = snapshot.transfer_of(item)?;
    let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
    let to = transition(Some(transfer.state), TransferEvent::ExpirePrepared)
        .map_err(|e| HandlerError::permanent(format!("{}: {e}", transfer.transfer_id)))?;
    let reason = Some(EXPIRED_UNRESERVED_REASON.to_owned());
    record_change(plan, item, transfer, to, reason, now_db);
    plan.writes
        .errors
        .push(error_row(transfer.transfer_id, to, &expired));
    plan.count(RESERVATIONS, "expired");
    plan.outputs
        .push(expired_notification(context, item, transfer));
    Ok(())
}

/// This message moved the transfer where it is: its output again (it may have been lost).
fn replay(
    context: &Context,
    snapshot: &Snapshot,
    item: &Item,
    state: TransferState,
    plan: &mut Plan<Writes>,
) -> Result<(), HandlerError> {
    plan.count(REPLAYS, "repeated");
    let transfer = snapshot.transfer_of(item)?;
    match (item.request, state) {
        (Request::Reserve, TransferState::ExpiredPrepared) => {
            plan.outputs
                .push(expired_notification(context, item, transfer));
        }
        (Request::Reserve, TransferState::AbortedRejected) => {
            // The recorded 4001/4200, as first sent.
            if let Some(error) = snapshot.errors.get(&transfer.transfer_id) {
                let recorded = ErrorInformation {
                    error_code: error.error_code.to_string(),
                    error_description: error.error_description.clone(),
                    extension_list: None,
                };
                let envelope = HubMessage::error(&transfer.payer_fsp, action::PREPARE, &recorded)
                    .answering(&item.envelope, &context.hub);
                plan.outputs.push(context.outputs.notification(&envelope));
            }
        }
        (Request::Commit { patch_flow: true }, _) => {
            patch_flow_commit(context, snapshot, item, None, plan);
        }
        _ => plan.outputs.push(success_notification(context, item)),
    }
    Ok(())
}

/// The payee answered RESERVED: the hub tells the payer COMMITTED with the ledger's view (PUT)
/// and the payee (PATCH), docs/callbacks.md#the-reserved-flow. `changed` is the state change
/// this batch makes (the stored view predates it).
fn patch_flow_commit(
    context: &Context,
    snapshot: &Snapshot,
    item: &Item,
    changed: Option<(TransferState, PrimitiveDateTime)>,
    plan: &mut Plan<Writes>,
) {
    let Some((record, stored)) = item.transfer_id.and_then(|id| snapshot.views.get(&id)) else {
        return;
    };
    let mut view = stored.clone();
    if let Some((state, at)) = changed {
        view.state = state;
        view.state_changed_at = at.assume_utc();
    }
    let envelope = HubMessage::notification(
        &record.payer_fsp,
        action::RESERVE,
        events::json_payload(&view.to_state_body()),
    )
    .with_parties(&record.payer_fsp, &record.payee_fsp)
    .answering(&item.envelope, &context.hub);
    plan.outputs.push(context.outputs.notification(&envelope));
}

/// 3303 to the payer of a transfer that expired before it was reserved (what the timeout
/// handler sends for the same transition).
fn expired_notification(
    context: &Context,
    item: &Item,
    transfer: &TransferRecord,
) -> OutboundMessage {
    let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
    let message = HubMessage::notification(
        &transfer.payer_fsp,
        action::TIMEOUT_RECEIVED,
        events::json_payload(&expired.to_body()),
    )
    .with_state(EventState::error(
        expired.code().as_u16(),
        expired.description(),
    ));
    context
        .outputs
        .notification(&message.answering(&item.envelope, &context.hub))
}

/// The notification of a step that succeeded: the consumed message re-addressed to the
/// notification handler, keeping an error decided upstream (abort, expiry).
fn success_notification(context: &Context, item: &Item) -> OutboundMessage {
    let action = item.envelope.action();
    let envelope = match item.request {
        Request::Reserve | Request::Commit { .. } => {
            events::forward(&item.envelope, event_type::NOTIFICATION, action)
        }
        Request::Abort | Request::Expire => {
            events::forward_keeping_state(&item.envelope, event_type::NOTIFICATION, action)
        }
    };
    context.outputs.notification(&envelope)
}

fn is_expired(transfer: &TransferRecord, now: OffsetDateTime) -> bool {
    transfer.expiration.is_some_and(|e| e.assume_utc() <= now)
}

#[cfg(test)]
mod tests;
