//! Per-DFSP admission: a bounded number of requests in flight per authenticated sender
//! (`FSPIOP_MAX_IN_FLIGHT_PER_FSP`); beyond it that DFSP alone gets 503 / 2003 with
//! `Retry-After`, and the other DFSPs' requests go on as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::common::*;

const FLOODER: &str = "floodfsp";

/// A `POST /transfers` from `source` through the gateway (`X-Client-Id` = source).
fn post_from(source: &str) -> Req {
    Req::post(&set(prepare_body(&new_id()), "/payerFsp", source.into()))
        .with("FSPIOP-Source", Some(source))
        .with("X-Client-Id", Some(source))
}

/// A request from `source` whose body never finishes: the head and half of the body are sent,
/// then the connection is held (until it is dropped or the adapter answers).
async fn slow_request(app: &TestApp, source: &str) -> TcpStream {
    let request = post_from(source);
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(&raw_head(app.addr, &request, false))
        .await
        .unwrap();
    stream
        .write_all(&request.body[..request.body.len() / 2])
        .await
        .unwrap();
    stream
}

/// The status of the answer on a held connection, once its head arrived.
async fn answer_status(stream: &mut TcpStream) -> Option<u16> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buffer[..n]);
    }
    std::str::from_utf8(&head)
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

fn busy() -> (u16, String, String) {
    (
        503,
        "2003".to_owned(),
        format!(
            "Service currently unavailable - Too many requests in flight from {FLOODER}; retry later"
        ),
    )
}

async fn gateway_app(per_fsp: u32, global: usize) -> TestApp {
    TestApp::start_with(|c| {
        c.gateway_authentication = true;
        c.max_in_flight_per_fsp = per_fsp;
        c.max_concurrent_requests = global;
        // Held requests end at this deadline (2004), freeing their place; far above what a
        // produce takes on a busy machine.
        c.request_timeout_ms = 20_000;
    })
    .await
}

/// Sends `request` until the answer's status is `status` (the adapter takes a moment to admit
/// requests whose heads were just written); returns that answer.
async fn until_status(app: &TestApp, request: impl Fn() -> Req, status: u16) -> Answer {
    tokio::time::timeout(WAIT, async {
        loop {
            let answer = app.send(&request()).await;
            if answer.status == status {
                return answer;
            }
            assert!(
                answer.status == 202 || answer.status == 503,
                "{}",
                String::from_utf8_lossy(&answer.body)
            );
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {status} within the wait"))
}

#[tokio::test]
async fn a_dfsp_over_its_in_flight_limit_is_told_to_retry_later() {
    let app = gateway_app(2, 64).await;
    let topics = app.kafka.topics();
    let mut held = vec![
        slow_request(&app, FLOODER).await,
        slow_request(&app, FLOODER).await,
    ];

    // Once both are in flight, the flooder's next request is refused at once …
    let refused = until_status(&app, || post_from(FLOODER), 503).await;
    assert_eq!(refused.error(), busy());
    assert_eq!(refused.retry_after.as_deref(), Some("1"));
    let get = Req::get(&new_id())
        .with("FSPIOP-Source", Some(FLOODER))
        .with("X-Client-Id", Some(FLOODER));
    assert_eq!(app.send(&get).await.error(), busy());
    let accepted_before = produced_count(&app.kafka, &topics.prepare);

    // … while another DFSP is not affected.
    assert_eq!(app.send(&post_from(PAYER)).await.status, 202);
    assert_eq!(
        produced_count(&app.kafka, &topics.prepare),
        accepted_before + 1
    );

    // When one of the flooder's requests ends, it is admitted again.
    held.pop();
    until_status(&app, || post_from(FLOODER), 202).await;
    assert_eq!(produced_count(&app.kafka, &topics.get), 0);
}

/// What one DFSP's flood did: slow requests sent, and how they were answered.
#[derive(Debug, Default)]
struct FloodStats {
    sent: AtomicUsize,
    refused: AtomicUsize,
    other_answers: AtomicUsize,
}

/// One DFSP sending slow requests (each holds its place until the flood stops or the adapter's
/// deadline): a burst of `burst`, then one every `period`, regardless of the answers, until
/// `stop`. `sent` is published on `progress`.
fn flood(app: &TestApp, burst: usize, period: Duration, stop: CancellationToken) -> Flood {
    let stats = Arc::new(FloodStats::default());
    let (progress, watch) = watch::channel(0usize);
    let addr = app.addr;
    let task_stats = Arc::clone(&stats);
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        for opened in 0.. {
            if opened >= burst {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = ticks.tick() => {}
                }
            }
            let stats = Arc::clone(&task_stats);
            let stop = stop.clone();
            let progress = progress.clone();
            connections.spawn(async move {
                let request = post_from(FLOODER);
                let Ok(mut stream) = TcpStream::connect(addr).await else {
                    return;
                };
                let head = raw_head(addr, &request, false);
                let half = &request.body[..request.body.len() / 2];
                if stream.write_all(&head).await.is_err() || stream.write_all(half).await.is_err()
                {
                    return;
                }
                let sent = stats.sent.fetch_add(1, Ordering::Relaxed) + 1;
                progress.send_replace(sent);
                tokio::select! {
                    () = stop.cancelled() => {}
                    status = answer_status(&mut stream) => {
                        let counter = if status == Some(503) { &stats.refused } else { &stats.other_answers };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        // Dropping the connections ends the flood's requests at the adapter.
        connections.shutdown().await;
    });
    Flood { stats, watch, task }
}

struct Flood {
    stats: Arc<FloodStats>,
    watch: watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

/// POST→202 latencies of `sources`, each sending `n` requests one after the other; every answer
/// must be 202.
async fn latencies(app: &TestApp, sources: &[&str], n: usize) -> Vec<Duration> {
    let runs = sources.iter().map(|source| async move {
        let mut took = Vec::with_capacity(n);
        for _ in 0..n {
            let request = post_from(source);
            let started = Instant::now();
            let answer = app.send(&request).await;
            took.push(started.elapsed());
            assert_eq!(
                answer.status,
                202,
                "{source}: {}",
                String::from_utf8_lossy(&answer.body)
            );
        }
        took
    });
    futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// The `per_mille`‰ quantile (nearest rank) of sorted samples.
fn quantile(sorted: &[Duration], per_mille: usize) -> Duration {
    let rank = (sorted.len() * per_mille).div_ceil(1000);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One DFSP floods the API with requests that hold their place (slow bodies) far beyond its
/// in-flight limit; three others keep sending POSTs. Measured in alternating windows with and
/// without the flood in one run, so that the machine's noise falls on both: the others' POST→202
/// p99 with the flood stays within twice its value without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_dfsp_flooding_does_not_slow_the_others() {
    const OTHERS: [&str; 3] = ["dfsp-a", "dfsp-b", "dfsp-c"];
    // Many short alternating windows spread the machine's own noise over both sides.
    const PER_WINDOW: usize = 30;
    const ROUNDS: usize = 8;
    // Global capacity 32, 4 per DFSP; the flood opens 40 requests at once, then 50 a second,
    // each holding its place until the flood stops (or the 20 s deadline): unbounded, it takes
    // every place at once and keeps them. The rate is kept moderate so that what the test
    // measures is the places, not the CPU a faster flood would take from everyone on a 2-core
    // machine.
    let app = gateway_app(4, 32).await;
    // Warm up connections and the producer.
    latencies(&app, &OTHERS, 5).await;

    let (mut quiet, mut flooded) = (Vec::new(), Vec::new());
    let mut refused = 0;
    for _ in 0..ROUNDS {
        quiet.extend(latencies(&app, &OTHERS, PER_WINDOW).await);

        let stop = CancellationToken::new();
        let mut flood = flood(&app, 40, Duration::from_millis(20), stop.clone());
        // The flood is on once it has sent more than the adapter's whole capacity.
        tokio::time::timeout(WAIT, flood.watch.wait_for(|sent| *sent >= 40))
            .await
            .expect("the flood starts")
            .unwrap();
        flooded.extend(latencies(&app, &OTHERS, PER_WINDOW).await);
        stop.cancel();
        flood.task.await.unwrap();
        refused += flood.stats.refused.load(Ordering::Relaxed);
        let sent = flood.stats.sent.load(Ordering::Relaxed);
        assert!(sent >= 40, "{sent}");
    }
    quiet.sort();
    flooded.sort();
    let (quiet_p50, quiet_p99) = (quantile(&quiet, 500), quantile(&quiet, 990));
    let (flood_p50, flood_p99) = (quantile(&flooded, 500), quantile(&flooded, 990));
    eprintln!(
        "others' POST→202 without the flood: p50 {quiet_p50:?} p99 {quiet_p99:?}; with it: p50 \
         {flood_p50:?} p99 {flood_p99:?} ({} samples each); flood requests refused: {refused}",
        quiet.len()
    );
    assert!(refused > 0, "the flooder was never refused");
    assert!(
        flood_p99 <= quiet_p99 * 2,
        "p99 with the flood {flood_p99:?} > 2 × {quiet_p99:?}"
    );
}
