//! One scan: claim due timeout rows, decide each transfer, write, produce.

use std::time::Duration;

use ferroloop_core::api::{ErrorInformation, ErrorInformationObject};
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::state::{ApiTransferState, TransferEvent, TransferState, transition};
use ferroloop_messaging::events::{self, action, event_type};
use ferroloop_messaging::{BatchProducer, Envelope, EventState, OutboundMessage, Outputs, Topics};
use ferroloop_store::transfers::{
    self, DecidingEvents, StateChange, TransferErrorRow, TransferRecord,
};
use ferroloop_store::{MySqlPool, StoreError, db_time};
use time::OffsetDateTime;

/// Reason texts central-ledger records (docs/transfer-states.md#expiry).
const EXPIRED_PREPARED_REASON: &str = "Aborted by Timeout Handler";
const RESERVED_TIMEOUT_REASON: &str = "Marked for expiration by Timeout Handler";

#[derive(Debug)]
pub struct TimeoutScanner {
    pool: MySqlPool,
    outputs: Outputs,
    hub: String,
    batch_size: u32,
    redrive_after: Duration,
    redrive_max: Duration,
}

/// Default longest pause between two re-drives of one transfer (`TIMEOUT_REDRIVE_MAX_MS`).
pub const DEFAULT_REDRIVE_MAX: Duration = Duration::from_secs(60);

/// What one scan did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanOutcome {
    pub expired_prepared: usize,
    pub marked_timeout: usize,
    pub redriven: usize,
    /// The scan claimed as many rows as it may: more may be due.
    pub full_batch: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("kafka: {0}")]
    Kafka(#[from] ferroloop_messaging::KafkaError),
}

impl TimeoutScanner {
    pub fn new(
        pool: MySqlPool,
        topics: Topics,
        hub: String,
        batch_size: u32,
        redrive_after: Duration,
    ) -> Self {
        assert!(batch_size > 0, "timeout batch size must be positive");
        Self {
            pool,
            outputs: Outputs::new(topics, "timeout"),
            hub,
            batch_size,
            redrive_after,
            redrive_max: DEFAULT_REDRIVE_MAX.max(redrive_after),
        }
    }

    /// Longest pause between two re-drives of one transfer: the pause doubles from
    /// `redrive_after` up to this.
    #[must_use]
    pub fn with_redrive_max(mut self, redrive_max: Duration) -> Self {
        self.redrive_max = redrive_max.max(self.redrive_after);
        self
    }

    /// When to look at a re-driven transfer again: as long after now as it has been stuck
    /// (so the pauses double), at least `redrive_after`, at most `redrive_max`.
    fn next_redrive(
        &self,
        transfer: &TransferRecord,
        now: OffsetDateTime,
    ) -> time::PrimitiveDateTime {
        let stuck = now - transfer.state_changed_at.assume_utc();
        let floor = time::Duration::try_from(self.redrive_after).unwrap_or(time::Duration::SECOND);
        let cap = time::Duration::try_from(self.redrive_max).unwrap_or(time::Duration::MINUTE);
        db_time(now + stuck.clamp(floor, cap.max(floor)))
    }

    /// Claims due transfers, changes their states in one transaction, then produces the
    /// notifications and position messages. If producing fails the states are committed
    /// already; the transfers stay in `transfer_timeout`: an expired prepare is told again on a
    /// later scan (its row goes only once the payer's notification was acknowledged), the
    /// others are re-driven after the grace.
    pub async fn scan_once(&self, producer: &BatchProducer) -> Result<ScanOutcome, ScanError> {
        let now = OffsetDateTime::now_utc();
        let now_db = db_time(now);
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let due = transfers::claim_due_timeouts(&mut tx, now_db, self.batch_size).await?;
        let mut outcome = ScanOutcome {
            full_batch: due.len() as u32 >= self.batch_size,
            ..ScanOutcome::default()
        };
        if due.is_empty() {
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(outcome);
        }
        let ids: Vec<&str> = due.iter().map(String::as_str).collect();
        // Transfers a handler is working on right now are skipped and come back next scan.
        let locked = transfers::lock_transfers_skip_locked(&mut tx, &ids).await?;
        let mut scan = Scan::default();
        for id in &ids {
            if let Some(transfer) = locked.get(*id) {
                self.decide(transfer, now, &mut scan, &mut outcome);
            }
        }
        self.redrive(&mut tx, &locked, &mut scan).await?;

        transfers::change_states_decided_by(&mut tx, &scan.changes, &scan.deciding).await?;
        transfers::insert_errors(&mut tx, &scan.errors).await?;
        let finished: Vec<&str> = scan.finished.iter().map(String::as_str).collect();
        transfers::delete_timeouts(&mut tx, &finished).await?;
        let postponed: Vec<(&str, time::PrimitiveDateTime)> = scan
            .postponed
            .iter()
            .map(|(id, at)| (id.as_str(), *at))
            .collect();
        transfers::postpone_timeouts_each(&mut tx, &postponed).await?;
        tx.commit().await.map_err(StoreError::from)?;
        producer.send_all(&scan.output).await?;
        // The payers of expired prepares were told (acknowledged): their rows may go now. A
        // crash before this line tells them once more on a later scan.
        let told: Vec<&str> = scan.told.iter().map(String::as_str).collect();
        let mut conn = self.pool.acquire().await.map_err(StoreError::from)?;
        transfers::delete_timeouts(&mut conn, &told).await?;
        self.record(&outcome);
        Ok(outcome)
    }

    /// Decides one claimed transfer.
    fn decide(
        &self,
        transfer: &TransferRecord,
        now: OffsetDateTime,
        scan: &mut Scan,
        outcome: &mut ScanOutcome,
    ) {
        let redrive_after =
            time::Duration::try_from(self.redrive_after).unwrap_or(time::Duration::SECOND);
        let id = transfer.transfer_id.clone();
        let stuck = transfer.state_changed_at.assume_utc() + redrive_after <= now;
        let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
        let grace = db_time(now + redrive_after);
        match transfer.state {
            TransferState::ReceivedPrepare => {
                let to = self.change(
                    transfer,
                    TransferEvent::ExpirePrepared,
                    EXPIRED_PREPARED_REASON,
                    now,
                    &mut scan.changes,
                );
                scan.errors.push(error_row(transfer, to, &expired));
                let told = self.tell_expired(transfer, &expired);
                scan.deciding
                    .insert(id.clone(), told.metadata.event.id.clone());
                scan.output.push(self.outputs.notification(&told));
                scan.told.push(id.clone());
                scan.postponed.push((id, grace));
                outcome.expired_prepared += 1;
            }
            // Told before, but the row is still here: the produce was not acknowledged.
            TransferState::ExpiredPrepared => {
                let told = self.tell_expired(transfer, &expired);
                scan.output.push(self.outputs.notification(&told));
                scan.told.push(id.clone());
                scan.postponed.push((id, grace));
            }
            TransferState::Reserved => {
                let to = self.change(
                    transfer,
                    TransferEvent::MarkTimeout,
                    RESERVED_TIMEOUT_REASON,
                    now,
                    &mut scan.changes,
                );
                scan.errors.push(error_row(transfer, to, &expired));
                if let Some((message, account)) = self.expire_reserved(transfer, &expired) {
                    scan.deciding
                        .insert(id.clone(), message.metadata.event.id.clone());
                    scan.output.push(self.outputs.position(&message, account));
                }
                scan.postponed.push((id, grace));
                outcome.marked_timeout += 1;
            }
            TransferState::ReservedTimeout if stuck => {
                if let Some((message, account)) = self.expire_reserved(transfer, &expired) {
                    scan.output.push(self.outputs.position(&message, account));
                }
                scan.postponed.push((id, self.next_redrive(transfer, now)));
                outcome.redriven += 1;
            }
            TransferState::ReceivedFulfil if stuck => {
                scan.postponed
                    .push((id.clone(), self.next_redrive(transfer, now)));
                scan.redrive_fulfilled.push(id);
                outcome.redriven += 1;
            }
            TransferState::ReceivedError if stuck => {
                scan.postponed
                    .push((id.clone(), self.next_redrive(transfer, now)));
                scan.redrive_errors.push(id);
                outcome.redriven += 1;
            }
            state if state.is_final() => scan.finished.push(id),
            // In flight: look again when the grace is over.
            _ => scan.postponed.push((id, grace)),
        }
    }

    /// The position messages of transfers whose own message was lost (or is still queued
    /// behind a lagging position handler: the position handler says nothing for a copy).
    async fn redrive(
        &self,
        tx: &mut ferroloop_store::MySqlConnection,
        locked: &std::collections::HashMap<String, TransferRecord>,
        scan: &mut Scan,
    ) -> Result<(), ScanError> {
        if !scan.redrive_fulfilled.is_empty() {
            let ids: Vec<&str> = scan.redrive_fulfilled.iter().map(String::as_str).collect();
            let views = transfers::load_views(tx, &ids).await?;
            let fulfilments = transfers::load_fulfilments(tx, &ids).await?;
            for id in &ids {
                let (Some((transfer, view)), Some(payee_account)) = (
                    views.get(*id),
                    locked.get(*id).and_then(|t| t.payee_account_id),
                ) else {
                    continue;
                };
                // The payee's original PUT is gone with the lost message: the hub reports
                // the commit it is about to make, in the ledger's words.
                let mut body = view.to_state_body();
                body.transfer_state = ApiTransferState::Committed;
                let patch_flow = fulfilments
                    .get(*id)
                    .is_some_and(|f| f.requested_state == "RESERVED");
                let message = events::new_hub_event(
                    id,
                    &self.hub,
                    &transfer.payer_fsp,
                    event_type::POSITION,
                    if patch_flow {
                        action::RESERVE
                    } else {
                        action::COMMIT
                    },
                    EventState::success(),
                    events::json_payload(&body),
                    Some((&transfer.payer_fsp, &transfer.payee_fsp)),
                );
                scan.output
                    .push(self.outputs.position(&message, payee_account));
            }
        }
        if !scan.redrive_errors.is_empty() {
            let ids: Vec<&str> = scan.redrive_errors.iter().map(String::as_str).collect();
            let stored = transfers::load_errors(tx, &ids).await?;
            for id in &ids {
                let Some(transfer) = locked.get(*id) else {
                    continue;
                };
                let Some(payer_account) = transfer.payer_account_id else {
                    continue;
                };
                let information = stored.get(*id).map_or_else(
                    || FspiopError::new(ErrorCode::INTERNAL_SERVER_ERROR).to_error_information(),
                    |e| ErrorInformation {
                        error_code: e.error_code.to_string(),
                        error_description: e.error_description.clone(),
                        extension_list: None,
                    },
                );
                let message = events::new_hub_event(
                    id,
                    &self.hub,
                    &transfer.payer_fsp,
                    event_type::POSITION,
                    action::ABORT_VALIDATION,
                    events::error_information_state(&information),
                    events::json_payload(&ErrorInformationObject {
                        error_information: information,
                    }),
                    Some((&transfer.payer_fsp, &transfer.payee_fsp)),
                );
                scan.output
                    .push(self.outputs.position(&message, payer_account));
            }
        }
        Ok(())
    }

    fn record(&self, outcome: &ScanOutcome) {
        if outcome.expired_prepared + outcome.marked_timeout + outcome.redriven > 0 {
            tracing::info!(?outcome, "timeout scan");
        }
        metrics::counter!("ferroloop_timeouts_total", "outcome" => "expired-prepared")
            .increment(outcome.expired_prepared as u64);
        metrics::counter!("ferroloop_timeouts_total", "outcome" => "marked-timeout")
            .increment(outcome.marked_timeout as u64);
        metrics::counter!("ferroloop_timeouts_total", "outcome" => "redriven")
            .increment(outcome.redriven as u64);
    }

    /// 3303 to the payer of a prepare that expired before its reservation.
    fn tell_expired(&self, transfer: &TransferRecord, expired: &FspiopError) -> Envelope {
        events::new_hub_event(
            &transfer.transfer_id,
            &self.hub,
            &transfer.payer_fsp,
            event_type::NOTIFICATION,
            action::TIMEOUT_RECEIVED,
            EventState::error(expired.code().as_u16(), expired.description()),
            events::json_payload(&expired.to_body()),
            None,
        )
    }

    fn change(
        &self,
        transfer: &TransferRecord,
        event: TransferEvent,
        reason: &str,
        now: OffsetDateTime,
        changes: &mut Vec<StateChange>,
    ) -> TransferState {
        // The match above only proposes events the state allows.
        let to = transition(Some(transfer.state), event).expect("timeout transition is legal");
        changes.push(StateChange {
            transfer_id: transfer.transfer_id.clone(),
            from: Some(transfer.state),
            to,
            reason: Some(reason.to_owned()),
            at: db_time(now),
        });
        to
    }

    /// The position message that reverses an expired reservation, with the payer's account
    /// (its key); the position handler then sends 3303 to payer and payee.
    fn expire_reserved(
        &self,
        transfer: &TransferRecord,
        expired: &FspiopError,
    ) -> Option<(Envelope, u32)> {
        let payer_account = transfer.payer_account_id?;
        let message = events::new_hub_event(
            &transfer.transfer_id,
            &self.hub,
            &transfer.payer_fsp,
            event_type::POSITION,
            action::TIMEOUT_RESERVED,
            EventState::error(expired.code().as_u16(), expired.description()),
            events::json_payload(&expired.to_body()),
            Some((&transfer.payer_fsp, &transfer.payee_fsp)),
        );
        Some((message, payer_account))
    }
}

/// What one scan collects.
#[derive(Debug, Default)]
struct Scan {
    changes: Vec<StateChange>,
    deciding: DecidingEvents,
    errors: Vec<TransferErrorRow>,
    finished: Vec<String>,
    postponed: Vec<(String, time::PrimitiveDateTime)>,
    /// Expired prepares whose payer is told in this scan: their rows go once it is acknowledged.
    told: Vec<String>,
    redrive_fulfilled: Vec<String>,
    redrive_errors: Vec<String>,
    output: Vec<OutboundMessage>,
}

fn error_row(
    transfer: &TransferRecord,
    state: TransferState,
    error: &FspiopError,
) -> TransferErrorRow {
    TransferErrorRow {
        transfer_id: transfer.transfer_id.clone(),
        state,
        error_code: error.code().as_u16(),
        error_description: error.description().to_owned(),
    }
}
