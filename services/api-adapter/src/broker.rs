//! The broker probe behind `/health` and readiness: a periodic metadata request for the prepare
//! topic on a small client of its own (the producer's client is not exposed), off the runtime.
//! A failed produce marks the broker down at once (see `api`); the next good probe or produce
//! marks it up again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferroloop_messaging::{KafkaArgs, KafkaError};
use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use tokio_util::sync::CancellationToken;

/// Longest one probe waits for the broker.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts probing every `interval` until `shutdown`; the first probe runs at once.
pub(crate) fn spawn_probe(
    kafka: &KafkaArgs,
    topic: String,
    up: Arc<AtomicBool>,
    interval: Duration,
    shutdown: CancellationToken,
) -> Result<(), KafkaError> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &kafka.kafka_brokers);
    // The same extra properties as every other client (security settings above all).
    for pair in kafka
        .kafka_extra_config
        .split(',')
        .filter(|p| !p.trim().is_empty())
    {
        if let Some((key, value)) = pair.split_once('=') {
            config.set(key.trim(), value.trim());
        }
    }
    let client: Arc<AdminClient<DefaultClientContext>> = Arc::new(config.create()?);
    let topic = Arc::new(topic);
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
            let topic = Arc::clone(&topic);
            let probed = tokio::task::spawn_blocking(move || probe(&client, &topic)).await;
            let ok = match probed {
                Ok(Ok(())) => true,
                Ok(Err(reason)) => {
                    tracing::warn!(%reason, "broker probe failed");
                    false
                }
                Err(error) => {
                    tracing::warn!(%error, "broker probe task");
                    false
                }
            };
            if up.swap(ok, Ordering::Relaxed) != ok {
                tracing::info!(up = ok, "broker state changed");
            }
        }
    });
    Ok(())
}

fn probe(client: &AdminClient<DefaultClientContext>, topic: &str) -> Result<(), String> {
    let metadata = client
        .inner()
        .fetch_metadata(Some(topic), PROBE_TIMEOUT)
        .map_err(|e| e.to_string())?;
    match metadata.topics().iter().find(|t| t.name() == topic) {
        Some(t) if t.error().is_none() => Ok(()),
        Some(t) => Err(format!("topic {topic}: {:?}", t.error())),
        None => Err(format!("topic {topic} not in the broker's metadata")),
    }
}
