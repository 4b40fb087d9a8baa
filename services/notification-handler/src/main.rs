use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ferroloop_notification_handler::Config::parse();
    ferroloop_telemetry::init_logging(&config.telemetry);
    let shutdown = ferroloop_telemetry::shutdown_on_signal();
    let running = ferroloop_notification_handler::run(config, shutdown).await?;
    running.task.await?;
    Ok(())
}
