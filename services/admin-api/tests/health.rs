//! central-ledger's `GET /health` with the broker's real state, and the hub's published JWS key.

use std::time::Duration;

use ferroloop_admin_api::{Config, build_app};
use ferroloop_messaging::KafkaArgs;
use ferroloop_testkit::{TestBroker, TestDatabase};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Longest a probe result may take to show (probes every 100 ms, each waits at most 2 s).
const WAIT: Duration = Duration::from_secs(15);

struct Admin {
    _db: TestDatabase,
    base: String,
    ops: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Admin {
    async fn start(kafka: KafkaArgs, adjust: impl FnOnce(&mut Config)) -> Admin {
        let db = TestDatabase::new().await;
        let mut config = Config::for_database(db.args());
        config.kafka = kafka;
        config.kafka.broker_health_check_interval_ms = 100;
        adjust(&mut config);
        let shutdown = CancellationToken::new();
        let running = build_app(config, shutdown.clone()).await.unwrap();
        Admin {
            _db: db,
            base: format!("http://{}", running.addr),
            ops: format!("http://{}", running.ops_addr),
            client: ferroloop_testkit::http_client(),
            shutdown,
        }
    }

    async fn get(&self, url: String) -> (u16, Value) {
        let response = self.client.get(url).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `GET /health` once its broker entry is `status` (the probe runs in the background).
    async fn health_with_broker(&self, status: &str) -> (u16, Value) {
        tokio::time::timeout(WAIT, async {
            loop {
                let (code, body) = self.get(format!("{}/health", self.base)).await;
                if body["services"][1]["status"] == status {
                    return (code, body);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the broker was never reported {status}"))
    }

    async fn ready(&self) -> u16 {
        let url = format!("{}/health/ready", self.ops);
        self.client.get(url).send().await.unwrap().status().as_u16()
    }
}

/// central-ledger's sub-service list with the broker `broker`.
fn services(broker: &str) -> Value {
    json!([{"name": "datastore", "status": "OK"}, {"name": "broker", "status": broker}])
}

#[tokio::test]
async fn health_reports_the_broker_and_the_datastore() {
    let broker = TestBroker::new().await;
    let admin = Admin::start(broker.args.clone(), |_| {}).await;
    let (status, body) = admin.health_with_broker("OK").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "OK");
    assert_eq!(body["services"], services("OK"));
    for key in ["uptime", "startTime", "versionNumber"] {
        assert!(!body[key].is_null(), "{key}: {body}");
    }
    assert_eq!(admin.ready().await, 200);
}

/// Nothing answers on port 1: `/health` says so (502, broker DOWN), the admin API stays ready and
/// keeps serving.
#[tokio::test]
async fn a_broker_that_does_not_answer_is_reported_down_and_the_admin_api_stays_ready() {
    let unreachable = KafkaArgs::local("127.0.0.1:1", "ft-nobroker-");
    let admin = Admin::start(unreachable, |_| {}).await;
    let (status, body) = admin.health_with_broker("DOWN").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["status"], "DOWN");
    assert_eq!(body["services"], services("DOWN"));
    assert_eq!(admin.ready().await, 200, "ready without the broker");
    let (status, _) = admin.get(format!("{}/participants", admin.base)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_hub_publishes_its_jws_public_key() {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/test-only-keys/fspiop-spec-v1.1-signature-example-public.pem"
    ))
    .unwrap();
    let dir = ferroloop_testkit::pki::TempDir::new("hub-jws-");
    let public = dir.write("Hub.pem", &pem);
    let unreachable = KafkaArgs::local("127.0.0.1:1", "ft-nobroker-");
    let path = public.clone();
    let admin = Admin::start(unreachable.clone(), |c| {
        c.hub_jws_public_key_path = Some(path)
    })
    .await;
    let (status, body) = admin.get(format!("{}/hub/jwsKey", admin.base)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"publicKey": pem}));

    // Not configured: 3200, as for a participant without a key.
    let none = Admin::start(unreachable, |_| {}).await;
    let (status, body) = none.get(format!("{}/hub/jwsKey", none.base)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errorInformation"]["errorCode"], "3200");
}
