//! A batching producer: every message of a batch is enqueued before any acknowledgement is
//! awaited, so a batch costs one broker round trip, not one per message.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};

use crate::config::KafkaArgs;

/// A message to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    pub topic: String,
    /// `None` = no key (the partitioner picks a partition), as Mojaloop's adapter does.
    pub key: Option<String>,
    pub payload: Vec<u8>,
}

/// How long to back off when librdkafka's local queue is full before enqueuing again.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(5);

#[derive(Clone)]
pub struct BatchProducer {
    producer: FutureProducer,
}

impl std::fmt::Debug for BatchProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchProducer").finish_non_exhaustive()
    }
}

impl BatchProducer {
    pub fn new(args: &KafkaArgs) -> Result<Self, KafkaError> {
        let mut config = args.base_config();
        config
            .set("linger.ms", args.kafka_linger_ms.to_string())
            .set(
                "message.timeout.ms",
                args.kafka_message_timeout_ms.to_string(),
            )
            .set("acks", "all")
            .set(
                "enable.idempotence",
                if args.kafka_idempotence {
                    "true"
                } else {
                    "false"
                },
            );
        Ok(Self {
            producer: config.create()?,
        })
    }

    /// Sends all messages and waits until the broker acknowledged every one. Fails if any
    /// failed after librdkafka's own retries; the caller then must not store its offsets.
    pub async fn send_all(&self, messages: &[OutboundMessage]) -> Result<(), KafkaError> {
        let mut deliveries = Vec::with_capacity(messages.len());
        for message in messages {
            loop {
                let mut record: FutureRecord<'_, str, [u8]> =
                    FutureRecord::to(&message.topic).payload(&message.payload);
                if let Some(key) = &message.key {
                    record = record.key(key.as_str());
                }
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
                    }
                    Err((error, _)) => return Err(error),
                }
            }
        }
        let mut first_error = None;
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _message))) => {
                    first_error.get_or_insert(error);
                }
                Err(_canceled) => {
                    first_error.get_or_insert(KafkaError::Canceled);
                }
            }
        }
        metrics::counter!("ferroloop_produced_messages_total").increment(messages.len() as u64);
        first_error.map_or(Ok(()), Err)
    }

    /// Waits (bounded) for queued messages on shutdown.
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.producer.flush(timeout) {
            tracing::warn!(%error, "producer flush on shutdown");
        }
    }
}
