//! Topic creation, idempotent: a topic that exists already is fine.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{Client, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::KafkaArgs;

/// How long one metadata lookup may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates the given topics (name, partitions) unless they exist.
///
/// Topics the broker's metadata already lists are left as they are and not asked for again, so
/// this also works on a broker without the CreateTopics API (the benchmark broker,
/// `ferroloop-mock-broker`, whose topics are created when it starts) as long as they exist.
pub async fn ensure_topics(args: &KafkaArgs, topics: &[(&str, i32)]) -> Result<(), KafkaError> {
    let admin: Arc<AdminClient<DefaultClientContext>> = Arc::new(lookup_config(args).create()?);
    let names: Vec<String> = topics.iter().map(|(name, _)| (*name).to_owned()).collect();
    let lookup = Arc::clone(&admin);
    let existing = tokio::task::spawn_blocking(move || existing_topics(&lookup, &names))
        .await
        .unwrap_or_else(|panicked| std::panic::resume_unwind(panicked.into_panic()))?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .filter(|(name, _)| !existing.iter().any(|e| e == name))
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    if new_topics.is_empty() {
        return Ok(());
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(new_topics.iter(), &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                tracing::error!(%topic, ?code, "topic creation failed");
                return Err(KafkaError::AdminOp(code));
            }
        }
    }
    Ok(())
}

/// Client settings for metadata lookups. A lookup must not create the topic: a broker that
/// auto-creates would do so with its own partition count.
fn lookup_config(args: &KafkaArgs) -> rdkafka::ClientConfig {
    let mut config = args.base_config();
    config.set("allow.auto.create.topics", "false");
    config
}

/// The names among `names` that the broker's metadata lists with their partitions (one lookup
/// per topic: asking for every topic would list all the tests' topics on a shared broker).
fn existing_topics(
    admin: &AdminClient<DefaultClientContext>,
    names: &[String],
) -> Result<Vec<String>, KafkaError> {
    let mut existing = Vec::new();
    for name in names {
        if partition_count(admin.inner(), name)? > 0 {
            existing.push(name.clone());
        }
    }
    Ok(existing)
}

/// Partitions of `topic` as the broker's metadata lists them; 0 when it does not list the topic.
/// Blocks for one metadata request.
pub fn partition_count<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
) -> Result<usize, KafkaError> {
    let metadata = client.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len()))
}

/// [`partition_count`] through a client of its own (blocking; for tools and tests).
pub fn listed_partitions(args: &KafkaArgs, topic: &str) -> Result<usize, KafkaError> {
    let client: BaseConsumer = lookup_config(args).create()?;
    partition_count(client.client(), topic)
}
