//! The step runner every transfer handler plugs into (docs/architecture.md#the-step-runner).
//!
//! A batch goes through the same stages in every handler, each in its own room:
//!
//! 1. **decode** every message (bad input becomes an answer or a dead letter, never a failed
//!    batch);
//! 2. **load**: every read the batch needs, up front, in the batch transaction — locked where
//!    the batch writes, and the insert-first duplicate claims (`INSERT IGNORE` then read back),
//!    because a locking read of an absent row locks nothing under READ COMMITTED;
//! 3. **decide** ([`Decide`]): a pure function of the snapshot, the items and the clock, returning a [`Plan`]:
//!    the writes and the outgoing messages (no I/O, no pool, unit-tested in each handler crate);
//! 4. **apply** the plan's writes in the same transaction (one function per handler: the one
//!    place a further write of the step belongs);
//! 5. **commit**, then hand the output to the batch loop, which produces it, awaits the
//!    acknowledgements and only then stores the offsets (`ferroloop_messaging::batch_loop`).
//!
//! A failure at any stage rolls the transaction back and fails the batch; the batch loop's
//! retry, split and dead-letter policy decides what happens next.

use std::future::Future;

use ferroloop_messaging::{BatchHandler, HandlerError, OutboundMessage, ReceivedMessage};
use ferroloop_store::{MySqlConnection, MySqlPool, StoreError};
use time::OffsetDateTime;

/// What a batch decided: the writes of the apply stage and the messages produced after commit.
#[derive(Debug)]
pub struct Plan<W> {
    pub writes: W,
    pub outputs: Vec<OutboundMessage>,
    /// Outcome counters, recorded once the plan committed (a retried batch counts once).
    pub counts: Vec<Count>,
}

impl<W: Default> Default for Plan<W> {
    fn default() -> Self {
        Self {
            writes: W::default(),
            outputs: Vec::new(),
            counts: Vec::new(),
        }
    }
}

impl<W> Plan<W> {
    /// Counts one message of `metric` with `outcome` (the label every handler counter uses).
    pub fn count(&mut self, metric: &'static str, outcome: &'static str) {
        self.counts.push(Count { metric, outcome });
    }
}

/// One increment of an outcome counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub metric: &'static str,
    pub outcome: &'static str,
}

/// The pure part of a step: from everything a batch loaded to its plan. Implemented by the
/// step's context (where messages go, the hub's name, limits): plain data, so the decision is
/// unit-tested with no database and no broker.
pub trait Decide: Send + Sync {
    /// One decoded message.
    type Item: Send + Sync;
    /// Everything the batch reads, loaded up front.
    type Snapshot: Send + Sync;
    /// Everything the batch writes, applied in one place.
    type Writes: Send + Sync;

    /// The batch's plan. No I/O. Errors are permanent: the same snapshot would fail the same
    /// way.
    fn decide(
        &self,
        snapshot: &Self::Snapshot,
        items: &[Self::Item],
        now: OffsetDateTime,
    ) -> Result<Plan<Self::Writes>, HandlerError>;
}

/// A step's decoded message.
pub type ItemOf<S> = <<S as Step>::Decide as Decide>::Item;
/// A step's snapshot.
pub type SnapshotOf<S> = <<S as Step>::Decide as Decide>::Snapshot;
/// A step's writes.
pub type WritesOf<S> = <<S as Step>::Decide as Decide>::Writes;

/// One handler's batch step: the I/O around its [`Decide`].
pub trait Step: Send {
    /// The pure decision.
    type Decide: Decide;

    /// Whether load and apply run in one transaction that commits before the output is
    /// produced (every step that writes). A read-only step (GET) runs on a pooled connection
    /// and saves the BEGIN/COMMIT round trips.
    const TRANSACTIONAL: bool = true;

    /// Short name for logs and metrics, e.g. `position`.
    fn name(&self) -> &'static str;

    fn decider(&self) -> &Self::Decide;

    /// A message, or the answer to send instead (an error callback, a dead letter).
    fn decode(&self, message: &ReceivedMessage) -> Result<ItemOf<Self>, OutboundMessage>;

    /// Every read of the batch, in the batch transaction.
    fn load(
        &mut self,
        conn: &mut MySqlConnection,
        items: &[ItemOf<Self>],
    ) -> impl Future<Output = Result<SnapshotOf<Self>, StoreError>> + Send;

    /// The plan's writes, in the batch transaction. The snapshot is there for writes that
    /// derive rows from what was loaded (settlement flows from the committed transfers) without
    /// copying it into the plan.
    fn apply(
        &mut self,
        conn: &mut MySqlConnection,
        snapshot: &SnapshotOf<Self>,
        writes: &WritesOf<Self>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A store error as the batch loop classifies it (transient ones are retried).
pub fn db_error(error: StoreError) -> HandlerError {
    let transient = error.is_transient();
    HandlerError::classified(error, transient)
}

/// Runs a [`Step`] as a [`BatchHandler`]: decode → load → decide → apply → commit.
#[derive(Debug)]
pub struct Runner<S> {
    pool: MySqlPool,
    step: S,
}

impl<S: Step> Runner<S> {
    pub fn new(pool: MySqlPool, step: S) -> Self {
        Self { pool, step }
    }

    pub fn step(&self) -> &S {
        &self.step
    }
}

impl<S: Step> Runner<S> {
    /// load → decide → apply on one connection (the batch transaction when the step writes).
    async fn stages(
        &mut self,
        conn: &mut MySqlConnection,
        items: &[ItemOf<S>],
        now: OffsetDateTime,
    ) -> Result<Plan<WritesOf<S>>, HandlerError> {
        let snapshot = self.step.load(conn, items).await.map_err(db_error)?;
        let plan = self.step.decider().decide(&snapshot, items, now)?;
        self.step
            .apply(conn, &snapshot, &plan.writes)
            .await
            .map_err(db_error)?;
        Ok(plan)
    }
}

impl<S: Step> BatchHandler for Runner<S> {
    fn name(&self) -> &'static str {
        self.step.name()
    }

    async fn handle(
        &mut self,
        batch: &[ReceivedMessage],
    ) -> Result<Vec<OutboundMessage>, HandlerError> {
        let mut output = Vec::new();
        let mut items = Vec::with_capacity(batch.len());
        for message in batch {
            match self.step.decode(message) {
                Ok(item) => items.push(item),
                Err(answer) => output.push(answer),
            }
        }
        if items.is_empty() {
            return Ok(output);
        }
        let now = OffsetDateTime::now_utc();
        let plan = if S::TRANSACTIONAL {
            let mut tx = self.pool.begin().await.map_err(|e| db_error(e.into()))?;
            let plan = self.stages(&mut tx, &items, now).await?;
            tx.commit().await.map_err(|e| db_error(e.into()))?;
            plan
        } else {
            let mut conn = self.pool.acquire().await.map_err(|e| db_error(e.into()))?;
            self.stages(&mut conn, &items, now).await?
        };
        // Counted once the plan took effect: a retried batch counts once.
        for count in plan.counts {
            metrics::counter!(count.metric, "outcome" => count.outcome).increment(1);
        }
        output.extend(plan.outputs);
        Ok(output)
    }
}
