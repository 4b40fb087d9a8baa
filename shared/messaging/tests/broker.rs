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

#[tokio::test]
async fn offsets_stored_after_processing_are_not_replayed_and_unstored_ones_are() {
    let args = args();
    let topic = args.topics().prepare;
    admin::ensure_topics(&args, &[(topic.as_str(), 2)])
        .await
        .unwrap();
    let producer = BatchProducer::new(&args).unwrap();
    let first: Vec<OutboundMessage> = (0..20)
        .map(|i| OutboundMessage {
            topic: topic.clone(),
            key: Some(format!("k{}", i % 3)),
            payload: format!("m{i}").into_bytes(),
        })
        .collect();
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
    let second: Vec<OutboundMessage> = (20..30)
        .map(|i| OutboundMessage {
            topic: topic.clone(),
            key: None,
            payload: format!("m{i}").into_bytes(),
        })
        .collect();
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
