//! Measures what the broker sustains for messages of a given size: one producer sending in
//! batches, one consumer reading them back. Diagnostic for sizing the local stack:
//! `cargo run --release -p ferroloop-messaging --example broker_throughput -- 20000 2500`
//! (broker from `KAFKA_BROKERS`, default 127.0.0.1:9092)

use std::time::Instant;

use ferroloop_messaging::{BatchConsumer, BatchProducer, KafkaArgs, OutboundMessage, admin};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let size: usize = args.next().map_or(Ok(2_500), |a| a.parse())?;
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let kafka = KafkaArgs::local(brokers, format!("tp-{}-", uuid::Uuid::now_v7().simple()));
    let topic = kafka.topics().prepare;
    admin::ensure_topics(&kafka, &[(topic.as_str(), 4)]).await?;
    let producer = BatchProducer::new(&kafka)?;
    let consumer = BatchConsumer::new(
        &kafka,
        &format!("{}g", kafka.kafka_topic_prefix),
        &[topic.as_str()],
    )?;
    let payload = vec![b'x'; size];
    let started = Instant::now();
    let produce = async {
        for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
            let batch: Vec<OutboundMessage> = chunk
                .iter()
                .map(|_| OutboundMessage {
                    topic: topic.clone(),
                    key: None,
                    payload: payload.clone(),
                })
                .collect();
            producer.send_all(&batch).await.expect("produce");
        }
        started.elapsed()
    };
    let consume = async {
        let shutdown = CancellationToken::new();
        let mut seen = 0;
        while seen < count {
            seen += consumer.next_batch(&shutdown).await.expect("consume").len();
        }
        started.elapsed()
    };
    let (produced, consumed) = tokio::join!(produce, consume);
    println!(
        "{count} messages of {size} B: produced in {:?} ({} msg/s), consumed in {:?} ({} msg/s)",
        produced,
        count as u128 * 1000 / produced.as_millis().max(1),
        consumed,
        count as u128 * 1000 / consumed.as_millis().max(1)
    );
    Ok(())
}
