//! The consume → handle → produce → store-offsets loop every Kafka-driven handler runs.
//!
//! Order per batch (docs/delivery.md#the-order-inside-a-batch): the handler's database transaction
//! commits, then the batch's output is produced and acknowledged, and only then are the input
//! offsets stored and committed (asynchronously: the next batch does not wait for the broker).
//! A crash at any point replays the batch, which is why every handler must be idempotent; the
//! commit after every batch keeps the replay to the batch in hand.
//!
//! Failure policy, so that one error never wedges a partition:
//! - transient errors (database unavailable, deadlock, broker unavailable) are retried with
//!   capped exponential backoff until they clear or the process is asked to stop; the process
//!   reports not-ready meanwhile;
//! - a permanent error is retried `permanent_attempts` times; then a multi-message batch is
//!   split and each message handled alone, and a single message that still fails goes to the
//!   dead-letter topic with the reason, so its partition moves on and nothing is silently lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::consumer::{BatchConsumer, ReceivedMessage};
use crate::failpoint::{self, Point};
use crate::producer::{BatchProducer, OutboundMessage};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong while handling a batch.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Retrying the same batch later can succeed.
    #[error("transient: {0}")]
    Transient(BoxError),
    /// Retrying the same input will fail the same way.
    #[error("permanent: {0}")]
    Permanent(BoxError),
}

impl HandlerError {
    pub fn transient(error: impl Into<BoxError>) -> Self {
        Self::Transient(error.into())
    }

    pub fn permanent(error: impl Into<BoxError>) -> Self {
        Self::Permanent(error.into())
    }

    /// Transient or permanent as the caller classified it (e.g. `StoreError::is_transient`).
    pub fn classified(error: impl Into<BoxError>, transient: bool) -> Self {
        if transient {
            Self::transient(error)
        } else {
            Self::permanent(error)
        }
    }
}

/// A handler of one consumer group.
///
/// `handle` must be idempotent: given a batch it has already (partly) processed, it makes no
/// second change and returns the same output messages.
pub trait BatchHandler: Send {
    /// Short name for logs and metrics, e.g. `prepare`.
    fn name(&self) -> &'static str;

    fn handle(
        &mut self,
        batch: &[ReceivedMessage],
    ) -> impl Future<Output = Result<Vec<OutboundMessage>, HandlerError>> + Send;
}

/// Limits of the retry policy above.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub permanent_attempts: u32,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// After this many consecutive transient failures the process reports not-ready.
    pub unready_after_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            permanent_attempts: 3,
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_secs(5),
            unready_after_attempts: 5,
        }
    }
}

/// Everything the loop needs besides the handler.
#[derive(Debug)]
pub struct LoopParts {
    pub consumer: BatchConsumer,
    pub producer: BatchProducer,
    pub dead_letter_topic: String,
    pub retry: RetryPolicy,
    /// Cleared while the loop cannot make progress (health/ready).
    pub ready: Arc<AtomicBool>,
}

/// Runs until `shutdown` fires; then finishes the batch in hand, commits offsets and returns.
pub async fn run<H: BatchHandler>(parts: LoopParts, mut handler: H, shutdown: CancellationToken) {
    let name = handler.name();
    // Failure counters exist at 0 from the start: a rate() over a series that appears only with
    // the first failure shows nothing where it should show the jump.
    for kind in ["permanent", "transient"] {
        metrics::counter!("ferroloop_batch_failures_total", "handler" => name, "kind" => kind)
            .increment(0);
    }
    failpoint::init();
    parts.ready.store(true, Ordering::Relaxed);
    loop {
        let batch = match parts.consumer.next_batch(&shutdown).await {
            Ok(batch) if batch.is_empty() => break,
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(handler = name, %error, "consume failed");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(parts.retry.backoff_initial) => continue,
                }
            }
        };
        let started = Instant::now();
        let done = process(&parts, &mut handler, &batch, &shutdown).await;
        if !done {
            // Stopped mid-retry: leave the offsets unstored so the batch is replayed.
            break;
        }
        failpoint::pass(Point::AfterProduce);
        match parts.consumer.store_offsets(&batch) {
            Ok(()) => parts.consumer.commit_stored_async(),
            Err(error) => {
                tracing::error!(handler = name, %error, "storing offsets failed; batch will be replayed");
            }
        }
        metrics::histogram!("ferroloop_batch_seconds", "handler" => name)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("ferroloop_messages_processed_total", "handler" => name)
            .increment(batch.len() as u64);
    }
    parts.consumer.commit_stored();
    parts.producer.flush(Duration::from_secs(10));
    tracing::info!(handler = name, "batch loop stopped");
}

/// Handles a batch until its output is acknowledged. Returns false if stopped first.
async fn process<H: BatchHandler>(
    parts: &LoopParts,
    handler: &mut H,
    batch: &[ReceivedMessage],
    shutdown: &CancellationToken,
) -> bool {
    match attempt_until_done_or_permanent(parts, handler, batch, shutdown).await {
        Attempt::Done => true,
        Attempt::Stopped => false,
        Attempt::Permanent(error) if batch.len() > 1 => {
            tracing::warn!(handler = handler.name(), %error, size = batch.len(),
                "batch failed permanently; handling its messages one by one");
            for message in batch {
                let single = std::slice::from_ref(message);
                match attempt_until_done_or_permanent(parts, handler, single, shutdown).await {
                    Attempt::Done => {}
                    Attempt::Stopped => return false,
                    Attempt::Permanent(error) => {
                        if !dead_letter(parts, handler.name(), message, &error, shutdown).await {
                            return false;
                        }
                    }
                }
            }
            true
        }
        Attempt::Permanent(error) => {
            dead_letter(parts, handler.name(), &batch[0], &error, shutdown).await
        }
    }
}

enum Attempt {
    Done,
    Stopped,
    Permanent(HandlerError),
}

async fn attempt_until_done_or_permanent<H: BatchHandler>(
    parts: &LoopParts,
    handler: &mut H,
    batch: &[ReceivedMessage],
    shutdown: &CancellationToken,
) -> Attempt {
    let mut backoff = parts.retry.backoff_initial;
    let mut transient_failures = 0_u32;
    let mut permanent_failures = 0_u32;
    loop {
        let outcome = match handler.handle(batch).await {
            Ok(output) => {
                failpoint::pass(Point::AfterCommit);
                parts
                    .producer
                    .send_all(&output)
                    .await
                    .map_err(HandlerError::transient)
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok(()) => {
                parts.ready.store(true, Ordering::Relaxed);
                return Attempt::Done;
            }
            Err(HandlerError::Permanent(error)) => {
                permanent_failures += 1;
                metrics::counter!("ferroloop_batch_failures_total", "handler" => handler.name(), "kind" => "permanent").increment(1);
                if permanent_failures >= parts.retry.permanent_attempts {
                    return Attempt::Permanent(HandlerError::Permanent(error));
                }
                tracing::warn!(handler = handler.name(), %error, attempt = permanent_failures, "batch failed");
            }
            Err(HandlerError::Transient(error)) => {
                transient_failures += 1;
                metrics::counter!("ferroloop_batch_failures_total", "handler" => handler.name(), "kind" => "transient").increment(1);
                if transient_failures >= parts.retry.unready_after_attempts {
                    parts.ready.store(false, Ordering::Relaxed);
                }
                tracing::warn!(handler = handler.name(), %error, attempt = transient_failures, "batch failed, will retry");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return Attempt::Stopped,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(parts.retry.backoff_max);
    }
}

/// Parks a message that cannot be processed on the dead-letter topic. Returns false if stopped.
async fn dead_letter(
    parts: &LoopParts,
    handler: &'static str,
    message: &ReceivedMessage,
    error: &HandlerError,
    shutdown: &CancellationToken,
) -> bool {
    tracing::error!(handler, %error, topic = %message.topic, partition = message.partition,
        offset = message.offset, "message cannot be processed; moving it to the dead-letter topic");
    metrics::counter!("ferroloop_dead_letters_total", "handler" => handler).increment(1);
    let record = serde_json::json!({
        "handler": handler,
        "error": error.to_string(),
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "key": message.key_str(),
        "payload": String::from_utf8_lossy(&message.payload),
    });
    let out = [OutboundMessage {
        topic: parts.dead_letter_topic.clone(),
        key: message.key_str().map(str::to_owned),
        payload: record.to_string().into_bytes(),
    }];
    let mut backoff = parts.retry.backoff_initial;
    loop {
        match parts.producer.send_all(&out).await {
            Ok(()) => return true,
            Err(error) => tracing::warn!(%error, "dead-letter produce failed, retrying"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(parts.retry.backoff_max);
    }
}

impl LoopParts {
    /// Subscribes `group` to `topics` and creates the producer, with the default retry policy.
    pub fn connect(
        args: &crate::KafkaArgs,
        group: &str,
        topics: &[&str],
        ready: Arc<AtomicBool>,
    ) -> Result<Self, crate::KafkaError> {
        Ok(Self {
            consumer: BatchConsumer::new(args, group, topics)?,
            producer: BatchProducer::new(args)?,
            dead_letter_topic: args.topics().dead_letter,
            retry: RetryPolicy::default(),
            ready,
        })
    }
}
