use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ferroloop_api_adapter::Config::parse();
    ferroloop_telemetry::init_logging(&config.telemetry);
    let shutdown = ferroloop_telemetry::shutdown_on_signal();
    let listener = tokio::net::TcpListener::bind(config.fspiop_api_addr).await?;
    let running = ferroloop_api_adapter::run(listener, config, shutdown).await?;
    running.task.await?;
    Ok(())
}
