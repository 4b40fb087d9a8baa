//! Starts the `ferroloop-mock-broker` binary and uses it as the services would: the project's
//! `ensure_topics` finds the topics (the mock has no CreateTopics), messages go round trip
//! through the project's producer and consumer on 8 partitions, the lag guard trips, and
//! SIGTERM stops the broker cleanly.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferroloop_messaging::{BatchConsumer, BatchProducer, KafkaArgs, OutboundMessage, admin};
use tokio_util::sync::CancellationToken;

const BINARY: &str = env!("CARGO_BIN_EXE_ferroloop-mock-broker");

/// The broker process, killed if a test fails before stopping it.
struct Broker {
    child: Option<Child>,
    dir: PathBuf,
    bootstrap: String,
}

impl Broker {
    fn start(partitions: u32) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "mock-broker-test-{}",
            uuid::Uuid::now_v7().simple()
        ));
        let file = dir.join("kafka.bootstrap");
        let child = Command::new(BINARY)
            .args([
                "serve",
                "--partitions",
                &partitions.to_string(),
                "--bootstrap-file",
            ])
            .arg(&file)
            .stdout(Stdio::null())
            .spawn()
            .expect("start the mock broker");
        let bootstrap = wait_for_file(&file, Duration::from_secs(30));
        Self {
            child: Some(child),
            dir,
            bootstrap,
        }
    }

    /// SIGTERM, then the exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within 20 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_for_file(file: &Path, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(text) = std::fs::read_to_string(file)
            && text.ends_with('\n')
        {
            return text.trim().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no bootstrap file within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_go_round_trip_on_eight_partitions_and_sigterm_stops_cleanly() {
    let mut broker = Broker::start(8);
    let kafka = KafkaArgs::local(broker.bootstrap.clone(), "");
    let topics = kafka.topics();

    // The topics exist from the start: ensure_topics must not ask for CreateTopics (which the
    // mock would leave unanswered until its 30 s timeout).
    let started = Instant::now();
    admin::ensure_topics(&kafka, &topics.all_with_partitions(8))
        .await
        .expect("topics found");
    assert!(started.elapsed() < Duration::from_secs(10));
    for (topic, _) in topics.all_with_partitions(8) {
        assert_eq!(
            admin::listed_partitions(&kafka, topic).unwrap(),
            8,
            "{topic}"
        );
    }

    let producer = BatchProducer::new(&kafka).unwrap();
    let sent: Vec<OutboundMessage> = (0..200)
        .map(|i| OutboundMessage {
            topic: topics.prepare.clone(),
            key: Some(format!("key-{i}")),
            payload: format!("m{i}").into_bytes(),
        })
        .collect();
    producer.send_all(&sent).await.expect("produced");

    let consumer = BatchConsumer::new(&kafka, "round-trip", &[topics.prepare.as_str()]).unwrap();
    let shutdown = CancellationToken::new();
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while received.len() < sent.len() {
            received.extend(consumer.next_batch(&shutdown).await.expect("consumed"));
        }
    })
    .await
    .expect("every message back within 60 s");
    let payloads: BTreeSet<Vec<u8>> = received.iter().map(|m| m.payload.clone()).collect();
    assert_eq!(payloads.len(), sent.len());
    let partitions: BTreeSet<i32> = received.iter().map(|m| m.partition).collect();
    assert_eq!(
        partitions,
        (0..8).collect(),
        "keys spread over all 8 partitions"
    );
    drop(consumer);

    let file = broker.dir.join("kafka.bootstrap");
    assert!(broker.terminate().success());
    assert!(
        !file.exists(),
        "the bootstrap file is removed on a clean stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lag_guard_stops_when_a_group_falls_behind() {
    let broker = Broker::start(2);
    let kafka = KafkaArgs::local(broker.bootstrap.clone(), "");
    let topic = kafka.topics().fulfil;
    let producer = BatchProducer::new(&kafka).unwrap();
    let unread: Vec<OutboundMessage> = (0..100)
        .map(|i| OutboundMessage {
            topic: topic.clone(),
            key: Some(format!("k{i}")),
            payload: vec![b'x'; 500],
        })
        .collect();
    producer.send_all(&unread).await.unwrap();

    // Nobody consumes: 100 messages of lag over two partitions; the guard stops at 20.
    let output = Command::new(BINARY)
        .args(["watch-lag", "--bootstrap", &broker.bootstrap])
        .args(["--group", &format!("nobody={topic}")])
        .args(["--max-lag-messages", "20", "--interval-ms", "100"])
        .output()
        .expect("run watch-lag");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    // It read a sample of the topic's records for its byte estimate: 500 B of payload, a
    // key of 2–3 bytes, plus framing and a batch header.
    assert!(
        stdout.contains(&format!("{topic}: ~5")) && stdout.contains("bytes per message"),
        "{stdout}"
    );
    assert!(stderr.contains("RETENTION GUARD"), "{stderr}");
    assert!(stderr.contains(&topic), "{stderr}");
}
