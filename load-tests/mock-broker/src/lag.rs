//! The retention guard: samples the consumer groups' lag on every partition and stops the run
//! before the mock broker's retention can drop messages nobody has read.
//!
//! The mock keeps at most 5 MiB or 100,000 record batches per partition and silently deletes
//! the oldest beyond that, however far behind a consumer is. The Kafka protocol does not say how
//! many bytes lie between two offsets, so lag is measured in messages (high watermark minus the
//! group's committed offset) and converted to bytes with an estimate per topic: the mean size of
//! a few of the topic's newest records (key + value + headers), plus the per-record framing and
//! a whole record-batch header each, as if every message had been produced in a batch of its
//! own. Real batches hold several records, so the estimate is an upper bound of what the mock
//! holds for those messages. Until a topic's sample has been read, 4 KiB per message is assumed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Bytes of a record batch header (Kafka message format v2).
pub const BATCH_HEADER_BYTES: u64 = 61;
/// Upper bound of a record's own framing (length, attributes, timestamp and offset deltas, key
/// and value lengths, header count, all varints).
pub const RECORD_FRAMING_BYTES: u64 = 24;
/// Bytes per message assumed for a topic until a sample of its records has been read (the
/// services' envelopes are 1–2.5 KB).
pub const UNMEASURED_BYTES_PER_MESSAGE: u64 = 4_096;
/// What the mock keeps per partition (librdkafka 2.12 `rdkafka_mock.c`).
pub const RETENTION_BYTES: u64 = 5 * 1024 * 1024;
pub const RETENTION_BATCHES: u64 = 100_000;

/// The consumer groups of ferroloop's handlers and the topic each consumes (the services'
/// `*_CONSUMER_GROUP` defaults).
pub const SERVICE_GROUPS: [(&str, &str); 5] = [
    ("cl-group-transfer-prepare", "topic-transfer-prepare"),
    ("cl-group-transfer-position", "topic-transfer-position"),
    ("cl-group-transfer-fulfil", "topic-transfer-fulfil"),
    ("cl-group-transfer-get", "topic-transfer-get"),
    ("ml-group-notification-event", "topic-notification-event"),
];

/// Where the guard stops a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_messages: u64,
}

/// One group's position on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    /// First offset the broker still holds.
    pub log_start: i64,
    /// Offset the next produced message gets.
    pub high_watermark: i64,
    /// The group's committed offset, `None` before its first commit.
    pub committed: Option<i64>,
}

impl PartitionLag {
    /// Messages the group has not committed yet.
    pub fn messages(&self) -> u64 {
        let from = self.committed.unwrap_or(self.log_start);
        u64::try_from(self.high_watermark.saturating_sub(from)).unwrap_or(0)
    }

    /// The broker already deleted messages this group had not committed.
    pub fn lost(&self) -> bool {
        self.committed.is_some_and(|c| c < self.log_start)
    }
}

/// The largest lag of one sample, with its byte estimate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worst {
    pub lag: PartitionLag,
    pub messages: u64,
    pub bytes: u64,
}

impl std::fmt::Display for Worst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {}[{}]: {} messages, ~{} KiB (estimated)",
            self.lag.group,
            self.lag.topic,
            self.lag.partition,
            self.messages,
            self.bytes / 1024
        )
    }
}

/// What one sample means for the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Fine(Option<Worst>),
    /// A partition's lag passed a limit.
    TooFar(Worst),
    /// Retention already deleted uncommitted messages.
    Lost(PartitionLag),
}

/// Judges one sample: `bytes_per_message` maps a topic to its estimated bytes per message.
pub fn judge(
    lags: &[PartitionLag],
    bytes_per_message: &dyn Fn(&str) -> u64,
    limits: Limits,
) -> Verdict {
    if let Some(lost) = lags.iter().find(|l| l.lost()) {
        return Verdict::Lost(lost.clone());
    }
    let worst = lags
        .iter()
        .map(|lag| {
            let messages = lag.messages();
            Worst {
                lag: lag.clone(),
                messages,
                bytes: messages.saturating_mul(bytes_per_message(&lag.topic)),
            }
        })
        .max_by_key(|w| (w.bytes, w.messages));
    match worst {
        Some(w) if w.bytes > limits.max_bytes || w.messages > limits.max_messages => {
            Verdict::TooFar(w)
        }
        other => Verdict::Fine(other.filter(|w| w.messages > 0)),
    }
}

/// Estimated bytes the mock holds per message, from the sizes (key + value + headers) of a
/// sample of records.
pub fn bytes_per_message(record_sizes: &[u64]) -> Option<u64> {
    let count = u64::try_from(record_sizes.len()).ok().filter(|&n| n > 0)?;
    let mean = record_sizes.iter().sum::<u64>().div_ceil(count);
    Some(mean + RECORD_FRAMING_BYTES + BATCH_HEADER_BYTES)
}

/// Parses `GROUP=TOPIC`.
pub fn parse_group_topic(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((group, topic)) if !group.is_empty() && !topic.is_empty() => {
            Ok((group.to_owned(), topic.to_owned()))
        }
        _ => Err(format!("expected GROUP=TOPIC, got {value:?}")),
    }
}

/// How the watcher ended.
#[derive(Debug)]
pub enum Outcome {
    /// Stopped by a signal; the largest lag seen, if any.
    Stopped(Option<Worst>),
    TooFar(Worst),
    Lost(PartitionLag),
}

pub struct Watcher {
    bootstrap: String,
    /// (group, topic) pairs and a consumer per group (never subscribed: it only reads the
    /// group's committed offsets).
    groups: Vec<(String, String, BaseConsumer)>,
    /// Reads watermarks, partition counts and record samples.
    reader: BaseConsumer,
    /// Estimated bytes per message, per topic, and the record sizes they come from.
    sizes: BTreeMap<String, u64>,
    samples: BTreeMap<String, Vec<u64>>,
    limits: Limits,
    sample_records: usize,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("bootstrap", &self.bootstrap)
            .field("limits", &self.limits)
            .field("sizes", &self.sizes)
            .finish_non_exhaustive()
    }
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

impl Watcher {
    pub fn new(
        bootstrap: &str,
        groups: &[(String, String)],
        limits: Limits,
        sample_records: usize,
    ) -> anyhow::Result<Self> {
        let config = |group: &str| {
            let mut config = ClientConfig::new();
            config
                .set("bootstrap.servers", bootstrap)
                .set("group.id", group)
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                .set("allow.auto.create.topics", "false");
            config
        };
        let groups = groups
            .iter()
            .map(|(group, topic)| {
                let consumer: BaseConsumer = config(group).create()?;
                Ok((group.clone(), topic.clone(), consumer))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            bootstrap: bootstrap.to_owned(),
            groups,
            // librdkafka assigns partitions only to a consumer with a group; this one never
            // subscribes or commits.
            reader: config("ferroloop-mock-broker-lag-watch").create()?,
            sizes: BTreeMap::new(),
            samples: BTreeMap::new(),
            limits,
            sample_records,
        })
    }

    /// Samples every `interval` until `stop` is set or a limit is passed; prints the worst lag
    /// every `report_every` samples.
    pub fn run(
        &mut self,
        interval: Duration,
        report_every: u32,
        stop: &AtomicBool,
    ) -> anyhow::Result<Outcome> {
        println!(
            "watching consumer lag on {} every {} ms: stop past {} bytes (estimated) or {} messages on a partition (retention {} bytes or {} batches)",
            self.bootstrap,
            interval.as_millis(),
            self.limits.max_bytes,
            self.limits.max_messages,
            RETENTION_BYTES,
            RETENTION_BATCHES
        );
        let mut largest: Option<Worst> = None;
        let mut samples: u32 = 0;
        let started = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let tick = Instant::now();
            let lags = self.sample()?;
            self.refresh_sizes(&lags);
            let sizes = &self.sizes;
            let estimate = |topic: &str| {
                sizes
                    .get(topic)
                    .copied()
                    .unwrap_or(UNMEASURED_BYTES_PER_MESSAGE)
            };
            match judge(&lags, &estimate, self.limits) {
                Verdict::Lost(lag) => return Ok(Outcome::Lost(lag)),
                Verdict::TooFar(worst) => return Ok(Outcome::TooFar(worst)),
                Verdict::Fine(worst) => {
                    if let Some(worst) = worst {
                        if largest.as_ref().is_none_or(|l| worst.bytes > l.bytes) {
                            largest = Some(worst.clone());
                        }
                        if report_every > 0 && samples.is_multiple_of(report_every) {
                            println!("t={:>4}s largest lag: {worst}", started.elapsed().as_secs());
                        }
                    }
                }
            }
            samples = samples.wrapping_add(1);
            std::thread::sleep(interval.saturating_sub(tick.elapsed()));
        }
        Ok(Outcome::Stopped(largest))
    }

    fn sample(&self) -> anyhow::Result<Vec<PartitionLag>> {
        let mut lags = Vec::new();
        for (group, topic, consumer) in &self.groups {
            let partitions = self.partitions(topic)?;
            if partitions == 0 {
                continue;
            }
            let mut list = TopicPartitionList::new();
            for partition in 0..partitions {
                list.add_partition(topic, partition);
            }
            let committed = consumer
                .committed_offsets(list, REQUEST_TIMEOUT)
                .with_context(|| format!("committed offsets of {group}"))?;
            for partition in 0..partitions {
                let (log_start, high_watermark) = self
                    .reader
                    .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
                    .with_context(|| format!("watermarks of {topic}[{partition}]"))?;
                let committed = match committed
                    .find_partition(topic, partition)
                    .map(|e| e.offset())
                {
                    Some(Offset::Offset(offset)) => Some(offset),
                    _ => None,
                };
                lags.push(PartitionLag {
                    group: group.clone(),
                    topic: topic.clone(),
                    partition,
                    log_start,
                    high_watermark,
                    committed,
                });
            }
        }
        Ok(lags)
    }

    fn partitions(&self, topic: &str) -> anyhow::Result<i32> {
        let count = ferroloop_messaging::admin::partition_count(self.reader.client(), topic)
            .with_context(|| format!("metadata of {topic}"))?;
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }

    /// Measures each topic's message size from the newest records of its fullest partition,
    /// again while fewer than `sample_records` were read and more are there.
    fn refresh_sizes(&mut self, lags: &[PartitionLag]) {
        let mut fullest: BTreeMap<&str, &PartitionLag> = BTreeMap::new();
        for lag in lags {
            let entry = fullest.entry(lag.topic.as_str()).or_insert(lag);
            if lag.high_watermark - lag.log_start > entry.high_watermark - entry.log_start {
                *entry = lag;
            }
        }
        for (topic, lag) in fullest {
            let held = self.samples.get(topic).map_or(0, Vec::len);
            let available = usize::try_from(lag.high_watermark - lag.log_start).unwrap_or(0);
            if held >= self.sample_records || available <= held {
                continue;
            }
            let sizes = self.read_tail(lag);
            if sizes.len() <= held {
                continue;
            }
            if let Some(estimate) = bytes_per_message(&sizes) {
                println!(
                    "{topic}: ~{estimate} bytes per message (from {} records)",
                    sizes.len()
                );
                self.sizes.insert(topic.to_owned(), estimate);
                self.samples.insert(topic.to_owned(), sizes);
            }
        }
    }

    /// Sizes of up to `sample_records` of the newest records of one partition.
    fn read_tail(&self, lag: &PartitionLag) -> Vec<u64> {
        let wanted = i64::try_from(self.sample_records).unwrap_or(i64::MAX);
        let from = lag.high_watermark.saturating_sub(wanted).max(lag.log_start);
        let mut list = TopicPartitionList::new();
        if list
            .add_partition_offset(&lag.topic, lag.partition, Offset::Offset(from))
            .is_err()
            || self.reader.assign(&list).is_err()
        {
            return Vec::new();
        }
        let mut sizes = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while sizes.len() < self.sample_records && Instant::now() < deadline {
            let Some(Ok(message)) = self.reader.poll(Duration::from_millis(100)) else {
                continue;
            };
            let headers = message.headers().map_or(0, |h| {
                h.iter()
                    .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
                    .sum::<usize>()
            });
            let size = message.key().map_or(0, <[u8]>::len)
                + message.payload().map_or(0, <[u8]>::len)
                + headers;
            sizes.push(u64::try_from(size).unwrap_or(u64::MAX));
            if message.offset() + 1 >= lag.high_watermark {
                break;
            }
        }
        let _ = self.reader.unassign();
        sizes
    }
}

/// Runs the watcher on a thread of its own until it ends or `stop` fires.
pub fn spawn(
    mut watcher: Watcher,
    interval: Duration,
    report_every: u32,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<anyhow::Result<Outcome>> {
    std::thread::spawn(move || watcher.run(interval, report_every, &stop))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag(partition: i32, log_start: i64, high: i64, committed: Option<i64>) -> PartitionLag {
        PartitionLag {
            group: "g".into(),
            topic: "t".into(),
            partition,
            log_start,
            high_watermark: high,
            committed,
        }
    }

    const LIMITS: Limits = Limits {
        max_bytes: 3_000_000,
        max_messages: 60_000,
    };

    #[test]
    fn lag_counts_from_the_committed_offset_or_the_log_start_before_the_first_commit() {
        assert_eq!(lag(0, 0, 100, Some(40)).messages(), 60);
        assert_eq!(lag(0, 10, 100, None).messages(), 90);
        assert_eq!(lag(0, 0, 100, Some(100)).messages(), 0);
        assert_eq!(lag(0, 0, 0, None).messages(), 0);
    }

    #[test]
    fn the_worst_partition_by_bytes_is_reported_and_judged() {
        let lags = [lag(0, 0, 1_000, Some(900)), lag(1, 0, 5_000, Some(3_000))];
        let verdict = judge(&lags, &|_| 1_000, LIMITS);
        let Verdict::Fine(Some(worst)) = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(
            (worst.lag.partition, worst.messages, worst.bytes),
            (1, 2_000, 2_000_000)
        );

        let verdict = judge(&[lag(3, 0, 10_000, Some(6_000))], &|_| 1_000, LIMITS);
        assert!(
            matches!(verdict, Verdict::TooFar(w) if w.bytes == 4_000_000 && w.lag.partition == 3)
        );
    }

    #[test]
    fn the_message_limit_binds_when_messages_are_tiny() {
        let verdict = judge(&[lag(0, 0, 70_000, Some(0))], &|_| 10, LIMITS);
        assert!(matches!(verdict, Verdict::TooFar(w) if w.messages == 70_000));
    }

    #[test]
    fn no_lag_is_fine_without_a_worst_partition() {
        assert_eq!(
            judge(&[lag(0, 0, 5, Some(5))], &|_| 1_000, LIMITS),
            Verdict::Fine(None)
        );
        assert_eq!(judge(&[], &|_| 1_000, LIMITS), Verdict::Fine(None));
    }

    #[test]
    fn a_committed_offset_below_the_log_start_means_messages_were_lost() {
        let lost = lag(2, 500, 900, Some(100));
        assert!(
            matches!(judge(std::slice::from_ref(&lost), &|_| 1, LIMITS), Verdict::Lost(l) if l == lost)
        );
    }

    #[test]
    fn the_size_estimate_is_the_mean_record_plus_framing_and_a_batch_header() {
        assert_eq!(bytes_per_message(&[]), None);
        assert_eq!(
            bytes_per_message(&[1_000, 2_001]),
            Some(1_501 + RECORD_FRAMING_BYTES + BATCH_HEADER_BYTES)
        );
    }

    #[test]
    fn group_topic_pairs_parse() {
        assert_eq!(parse_group_topic("g=t"), Ok(("g".into(), "t".into())));
        assert!(parse_group_topic("g").is_err());
        assert!(parse_group_topic("=t").is_err());
    }
}
