//! Against the real broker of the local stack (`make up`): batching, at-least-once offsets.

use std::time::Duration;

use ferroloop_messaging::{BatchConsumer, BatchProducer, KafkaArgs, OutboundMessage, admin};
use tokio_util::sync::CancellationToken;

fn args() -> KafkaArgs {
    let brokers = std::env::var("FERROLOOP_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let prefix = format!("ft-msg-{}-", uuid::Uuid::now_v7().simple());
    KafkaArgs::local(brokers, prefix)
}

async fn consume_n(
    consumer: &BatchConsumer,
    n: usize,
) -> Vec<ferroloop_messaging::ReceivedMessage> {
    let shutdown = CancellationToken::new();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while got.len() < n {
            got.extend(consumer.next_batch(&shutdown).await.expect("consume"));
        }
    })
    .await
    .expect("messages arrive within 60 s");
    got
}

/// The prepare topic of `args` with `partitions` partitions, and a producer.
async fn topic_and_producer(args: &KafkaArgs, partitions: i32) -> (String, BatchProducer) {
    let topic = args.topics().prepare;
    admin::ensure_topics(args, &[(topic.as_str(), partitions)])
        .await
        .unwrap();
    (topic, BatchProducer::new(args).unwrap())
}

/// Messages `m{i}` for each `i` of `numbers`, keyed by `key(i)`.
fn numbered(
    topic: &str,
    numbers: std::ops::Range<usize>,
    key: impl Fn(usize) -> Option<String>,
) -> Vec<OutboundMessage> {
    numbers
        .map(|i| OutboundMessage {
            topic: topic.to_owned(),
            key: key(i),
            payload: format!("m{i}").into_bytes(),
        })
        .collect()
}

#[tokio::test]
async fn offsets_stored_after_processing_are_not_replayed_and_unstored_ones_are() {
    let args = args();
    let (topic, producer) = topic_and_producer(&args, 2).await;
    let first = numbered(&topic, 0..20, |i| Some(format!("k{}", i % 3)));
    producer.send_all(&first).await.unwrap();

    let group = format!("{}group", args.kafka_topic_prefix);
    {
        let consumer = BatchConsumer::new(&args, &group, &[topic.as_str()]).unwrap();
        let batch = consume_n(&consumer, 20).await;
        let mut payloads: Vec<_> = batch
            .iter()
            .map(|m| String::from_utf8(m.payload.clone()).unwrap())
            .collect();
        payloads.sort();
        let mut expected: Vec<_> = (0..20).map(|i| format!("m{i}")).collect();
        expected.sort();
        assert_eq!(payloads, expected);
        consumer.store_offsets(&batch).unwrap();
        consumer.commit_stored();
    }

    // Ten more; this consumer handles them but "crashes" before storing offsets.
    let second = numbered(&topic, 20..30, |_| None);
    producer.send_all(&second).await.unwrap();
    {
        let consumer = BatchConsumer::new(&args, &group, &[topic.as_str()]).unwrap();
        let batch = consume_n(&consumer, 10).await;
        assert!(
            batch.iter().all(|m| m.payload != b"m0"),
            "stored offsets are not replayed"
        );
        consumer.commit_stored();
    }
    // The next member of the group sees exactly the unstored ten again.
    let consumer = BatchConsumer::new(&args, &group, &[topic.as_str()]).unwrap();
    let batch = consume_n(&consumer, 10).await;
    let mut payloads: Vec<_> = batch
        .iter()
        .map(|m| String::from_utf8(m.payload.clone()).unwrap())
        .collect();
    payloads.sort();
    let mut expected: Vec<_> = (20..30).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(payloads, expected);
}

#[tokio::test]
async fn ensure_topics_creates_what_is_missing_with_its_partitions_and_leaves_the_rest() {
    let args = args();
    let topics = args.topics();
    admin::ensure_topics(&args, &[(topics.prepare.as_str(), 3)])
        .await
        .unwrap();
    assert_eq!(admin::listed_partitions(&args, &topics.prepare).unwrap(), 3);
    // Looking the missing one up did not auto-create it with the broker's own count; the
    // existing one is skipped, not asked for again.
    admin::ensure_topics(
        &args,
        &[(topics.prepare.as_str(), 5), (topics.fulfil.as_str(), 2)],
    )
    .await
    .unwrap();
    assert_eq!(admin::listed_partitions(&args, &topics.prepare).unwrap(), 3);
    assert_eq!(admin::listed_partitions(&args, &topics.fulfil).unwrap(), 2);
}

/// The group's committed offsets of `topic`'s partitions 0..partitions, asked of the group
/// coordinator without joining the group (-1: none).
fn committed(args: &KafkaArgs, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &args.kafka_brokers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut list = rdkafka::TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let list = consumer
        .committed_offsets(list, Duration::from_secs(5))
        .expect("committed offsets");
    list.elements()
        .iter()
        .map(|e| match e.offset() {
            rdkafka::Offset::Offset(offset) => offset,
            _ => -1,
        })
        .collect()
}

#[tokio::test]
async fn a_stored_batch_is_committed_at_once_not_at_the_next_auto_commit() {
    let mut args = args();
    // Auto-commit far away: only the commit after the batch can make the offsets visible.
    args.kafka_auto_commit_interval_ms = 600_000;
    let (topic, producer) = topic_and_producer(&args, 1).await;
    producer
        .send_all(&numbered(&topic, 0..5, |_| None))
        .await
        .unwrap();
    let group = format!("{}group", args.kafka_topic_prefix);
    let consumer = BatchConsumer::new(&args, &group, &[topic.as_str()]).unwrap();
    let batch = consume_n(&consumer, 5).await;
    consumer.store_offsets(&batch).unwrap();
    consumer.commit_stored_async();
    // The commit's answer is not an event the consumer exposes: ask the coordinator until it
    // shows the offset (a crash now would replay nothing).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (a, g, t) = (args.clone(), group.clone(), topic.clone());
        let offsets = tokio::task::spawn_blocking(move || committed(&a, &g, &t, 1))
            .await
            .unwrap();
        if offsets == [5] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "committed offsets {offsets:?}, expected [5]"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(consumer);
}
