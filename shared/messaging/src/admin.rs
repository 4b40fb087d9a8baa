//! Topic creation, idempotent: a topic that exists already is fine.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
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
    let mut config = args.base_config();
    // A metadata lookup must not create the topic: a broker that auto-creates would do so with
    // its own partition count.
    config.set("allow.auto.create.topics", "false");
    let admin: Arc<AdminClient<DefaultClientContext>> = Arc::new(config.create()?);
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

/// The names among `names` that the broker's metadata lists with their partitions (one lookup
/// per topic: asking for every topic would list all the tests' topics on a shared broker).
fn existing_topics(
    admin: &AdminClient<DefaultClientContext>,
    names: &[String],
) -> Result<Vec<String>, KafkaError> {
    let mut existing = Vec::new();
    for name in names {
        let metadata = admin.inner().fetch_metadata(Some(name), METADATA_TIMEOUT)?;
        let listed = metadata
            .topics()
            .iter()
            .any(|t| t.name() == name && t.error().is_none() && !t.partitions().is_empty());
        if listed {
            existing.push(name.clone());
        }
    }
    Ok(existing)
}
