//! `db-migrate`: applies pending migrations to `DATABASE_URL` and exits. Run it once before the
//! services (MySQL DDL is not transactional, so several processes migrating at once is unsafe;
//! sqlx also takes a database lock, this keeps it to one runner by construction).

use clap::Parser as _;

#[derive(Debug, clap::Parser)]
#[command(
    name = "db-migrate",
    version,
    about = "Apply ferroloop's MySQL migrations"
)]
struct Config {
    #[command(flatten)]
    database: ferroloop_store::DatabaseArgs,
    #[command(flatten)]
    telemetry: ferroloop_telemetry::TelemetryArgs,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut config = Config::parse();
    ferroloop_telemetry::init_logging(&config.telemetry);
    config.database.database_migrate = true;
    config.database.database_max_connections = 1;
    let pool = ferroloop_store::connect(&config.database).await?;
    let applied = ferroloop_store::MIGRATOR.iter().count();
    tracing::info!(migrations = applied, "schema is up to date");
    pool.close().await;
    Ok(())
}
