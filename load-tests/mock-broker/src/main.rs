//! `ferroloop-mock-broker`: a Kafka-protocol broker for benchmarks only.
//!
//! It hosts librdkafka's mock cluster — a small broker built into librdkafka, which the
//! project already compiles through `rdkafka` — in a process of its own: the project's topics
//! are created at start with the partition count asked for, consumer groups rebalance without
//! the usual 3 s initial delay, and the bootstrap address (a random loopback port) is written
//! to a file the scripts read. `make bench` runs the switch against it because, unlike the
//! development broker (tansu 0.6.0, memory engine), its cost per message does not grow with what
//! it has stored. It is **not** a real broker: nothing is durable, and each partition keeps
//! only ~5 MiB or 100,000 record batches — beyond that the oldest are dropped silently, read or
//! not. `watch-lag` guards a benchmark run against that. The Helm chart never uses it.
//!
//! Subcommands: `serve` (the broker), `watch-lag` (the retention guard), `probe` (a broker-only
//! producer/consumer load, with the broker's CPU and memory per time window).
//!
//! **Unsafe code.** The workspace forbids `unsafe_code`; this crate only denies it, because
//! the mock-cluster API (`rd_kafka_mock_*`) exists only as C functions, and the one setting the
//! benchmark needs (the group initial-rebalance delay) has no safe wrapper in `rdkafka`. The
//! FFI calls are confined to the `mock` module, which allows `unsafe` for itself and documents
//! each call with a `// SAFETY:` comment; everything else in the crate is safe Rust.

mod lag;
mod mock;
mod probe;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Parser, Subcommand};
use ferroloop_messaging::Topics;

/// Default stop line of the retention guard: 3 MB of estimated lag on one partition, well
/// below the mock's 5 MiB retention.
pub const DEFAULT_MAX_LAG_BYTES: u64 = 3_000_000;
/// And 60,000 messages, below its 100,000-batch retention.
pub const DEFAULT_MAX_LAG_MESSAGES: u64 = 60_000;

// The guard stops a run before the retention can drop anything.
const _: () = assert!(DEFAULT_MAX_LAG_BYTES < lag::RETENTION_BYTES);
const _: () = assert!(DEFAULT_MAX_LAG_MESSAGES < lag::RETENTION_BATCHES);

/// Exit code of `watch-lag` when a partition's lag passed a limit.
const EXIT_LAG_TOO_FAR: u8 = 3;
/// Exit code of `watch-lag` when retention already dropped unread messages.
const EXIT_MESSAGES_LOST: u8 = 4;

#[derive(Debug, Parser)]
#[command(
    name = "ferroloop-mock-broker",
    version,
    about = "A benchmark-only Kafka-protocol broker: librdkafka's mock cluster in a process of its own.",
    long_about = "A benchmark-only Kafka-protocol broker: librdkafka's mock cluster in a process of its own.\n\n\
        `make bench` runs the switch against it (scripts/bench.sh). It is NOT a real broker and \
        is never used by the Helm chart or `make up`/`make test`:\n\
        - nothing is durable: the data lives in this process's memory and is gone when it stops;\n\
        - retention is fixed by librdkafka at ~5 MiB or 100,000 record batches per partition: \
        older batches are dropped silently, whether consumers have read them or not \
        (`watch-lag` stops a benchmark before that happens);\n\
        - no CreateTopics/DeleteTopics/DescribeConfigs: `serve` creates the project's topics at \
        start; a waiting fetch is held for the consumer's whole fetch.wait.max.ms;\n\
        - it listens on a random loopback port, written to --bootstrap-file."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker until SIGTERM or SIGINT, with the project's topics created.
    Serve(ServeArgs),
    /// Sample the consumer groups' lag per partition; exit 3 as soon as one passes the limit
    /// (4 if retention already dropped unread messages), 0 on SIGTERM/SIGINT.
    WatchLag(WatchArgs),
    /// Create the project's topics on any broker that has CreateTopics (as the services' own
    /// `ensure_topics` does: topics that exist are left alone), e.g. tansu for `make bench`.
    CreateTopics(CreateTopicsArgs),
    /// Produce and consume a steady message rate through the project's producer and consumer,
    /// printing latency and the broker's CPU and memory per window.
    Probe(ProbeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Partitions of every topic.
    #[arg(long, env = "MOCK_BROKER_PARTITIONS", default_value_t = 8,
          value_parser = clap::value_parser!(i32).range(1..=1024))]
    partitions: i32,
    /// Prefix of every topic name (as KAFKA_TOPIC_PREFIX of the services).
    #[arg(long, env = "KAFKA_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// Where to write the bootstrap address (`127.0.0.1:<port>`) once the topics exist; the file
    /// is removed on a clean stop.
    #[arg(
        long,
        env = "MOCK_BROKER_BOOTSTRAP_FILE",
        default_value = ".stack/kafka.bootstrap"
    )]
    bootstrap_file: PathBuf,
}

#[derive(Debug, clap::Args)]
struct CreateTopicsArgs {
    #[command(flatten)]
    bootstrap: Bootstrap,
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(i32).range(1..=1024))]
    partitions: i32,
    #[arg(long, env = "KAFKA_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
}

#[derive(Debug, clap::Args)]
struct Bootstrap {
    /// Bootstrap servers of the broker to watch or load.
    #[arg(long, env = "KAFKA_BROKERS", conflicts_with = "bootstrap_file")]
    bootstrap: Option<String>,
    /// A file holding them (what `serve` wrote).
    #[arg(long)]
    bootstrap_file: Option<PathBuf>,
}

impl Bootstrap {
    fn resolve(&self) -> anyhow::Result<String> {
        match (&self.bootstrap, &self.bootstrap_file) {
            (Some(servers), _) => Ok(servers.clone()),
            (None, Some(file)) => Ok(std::fs::read_to_string(file)?.trim().to_owned()),
            (None, None) => anyhow::bail!("give --bootstrap, KAFKA_BROKERS or --bootstrap-file"),
        }
    }
}

#[derive(Debug, clap::Args)]
struct WatchArgs {
    #[command(flatten)]
    bootstrap: Bootstrap,
    /// A consumer group and the topic it consumes, `GROUP=TOPIC`; repeat for several. Default:
    /// the five handler groups of the services and their topics.
    #[arg(long = "group", value_parser = lag::parse_group_topic)]
    groups: Vec<(String, String)>,
    /// Prefix of the default groups' topic names (as KAFKA_TOPIC_PREFIX of the services).
    #[arg(long, env = "KAFKA_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// Stop when one partition's estimated lag passes this many bytes (the mock keeps 5 MiB).
    #[arg(long, default_value_t = DEFAULT_MAX_LAG_BYTES)]
    max_lag_bytes: u64,
    /// Stop when one partition's lag passes this many messages (the mock keeps 100,000 batches).
    #[arg(long, default_value_t = DEFAULT_MAX_LAG_MESSAGES)]
    max_lag_messages: u64,
    /// Time between samples.
    #[arg(long, default_value_t = 500)]
    interval_ms: u64,
    /// Print the largest lag every this many samples (0: only at the end).
    #[arg(long, default_value_t = 10)]
    report_every: u32,
    /// Records read from a topic's tail to estimate its message size.
    #[arg(long, default_value_t = 32)]
    sample_records: usize,
}

#[derive(Debug, clap::Args)]
struct ProbeArgs {
    #[command(flatten)]
    bootstrap: Bootstrap,
    /// Messages per second, spread evenly over the topics (12,000 = 2,000 transfers/s × six
    /// hops).
    #[arg(long, default_value_t = 12_000)]
    rate: u64,
    #[arg(long, default_value_t = 180)]
    duration_seconds: u64,
    /// Length of a reporting window.
    #[arg(long, default_value_t = 15)]
    window_seconds: u64,
    /// Payload size (the services' envelopes are 1–2.5 KB).
    #[arg(long, default_value_t = 1_500)]
    message_bytes: usize,
    /// How many of the project's topics to use (prepare, position, fulfil, notification, get,
    /// admin-transfer, dead-letter), one consumer group each.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(1..=7))]
    topics: u8,
    #[arg(long, env = "KAFKA_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    #[arg(long, env = "KAFKA_LINGER_MS", default_value_t = 1)]
    linger_ms: u64,
    #[arg(long, env = "KAFKA_FETCH_WAIT_MAX_MS", default_value_t = 5)]
    fetch_wait_ms: u64,
    /// The broker's process id, for its CPU and memory from /proc.
    #[arg(long)]
    broker_pid: Option<u32>,
}

/// Every topic of the project, the prepare topic first (the list the services use, so a topic
/// added there is created here too).
fn project_topics(prefix: &str) -> Vec<String> {
    Topics::new(prefix)
        .all_with_partitions(1)
        .into_iter()
        .map(|(topic, _)| topic.to_owned())
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ferroloop-mock-broker: {error}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(&args).await,
            Command::WatchLag(args) => watch_lag(args).await,
            Command::CreateTopics(args) => create_topics(&args).await,
            Command::Probe(args) => probe(args).await.map(|()| ExitCode::SUCCESS),
        }
    });
    result.unwrap_or_else(|error| {
        eprintln!("ferroloop-mock-broker: {error:#}");
        ExitCode::from(2)
    })
}

async fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let mut signals = Signals::new()?;
    let broker = mock::MockBroker::start()?;
    for topic in project_topics(&args.topic_prefix) {
        broker.create_topic(&topic, args.partitions)?;
    }
    let bootstrap = broker.bootstrap();
    write_atomically(&args.bootstrap_file, &format!("{bootstrap}\n"))?;
    println!(
        "mock broker (benchmark only: not durable, ~5 MiB or 100k batches per partition) on {bootstrap}, \
         {} partitions per topic, bootstrap in {}",
        args.partitions,
        args.bootstrap_file.display()
    );
    let mut poll = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = signals.next() => break,
            _ = poll.tick() => broker.poll(),
        }
    }
    drop(broker);
    let _ = std::fs::remove_file(&args.bootstrap_file);
    println!("mock broker stopped");
    Ok(ExitCode::SUCCESS)
}

async fn create_topics(args: &CreateTopicsArgs) -> anyhow::Result<ExitCode> {
    let kafka =
        ferroloop_messaging::KafkaArgs::local(args.bootstrap.resolve()?, args.topic_prefix.clone());
    let topics = kafka.topics();
    ferroloop_messaging::admin::ensure_topics(&kafka, &topics.all_with_partitions(args.partitions))
        .await?;
    println!(
        "topics ready on {} ({} partitions each when created now)",
        kafka.kafka_brokers, args.partitions
    );
    Ok(ExitCode::SUCCESS)
}

async fn watch_lag(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let mut signals = Signals::new()?;
    let bootstrap = args.bootstrap.resolve()?;
    let groups = if args.groups.is_empty() {
        lag::SERVICE_GROUPS
            .iter()
            .map(|(g, t)| ((*g).to_owned(), format!("{}{t}", args.topic_prefix)))
            .collect()
    } else {
        args.groups.clone()
    };
    let limits = lag::Limits {
        max_bytes: args.max_lag_bytes,
        max_messages: args.max_lag_messages,
    };
    let watcher = lag::Watcher::new(&bootstrap, &groups, limits, args.sample_records.max(1))?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = lag::spawn(
        watcher,
        Duration::from_millis(args.interval_ms.max(10)),
        args.report_every,
        Arc::clone(&stop),
    );
    let outcome = tokio::task::spawn_blocking(move || {
        thread
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the watcher panicked")))
    });
    tokio::pin!(outcome);
    let outcome = tokio::select! {
        result = &mut outcome => result?,
        () = signals.next() => {
            stop.store(true, Ordering::Relaxed);
            outcome.await?
        }
    }?;
    Ok(match outcome {
        lag::Outcome::Stopped(largest) => {
            match largest {
                Some(worst) => println!("largest lag during the run: {worst}"),
                None => println!("largest lag during the run: none"),
            }
            ExitCode::SUCCESS
        }
        lag::Outcome::TooFar(worst) => {
            eprintln!(
                "RETENTION GUARD: consumer lag passed the limit ({} bytes or {} messages per partition; \
                 the mock broker keeps only ~5 MiB or 100,000 batches per partition and drops older \
                 messages silently): {worst}. The hub is not keeping up with this rate on this broker; \
                 the run is aborted so no message can be lost.",
                limits.max_bytes, limits.max_messages
            );
            ExitCode::from(EXIT_LAG_TOO_FAR)
        }
        lag::Outcome::Lost(lag) => {
            eprintln!(
                "RETENTION GUARD: {} on {}[{}] has committed offset {:?} but the broker now starts at \
                 offset {}: retention dropped messages the group had not read.",
                lag.group, lag.topic, lag.partition, lag.committed, lag.log_start
            );
            ExitCode::from(EXIT_MESSAGES_LOST)
        }
    })
}

async fn probe(args: ProbeArgs) -> anyhow::Result<()> {
    let topics = project_topics(&args.topic_prefix)
        .into_iter()
        .take(usize::from(args.topics))
        .collect();
    probe::run(probe::Settings {
        bootstrap: args.bootstrap.resolve()?,
        topics,
        rate: args.rate,
        duration: Duration::from_secs(args.duration_seconds),
        window: Duration::from_secs(args.window_seconds.max(1)),
        message_bytes: args.message_bytes,
        linger_ms: args.linger_ms,
        fetch_wait_ms: args.fetch_wait_ms,
        broker_pid: args.broker_pid,
    })
    .await
}

/// Writes through a temporary file and a rename, so a reader never sees half an address.
fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, contents)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// SIGTERM and SIGINT.
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signals").finish_non_exhaustive()
    }
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_defaults_to_eight_partitions_and_the_stack_bootstrap_file() {
        let cli = Cli::try_parse_from(["ferroloop-mock-broker", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.partitions, 8);
        assert_eq!(args.bootstrap_file, PathBuf::from(".stack/kafka.bootstrap"));
        assert!(
            Cli::try_parse_from(["ferroloop-mock-broker", "serve", "--partitions", "0"]).is_err()
        );
    }

    #[test]
    fn watch_lag_takes_group_topic_pairs_and_the_3_mb_default() {
        let cli = Cli::try_parse_from([
            "ferroloop-mock-broker",
            "watch-lag",
            "--bootstrap",
            "127.0.0.1:1",
            "--group",
            "g1=t1",
            "--group",
            "g2=t2",
        ])
        .unwrap();
        let Command::WatchLag(args) = cli.command else {
            panic!("not watch-lag")
        };
        assert_eq!(
            args.groups,
            [("g1".into(), "t1".into()), ("g2".into(), "t2".into())]
        );
        assert_eq!(args.max_lag_bytes, 3_000_000);
        assert!(
            Cli::try_parse_from(["ferroloop-mock-broker", "watch-lag", "--group", "nogroup"])
                .is_err()
        );
    }

    #[test]
    fn the_topics_are_the_projects() {
        let topics = project_topics("p-");
        assert_eq!(topics.len(), 8);
        assert_eq!(topics[0], "p-topic-transfer-prepare");
        let all = Topics::new("p-");
        let mut expected: Vec<String> = all
            .all_with_partitions(1)
            .into_iter()
            .map(|(t, _)| t.to_owned())
            .collect();
        let mut got = topics.clone();
        expected.sort();
        got.sort();
        assert_eq!(got, expected);
    }

    #[test]
    fn the_bootstrap_file_is_written_whole() {
        let dir = std::env::temp_dir().join(format!(
            "mock-broker-unit-{}",
            uuid::Uuid::now_v7().simple()
        ));
        let file = dir.join("kafka.bootstrap");
        write_atomically(&file, "127.0.0.1:1234\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "127.0.0.1:1234\n");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
