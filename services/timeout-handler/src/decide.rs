//! The timeout scan's decision: pure, from the claimed and locked transfers (and what their
//! re-drives need) to the state changes, the timeout rows' fate and the messages
//! (docs/transfer-states.md#expiry).

use std::collections::HashMap;
use std::time::Duration;

use ferroloop_core::api::ErrorInformation;
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::AccountId;
use ferroloop_core::state::{ApiTransferState, TransferEvent, TransferState, transition};
use ferroloop_core::view::TransferView;
use ferroloop_messaging::events::{self, HubMessage, action, event_type};
use ferroloop_messaging::{Envelope, EventState, OutboundMessage, Outputs};
use ferroloop_store::db_time;
use ferroloop_store::transfers::{
    DecidingEvents, FulfilmentRow, StateChange, TransferErrorRow, TransferRecord,
};
use time::{OffsetDateTime, PrimitiveDateTime};

/// Reason texts central-ledger records (docs/transfer-states.md#expiry).
const EXPIRED_PREPARED_REASON: &str = "Aborted by Timeout Handler";
const RESERVED_TIMEOUT_REASON: &str = "Marked for expiration by Timeout Handler";

/// The scanner's settings and where its messages go.
#[derive(Debug, Clone)]
pub struct Context {
    pub outputs: Outputs,
    pub hub: String,
    /// Grace after which a transfer still in an intermediate state is re-driven.
    pub redrive_after: Duration,
    /// Longest pause between two re-drives of one transfer.
    pub redrive_max: Duration,
}

/// Everything a scan reads: the due transfers it could lock, in claim order, and for the ones
/// it re-drives the stored data their messages are rebuilt from.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// The claimed ids, in claim order.
    pub due: Vec<TransferId>,
    /// The claimed transfers no handler holds right now (the others come back next scan).
    pub locked: HashMap<TransferId, TransferRecord>,
    /// State bodies and fulfilments of stuck `RECEIVED_FULFIL` transfers.
    pub views: HashMap<TransferId, (TransferRecord, TransferView)>,
    pub fulfilments: HashMap<TransferId, FulfilmentRow>,
    /// Recorded errors of stuck `RECEIVED_ERROR` transfers.
    pub errors: HashMap<TransferId, TransferErrorRow>,
}

/// Everything a scan writes in its transaction.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Writes {
    pub changes: Vec<StateChange>,
    pub deciding: DecidingEvents,
    pub errors: Vec<TransferErrorRow>,
    /// Final transfers: their timeout rows go.
    pub finished: Vec<TransferId>,
    /// When to look at each transfer again.
    pub postponed: Vec<(TransferId, PrimitiveDateTime)>,
}

/// What one scan did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanOutcome {
    pub expired_prepared: usize,
    pub marked_timeout: usize,
    pub redriven: usize,
    /// The scan claimed as many rows as it may: more may be due.
    pub full_batch: bool,
}

/// A scan's plan.
#[derive(Debug, Default)]
pub struct ScanPlan {
    pub writes: Writes,
    pub outputs: Vec<OutboundMessage>,
    /// Expired prepares whose payer is told in this scan: their rows go once it is acknowledged.
    pub told: Vec<TransferId>,
    pub outcome: ScanOutcome,
}

impl Context {
    /// Whether a transfer has been in its state for the re-drive grace.
    pub fn is_stuck(&self, transfer: &TransferRecord, now: OffsetDateTime) -> bool {
        transfer.state_changed_at.assume_utc() + self.redrive_floor() <= now
    }

    fn redrive_floor(&self) -> time::Duration {
        time::Duration::try_from(self.redrive_after).unwrap_or(time::Duration::SECOND)
    }

    /// When to look at a re-driven transfer again: as long after now as it has been stuck (so
    /// the pauses double), at least `redrive_after`, at most `redrive_max`.
    fn next_redrive(&self, transfer: &TransferRecord, now: OffsetDateTime) -> PrimitiveDateTime {
        let stuck = now - transfer.state_changed_at.assume_utc();
        let floor = self.redrive_floor();
        let cap = time::Duration::try_from(self.redrive_max).unwrap_or(time::Duration::MINUTE);
        db_time(now + stuck.clamp(floor, cap.max(floor)))
    }

    /// The scan's plan: every locked transfer, in claim order.
    pub fn decide(&self, snapshot: &Snapshot, now: OffsetDateTime) -> ScanPlan {
        let mut plan = ScanPlan::default();
        for id in &snapshot.due {
            if let Some(transfer) = snapshot.locked.get(id) {
                self.decide_one(snapshot, transfer, now, &mut plan);
            }
        }
        plan
    }

    /// One claimed transfer.
    fn decide_one(
        &self,
        snapshot: &Snapshot,
        transfer: &TransferRecord,
        now: OffsetDateTime,
        plan: &mut ScanPlan,
    ) {
        let id = transfer.transfer_id;
        let stuck = self.is_stuck(transfer, now);
        let grace = db_time(now + self.redrive_floor());
        let next = match transfer.state {
            TransferState::ReceivedPrepare => {
                self.expire_prepared(transfer, now, plan);
                grace
            }
            // Told before, but the row is still here: the produce was not acknowledged.
            TransferState::ExpiredPrepared => {
                let told = self.tell_expired(transfer);
                plan.outputs.push(self.outputs.notification(&told));
                plan.told.push(id);
                grace
            }
            TransferState::Reserved => {
                self.mark_timeout(transfer, now, plan);
                grace
            }
            TransferState::ReservedTimeout
            | TransferState::ReceivedFulfil
            | TransferState::ReceivedError
                if stuck =>
            {
                self.redrive(snapshot, transfer, plan);
                plan.outcome.redriven += 1;
                self.next_redrive(transfer, now)
            }
            state if state.is_final() => {
                plan.writes.finished.push(id);
                return;
            }
            // In flight: look again when the grace is over.
            _ => grace,
        };
        plan.writes.postponed.push((id, next));
    }

    /// `RECEIVED_PREPARE` → `EXPIRED_PREPARED`, 3303 to the payer.
    fn expire_prepared(&self, transfer: &TransferRecord, now: OffsetDateTime, plan: &mut ScanPlan) {
        let to = change(
            transfer,
            TransferEvent::ExpirePrepared,
            EXPIRED_PREPARED_REASON,
            now,
            plan,
        );
        plan.writes.errors.push(expired_row(transfer, to));
        let told = self.tell_expired(transfer);
        let id = transfer.transfer_id;
        plan.writes
            .deciding
            .insert(id, told.metadata.event.id.clone());
        plan.outputs.push(self.outputs.notification(&told));
        plan.told.push(id);
        plan.outcome.expired_prepared += 1;
    }

    /// `RESERVED` → `RESERVED_TIMEOUT`; the position handler reverses the payer.
    fn mark_timeout(&self, transfer: &TransferRecord, now: OffsetDateTime, plan: &mut ScanPlan) {
        let to = change(
            transfer,
            TransferEvent::MarkTimeout,
            RESERVED_TIMEOUT_REASON,
            now,
            plan,
        );
        plan.writes.errors.push(expired_row(transfer, to));
        if let Some((message, account)) = self.expire_reserved(transfer) {
            let event = message.metadata.event.id.clone();
            plan.writes.deciding.insert(transfer.transfer_id, event);
            plan.outputs.push(self.outputs.position(&message, account));
        }
        plan.outcome.marked_timeout += 1;
    }

    /// The position message of a transfer whose own message was lost (or is still queued
    /// behind a lagging position handler: the position handler says nothing for a copy).
    fn redrive(&self, snapshot: &Snapshot, transfer: &TransferRecord, plan: &mut ScanPlan) {
        let message = match transfer.state {
            TransferState::ReservedTimeout => self.expire_reserved(transfer),
            TransferState::ReceivedFulfil => self.redrive_commit(snapshot, transfer),
            TransferState::ReceivedError => self.redrive_abort(snapshot, transfer),
            _ => None,
        };
        if let Some((message, account)) = message {
            plan.outputs.push(self.outputs.position(&message, account));
        }
    }

    /// The commit the hub is about to make, in the ledger's words: the payee's original PUT is
    /// gone with the lost message.
    fn redrive_commit(
        &self,
        snapshot: &Snapshot,
        transfer: &TransferRecord,
    ) -> Option<(Envelope, AccountId)> {
        let id = &transfer.transfer_id;
        let (stored, view) = snapshot.views.get(id)?;
        let payee_account = transfer.payee_account_id?;
        let mut body = view.to_state_body();
        body.transfer_state = ApiTransferState::Committed;
        let patch_flow = snapshot
            .fulfilments
            .get(id)
            .is_some_and(|f| f.requested_state == "RESERVED");
        let action = if patch_flow {
            action::RESERVE
        } else {
            action::COMMIT
        };
        let message =
            HubMessage::notification(&stored.payer_fsp, action, events::json_payload(&body))
                .of_type(event_type::POSITION)
                .with_parties(&stored.payer_fsp, &stored.payee_fsp)
                .about(id, &self.hub);
        Some((message, payee_account))
    }

    /// The reversal again, from the recorded error.
    fn redrive_abort(
        &self,
        snapshot: &Snapshot,
        transfer: &TransferRecord,
    ) -> Option<(Envelope, AccountId)> {
        let id = &transfer.transfer_id;
        let payer_account = transfer.payer_account_id?;
        let information = snapshot.errors.get(id).map_or_else(
            || FspiopError::new(ErrorCode::INTERNAL_SERVER_ERROR).to_error_information(),
            |e| ErrorInformation {
                error_code: e.error_code.to_string(),
                error_description: e.error_description.clone(),
                extension_list: None,
            },
        );
        let message =
            HubMessage::error(&transfer.payer_fsp, action::ABORT_VALIDATION, &information)
                .of_type(event_type::POSITION)
                .with_parties(&transfer.payer_fsp, &transfer.payee_fsp)
                .about(id, &self.hub);
        Some((message, payer_account))
    }

    /// 3303 to the payer of a prepare that expired before its reservation.
    fn tell_expired(&self, transfer: &TransferRecord) -> Envelope {
        self.hub_event(
            transfer,
            event_type::NOTIFICATION,
            action::TIMEOUT_RECEIVED,
            None,
        )
    }

    /// The position message that reverses an expired reservation, with the payer's account
    /// (its key); the position handler then sends 3303 to payer and payee.
    fn expire_reserved(&self, transfer: &TransferRecord) -> Option<(Envelope, AccountId)> {
        let payer_account = transfer.payer_account_id?;
        let parties = Some((transfer.payer_fsp.as_str(), transfer.payee_fsp.as_str()));
        let message = self.hub_event(
            transfer,
            event_type::POSITION,
            action::TIMEOUT_RESERVED,
            parties,
        );
        Some((message, payer_account))
    }

    /// A hub message about an expiry (3303), to the payer.
    fn hub_event(
        &self,
        transfer: &TransferRecord,
        event_type: &str,
        action: &str,
        parties: Option<(&str, &str)>,
    ) -> Envelope {
        let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
        let state = EventState::error(expired.code().as_u16(), expired.description());
        HubMessage {
            to: &transfer.payer_fsp,
            event_type,
            action: action.into(),
            state,
            payload: events::json_payload(&expired.to_body()),
            parties,
        }
        .about(&transfer.transfer_id, &self.hub)
    }
}

fn change(
    transfer: &TransferRecord,
    event: TransferEvent,
    reason: &str,
    now: OffsetDateTime,
    plan: &mut ScanPlan,
) -> TransferState {
    // `decide_one` only proposes events the state allows.
    let to = transition(Some(transfer.state), event).expect("timeout transition is legal");
    plan.writes.changes.push(StateChange {
        transfer_id: transfer.transfer_id,
        from: Some(transfer.state),
        to,
        reason: Some(reason.to_owned()),
        at: db_time(now),
    });
    to
}

fn expired_row(transfer: &TransferRecord, state: TransferState) -> TransferErrorRow {
    let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
    TransferErrorRow {
        transfer_id: transfer.transfer_id,
        state,
        error_code: expired.code().as_u16(),
        error_description: expired.description().to_owned(),
    }
}

#[cfg(test)]
mod tests;
