//! The timeout handler: every `TIMEOUT_INTERVAL_MS` it claims the transfers whose
//! `transfer_timeout.due_at` has passed (`FOR UPDATE SKIP LOCKED`, so replicas split the work and
//! never wait on each other) and drives each toward a final state:
//!
//! - `RECEIVED_PREPARE` past its expiration → `EXPIRED_PREPARED`, 3303 to the payer;
//! - `RESERVED` past its expiration → `RESERVED_TIMEOUT`, then the position handler reverses the
//!   payer and tells payer and payee (3303);
//! - a transfer still in `RESERVED_TIMEOUT`, `RECEIVED_FULFIL` or `RECEIVED_ERROR` a grace period
//!   after entering it lost its position message: the message is produced again (the position
//!   handler ignores a second copy, and says nothing for it), so nothing stays in an
//!   intermediate state forever. The pause between re-drives of one transfer doubles, up to
//!   `TIMEOUT_REDRIVE_MAX_MS`, so a lagging position handler is not flooded;
//! - the timeout row of an expired prepare stays until the payer's 3303 is acknowledged by the
//!   broker, so a crash or a broker outage between the commit and the produce delays the
//!   notification but never loses it.
//!
//! Every change is checked with `ferroloop_core::state::transition` under the transfer's row lock
//! and the state journal's unique key, so two replicas never expire one transfer twice.

mod decide;
mod scan;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ferroloop_messaging::{BatchProducer, KafkaArgs};
use ferroloop_store::DatabaseArgs;
use ferroloop_telemetry::{Health, TelemetryArgs};
use tokio_util::sync::CancellationToken;

pub use decide::ScanOutcome;
pub use scan::TimeoutScanner;

/// Configuration, from flags or environment variables (`timeout-handler --help`).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "timeout-handler", version, about = "ferroloop timeout handler")]
pub struct Config {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    /// The hub's FSPIOP name: the source of the errors it sends.
    #[arg(long, env = "HUB_NAME", default_value = "Hub")]
    pub hub_name: String,
    /// Pause between scans when the previous scan found less than a full batch.
    #[arg(long, env = "TIMEOUT_INTERVAL_MS", default_value_t = 250)]
    pub interval_ms: u64,
    /// Most transfers handled per scan transaction.
    #[arg(long, env = "TIMEOUT_BATCH_SIZE", default_value_t = 500)]
    pub batch_size: u32,
    /// How long a transfer may sit in RESERVED_TIMEOUT, RECEIVED_FULFIL or RECEIVED_ERROR before
    /// its position message counts as lost and is produced again.
    #[arg(long, env = "TIMEOUT_REDRIVE_AFTER_MS", default_value_t = 5_000)]
    pub redrive_after_ms: u64,
    /// Longest pause between two re-drives of one transfer. The pause doubles from
    /// TIMEOUT_REDRIVE_AFTER_MS up to this, so a lagging position handler is not buried under
    /// copies of messages it simply has not reached yet (each copy is also work for it).
    #[arg(long, env = "TIMEOUT_REDRIVE_MAX_MS", default_value_t = 60_000)]
    pub redrive_max_ms: u64,
}

/// A started handler: its operations address and the scan loop, which ends after `shutdown`.
#[derive(Debug)]
pub struct Running {
    pub ops_addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

pub async fn run(config: Config, shutdown: CancellationToken) -> Result<Running, StartError> {
    let health = Health::default();
    let ops_addr =
        ferroloop_telemetry::serve_ops(config.telemetry.ops_addr, health.clone(), shutdown.clone())
            .await
            .map_err(StartError::Ops)?;
    let pool = ferroloop_store::connect(&config.database).await?;
    let producer = BatchProducer::new(&config.kafka)?;
    let scanner = TimeoutScanner::new(
        pool,
        config.kafka.topics(),
        config.hub_name.clone(),
        config.batch_size,
        Duration::from_millis(config.redrive_after_ms),
    )
    .with_redrive_max(Duration::from_millis(config.redrive_max_ms));
    // Readiness follows the broker too (docs/architecture.md#health).
    let (topic, broker) = (config.kafka.topics().position, health.part("broker"));
    ferroloop_messaging::probe::spawn(&config.kafka, topic, broker, shutdown.clone())?;
    let ready = health.part("timeout-scanner");
    let interval = Duration::from_millis(config.interval_ms);
    let task = tokio::spawn(async move {
        ready.store(true, Ordering::Relaxed);
        let mut backoff = interval;
        loop {
            let full = match scanner.scan_once(&producer).await {
                Ok(outcome) => {
                    ready.store(true, Ordering::Relaxed);
                    backoff = interval;
                    outcome.full_batch
                }
                Err(error) => {
                    tracing::warn!(%error, "timeout scan failed; retrying");
                    ready.store(false, Ordering::Relaxed);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    false
                }
            };
            if full {
                continue; // more are due right now
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(backoff) => {}
            }
        }
        producer.flush(Duration::from_secs(10));
        tracing::info!("timeout handler stopped");
    });
    Ok(Running { ops_addr, task })
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("operations listener: {0}")]
    Ops(std::io::Error),
    #[error(transparent)]
    Store(#[from] ferroloop_store::StoreError),
    #[error("kafka: {0}")]
    Kafka(#[from] ferroloop_messaging::KafkaError),
}
