//! The fulfil handler: consumes `topic-transfer-fulfil` — the payee's `PUT /transfers/{id}`
//! (actions `commit`, `reserve`, `reject`) and `PUT /transfers/{id}/error` (`abort`).
//!
//! Per message, in this order (docs/transfer-states.md#payee-responses, with
//! docs/mojaloop-differences.md#routing-check-without-state-change): a v1.0 `RESERVED` is dropped;
//! the transfer must exist and be a DFSP-to-DFSP transfer (a funds transfer answers as unknown);
//! the authenticated sender (the envelope's principal, never `FSPIOP-Source`) must be the payee,
//! names compared exactly (else 3100 to the sender and no state change — nobody but the payee can
//! abort a transfer); a `PUT /error` must name the payer as `FSPIOP-Destination` (else 3100 to
//! the sender, forwarded to nobody); `transferState: ABORTED` is refused (v1.1 aborts with
//! `PUT /error`); the duplicate check; then, for a transfer that is not RESERVED, the pure
//! classification of `ferroloop_core::payee_response` (a redelivery after the transfer moved on
//! says nothing); for a fulfilment: a destination other than the payer aborts, a fulfilment
//! whose SHA-256 is the condition (else abort), not expired (else 3303). Accepted fulfilments
//! become `RECEIVED_FULFIL` and go to the position handler keyed by the payee's account; payee
//! errors become `RECEIVED_ERROR` and go keyed by the payer's account. Every change records the
//! event that made it.

mod decide;
mod handler;

use std::net::SocketAddr;

use ferroloop_messaging::{KafkaArgs, LoopParts, probe};
use ferroloop_store::DatabaseArgs;
use ferroloop_telemetry::{Health, TelemetryArgs};
use tokio_util::sync::CancellationToken;

pub use handler::FulfilStep;

/// The fulfil handler: its step on the runner, as the batch loop takes it.
pub type FulfilHandler = ferroloop_pipeline::Runner<FulfilStep>;

/// A fulfil handler over `pool` (tests drive it batch by batch).
pub fn handler(
    pool: ferroloop_store::MySqlPool,
    topics: ferroloop_messaging::Topics,
    hub: String,
) -> FulfilHandler {
    ferroloop_pipeline::Runner::new(pool, FulfilStep::new(topics, hub))
}

/// Configuration, from flags or environment variables (`fulfil-handler --help`).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "fulfil-handler", version, about = "ferroloop fulfil handler")]
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
        env = "FULFIL_CONSUMER_GROUP",
        default_value = "cl-group-transfer-fulfil"
    )]
    pub consumer_group: String,
    /// The hub's FSPIOP name: the source of the errors it sends.
    #[arg(long, env = "HUB_NAME", default_value = "Hub")]
    pub hub_name: String,
    #[command(flatten)]
    pub boundary: ferroloop_messaging::BoundaryArgs,
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
        &[topics.fulfil.as_str()],
        health.part("fulfil-consumer"),
    )?;
    // Readiness follows the broker too (docs/architecture.md#health).
    let broker = health.part("broker");
    probe::spawn(&config.kafka, &topics.fulfil, broker, shutdown.clone())?;
    let step = FulfilStep::new(topics, config.hub_name).with_boundary(config.boundary);
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
