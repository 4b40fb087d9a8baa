//! The get handler: consumes `topic-transfer-get` and answers `GET /transfers/{id}` with a
//! callback to the requester: the transfer's state body (API enumeration, completedTimestamp,
//! fulfilment when committed) for its payer or payee, 3000 for anyone else, 3208 when the id is
//! unknown or not a DFSP-to-DFSP transfer (funds in and out exist only for the admin API). The
//! requester is the authenticated principal, never `FSPIOP-Source`. A requester that is not an active participant has no callback endpoint to answer
//! to: the request is dropped and counted (as Mojaloop does).

mod decide;
mod handler;

use std::net::SocketAddr;

use ferroloop_messaging::{KafkaArgs, LoopParts, probe};
use ferroloop_store::DatabaseArgs;
use ferroloop_telemetry::{Health, TelemetryArgs};
use tokio_util::sync::CancellationToken;

pub use handler::GetStep;

/// The get handler: its step on the runner, as the batch loop takes it.
pub type GetHandler = ferroloop_pipeline::Runner<GetStep>;

/// A get handler over `pool` (tests drive it batch by batch).
pub fn handler(
    pool: ferroloop_store::MySqlPool,
    topics: ferroloop_messaging::Topics,
    hub: String,
) -> GetHandler {
    ferroloop_pipeline::Runner::new(pool, GetStep::new(topics, hub))
}

/// Configuration, from flags or environment variables (`get-handler --help`).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "get-handler", version, about = "ferroloop get handler")]
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
        env = "GET_CONSUMER_GROUP",
        default_value = "cl-group-transfer-get"
    )]
    pub consumer_group: String,
    /// The hub's FSPIOP name: the source of the answers it sends.
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
        &[topics.get.as_str()],
        health.part("get-consumer"),
    )?;
    // Readiness follows the broker too (docs/architecture.md#health).
    let broker = health.part("broker");
    probe::spawn(&config.kafka, &topics.get, broker, shutdown.clone())?;
    let step = GetStep::new(topics, config.hub_name).with_boundary(config.boundary);
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
