//! Kafka settings shared by every process, and topic names.

use std::time::Duration;

use rdkafka::ClientConfig;

/// Broker, topic and batching settings (flattened into each binary's configuration).
///
/// The defaults suit the local `tansu` broker: it does not wake a waiting fetch when data
/// arrives, so the fetch wait (`KAFKA_FETCH_WAIT_MAX_MS`) is what each hop costs in latency;
/// librdkafka's own default of 500 ms makes every hop ~115 ms slower. On Apache Kafka a larger
/// value (e.g. 100) saves broker CPU at no latency cost.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Bootstrap servers, comma-separated.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// Prefix for every topic name (lets tests and tenants share a broker).
    #[arg(long, env = "KAFKA_TOPIC_PREFIX", default_value = "")]
    pub kafka_topic_prefix: String,
    /// Largest batch a handler takes from the broker at once (N).
    #[arg(long, env = "KAFKA_BATCH_MAX_MESSAGES", default_value_t = 500)]
    pub kafka_batch_max_messages: usize,
    /// Longest a handler waits to fill a batch after its first message arrived (T).
    #[arg(long, env = "KAFKA_BATCH_MAX_WAIT_MS", default_value_t = 5)]
    pub kafka_batch_max_wait_ms: u64,
    /// librdkafka fetch.wait.max.ms: the latency floor of a hop on tansu (see above).
    #[arg(long, env = "KAFKA_FETCH_WAIT_MAX_MS", default_value_t = 5)]
    pub kafka_fetch_wait_max_ms: u64,
    /// Consumer group session timeout; tansu needs it short or a group join takes ~25 s.
    #[arg(long, env = "KAFKA_SESSION_TIMEOUT_MS", default_value_t = 6_000)]
    pub kafka_session_timeout_ms: u64,
    #[arg(long, env = "KAFKA_HEARTBEAT_INTERVAL_MS", default_value_t = 500)]
    pub kafka_heartbeat_interval_ms: u64,
    /// How often stored offsets are committed to the broker. A crash replays what was processed
    /// since the last commit, and each replayed message re-sends its callbacks: at 250
    /// transfers/s a 1 s interval made ~19 % duplicate callbacks per handler kill, 100 ms keeps
    /// them near 1 % (docs/reliability.md). Shorter costs one OffsetCommit per interval per
    /// consumer.
    #[arg(long, env = "KAFKA_AUTO_COMMIT_INTERVAL_MS", default_value_t = 100)]
    pub kafka_auto_commit_interval_ms: u64,
    /// How long the producer lingers to batch sends (linger.ms).
    #[arg(long, env = "KAFKA_LINGER_MS", default_value_t = 1)]
    pub kafka_linger_ms: u64,
    /// How long the producer keeps retrying a message before reporting it failed.
    #[arg(long, env = "KAFKA_MESSAGE_TIMEOUT_MS", default_value_t = 30_000)]
    pub kafka_message_timeout_ms: u64,
    /// Use the idempotent producer (no duplicates from producer retries).
    #[arg(long, env = "KAFKA_IDEMPOTENCE", default_value_t = true, action = clap::ArgAction::Set)]
    pub kafka_idempotence: bool,
    /// Extra librdkafka properties, `key=value` separated by commas
    /// (e.g. `security.protocol=ssl,ssl.ca.location=/etc/ca.pem`). It may hold SASL passwords, so
    /// `--help` never prints its value.
    #[arg(
        long,
        env = "KAFKA_EXTRA_CONFIG",
        default_value = "",
        hide_env_values = true
    )]
    pub kafka_extra_config: String,
    /// How often the broker is probed for health and readiness (`probe`).
    #[arg(long, env = "BROKER_HEALTH_CHECK_INTERVAL_MS", default_value_t = 5_000)]
    pub broker_health_check_interval_ms: u64,
}

impl KafkaArgs {
    /// Settings for a broker on `brokers` with the given topic prefix and local defaults.
    pub fn local(brokers: impl Into<String>, topic_prefix: impl Into<String>) -> Self {
        Self {
            kafka_brokers: brokers.into(),
            kafka_topic_prefix: topic_prefix.into(),
            kafka_batch_max_messages: 500,
            kafka_batch_max_wait_ms: 5,
            kafka_fetch_wait_max_ms: 5,
            kafka_session_timeout_ms: 6_000,
            kafka_heartbeat_interval_ms: 500,
            kafka_auto_commit_interval_ms: 100,
            kafka_linger_ms: 1,
            kafka_message_timeout_ms: 30_000,
            kafka_idempotence: true,
            kafka_extra_config: String::new(),
            broker_health_check_interval_ms: 5_000,
        }
    }

    pub fn topics(&self) -> Topics {
        Topics::new(&self.kafka_topic_prefix)
    }

    pub fn batch_max_wait(&self) -> Duration {
        Duration::from_millis(self.kafka_batch_max_wait_ms)
    }

    pub(crate) fn base_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.kafka_brokers);
        for pair in self
            .kafka_extra_config
            .split(',')
            .filter(|p| !p.trim().is_empty())
        {
            if let Some((key, value)) = pair.split_once('=') {
                config.set(key.trim(), value.trim());
            }
        }
        config
    }
}

/// The topics of the transfer flow. The four boundary topics keep Mojaloop's names; the
/// position topic is ours (one topic, keyed by position account id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    pub prepare: String,
    pub position: String,
    pub fulfil: String,
    pub get: String,
    pub notification: String,
    pub admin_transfer: String,
    /// The notification handler's durable retries: a callback whose fate is not settled when
    /// its batch ends (its first attempt failed, or its DFSP is behind), so that a crash of the
    /// handler does not lose it (services/notification-handler, `retry`).
    pub notification_retry: String,
    /// Where a message goes that no retry could process, with the reason, so it is kept and
    /// its partition moves on.
    pub dead_letter: String,
}

impl Topics {
    pub fn new(prefix: &str) -> Self {
        let name = |base: &str| format!("{prefix}{base}");
        Self {
            prepare: name("topic-transfer-prepare"),
            position: name("topic-transfer-position"),
            fulfil: name("topic-transfer-fulfil"),
            get: name("topic-transfer-get"),
            notification: name("topic-notification-event"),
            admin_transfer: name("topic-admin-transfer"),
            notification_retry: name("topic-notification-retry"),
            dead_letter: name("topic-dead-letter"),
        }
    }

    /// Every topic with the partition count `make up` and the tests create it with.
    pub fn all_with_partitions(&self, partitions: i32) -> Vec<(&str, i32)> {
        [
            &self.prepare,
            &self.position,
            &self.fulfil,
            &self.get,
            &self.notification,
            &self.admin_transfer,
            &self.notification_retry,
            &self.dead_letter,
        ]
        .into_iter()
        .map(|t| (t.as_str(), partitions))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Args as _;

    /// Values that may carry credentials are never printed by `--help`.
    #[test]
    fn secret_bearing_values_are_hidden_from_help() {
        let command = KafkaArgs::augment_args(clap::Command::new("t"));
        let hidden: Vec<&str> = command
            .get_arguments()
            .filter(|a| a.is_hide_env_values_set())
            .map(|a| a.get_id().as_str())
            .collect();
        assert_eq!(hidden, ["kafka_extra_config"]);
    }
}
