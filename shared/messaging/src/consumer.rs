//! An at-least-once batch consumer.
//!
//! Offsets are *stored* only when the caller says a batch is done (after its database
//! transaction committed and its output was acknowledged by the broker), and then committed
//! asynchronously at once ([`BatchConsumer::commit_stored_async`]), so a crash replays the batch
//! in hand and the few whose commit was still on its way, not everything processed since the
//! last auto-commit: under a backlog batches grow to hundreds of messages and 100 ms of them made
//! more duplicate callbacks per crash than the 1 % bound (docs/reliability.md). librdkafka's
//! auto-commit stays on as the backstop (an async commit that failed), and a revoke or shutdown
//! commits synchronously. A crash therefore replays at most the batches in flight, never skips
//! one.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::stream_consumer::StreamConsumer;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientContext, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::config::KafkaArgs;

/// One consumed message, owned (the batch outlives librdkafka's borrow).
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

impl ReceivedMessage {
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }
}

/// How often librdkafka reports its statistics (consumer lag among them) unless
/// `KAFKA_EXTRA_CONFIG` sets `statistics.interval.ms` itself. Parsing the report is a few
/// hundred microseconds, so every 5 s is free; 0 turns it off.
pub const STATISTICS_INTERVAL_MS: u32 = 5_000;

/// Commits stored offsets when partitions are taken away, so the next owner starts exactly
/// after the last batch this process finished; publishes the group's consumer lag.
#[derive(Debug, Default)]
pub struct CommitOnRevoke {
    group: String,
}

impl ClientContext for CommitOnRevoke {
    /// `ferroloop_consumer_lag_messages{group, topic, partition}`: how far this member's
    /// partitions trail their high watermark, as librdkafka last saw it. A partition whose lag
    /// librdkafka does not know yet (-1) is left out rather than shown as zero.
    fn stats(&self, statistics: rdkafka::Statistics) {
        for (topic, detail) in &statistics.topics {
            for (partition, state) in &detail.partitions {
                if *partition < 0 || state.consumer_lag < 0 {
                    continue;
                }
                metrics::gauge!(
                    "ferroloop_consumer_lag_messages",
                    "group" => self.group.clone(),
                    "topic" => topic.clone(),
                    "partition" => partition.to_string()
                )
                .set(state.consumer_lag as f64);
            }
        }
    }
}

impl ConsumerContext for CommitOnRevoke {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            tracing::info!(
                count = partitions.count(),
                "partitions revoked; committing stored offsets"
            );
            if let Err(error) = consumer.commit_consumer_state(CommitMode::Sync) {
                // Nothing stored yet is the common harmless case.
                tracing::debug!(%error, "commit on revoke");
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            tracing::info!(count = partitions.count(), "partitions assigned");
        }
    }
}

/// Batches from a consumer group: up to `max_messages`, waiting at most `max_wait` after the
/// first message arrived.
pub struct BatchConsumer {
    consumer: StreamConsumer<CommitOnRevoke>,
    group: String,
    max_messages: usize,
    max_wait: Duration,
}

impl std::fmt::Debug for BatchConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchConsumer")
            .field("max_messages", &self.max_messages)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

impl BatchConsumer {
    pub fn new(args: &KafkaArgs, group_id: &str, topics: &[&str]) -> Result<Self, KafkaError> {
        assert!(
            args.kafka_batch_max_messages > 0,
            "batch size must be positive"
        );
        let mut config = args.base_config();
        config
            .set("group.id", group_id)
            .set("enable.auto.commit", "true")
            .set(
                "auto.commit.interval.ms",
                args.kafka_auto_commit_interval_ms.to_string(),
            )
            // Offsets are stored by us after a batch is done, never by librdkafka on delivery.
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "fetch.wait.max.ms",
                args.kafka_fetch_wait_max_ms.to_string(),
            )
            .set(
                "session.timeout.ms",
                args.kafka_session_timeout_ms.to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                args.kafka_heartbeat_interval_ms.to_string(),
            );
        if config.get("statistics.interval.ms").is_none() {
            config.set("statistics.interval.ms", STATISTICS_INTERVAL_MS.to_string());
        }
        let context = CommitOnRevoke {
            group: group_id.to_owned(),
        };
        let consumer: StreamConsumer<CommitOnRevoke> = config.create_with_context(context)?;
        consumer.subscribe(topics)?;
        Ok(Self {
            consumer,
            group: group_id.to_owned(),
            max_messages: args.kafka_batch_max_messages,
            max_wait: args.batch_max_wait(),
        })
    }

    /// Waits for the next batch. Returns an empty batch only when `shutdown` fires.
    pub async fn next_batch(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Vec<ReceivedMessage>, KafkaError> {
        let mut batch = Vec::new();
        let first = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(batch),
            message = self.consumer.recv() => message?,
        };
        batch.push(owned(&first));
        drop(first);
        let deadline = tokio::time::Instant::now() + self.max_wait;
        while batch.len() < self.max_messages {
            match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Ok(Ok(message)) => batch.push(owned(&message)),
                Ok(Err(error)) => {
                    // Keep what we have; the error resurfaces on the next call if it persists.
                    tracing::warn!(%error, "consume error while filling a batch");
                    break;
                }
                Err(_elapsed) => break,
            }
        }
        metrics::histogram!("ferroloop_consumer_batch_messages", "group" => self.group.clone())
            .record(batch.len() as u32);
        Ok(batch)
    }

    /// Marks a processed batch: stores, per partition, the offset after its last message.
    pub fn store_offsets(&self, batch: &[ReceivedMessage]) -> Result<(), KafkaError> {
        let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for message in batch {
            let entry = next
                .entry((message.topic.as_str(), message.partition))
                .or_insert(message.offset + 1);
            *entry = (*entry).max(message.offset + 1);
        }
        if next.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::with_capacity(next.len());
        for ((topic, partition), offset) in next {
            list.add_partition_offset(topic, partition, rdkafka::Offset::Offset(offset))?;
        }
        match self.consumer.store_offsets(&list) {
            Ok(()) => Ok(()),
            // The partition was revoked while we worked; its next owner replays the batch.
            Err(KafkaError::StoreOffset(code)) => {
                tracing::warn!(
                    ?code,
                    "could not store offsets (partition no longer assigned)"
                );
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// Commits the stored offsets without waiting for the broker (after each batch). One that
    /// fails is logged; auto-commit or the next batch's commit carries the offsets instead.
    pub fn commit_stored_async(&self) {
        match self.consumer.commit_consumer_state(CommitMode::Async) {
            Ok(()) => {}
            // Nothing stored since the last commit (every partition revoked): harmless.
            Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
            Err(error) => tracing::debug!(%error, "async offset commit"),
        }
    }

    /// Commits stored offsets now (on shutdown).
    pub fn commit_stored(&self) {
        if let Err(error) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(%error, "final offset commit");
        }
    }
}

fn owned(message: &rdkafka::message::BorrowedMessage<'_>) -> ReceivedMessage {
    ReceivedMessage {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
    }
}
