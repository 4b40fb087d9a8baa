//! The position handler: consumes `topic-transfer-position` (keyed by position account id) and
//! is the only writer of DFSP positions.
//!
//! Per batch, in one transaction: lock the batch's transfers, then the positions they touch and
//! the settlement positions that give the liquidity cover (`SELECT … FOR UPDATE`, id order);
//! read the net debit caps only now, under the lock; check each message against its transfer's
//! state (a message for a transfer that already moved on is a replay: its output is produced
//! again only if this very message made that change, so re-drive copies stay silent); expire
//! instead of reserving a transfer already past its expiration; ignore funds transfers; apply every account's operations in arrival order with
//! `ferroloop_core::position::apply_batch`; write the states, the journal and the positions;
//! then produce the notifications.

mod decide;
mod handler;

use std::net::SocketAddr;

use ferroloop_messaging::{KafkaArgs, LoopParts, probe};
use ferroloop_store::DatabaseArgs;
use ferroloop_telemetry::{Health, TelemetryArgs};
use tokio_util::sync::CancellationToken;

pub use handler::PositionStep;

/// The position handler: its step on the runner, as the batch loop takes it.
pub type PositionHandler = ferroloop_pipeline::Runner<PositionStep>;

/// A position handler over `pool` (what `run` starts; tests drive it batch by batch).
pub fn handler(
    pool: ferroloop_store::MySqlPool,
    topics: ferroloop_messaging::Topics,
    hub: String,
) -> PositionHandler {
    ferroloop_pipeline::Runner::new(pool, PositionStep::new(topics, hub))
}

/// Configuration, from flags or environment variables (`position-handler --help`).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "position-handler",
    version,
    about = "ferroloop position handler"
)]
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
        env = "POSITION_CONSUMER_GROUP",
        default_value = "cl-group-transfer-position"
    )]
    pub consumer_group: String,
    /// The hub's FSPIOP name: the source of the errors it sends.
    #[arg(long, env = "HUB_NAME", default_value = "Hub")]
    pub hub_name: String,
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
    let ops_addr =
        ferroloop_telemetry::serve_ops(config.telemetry.ops_addr, health.clone(), shutdown.clone())
            .await
            .map_err(StartError::Ops)?;
    let pool = ferroloop_store::connect(&config.database).await?;
    let topics = config.kafka.topics();
    let parts = LoopParts::connect(
        &config.kafka,
        &config.consumer_group,
        &[topics.position.as_str()],
        health.part("position-consumer"),
    )?;
    // Readiness follows the broker too (docs/architecture.md#health).
    let broker = health.part("broker");
    probe::spawn(&config.kafka, &topics.position, broker, shutdown.clone())?;
    let handler = handler(pool, topics, config.hub_name);
    let task = tokio::spawn(ferroloop_messaging::batch_loop::run(
        parts, handler, shutdown,
    ));
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
