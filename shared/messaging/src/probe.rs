//! The broker probe every process reports the broker's state with: a metadata request for one
//! topic every `BROKER_HEALTH_CHECK_INTERVAL_MS`, on a small client of its own (a consumer's or
//! producer's client is busy or not exposed), run off the async runtime.
//!
//! It only sets a flag. What the flag means is the process's choice:
//! - the API adapter and the Kafka handlers register it as a readiness part (the telemetry
//!   crate's `Health::part`), so they report not-ready while the broker they need for every
//!   message does not answer;
//! - the admin API reports it in central-ledger's `GET /health` but stays ready: its reads and
//!   changes do not need the broker.
//!
//! The probe asks for a topic the process uses (not all topics: on a shared broker that lists
//! every tenant's), so "up" means the broker answers and knows that topic. It does not auto-create
//! the topic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use tokio_util::sync::CancellationToken;

use crate::{KafkaArgs, KafkaError};

/// Longest one probe waits for the broker, and the upper bound of the interval's share it may
/// take: a probe never overlaps the next.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts probing the broker for `topic` every `args.broker_health_check_interval_ms` until
/// `shutdown`; the first probe runs at once. `up` is set after every probe (and may be set by
/// the caller in between, e.g. from a produce's outcome); a change is logged.
pub fn spawn(
    args: &KafkaArgs,
    topic: impl Into<String>,
    up: Arc<AtomicBool>,
    shutdown: CancellationToken,
) -> Result<(), KafkaError> {
    let mut config = args.base_config();
    config.set("allow.auto.create.topics", "false");
    let client: Arc<AdminClient<DefaultClientContext>> = Arc::new(config.create()?);
    let topic: String = topic.into();
    let topic: Arc<str> = Arc::from(topic);
    let interval = Duration::from_millis(args.broker_health_check_interval_ms.max(1));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let client = Arc::clone(&client);
            let asked = Arc::clone(&topic);
            let probed = tokio::task::spawn_blocking(move || probe(&client, &asked)).await;
            let ok = match probed {
                Ok(Ok(())) => true,
                Ok(Err(reason)) => {
                    tracing::debug!(%reason, "broker probe failed");
                    false
                }
                Err(error) => {
                    tracing::warn!(%error, "broker probe task");
                    false
                }
            };
            if up.swap(ok, Ordering::Relaxed) != ok {
                if ok {
                    tracing::info!(topic = &*topic, "broker reachable");
                } else {
                    tracing::warn!(topic = &*topic, "broker unreachable");
                }
            }
        }
    });
    Ok(())
}

/// One metadata request: the broker answered and lists `topic` without an error.
fn probe(client: &AdminClient<DefaultClientContext>, topic: &str) -> Result<(), String> {
    let metadata = client
        .inner()
        .fetch_metadata(Some(topic), PROBE_TIMEOUT)
        .map_err(|e| e.to_string())?;
    match metadata.topics().iter().find(|t| t.name() == topic) {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
        Some(t) => Err(format!("topic {topic}: {:?}", t.error())),
        None => Err(format!("topic {topic} not in the broker's metadata")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing listens on port 1: the flag goes (or stays) down within a probe's timeout.
    #[tokio::test]
    async fn a_broker_that_does_not_answer_is_reported_down() {
        let mut args = KafkaArgs::local("127.0.0.1:1", "probe-test-");
        args.broker_health_check_interval_ms = 50;
        let up = Arc::new(AtomicBool::new(true));
        let shutdown = CancellationToken::new();
        spawn(
            &args,
            "topic-transfer-prepare",
            Arc::clone(&up),
            shutdown.clone(),
        )
        .unwrap();
        tokio::time::timeout(PROBE_TIMEOUT * 4, async {
            while up.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("reported down");
        shutdown.cancel();
    }
}
