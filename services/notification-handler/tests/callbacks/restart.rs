//! A DFSP that fails callbacks while the handler restarts. A callback waiting for a retry has a
//! retry record on `topic-notification-retry` (docs/callbacks.md#delivery-and-retries): the next
//! process — after a clean stop, or a crash once the batch's offsets are committed — resumes it,
//! and the DFSP gets it once it answers again.

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
async fn a_clean_restart_resumes_pending_retries_from_their_records() {
    let sim = Sim::start().await;
    sim.set_default_status(503);
    let mut h = Harness::start_with(|config| {
        far_retries(config);
        config.callbacks.retry_journal_interval_ms = 200;
    })
    .await;
    h.dfsp(PAYER, &sim).await;
    let id = new_id();
    h.send(&[expired_error_to(&id, PAYER)]).await;
    sim.one(&id).await;
    h.wait_metric("ferroloop_callback_retries_pending", &[], 1)
        .await;
    // The DFSP is back, but this process's retry is ten minutes away: only the next process,
    // from the callback's retry record, can send it again now.
    sim.set_default_status(200);
    h.restart().await;
    assert_eq!(
        h.metric("ferroloop_callbacks_total", &[("outcome", "abandoned")])
            .await,
        1
    );
    let got = sim.wait_for(&id, 2).await;
    assert_eq!(got.len(), 2, "the first attempt and the resumed one");
    h.wait_metric("ferroloop_callback_retries_resumed_total", &[], 1)
        .await;
    // Delivered: the record is not resumed again.
    h.wait_metric("ferroloop_callbacks_total", &[("outcome", "delivered")], 1)
        .await;
    let next = new_id();
    h.send(&[expired_error_to(&next, PAYER)]).await;
    sim.one(&next).await;
    assert_eq!(sim.requests_for(&id).len(), 2);
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
        .env("CALLBACK_RETRY_JOURNAL_INTERVAL_MS", "200")
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
async fn a_killed_handlers_pending_retry_is_resumed_by_the_next_process() {
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
    // The batch's offset is committed (after the batch, with its retry record): a crash now
    // does not replay it, so only the record can bring the callback back.
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
    // The group takes the killed member's session timeout, and a rebalance, to let the new one
    // in: more than the usual wait on a busy machine. Its retries are ten minutes away, so the
    // second request is the one resumed from the record.
    let got = sim.wait_for_within(&id, 2, 3 * WAIT).await;
    assert_eq!(got.len(), 2);
    let next = new_id();
    produce(&producer, &broker, &expired_error_to(&next, PAYER)).await;
    sim.wait_for_within(&next, 1, 3 * WAIT).await;
    assert_eq!(
        sim.requests_for(&id).len(),
        2,
        "delivered once resumed, not again"
    );
    handler.start_kill().ok();
}
