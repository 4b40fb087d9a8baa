//! The prepare handler: consumes `topic-transfer-prepare` (Mojaloop's envelope, action
//! `prepare`), and per batch, in one transaction:
//! 1. claims the duplicate-check record of every transfer id (insert-first);
//! 2. tells new requests, replays of our own earlier work, and DFSP resends apart;
//! 3. validates new prepares with `ferroloop_core::prepare` and stores them as
//!    `RECEIVED_PREPARE` (or `INVALID` with the 3100 reason);
//!
//! A prepare whose authenticated sender (the envelope's principal) is not the payer is answered
//! to that sender with 3100 before step 1: it stores nothing and claims no id.
//!
//! then produces position messages keyed by the payer's position account and error
//! notifications, and only then stores offsets (see `ferroloop_messaging::batch_loop`).

mod decide;
mod handler;

use std::net::SocketAddr;

use ferroloop_messaging::{BoundaryArgs, KafkaArgs, LoopParts, probe};
use ferroloop_store::DatabaseArgs;
use ferroloop_telemetry::{Health, TelemetryArgs};
use tokio_util::sync::CancellationToken;

pub use handler::PrepareStep;

/// The prepare handler: its step on the runner, as the batch loop takes it.
pub type PrepareHandler = ferroloop_pipeline::Runner<PrepareStep>;

/// A prepare handler over `pool` with default limits (tests drive it batch by batch).
pub fn handler(
    pool: ferroloop_store::MySqlPool,
    topics: ferroloop_messaging::Topics,
    hub: String,
    allow_on_us: bool,
) -> PrepareHandler {
    ferroloop_pipeline::Runner::new(pool, PrepareStep::new(topics, hub, allow_on_us))
}

/// Configuration, from flags or environment variables (`prepare-handler --help`).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "prepare-handler", version, about = "ferroloop prepare handler")]
pub struct Config {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    /// Consumer group of this handler.
    #[arg(
        long,
        env = "PREPARE_CONSUMER_GROUP",
        default_value = "cl-group-transfer-prepare"
    )]
    pub consumer_group: String,
    /// The hub's FSPIOP name: the source of the errors it sends.
    #[arg(long, env = "HUB_NAME", default_value = "Hub")]
    pub hub_name: String,
    /// Allow payer = payee (scheme rule ENABLE_ON_US_TRANSFERS).
    #[arg(long, env = "ENABLE_ON_US_TRANSFERS", default_value_t = false, action = clap::ArgAction::Set)]
    pub enable_on_us_transfers: bool,
    /// Longest a transfer may be prepared for, in seconds from now: a later expiration is
    /// refused with 3100. Without a bound a payer could hold its reservation, and a payee a
    /// pending transfer, practically forever.
    #[arg(long, env = "TRANSFER_MAX_EXPIRY_SECONDS", default_value_t = ferroloop_core::prepare::DEFAULT_MAX_EXPIRY_SECONDS)]
    pub transfer_max_expiry_seconds: u32,
    #[command(flatten)]
    pub boundary: BoundaryArgs,
}

/// A started handler: its operations address and the batch loop, which ends after `shutdown`.
#[derive(Debug)]
pub struct Running {
    pub ops_addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the handler; it runs until `shutdown` fires, then finishes its batch and commits.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<Running, StartError> {
    let health = Health::default();
    let ops =
        ferroloop_telemetry::serve_ops(config.telemetry.ops_addr, health.clone(), shutdown.clone())
            .await
            .map_err(StartError::Ops)?;
    let pool = ferroloop_store::connect(&config.database).await?;
    let topics = config.kafka.topics();
    let parts = LoopParts::connect(
        &config.kafka,
        &config.consumer_group,
        &[topics.prepare.as_str()],
        health.part("prepare-consumer"),
    )?;
    // Readiness follows the broker too (docs/architecture.md#health).
    let broker = health.part("broker");
    probe::spawn(&config.kafka, &topics.prepare, broker, shutdown.clone())?;
    let step = PrepareStep::new(topics, config.hub_name, config.enable_on_us_transfers)
        .with_max_expiry(time::Duration::seconds(i64::from(
            config.transfer_max_expiry_seconds,
        )))
        .with_boundary(config.boundary);
    let handler = ferroloop_pipeline::Runner::new(pool, step);
    let task = tokio::spawn(ferroloop_messaging::batch_loop::run(
        parts, handler, shutdown,
    ));
    Ok(Running {
        ops_addr: ops,
        task,
    })
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
