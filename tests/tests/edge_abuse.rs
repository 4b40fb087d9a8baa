//! Abuse at the edge (docs/reliability.md#abuse-at-the-edge): while 10,000 idle connections,
//! slow-drip bodies, oversized bodies and header floods hit the API adapter (and then the admin
//! API), a well-behaved DFSP (operator) keeps sending requests on the same port; every one is
//! answered, with a p99 latency far below the abuse's duration, and every abusive connection is
//! cut by the limit meant for it.
//!
//! The services run as their real binaries (`cargo build --workspace --bins`), so that the
//! abusers' file descriptors (this process) and the server's (the child) each stay under the
//! limit; the child inherits the limit raised here.

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use ferroloop_testkit::{TestBroker, TestDatabase};
use ferroloop_tests::{Pipeline, workspace_binary};
use futures::StreamExt as _;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const IDLE_CONNECTIONS: usize = 10_000;
/// Connections opened at once while the idle ones are set up (the listen backlog is 1,024).
const CONNECT_CONCURRENCY: usize = 256;
const SLOW_DRIPS: usize = 100;
const OVERSIZED_CLIENTS: usize = 8;
const HEADER_FLOODERS: usize = 8;
/// How long the well-behaved client measures while the abuse goes on.
const ABUSE_WINDOW: Duration = Duration::from_secs(6);
/// The settings under test, small so that the test sees them act within its time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(9);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// What a well-behaved client's p99 must stay under during the abuse.
/// (Measured on a 2-core machine shared with three other builds: 230 ms adapter, 860 ms admin.)
const P99_BOUND: Duration = Duration::from_millis(2_000);
/// Slack on top of a server timeout before the test calls a connection not cut.
const SLACK: Duration = Duration::from_secs(3);
/// The same for the idle connections, timed from the client's side: the server starts their
/// clock when it accepts them, up to seconds later for the last of 10,000 on a loaded machine.
const IDLE_SLACK: Duration = Duration::from_secs(8);

/// The target of one abuse run.
struct Target {
    addr: String,
    child: Child,
    /// Path and headers of the well-behaved requests and of the abusive ones.
    path: &'static str,
    content_type: &'static str,
    source: &'static str,
}

fn raise_fd_limit() {
    let wanted = u64::try_from(IDLE_CONNECTIONS).unwrap_or(u64::MAX) * 2;
    let raised = rlimit::increase_nofile_limit(wanted).expect("raise RLIMIT_NOFILE");
    assert!(
        raised > u64::try_from(IDLE_CONNECTIONS + 1_000).unwrap_or(u64::MAX),
        "RLIMIT_NOFILE {raised} is too low for {IDLE_CONNECTIONS} connections (raise the hard limit)"
    );
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Starts `command` and waits for `ready` in its log (its listener is bound then).
async fn start(mut command: Command, ready: &str) -> Child {
    let mut child = command
        .env("OPS_ADDR", "127.0.0.1:0")
        .env("LOG_LEVEL", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the service");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
            .await
            .expect("service start within 30 s")
            .expect("read the service log")
            .expect("the service exited before listening");
        if line.contains(ready) {
            break;
        }
    }
    // Keep draining the log so that the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

async fn adapter(broker: &TestBroker) -> Target {
    let port = free_port();
    let mut command = Command::new(workspace_binary("api-adapter"));
    command
        .env("FSPIOP_API_ADDR", format!("127.0.0.1:{port}"))
        .env("KAFKA_BROKERS", &broker.args.kafka_brokers)
        .env("KAFKA_TOPIC_PREFIX", &broker.args.kafka_topic_prefix)
        .env("FSPIOP_MAX_CONNECTIONS", "12000")
        .env(
            "FSPIOP_HEADER_READ_TIMEOUT_MS",
            HEADER_READ_TIMEOUT.as_millis().to_string(),
        )
        .env(
            "FSPIOP_REQUEST_TIMEOUT_MS",
            REQUEST_TIMEOUT.as_millis().to_string(),
        )
        // Above the request timeout only in the default configuration; the well-behaved requests
        // here are acknowledged in milliseconds.
        .env("KAFKA_MESSAGE_TIMEOUT_MS", "2500");
    Target {
        addr: format!("127.0.0.1:{port}"),
        child: start(command, "FSPIOP API listening").await,
        path: "/transfers",
        content_type: ferroloop_tests::CONTENT_TYPE,
        source: "payerfsp",
    }
}

async fn admin(db: &TestDatabase, broker: &TestBroker) -> Target {
    let port = free_port();
    let mut command = Command::new(workspace_binary("admin-api"));
    command
        .env("ADMIN_API_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &db.url)
        .env("DATABASE_MAX_CONNECTIONS", "4")
        .env("ADMIN_AUTH", "off")
        .env("KAFKA_BROKERS", &broker.args.kafka_brokers)
        .env("KAFKA_TOPIC_PREFIX", &broker.args.kafka_topic_prefix)
        .env("ADMIN_API_MAX_CONNECTIONS", "12000")
        .env(
            "ADMIN_API_HEADER_READ_TIMEOUT_MS",
            HEADER_READ_TIMEOUT.as_millis().to_string(),
        )
        .env(
            "ADMIN_API_REQUEST_TIMEOUT_MS",
            REQUEST_TIMEOUT.as_millis().to_string(),
        );
    Target {
        addr: format!("127.0.0.1:{port}"),
        child: start(command, "admin API listening").await,
        path: "/participants",
        content_type: "application/json",
        source: "operator",
    }
}

/// The head of an abusive request (`extra` is more header lines, each ending in CRLF).
fn head(target: &Target, content_length: usize, extra: &str) -> String {
    format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\nAccept: application/vnd.interoperability.transfers+json;version=1\r\nDate: {}\r\nFSPIOP-Source: {}\r\nContent-Length: {content_length}\r\n{extra}\r\n",
        target.path,
        target.addr,
        target.content_type,
        httpdate::fmt_http_date(SystemTime::now()),
        target.source,
    )
}

/// Opens the idle connections; they send nothing.
async fn open_idle(addr: &str) -> Vec<TcpStream> {
    let opened: Vec<TcpStream> = futures::stream::iter(0..IDLE_CONNECTIONS)
        .map(|_| TcpStream::connect(addr))
        .buffer_unordered(CONNECT_CONCURRENCY)
        .filter_map(|c| async move { c.ok() })
        .collect()
        .await;
    assert_eq!(opened.len(), IDLE_CONNECTIONS, "idle connections opened");
    opened
}

/// Reads until the server closes; how long that took. `None`: not within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = vec![0_u8; 64 * 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

/// Of the idle connections not closed in time, how many stay open after each is sent one byte
/// and given another header read timeout (plus slack) to be cut or reset.
async fn survivors_of_a_probe(idle: &mut [TcpStream], closed: &[Option<Duration>]) -> usize {
    let open = idle
        .iter_mut()
        .zip(closed)
        .filter(|(_, closed)| closed.is_none())
        .map(|(stream, _)| async move {
            if stream.write_all(b"G").await.is_err() {
                return false;
            }
            closed_within(stream, HEADER_READ_TIMEOUT + SLACK)
                .await
                .is_none()
        });
    futures::future::join_all(open)
        .await
        .into_iter()
        .filter(|still_open| *still_open)
        .count()
}

/// A body dripped one byte every 200 ms: cut by the request timeout.
async fn slow_drip(target_addr: String, request_head: String) -> Option<Duration> {
    let mut stream = TcpStream::connect(&target_addr).await.ok()?;
    stream.write_all(request_head.as_bytes()).await.ok()?;
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let drip = tokio::spawn(async move {
        while writer.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut buf = vec![0_u8; 4096];
    let limit = REQUEST_TIMEOUT + SLACK;
    let answered = tokio::time::timeout(limit, reader.read(&mut buf)).await;
    drip.abort();
    answered.ok().map(|_| started.elapsed())
}

/// Sends `request` (head and as much body as given) in a loop until `until`; the statuses.
async fn repeat(addr: String, request: Vec<u8>, until: Instant) -> Vec<u16> {
    let mut statuses = Vec::new();
    while Instant::now() < until {
        let Ok(mut stream) = TcpStream::connect(&addr).await else {
            statuses.push(0);
            continue;
        };
        // The server may answer and close (or stop reading) before the whole request is written.
        let _ = tokio::time::timeout(SLACK, stream.write_all(&request)).await;
        let mut answer = Vec::new();
        let _ =
            tokio::time::timeout(REQUEST_TIMEOUT + SLACK, stream.read_to_end(&mut answer)).await;
        let status = std::str::from_utf8(answer.get(9..12).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        statuses.push(status);
    }
    statuses
}

/// The well-behaved client: one request after the other until `until`; the latencies.
async fn well_behaved(target: &Target, until: Instant) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut latencies = Vec::new();
    while Instant::now() < until {
        let started = Instant::now();
        let response = if target.path == "/transfers" {
            let body =
                Pipeline::prepare_body_static("payerfsp", "payeefsp", "1", Duration::from_secs(60));
            client
                .post(format!("http://{}/transfers", target.addr))
                .header("content-type", target.content_type)
                .header(
                    "accept",
                    "application/vnd.interoperability.transfers+json;version=1",
                )
                .header("date", httpdate::fmt_http_date(SystemTime::now()))
                .header("fspiop-source", "payerfsp")
                .header("fspiop-destination", "payeefsp")
                .json(&body)
                .send()
                .await
        } else {
            client
                .get(format!("http://{}/participants", target.addr))
                .send()
                .await
        }
        .expect("a well-behaved request is answered");
        let expected = if target.path == "/transfers" {
            202
        } else {
            200
        };
        assert_eq!(response.status().as_u16(), expected, "well-behaved request");
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Runs every abuse against `target` while measuring the well-behaved client.
async fn abuse(mut target: Target, name: &str) {
    let started = Instant::now();
    let mut idle = open_idle(&target.addr).await;
    let idle_opened = Instant::now();
    let until = idle_opened + ABUSE_WINDOW;

    let drip_head = head(&target, 50_000, "");
    let drips: Vec<_> = (0..SLOW_DRIPS)
        .map(|_| tokio::spawn(slow_drip(target.addr.clone(), drip_head.clone())))
        .collect();
    let mut oversized = head(&target, 10 * 1024 * 1024, "").into_bytes();
    oversized.resize(oversized.len() + 1024 * 1024, b' ');
    let flood: String = (0..5_000)
        .map(|i| format!("X-Flood-{i}: {i}\r\n"))
        .collect();
    let flood = head(&target, 0, &flood).into_bytes();
    let mut abusers = Vec::new();
    for _ in 0..OVERSIZED_CLIENTS {
        abusers.push(tokio::spawn(repeat(
            target.addr.clone(),
            oversized.clone(),
            until,
        )));
    }
    for _ in 0..HEADER_FLOODERS {
        abusers.push(tokio::spawn(repeat(
            target.addr.clone(),
            flood.clone(),
            until,
        )));
    }

    let mut latencies = well_behaved(&target, until).await;

    let mut statuses = Vec::new();
    for abuser in abusers {
        statuses.extend(abuser.await.expect("abuser task"));
    }
    let mut drip_cut = Vec::new();
    for drip in drips {
        drip_cut.push(drip.await.expect("slow-drip task"));
    }
    // Every idle connection is closed by the server once its header read timeout passed.
    let wait =
        (idle_opened + HEADER_READ_TIMEOUT + IDLE_SLACK).saturating_duration_since(Instant::now());
    let idle_closed: Vec<Option<Duration>> =
        futures::future::join_all(idle.iter_mut().map(|s| closed_within(s, wait))).await;
    let survivors = survivors_of_a_probe(&mut idle, &idle_closed).await;
    drop(idle);

    latencies.sort();
    let p50 = percentile(&latencies, 50);
    let p99 = percentile(&latencies, 99);
    let max = latencies.last().copied().unwrap_or_default();
    let refused = statuses.iter().filter(|s| (400..500).contains(*s)).count();
    println!(
        "{name}: {} well-behaved requests during the abuse, p50 {p50:?}, p99 {p99:?}, max {max:?}; \
         {IDLE_CONNECTIONS} idle connections, {} closed by the server ({survivors} still open after a probe of the rest); {SLOW_DRIPS} slow drips, {} cut; \
         {} oversized/header-flood requests, {refused} refused with 4xx; run took {:?}",
        latencies.len(),
        idle_closed.iter().filter(|c| c.is_some()).count(),
        drip_cut.iter().filter(|c| c.is_some()).count(),
        statuses.len(),
        started.elapsed(),
    );
    assert!(
        latencies.len() >= 20,
        "{name}: too few well-behaved requests"
    );
    assert!(p99 < P99_BOUND, "{name}: p99 {p99:?} over {P99_BOUND:?}");
    // Some of the 10,000 may not have reached the server in time: when its accept queue is full
    // the kernel drops the handshake's last ACK, and the client, which believes it connected,
    // hears nothing (5–20 % here, depending on the machine's load). Those were probed with one
    // byte, which completes or resets their handshake; then the header read timeout must cut
    // them too. A broken read timeout cuts none, before the probe or after it.
    let closed = idle_closed.iter().filter(|c| c.is_some()).count();
    assert!(
        closed * 2 >= IDLE_CONNECTIONS,
        "{name}: {closed} of {IDLE_CONNECTIONS} idle connections cut by the header read timeout"
    );
    assert_eq!(
        survivors, 0,
        "{name}: idle connections still open after a probe and another header read timeout"
    );
    assert!(
        drip_cut.iter().all(Option::is_some),
        "{name}: slow-drip bodies outlived the request timeout"
    );
    assert!(
        !statuses.is_empty(),
        "{name}: no oversized or flood request was answered"
    );
    assert_eq!(
        refused,
        statuses.len(),
        "{name}: oversized bodies and header floods are refused with 4xx: {statuses:?}"
    );
    target.child.kill().await.expect("stop the service");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn abusive_clients_do_not_stop_the_apis_serving_others() {
    raise_fd_limit();
    let broker = TestBroker::new().await;
    let db = TestDatabase::new().await;
    abuse(adapter(&broker).await, "api-adapter").await;
    abuse(admin(&db, &broker).await, "admin-api").await;
}
