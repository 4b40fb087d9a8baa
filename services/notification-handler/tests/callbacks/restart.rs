//! A DFSP that fails callbacks while the handler restarts. What waits for a retry lives in the
//! process only (docs/callbacks.md#delivery-and-retries): a restart — clean, or a crash once the
//! batch's offsets are committed — does not send it again, and the DFSP recovers with
//! `GET /transfers/{ID}`. These tests pin that documented behaviour down.

use std::process::Stdio;
use std::time::Duration;

use ferroloop_messaging::{BatchProducer, Envelope, OutboundMessage};
use ferroloop_testkit::{TestBroker, TestDatabase};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::process::{Child, Command};

use crate::harness::*;

const PAYER: &str = "payerfsp";

#[tokio::test]
async fn a_clean_restart_abandons_pending_retries_and_does_not_resume_them() {
    let sim = Sim::start().await;
    sim.set_default_status(503);
    let mut h = Harness::start_with(far_retries).await;
    h.dfsp(PAYER, &sim).await;
    let id = new_id();
    h.send(&[expired_error_to(&id, PAYER)]).await;
    sim.one(&id).await;
    h.wait_metric("ferroloop_callback_retries_pending", &[], 1)
        .await;

    h.restart().await;
    assert_eq!(
        h.metric("ferroloop_callbacks_total", &[("outcome", "abandoned")])
            .await,
        1
    );
    // The DFSP is back. The restarted handler resumes after the committed batch: the callback
    // that was waiting for its retry is not sent again; the next one is.
    sim.set_default_status(200);
    let next = new_id();
    h.send(&[expired_error_to(&next, PAYER)]).await;
    sim.one(&next).await;
    assert_eq!(sim.requests_for(&id).len(), 1);
}

/// The handler binary, on the test's database and topics; retries far in the future.
fn spawn_handler(db: &TestDatabase, broker: &TestBroker) -> Child {
    Command::new(env!("CARGO_BIN_EXE_notification-handler"))
        .env("DATABASE_URL", &db.url)
        .env("DATABASE_MAX_CONNECTIONS", "2")
        .env("KAFKA_BROKERS", &broker.args.kafka_brokers)
        .env("KAFKA_TOPIC_PREFIX", &broker.args.kafka_topic_prefix)
        .env("NOTIFICATION_CONSUMER_GROUP", broker.group("notification"))
        // A killed member leaves the group when its session times out: keep that short.
        .env("KAFKA_SESSION_TIMEOUT_MS", "3000")
        .env("CALLBACK_RETRY_INITIAL_DELAY_MS", "600000")
        .env("CALLBACK_RETRY_MAX_DELAY_MS", "600000")
        .env("CALLBACK_RETRY_MAX_TOTAL_MS", "3600000")
        .env("OPS_ADDR", "127.0.0.1:0")
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start notification-handler")
}

/// The committed offset of the handler's group on the notification topic (-1: none).
async fn committed_offset(broker: &TestBroker) -> i64 {
    let (brokers, group) = (
        broker.args.kafka_brokers.clone(),
        broker.group("notification"),
    );
    let topic = broker.topics().notification;
    tokio::task::spawn_blocking(move || {
        // Not subscribed: asks the group coordinator without joining the group.
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", &group)
            .create()
            .expect("consumer");
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition(&topic, 0);
        let committed = consumer
            .committed_offsets(partitions, Duration::from_secs(5))
            .ok()
            .and_then(|list| list.elements().first().map(|e| e.offset()));
        match committed {
            Some(Offset::Offset(offset)) => offset,
            _ => -1,
        }
    })
    .await
    .unwrap()
}

async fn produce(producer: &BatchProducer, broker: &TestBroker, envelope: &Envelope) {
    let message = OutboundMessage {
        topic: broker.topics().notification,
        key: None,
        payload: envelope.to_json_bytes(),
    };
    producer.send_all(&[message]).await.expect("produce");
}

#[tokio::test]
async fn a_killed_handler_loses_its_pending_retries_once_the_batch_is_committed() {
    let db = TestDatabase::new().await;
    let broker = TestBroker::with_partitions(1).await;
    let producer = BatchProducer::new(&broker.args).expect("producer");
    let sim = Sim::start().await;
    sim.set_default_status(503);
    let payer = participant(&db, PAYER).await;
    point_endpoints(&db, payer, PAYER, &sim.url()).await;

    let mut handler = spawn_handler(&db, &broker);
    let id = new_id();
    produce(&producer, &broker, &expired_error_to(&id, PAYER)).await;
    sim.one(&id).await;
    // The batch's offset is committed (auto-commit, within about a second): a crash now does
    // not replay it.
    let deadline = tokio::time::Instant::now() + WAIT;
    while committed_offset(&broker).await < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "offset never committed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handler.start_kill().expect("SIGKILL");
    handler.wait().await.expect("killed");

    sim.set_default_status(200);
    let mut handler = spawn_handler(&db, &broker);
    let next = new_id();
    produce(&producer, &broker, &expired_error_to(&next, PAYER)).await;
    // The group takes the killed member's session timeout, and a rebalance, to let the new one
    // in: more than the usual wait on a busy machine.
    sim.wait_for_within(&next, 1, 3 * WAIT).await;
    // The failed callback's retry died with the process: only its first attempt ever arrived.
    assert_eq!(sim.requests_for(&id).len(), 1);
    handler.start_kill().ok();
}
