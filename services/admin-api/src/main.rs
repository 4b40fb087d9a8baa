use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ferroloop_admin_api::Config::parse();
    ferroloop_telemetry::init_logging(&config.telemetry);
    let shutdown = ferroloop_telemetry::shutdown_on_signal();
    let running = ferroloop_admin_api::build_app(config, shutdown).await?;
    running.task.await??;
    Ok(())
}
