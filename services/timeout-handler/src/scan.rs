//! One scan: claim due timeout rows, decide each transfer, write, produce.

use std::time::Duration;

use ferroloop_core::api::{ErrorInformation, ErrorInformationObject};
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_core::state::{ApiTransferState, TransferEvent, TransferState, transition};
use ferroloop_messaging::events::{self, action, event_type};
use ferroloop_messaging::{BatchProducer, EventState, OutboundMessage, Outputs, Topics};
use ferroloop_store::transfers::{self, StateChange, TransferErrorRow, TransferRecord};
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
        }
    }

    /// Claims due transfers, changes their states in one transaction, then produces the
    /// notifications and position messages. If producing fails the states are committed
    /// already; the transfers stay in `transfer_timeout` and are re-driven after the grace.
    pub async fn scan_once(&self, producer: &BatchProducer) -> Result<ScanOutcome, ScanError> {
        let now = OffsetDateTime::now_utc();
        let now_db = db_time(now);
        let redrive_after =
            time::Duration::try_from(self.redrive_after).unwrap_or(time::Duration::SECOND);
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

        let mut changes = Vec::new();
        let mut errors = Vec::new();
        let mut finished: Vec<&str> = Vec::new();
        let mut postponed: Vec<&str> = Vec::new();
        let mut redrive_fulfilled: Vec<&str> = Vec::new();
        let mut redrive_errors: Vec<&str> = Vec::new();
        let mut output = Vec::new();
        let expired = FspiopError::new(ErrorCode::TRANSFER_EXPIRED);
        for id in &ids {
            let Some(transfer) = locked.get(*id) else {
                continue;
            };
            let stuck = transfer.state_changed_at.assume_utc() + redrive_after <= now;
            match transfer.state {
                TransferState::ReceivedPrepare => {
                    let to = self.change(
                        transfer,
                        TransferEvent::ExpirePrepared,
                        EXPIRED_PREPARED_REASON,
                        now,
                        &mut changes,
                    );
                    errors.push(error_row(transfer, to, &expired));
                    finished.push(id);
                    output.push(self.outputs.notification(&events::new_hub_event(
                        id,
                        &self.hub,
                        &transfer.payer_fsp,
                        event_type::NOTIFICATION,
                        action::TIMEOUT_RECEIVED,
                        EventState::error(expired.code().as_u16(), expired.description()),
                        events::json_payload(&expired.to_body()),
                        None,
                    )));
                    outcome.expired_prepared += 1;
                }
                TransferState::Reserved => {
                    let to = self.change(
                        transfer,
                        TransferEvent::MarkTimeout,
                        RESERVED_TIMEOUT_REASON,
                        now,
                        &mut changes,
                    );
                    errors.push(error_row(transfer, to, &expired));
                    output.extend(self.expire_reserved(transfer, &expired));
                    postponed.push(id);
                    outcome.marked_timeout += 1;
                }
                TransferState::ReservedTimeout if stuck => {
                    output.extend(self.expire_reserved(transfer, &expired));
                    postponed.push(id);
                    outcome.redriven += 1;
                }
                TransferState::ReceivedFulfil if stuck => {
                    redrive_fulfilled.push(id);
                    postponed.push(id);
                    outcome.redriven += 1;
                }
                TransferState::ReceivedError if stuck => {
                    redrive_errors.push(id);
                    postponed.push(id);
                    outcome.redriven += 1;
                }
                // In flight: look again when the grace is over.
                TransferState::ReservedTimeout
                | TransferState::ReceivedFulfil
                | TransferState::ReceivedError
                | TransferState::ReceivedReject => postponed.push(id),
                state if state.is_final() => finished.push(id),
                _ => postponed.push(id),
            }
        }
        if !redrive_fulfilled.is_empty() {
            let views = transfers::load_views(&mut tx, &redrive_fulfilled).await?;
            let fulfilments = transfers::load_fulfilments(&mut tx, &redrive_fulfilled).await?;
            for id in &redrive_fulfilled {
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
                output.push(self.outputs.position(&message, payee_account));
            }
        }
        if !redrive_errors.is_empty() {
            let stored = transfers::load_errors(&mut tx, &redrive_errors).await?;
            for id in &redrive_errors {
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
                output.push(self.outputs.position(&message, payer_account));
            }
        }

        transfers::change_states(&mut tx, &changes).await?;
        transfers::insert_errors(&mut tx, &errors).await?;
        transfers::delete_timeouts(&mut tx, &finished).await?;
        transfers::postpone_timeouts(&mut tx, &postponed, db_time(now + redrive_after)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        producer.send_all(&output).await?;
        if outcome.expired_prepared + outcome.marked_timeout + outcome.redriven > 0 {
            tracing::info!(?outcome, "timeout scan");
        }
        metrics::counter!("ferroloop_timeouts_total", "outcome" => "expired-prepared")
            .increment(outcome.expired_prepared as u64);
        metrics::counter!("ferroloop_timeouts_total", "outcome" => "marked-timeout")
            .increment(outcome.marked_timeout as u64);
        metrics::counter!("ferroloop_timeouts_total", "outcome" => "redriven")
            .increment(outcome.redriven as u64);
        Ok(outcome)
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

    /// The position message that reverses an expired reservation; the position handler then
    /// sends 3303 to payer and payee.
    fn expire_reserved(
        &self,
        transfer: &TransferRecord,
        expired: &FspiopError,
    ) -> Option<OutboundMessage> {
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
        Some(self.outputs.position(&message, payer_account))
    }
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
