//! One scan, in the shape of every step (docs/architecture.md#the-step-runner): claim and load
//! (due rows, their transfers locked, what the re-drives need), decide (`decide.rs`, pure),
//! apply, commit, produce, then drop the rows of the expired prepares whose payer was told.

use std::time::Duration;

use ferroloop_core::id::TransferId;
use ferroloop_core::state::TransferState;
use ferroloop_messaging::{BatchProducer, Outputs, Topics};
use ferroloop_store::transfers;
use ferroloop_store::{MySqlConnection, MySqlPool, StoreError, db_time};
use time::OffsetDateTime;

use crate::decide::{Context, ScanOutcome, Snapshot, Writes};

#[derive(Debug)]
pub struct TimeoutScanner {
    pool: MySqlPool,
    context: Context,
    batch_size: u32,
}

/// Default longest pause between two re-drives of one transfer (`TIMEOUT_REDRIVE_MAX_MS`).
pub const DEFAULT_REDRIVE_MAX: Duration = Duration::from_secs(60);

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
            context: Context {
                outputs: Outputs::new(topics, "timeout"),
                hub,
                redrive_after,
                redrive_max: DEFAULT_REDRIVE_MAX.max(redrive_after),
            },
            batch_size,
        }
    }

    /// Longest pause between two re-drives of one transfer: the pause doubles from
    /// `redrive_after` up to this.
    #[must_use]
    pub fn with_redrive_max(mut self, redrive_max: Duration) -> Self {
        self.context.redrive_max = redrive_max.max(self.context.redrive_after);
        self
    }

    /// Claims due transfers, changes their states in one transaction, then produces the
    /// notifications and position messages. If producing fails the states are committed
    /// already; the transfers stay in `transfer_timeout`: an expired prepare is told again on a
    /// later scan (its row goes only once the payer's notification was acknowledged), the
    /// others are re-driven after the grace.
    pub async fn scan_once(&self, producer: &BatchProducer) -> Result<ScanOutcome, ScanError> {
        let now = OffsetDateTime::now_utc();
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let snapshot = self.load(&mut tx, now).await?;
        let full_batch = snapshot.due.len() as u32 >= self.batch_size;
        if snapshot.due.is_empty() {
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(ScanOutcome::default());
        }
        let mut plan = self.context.decide(&snapshot, now);
        plan.outcome.full_batch = full_batch;
        apply(&mut tx, &plan.writes).await?;
        tx.commit().await.map_err(StoreError::from)?;
        producer.send_all(&plan.outputs).await?;
        // The payers of expired prepares were told (acknowledged): their rows may go now. A
        // crash before this line tells them once more on a later scan.
        let mut conn = self.pool.acquire().await.map_err(StoreError::from)?;
        transfers::delete_timeouts(&mut conn, &plan.told).await?;
        record(&plan.outcome);
        Ok(plan.outcome)
    }

    /// The due rows (claimed), their transfers (locked; transfers a handler is working on
    /// right now are skipped and come back next scan), and only for stuck transfers that are
    /// re-driven, the stored data their messages are rebuilt from.
    async fn load(
        &self,
        conn: &mut MySqlConnection,
        now: OffsetDateTime,
    ) -> Result<Snapshot, StoreError> {
        let due = transfers::claim_due_timeouts(conn, db_time(now), self.batch_size).await?;
        if due.is_empty() {
            return Ok(Snapshot::default());
        }
        let locked = transfers::lock_transfers_skip_locked(conn, &due).await?;
        let stuck_in = |state: TransferState| -> Vec<TransferId> {
            locked
                .values()
                .filter(|t| t.state == state && self.context.is_stuck(t, now))
                .map(|t| t.transfer_id)
                .collect()
        };
        let fulfilled = stuck_in(TransferState::ReceivedFulfil);
        let errored = stuck_in(TransferState::ReceivedError);
        let views = transfers::load_views(conn, &fulfilled).await?;
        let fulfilments = transfers::load_fulfilments(conn, &fulfilled).await?;
        let errors = transfers::load_errors(conn, &errored).await?;
        Ok(Snapshot {
            due,
            locked,
            views,
            fulfilments,
            errors,
        })
    }
}

/// The scan's writes, in its transaction.
async fn apply(conn: &mut MySqlConnection, writes: &Writes) -> Result<(), StoreError> {
    transfers::change_states_decided_by(conn, &writes.changes, &writes.deciding).await?;
    transfers::insert_errors(conn, &writes.errors).await?;
    transfers::delete_timeouts(conn, &writes.finished).await?;
    transfers::postpone_timeouts_each(conn, &writes.postponed).await
}

fn record(outcome: &ScanOutcome) {
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
