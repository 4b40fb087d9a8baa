//! Readiness follows the broker in the processes that need it for every message: a handler
//! whose broker answers is ready, one whose broker does not answer says `broker` is not ready
//! (the admin API's side is services/admin-api/tests/health.rs, the adapter's
//! services/api-adapter/tests/http/routes.rs).

use std::time::Duration;

use ferroloop_messaging::{BoundaryArgs, KafkaArgs};
use ferroloop_tests::{HUB, Handlers, Pipeline};
use tokio_util::sync::CancellationToken;

/// Probes every 100 ms, each waiting at most 2 s: a state shows well within this.
const WAIT: Duration = Duration::from_secs(15);

/// Starts a get handler on `kafka` and returns its `/health/ready` URL.
async fn get_handler(p: &Pipeline, mut kafka: KafkaArgs, shutdown: &CancellationToken) -> String {
    kafka.broker_health_check_interval_ms = 100;
    let config = ferroloop_get_handler::Config {
        database: p.db.args(),
        kafka,
        telemetry: Pipeline::telemetry(),
        consumer_group: p.broker.group("get-health"),
        hub_name: HUB.into(),
        boundary: BoundaryArgs::default(),
    };
    let running = ferroloop_get_handler::run(config, shutdown.clone())
        .await
        .expect("get handler");
    format!("http://{}/health/ready", running.ops_addr)
}

/// `/health/ready` once it answers `status` (the probe runs in the background).
async fn ready_becomes(url: &str, status: u16) -> String {
    let client = ferroloop_testkit::http_client();
    tokio::time::timeout(WAIT, async {
        loop {
            let response = client.get(url).send().await.expect("ops listener");
            if response.status().as_u16() == status {
                return response.text().await.unwrap_or_default();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{url} never answered {status}"))
}

#[tokio::test]
async fn a_handler_is_ready_only_while_its_broker_answers() {
    let p = Pipeline::start_with(Handlers::NONE).await;
    let shutdown = CancellationToken::new();

    let up = get_handler(&p, p.kafka(), &shutdown).await;
    ready_becomes(&up, 200).await;

    let unreachable = KafkaArgs {
        kafka_brokers: "127.0.0.1:1".into(),
        ..p.kafka()
    };
    let down = get_handler(&p, unreachable, &shutdown).await;
    let why = ready_becomes(&down, 503).await;
    assert!(why.contains("broker"), "{why}");
    shutdown.cancel();
}
