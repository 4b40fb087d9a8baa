//! What every ferroloop process shares for operations: JSON logs, the Prometheus exporter,
//! `/health/live`, `/health/ready` and `/metrics`, and SIGTERM/SIGINT handling; [`edge`], the
//! listener of the public APIs with connection limits; and the allocator of every process that
//! links it (mimalloc, [`ALLOCATOR`]).

pub mod edge;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

/// Every ferroloop service allocates through mimalloc, not glibc's malloc: a transfer costs the
/// API adapter and the notification handler many short-lived allocations (envelopes, header
/// maps, HTTP buffers), and glibc's allocator was ~14 % of the machine at 1,500 transfers/s.
/// With mimalloc each of the two spent 6–25 µs less CPU per transfer in every measured round
/// (docs/performance.md#the-allocator-and-the-runtimes-threads).
#[global_allocator]
pub static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Operations settings (flattened into each binary's configuration).
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryArgs {
    /// Address of the operations listener (`/health/live`, `/health/ready`, `/metrics`).
    /// Port 0 picks a free port (logged at start-up).
    #[arg(long, env = "OPS_ADDR", default_value = "127.0.0.1:0")]
    pub ops_addr: SocketAddr,
    /// Log filter in `tracing` syntax, e.g. `info,ferroloop=debug`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// `json` (default, for log shippers) or `text` (for people).
    #[arg(long, env = "LOG_FORMAT", default_value = "json")]
    pub log_format: String,
}

/// Installs the global log subscriber once; later calls are no-ops (tests start many apps).
pub fn init_logging(args: &TelemetryArgs) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let builder = tracing_subscriber::fmt().with_env_filter(filter);
        let result = if args.log_format == "text" {
            builder.try_init()
        } else {
            builder.json().flatten_event(true).try_init()
        };
        // Already set by a test harness: keep that one.
        drop(result);
    });
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = histogram_buckets(PrometheusBuilder::new()).build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by a test); ours still renders.
            drop(metrics::set_global_recorder(recorder));
            handle
        })
        .clone()
}

/// Durations and batch sizes are exported as Prometheus histograms (buckets), not summaries, so
/// a dashboard can aggregate them over replicas with `histogram_quantile`; the buckets span what
/// one hop costs on a fast hub (1 ms) to what a stalled one costs (10 s), and batch sizes up to
/// the largest `KAFKA_BATCH_MAX_MESSAGES` anyone runs.
const SECONDS_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
];
const COUNT_BUCKETS: [f64; 12] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0,
];

fn histogram_buckets(builder: PrometheusBuilder) -> PrometheusBuilder {
    use metrics_exporter_prometheus::Matcher;
    let with_seconds =
        builder.set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &SECONDS_BUCKETS);
    let with_counts = with_seconds.and_then(|b| {
        b.set_buckets_for_metric(
            Matcher::Full("ferroloop_consumer_batch_messages".to_owned()),
            &COUNT_BUCKETS,
        )
    });
    let with_attempts = with_counts.and_then(|b| {
        b.set_buckets_for_metric(
            Matcher::Full("ferroloop_callback_attempts".to_owned()),
            &COUNT_BUCKETS,
        )
    });
    // Only an empty bucket list is refused, and ours are constants.
    with_attempts.expect("histogram buckets are not empty")
}

/// A named readiness flag of one part of a process (a consumer loop, a listener).
type ReadinessFlag = (&'static str, Arc<AtomicBool>);

/// Readiness of the parts of a process: ready when every part is.
#[derive(Debug, Clone, Default)]
pub struct Health {
    parts: Arc<std::sync::Mutex<Vec<ReadinessFlag>>>,
}

impl Health {
    /// Registers a part, initially not ready, and returns its flag.
    pub fn part(&self, name: &'static str) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        self.parts
            .lock()
            .expect("health lock")
            .push((name, Arc::clone(&flag)));
        flag
    }

    /// Names of the parts that are not ready.
    pub fn not_ready(&self) -> Vec<&'static str> {
        self.parts
            .lock()
            .expect("health lock")
            .iter()
            .filter(|(_, flag)| !flag.load(Ordering::Relaxed))
            .map(|(name, _)| *name)
            .collect()
    }
}

/// `/health/live`, `/health/ready` and `/metrics`, to merge into a service's router or serve alone.
pub fn ops_router(health: Health) -> Router {
    let metrics = metrics_handle();
    Router::new()
        .route("/health/live", get(|| async { "OK" }))
        .route(
            "/health/ready",
            get(move || {
                let health = health.clone();
                async move {
                    let missing = health.not_ready();
                    if missing.is_empty() {
                        (StatusCode::OK, "READY".to_owned())
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("NOT READY: {}", missing.join(", ")),
                        )
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        )
}

/// Binds the operations listener and serves it until `shutdown`. Returns the bound address.
pub async fn serve_ops(
    addr: SocketAddr,
    health: Health,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(%bound, "operations endpoints listening");
    let router = ops_router(health);
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "operations listener failed");
        }
    });
    Ok(bound)
}

/// A token cancelled on SIGTERM or Ctrl-C: the start of a clean shutdown.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutdown requested");
        trigger.cancel();
    });
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_only_when_every_part_is() {
        let health = Health::default();
        let consumer = health.part("consumer");
        let shutdown = CancellationToken::new();
        let addr = serve_ops("127.0.0.1:0".parse().unwrap(), health, shutdown.clone())
            .await
            .unwrap();
        ferroloop_tls::install_crypto_provider();
        let client = reqwest::Client::new();
        let ready = |client: reqwest::Client| async move {
            client
                .get(format!("http://{addr}/health/ready"))
                .send()
                .await
                .unwrap()
                .status()
        };
        assert_eq!(ready(client.clone()).await, 503);
        consumer.store(true, Ordering::Relaxed);
        assert_eq!(ready(client.clone()).await, 200);
        let live = client
            .get(format!("http://{addr}/health/live"))
            .send()
            .await
            .unwrap();
        assert_eq!(live.status(), 200);
        metrics::counter!("ferroloop_test_total").increment(1);
        let body = client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains("ferroloop_test_total"), "{body}");
        shutdown.cancel();
    }
}
