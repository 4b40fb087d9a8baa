//! One batch of position messages.

use std::collections::{BTreeMap, HashMap, HashSet};

use ferroloop_core::amount::Amount;
use ferroloop_core::api::ErrorInformation;
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::position::{
    AccountLimits, AccountPosition, OpOutcome, OpResult, PositionOp, apply_batch,
};
use ferroloop_core::state::{TransferEvent, TransferState, transition};
use ferroloop_messaging::events::{self, action, event_type};
use ferroloop_messaging::{
    BatchHandler, Envelope, EventState, HandlerError, OutboundMessage, Outputs, ReceivedMessage,
    Topics,
};
use ferroloop_store::positions::{self, LockedPosition, PositionChange, PositionPhase};
use ferroloop_store::transfers::{
    self, DecidingEvents, StateChange, TransferErrorRow, TransferKind, TransferRecord,
};
use ferroloop_store::{MySqlPool, StoreError, db_time};
use rust_decimal::Decimal;
use time::OffsetDateTime;

#[derive(Debug)]
pub struct PositionHandler {
    pool: MySqlPool,
    outputs: Outputs,
    hub: String,
}

/// What a position message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
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
    fn parse(action: &str) -> Option<Self> {
        match action {
            action::PREPARE => Some(Request::Reserve),
            action::COMMIT => Some(Request::Commit { patch_flow: false }),
            action::RESERVE => Some(Request::Commit { patch_flow: true }),
            action::ABORT | action::ABORT_VALIDATION => Some(Request::Abort),
            action::TIMEOUT_RESERVED => Some(Request::Expire),
            _ => None,
        }
    }

    /// The state the transfer must be in for this request to change anything.
    const fn expects(self) -> TransferState {
        match self {
            Request::Reserve => TransferState::ReceivedPrepare,
            Request::Commit { .. } => TransferState::ReceivedFulfil,
            Request::Abort => TransferState::ReceivedError,
            Request::Expire => TransferState::ReservedTimeout,
        }
    }

    /// The states this step leaves a transfer in (a message finding one of them is a replay).
    fn produced(self, state: TransferState) -> bool {
        match self {
            Request::Reserve => {
                matches!(
                    state,
                    TransferState::Reserved
                        | TransferState::AbortedRejected
                        | TransferState::ExpiredPrepared
                )
            }
            Request::Commit { .. } => state == TransferState::Committed,
            Request::Abort => state == TransferState::AbortedError,
            Request::Expire => state == TransferState::ExpiredReserved,
        }
    }
}

/// A decoded message and what was decided for it.
#[derive(Debug)]
struct Item {
    envelope: Envelope,
    request: Request,
    transfer_id: String,
    decision: Decision,
}

#[derive(Debug, Clone)]
enum Decision {
    /// Apply `op` to `account_id`; `slot` is its index in that account's op list.
    Apply {
        account_id: u32,
        op: PositionOp,
        slot: usize,
    },
    /// The transfer is already where this step leaves it: produce the output again (if this
    /// very message took it there).
    Replay(TransferState),
    /// A reservation asked for a transfer already past its expiration (the position topic
    /// lagged): expire it instead, as the timeout handler would.
    ExpireUnreserved,
    /// Nothing to do (the transfer moved on, or the message is about no transfer).
    Skip,
}

fn db_error(error: StoreError) -> HandlerError {
    let transient = error.is_transient();
    HandlerError::classified(error, transient)
}

impl PositionHandler {
    pub fn new(pool: MySqlPool, topics: Topics, hub: String) -> Self {
        Self {
            pool,
            outputs: Outputs::new(topics, "position"),
            hub,
        }
    }

    async fn handle_batch(
        &mut self,
        batch: &[ReceivedMessage],
    ) -> Result<Vec<OutboundMessage>, HandlerError> {
        let mut output = Vec::new();
        let mut items = Vec::with_capacity(batch.len());
        for message in batch {
            let envelope = match Envelope::from_json_bytes(&message.payload) {
                Ok(envelope) => envelope,
                Err(error) => {
                    output.push(
                        self.outputs
                            .dead_letter(message, &format!("not an envelope: {error}")),
                    );
                    continue;
                }
            };
            let Some(request) = Request::parse(envelope.action()) else {
                output.push(self.outputs.dead_letter(
                    message,
                    &format!("unsupported position action {}", envelope.action()),
                ));
                continue;
            };
            items.push(Item {
                transfer_id: envelope.transfer_id().to_owned(),
                envelope,
                request,
                decision: Decision::Skip,
            });
        }
        if items.is_empty() {
            return Ok(output);
        }
        let now = OffsetDateTime::now_utc();
        let now_db = db_time(now);
        let mut tx = self.pool.begin().await.map_err(|e| db_error(e.into()))?;

        // Lock the transfers, then the positions they touch (everyone locks in this order).
        let ids: Vec<&str> = items.iter().map(|i| i.transfer_id.as_str()).collect();
        let mut stored = transfers::load_transfers(&mut tx, &ids, true)
            .await
            .map_err(db_error)?;
        let accounts: Vec<u32> = items
            .iter()
            .filter_map(|i| {
                stored
                    .get(&i.transfer_id)
                    .and_then(|t| account_of(i.request, t))
            })
            .collect();
        // How long the batch waits for its position rows: the dashboard's lock-wait panel.
        let lock_started = std::time::Instant::now();
        let locked = positions::lock_positions(&mut tx, &accounts)
            .await
            .map_err(db_error)?;
        metrics::histogram!("ferroloop_position_lock_wait_seconds")
            .record(lock_started.elapsed().as_secs_f64());

        // Guard every message by its transfer's state, in arrival order. A transfer changes at
        // most once per batch: a second message for it (a duplicate delivery) has been answered.
        let mut ops: BTreeMap<u32, Vec<PositionOp>> = BTreeMap::new();
        let mut changed_in_batch: HashSet<String> = HashSet::new();
        for item in &mut items {
            let Some(transfer) = stored.get(&item.transfer_id) else {
                tracing::warn!(transfer_id = %item.transfer_id, "position message for an unknown transfer");
                continue;
            };
            let state = transfer.state;
            if changed_in_batch.contains(&item.transfer_id) {
                continue;
            }
            if transfer.kind != TransferKind::Transfer {
                // Funds transfers move only through the admin API's own steps.
                tracing::warn!(transfer_id = %item.transfer_id, "position message for a funds transfer ignored");
                continue;
            }
            if item.request == Request::Reserve
                && state == item.request.expects()
                && is_expired(transfer, now)
            {
                item.decision = Decision::ExpireUnreserved;
                changed_in_batch.insert(item.transfer_id.clone());
                continue;
            }
            if state == item.request.expects() {
                let (Some(account_id), Some(amount)) = (
                    account_of(item.request, transfer),
                    transfer
                        .amount
                        .and_then(|a| Amount::from_decimal_checked(a).ok()),
                ) else {
                    return Err(HandlerError::permanent(format!(
                        "transfer {} lacks its account or amount",
                        item.transfer_id
                    )));
                };
                let op = match item.request {
                    Request::Reserve => PositionOp::Reserve { amount },
                    Request::Commit { .. } => PositionOp::Commit { amount },
                    Request::Abort | Request::Expire => PositionOp::Reverse { amount },
                };
                let list = ops.entry(account_id).or_default();
                item.decision = Decision::Apply {
                    account_id,
                    op,
                    slot: list.len(),
                };
                list.push(op);
                changed_in_batch.insert(item.transfer_id.clone());
            } else if item.request.produced(state) {
                item.decision = Decision::Replay(state);
            } else {
                tracing::info!(transfer_id = %item.transfer_id, %state, action = item.envelope.action(),
                    "position message for a transfer in another state; nothing to do");
            }
        }

        // Decide every account's operations in order.
        let mut results: HashMap<u32, Vec<OpResult>> = HashMap::new();
        for (account_id, list) in &ops {
            let Some(position) = locked.get(account_id) else {
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
            results.insert(*account_id, outcome.results);
        }

        // Which message moved each replayed transfer where it is: only that one says it again.
        let replayed: Vec<&str> = items
            .iter()
            .filter(|i| matches!(i.decision, Decision::Replay(_)))
            .map(|i| i.transfer_id.as_str())
            .collect();
        let decided = transfers::load_deciding_events(&mut tx, &replayed)
            .await
            .map_err(db_error)?;
        let mut deciding = DecidingEvents::new();

        // Turn decisions into state changes, journal entries and notifications.
        let mut changes = Vec::new();
        let mut journal = Vec::new();
        let mut errors = Vec::new();
        let mut finished = Vec::new();
        let mut replayed_rejections = Vec::new();
        let mut patch_flow_commits = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let transfer_id = item.transfer_id.as_str();
            match item.decision {
                Decision::Skip => {}
                Decision::ExpireUnreserved => {
                    let transfer = &stored[transfer_id];
                    let (change, error) = expire_unreserved(transfer, now_db)?;
                    changes.push(change);
                    errors.push(error);
                    deciding.insert(
                        transfer_id.to_owned(),
                        item.envelope.metadata.event.id.clone(),
                    );
                    finished.push(transfer_id);
                    metrics::counter!("ferroloop_reservations_total", "outcome" => "expired")
                        .increment(1);
                    output.push(self.expired_notification(item, transfer));
                }
                Decision::Replay(state) => {
                    let recorded = decided.get(&(item.transfer_id.clone(), state));
                    if recorded.is_some_and(|event| *event != item.envelope.metadata.event.id) {
                        // Another message (the original, or an earlier re-drive) moved the
                        // transfer and was told: this copy says nothing more.
                        metrics::counter!("ferroloop_position_replays_total", "outcome" => "suppressed").increment(1);
                        continue;
                    }
                    metrics::counter!("ferroloop_position_replays_total", "outcome" => "repeated")
                        .increment(1);
                    if (item.request, state) == (Request::Reserve, TransferState::ExpiredPrepared) {
                        output.push(self.expired_notification(item, &stored[transfer_id]));
                        continue;
                    }
                    match (item.request, state) {
                        (Request::Reserve, TransferState::AbortedRejected) => {
                            replayed_rejections.push(index);
                        }
                        (Request::Commit { patch_flow: true }, _) => {
                            patch_flow_commits.push(index);
                        }
                        _ => output.push(self.success_notification(item)),
                    }
                }
                Decision::Apply {
                    account_id,
                    op,
                    slot,
                } => {
                    let result = results[&account_id][slot];
                    let transfer = &stored[transfer_id];
                    let (event, phase) = match (op, result.outcome) {
                        (PositionOp::Reserve { .. }, OpOutcome::Reserved) => {
                            (TransferEvent::Reserve, Some(PositionPhase::Reserve))
                        }
                        (PositionOp::Reserve { .. }, OpOutcome::Rejected(_)) => {
                            (TransferEvent::ReservationRejected, None)
                        }
                        (PositionOp::Commit { .. }, _) => {
                            (TransferEvent::Commit, Some(PositionPhase::Commit))
                        }
                        _ if item.request == Request::Expire => {
                            (TransferEvent::ExpireReserved, Some(PositionPhase::Reverse))
                        }
                        _ => (TransferEvent::Abort, Some(PositionPhase::Reverse)),
                    };
                    let to = transition(Some(transfer.state), event)
                        .map_err(|e| HandlerError::permanent(format!("{transfer_id}: {e}")))?;
                    let reason = match result.outcome {
                        OpOutcome::Rejected(why) => Some(why.reason().to_owned()),
                        _ if to == TransferState::ExpiredReserved => {
                            Some("Transfer expired".to_owned())
                        }
                        _ => None,
                    };
                    changes.push(StateChange {
                        transfer_id: transfer_id.to_owned(),
                        from: Some(transfer.state),
                        to,
                        reason,
                        at: now_db,
                    });
                    deciding.insert(
                        transfer_id.to_owned(),
                        item.envelope.metadata.event.id.clone(),
                    );
                    if let Some(phase) = phase {
                        journal.push(PositionChange {
                            account_id,
                            transfer_id: transfer_id.to_owned(),
                            phase,
                            change: result.change,
                            value_after: result.value_after,
                            reserved_after: locked[&account_id].reserved_value,
                            at: now_db,
                        });
                    }
                    if to.is_final() {
                        finished.push(transfer_id);
                    }
                    match result.outcome {
                        OpOutcome::Rejected(why) => {
                            let error = FspiopError::new(why.error_code());
                            errors.push(TransferErrorRow {
                                transfer_id: transfer_id.to_owned(),
                                state: to,
                                error_code: error.code().as_u16(),
                                error_description: error.description().to_owned(),
                            });
                            metrics::counter!("ferroloop_reservations_total", "outcome" => why.reason()).increment(1);
                            output.push(self.outputs.notification(&events::error_from_switch(
                                &item.envelope,
                                &self.hub,
                                &transfer.payer_fsp,
                                action::PREPARE,
                                &error,
                            )));
                        }
                        _ if item.request == (Request::Commit { patch_flow: true }) => {
                            patch_flow_commits.push(index);
                        }
                        _ => {
                            if op_is_reserve(op) {
                                metrics::counter!("ferroloop_reservations_total", "outcome" => "reserved").increment(1);
                            }
                            output.push(self.success_notification(item));
                        }
                    }
                }
            }
        }
        // Update in-memory copies so later reads in this batch see the new states.
        for change in &changes {
            if let Some(t) = stored.get_mut(&change.transfer_id) {
                t.state = change.to;
            }
        }

        transfers::change_states_decided_by(&mut tx, &changes, &deciding)
            .await
            .map_err(db_error)?;
        // Settlement: this batch's commits join the open window (docs/settlement.md).
        ferroloop_store::settlement::record_committed(&mut tx, &changes, &stored)
            .await
            .map_err(db_error)?;
        positions::apply_position_changes(&mut tx, &journal)
            .await
            .map_err(db_error)?;
        transfers::insert_errors(&mut tx, &errors)
            .await
            .map_err(db_error)?;
        transfers::delete_timeouts(&mut tx, &finished)
            .await
            .map_err(db_error)?;

        if !replayed_rejections.is_empty() {
            let ids: Vec<&str> = replayed_rejections
                .iter()
                .map(|i| items[*i].transfer_id.as_str())
                .collect();
            let stored_errors = transfers::load_errors(&mut tx, &ids)
                .await
                .map_err(db_error)?;
            for index in replayed_rejections {
                let item = &items[index];
                if let Some(error) = stored_errors.get(&item.transfer_id) {
                    output.push(self.outputs.notification(&events::stored_error_from_switch(
                        &item.envelope,
                        &self.hub,
                        &stored[&item.transfer_id].payer_fsp,
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
        if !patch_flow_commits.is_empty() {
            // The payee answered RESERVED: the hub tells the payer COMMITTED with the ledger's
            // view (PUT) and the payee (PATCH), docs/callbacks.md#the-reserved-flow.
            let ids: Vec<&str> = patch_flow_commits
                .iter()
                .map(|i| items[*i].transfer_id.as_str())
                .collect();
            let views = transfers::load_views(&mut tx, &ids)
                .await
                .map_err(db_error)?;
            for index in patch_flow_commits {
                let item = &items[index];
                if let Some((record, view)) = views.get(&item.transfer_id) {
                    output.push(self.outputs.notification(&events::from_switch(
                        &item.envelope,
                        &self.hub,
                        &record.payer_fsp,
                        event_type::NOTIFICATION,
                        action::RESERVE,
                        EventState::success(),
                        events::json_payload(&view.to_state_body()),
                        Some((&record.payer_fsp, &record.payee_fsp)),
                    )));
                }
            }
        }
        tx.commit().await.map_err(|e| db_error(e.into()))?;
        Ok(output)
    }

    /// 3303 to the payer of a transfer that expired before it was reserved (what the timeout
    /// handler sends for the same transition).
    fn expired_notification(&self, item: &Item, transfer: &TransferRecord) -> OutboundMessage {
        let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
        self.outputs.notification(&events::from_switch(
            &item.envelope,
            &self.hub,
            &transfer.payer_fsp,
            event_type::NOTIFICATION,
            action::TIMEOUT_RECEIVED,
            EventState::error(expired.code().as_u16(), expired.description()),
            events::json_payload(&expired.to_body()),
            None,
        ))
    }

    /// The notification of a step that succeeded: the consumed message re-addressed to the
    /// notification handler, keeping an error decided upstream (abort, expiry).
    fn success_notification(&self, item: &Item) -> OutboundMessage {
        let action = item.envelope.action();
        let envelope = match item.request {
            Request::Reserve | Request::Commit { .. } => {
                events::forward(&item.envelope, event_type::NOTIFICATION, action)
            }
            Request::Abort | Request::Expire => {
                events::forward_keeping_state(&item.envelope, event_type::NOTIFICATION, action)
            }
        };
        self.outputs.notification(&envelope)
    }
}

/// The reason recorded when a reservation is refused because the transfer already expired.
const EXPIRED_UNRESERVED_REASON: &str = "Expired before its reservation";

/// `RECEIVED_PREPARE → EXPIRED_PREPARED` with 3303 recorded, for a transfer whose reservation
/// comes too late.
fn expire_unreserved(
    transfer: &TransferRecord,
    now_db: time::PrimitiveDateTime,
) -> Result<(StateChange, TransferErrorRow), HandlerError> {
    let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
    let to = transition(Some(transfer.state), TransferEvent::ExpirePrepared)
        .map_err(|e| HandlerError::permanent(format!("{}: {e}", transfer.transfer_id)))?;
    Ok((
        StateChange {
            transfer_id: transfer.transfer_id.clone(),
            from: Some(transfer.state),
            to,
            reason: Some(EXPIRED_UNRESERVED_REASON.to_owned()),
            at: now_db,
        },
        TransferErrorRow {
            transfer_id: transfer.transfer_id.clone(),
            state: to,
            error_code: expired.code().as_u16(),
            error_description: expired.description().to_owned(),
        },
    ))
}

fn is_expired(transfer: &TransferRecord, now: OffsetDateTime) -> bool {
    transfer.expiration.is_some_and(|e| e.assume_utc() <= now)
}

fn op_is_reserve(op: PositionOp) -> bool {
    matches!(op, PositionOp::Reserve { .. })
}

/// The account a request changes: the payer's for reservations and reversals, the payee's for
/// commits.
fn account_of(request: Request, transfer: &TransferRecord) -> Option<u32> {
    match request {
        Request::Commit { .. } => transfer.payee_account_id,
        Request::Reserve | Request::Abort | Request::Expire => transfer.payer_account_id,
    }
}

/// An account without a net debit cap can reserve nothing (central-ledger requires one).
fn limits_of(position: &LockedPosition) -> AccountLimits {
    AccountLimits::new(
        position.net_debit_cap.unwrap_or(Decimal::ZERO),
        position.liquidity_cover(),
    )
}

impl BatchHandler for PositionHandler {
    fn name(&self) -> &'static str {
        "position"
    }

    async fn handle(
        &mut self,
        batch: &[ReceivedMessage],
    ) -> Result<Vec<OutboundMessage>, HandlerError> {
        self.handle_batch(batch).await
    }
}
