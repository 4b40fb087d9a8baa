//! A broker-only load probe: produces a steady message rate over several topics through the
//! project's own producer and consumer (`ferroloop-messaging`), and prints, per time window,
//! the end-to-end latency and the broker process's CPU and resident memory, so one can see
//! whether a broker stays flat as traffic accumulates.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferroloop_messaging::{BatchConsumer, BatchProducer, KafkaArgs, OutboundMessage};
use hdrhistogram::Histogram;
use tokio_util::sync::CancellationToken;

/// Linux reports process CPU time in USER_HZ ticks, 100 per second on every architecture it
/// runs on (`getconf CLK_TCK`).
const TICKS_PER_SECOND: u64 = 100;

#[derive(Debug, Clone)]
pub struct Settings {
    pub bootstrap: String,
    pub topics: Vec<String>,
    pub rate: u64,
    pub duration: Duration,
    pub window: Duration,
    pub message_bytes: usize,
    pub linger_ms: u64,
    pub fetch_wait_ms: u64,
    pub broker_pid: Option<u32>,
}

/// CPU ticks (user + system) and resident memory of a process, from `/proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessSample {
    pub ticks: u64,
    pub rss_kib: u64,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`; `None` once the process is gone.
pub fn sample_process(pid: &str) -> Option<ProcessSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(ProcessSample {
        ticks: cpu_ticks(&stat)?,
        rss_kib: rss_kib(&status)?,
    })
}

/// utime + stime: fields 14 and 15 of `/proc/<pid>/stat`, counted after the parenthesised
/// command name (which may contain spaces).
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` of `/proc/<pid>/status`, in KiB.
pub fn rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Per mille of one core used between two samples `elapsed` apart.
pub fn cpu_per_mille(before: ProcessSample, after: ProcessSample, elapsed: Duration) -> u64 {
    let ticks = after.ticks.saturating_sub(before.ticks);
    let millis = u64::try_from(elapsed.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    ticks * 1_000 * 1_000 / TICKS_PER_SECOND / millis
}

fn per_mille(value: u64) -> String {
    format!("{}.{}", value / 10, value % 10)
}

fn ms(us: u64) -> String {
    format!("{}.{}", us / 1_000, (us % 1_000) / 100)
}

#[derive(Debug, Clone, Default)]
struct Window {
    end_s: u64,
    produced: u64,
    consumed: u64,
    p50_us: u64,
    p99_us: u64,
    broker_cpu_per_mille: Option<u64>,
    broker_rss_kib: Option<u64>,
    probe_cpu_per_mille: Option<u64>,
}

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let mut kafka = KafkaArgs::local(settings.bootstrap.clone(), "");
    kafka.kafka_linger_ms = settings.linger_ms;
    kafka.kafka_fetch_wait_max_ms = settings.fetch_wait_ms;
    let started = Instant::now();
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1,
        3_600_000_000,
        3,
    )?));
    let produced = Arc::new(AtomicU64::new(0));
    let consumed = Arc::new(AtomicU64::new(0));
    let stop = CancellationToken::new();
    let group_tag = uuid::Uuid::now_v7().simple().to_string();

    let mut consumers = Vec::new();
    for topic in &settings.topics {
        let consumer = BatchConsumer::new(&kafka, &format!("probe-{group_tag}-{topic}"), &[topic])?;
        let (histogram, consumed, stop) =
            (Arc::clone(&histogram), Arc::clone(&consumed), stop.clone());
        consumers.push(tokio::spawn(async move {
            loop {
                let batch = consumer.next_batch(&stop).await?;
                if batch.is_empty() {
                    consumer.commit_stored();
                    return anyhow::Ok(());
                }
                let now_us = micros_since(started);
                {
                    let mut histogram =
                        histogram.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                    for message in &batch {
                        if let Some(sent) = message.payload.get(..8) {
                            let sent_us = u64::from_be_bytes(sent.try_into()?);
                            histogram.saturating_record(now_us.saturating_sub(sent_us).max(1));
                        }
                    }
                }
                consumed.fetch_add(u64::try_from(batch.len())?, Ordering::Relaxed);
                consumer.store_offsets(&batch)?;
            }
        }));
    }

    let producer = BatchProducer::new(&kafka)?;
    let sender = {
        let (produced, stop, settings) = (Arc::clone(&produced), stop.clone(), settings.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut sent: u64 = 0;
            let mut in_flight = tokio::task::JoinSet::new();
            while started.elapsed() < settings.duration && !stop.is_cancelled() {
                tick.tick().await;
                let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let due = settings.rate * elapsed_ms / 1_000;
                let now_us = micros_since(started);
                let batch: Vec<OutboundMessage> = (sent..due)
                    .map(|n| {
                        let mut payload = vec![b'x'; settings.message_bytes.max(8)];
                        payload[..8].copy_from_slice(&now_us.to_be_bytes());
                        let topic = &settings.topics
                            [usize::try_from(n).unwrap_or(0) % settings.topics.len()];
                        OutboundMessage {
                            topic: topic.clone(),
                            key: Some(format!("k{n}")),
                            payload,
                        }
                    })
                    .collect();
                sent = due.max(sent);
                let (producer, produced) = (producer.clone(), Arc::clone(&produced));
                in_flight.spawn(async move {
                    let count = u64::try_from(batch.len()).unwrap_or(0);
                    producer.send_all(&batch).await?;
                    produced.fetch_add(count, Ordering::Relaxed);
                    anyhow::Ok(())
                });
                while let Some(done) = in_flight.try_join_next() {
                    done??;
                }
            }
            while let Some(done) = in_flight.join_next().await {
                done??;
            }
            anyhow::Ok(sent)
        })
    };

    let broker_pid = settings.broker_pid.map(|p| p.to_string());
    println!(
        "probe: {} msg/s of {} B over {} topics for {} s against {}{}",
        settings.rate,
        settings.message_bytes,
        settings.topics.len(),
        settings.duration.as_secs(),
        settings.bootstrap,
        broker_pid
            .as_deref()
            .map(|p| format!(" (broker pid {p})"))
            .unwrap_or_default()
    );
    println!(
        "{:>6} {:>9} {:>9} {:>9} {:>9} {:>11} {:>10} {:>10}",
        "t (s)",
        "produced",
        "consumed",
        "p50 ms",
        "p99 ms",
        "broker CPU%",
        "broker MiB",
        "probe CPU%"
    );
    let mut windows = Vec::new();
    let mut broker_before = broker_pid.as_deref().and_then(sample_process);
    let mut probe_before = sample_process("self");
    let (mut produced_before, mut consumed_before) = (0, 0);
    let mut window_start = Instant::now();
    let end = settings.duration + Duration::from_secs(5);
    while started.elapsed() < end {
        tokio::time::sleep(settings.window.min(end.saturating_sub(started.elapsed()))).await;
        let elapsed = window_start.elapsed();
        window_start = Instant::now();
        let broker_after = broker_pid.as_deref().and_then(sample_process);
        let probe_after = sample_process("self");
        let (p50_us, p99_us) = {
            let mut histogram = histogram.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            let figures = (
                histogram.value_at_quantile(0.5),
                histogram.value_at_quantile(0.99),
            );
            histogram.reset();
            figures
        };
        let (produced_now, consumed_now) = (
            produced.load(Ordering::Relaxed),
            consumed.load(Ordering::Relaxed),
        );
        let window = Window {
            end_s: started.elapsed().as_secs(),
            produced: produced_now - produced_before,
            consumed: consumed_now - consumed_before,
            p50_us,
            p99_us,
            broker_cpu_per_mille: broker_before
                .zip(broker_after)
                .map(|(b, a)| cpu_per_mille(b, a, elapsed)),
            broker_rss_kib: broker_after.map(|a| a.rss_kib),
            probe_cpu_per_mille: probe_before
                .zip(probe_after)
                .map(|(b, a)| cpu_per_mille(b, a, elapsed)),
        };
        (produced_before, consumed_before) = (produced_now, consumed_now);
        (broker_before, probe_before) = (broker_after, probe_after);
        println!(
            "{:>6} {:>9} {:>9} {:>9} {:>9} {:>11} {:>10} {:>10}",
            window.end_s,
            window.produced,
            window.consumed,
            ms(window.p50_us),
            ms(window.p99_us),
            window.broker_cpu_per_mille.map_or("-".into(), per_mille),
            window
                .broker_rss_kib
                .map_or("-".into(), |k| (k / 1024).to_string()),
            window.probe_cpu_per_mille.map_or("-".into(), per_mille),
        );
        windows.push(window);
    }
    let sent = sender.await??;
    stop.cancel();
    for consumer in consumers {
        consumer.await??;
    }
    summarise(
        &windows,
        settings.duration.as_secs(),
        sent,
        consumed.load(Ordering::Relaxed),
    );
    Ok(())
}

fn micros_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The steady part of the run — the windows after the first (client start-up and the broker
/// filling its retention) that end while the probe still sends — and whether it stayed flat.
fn summarise(windows: &[Window], duration_s: u64, sent: u64, consumed: u64) {
    println!("\nsent {sent}, consumed {consumed}");
    let steady = windows.get(1..).unwrap_or_default();
    let steady: Vec<&Window> = steady.iter().filter(|w| w.end_s <= duration_s).collect();
    if steady.is_empty() {
        return;
    }
    let series = |f: &dyn Fn(&Window) -> Option<u64>| -> Vec<u64> {
        steady.iter().filter_map(|w| f(w)).collect()
    };
    let cpu = series(&|w| w.broker_cpu_per_mille);
    let rss = series(&|w| w.broker_rss_kib);
    let p50 = series(&|w| Some(w.p50_us));
    let p99 = series(&|w| Some(w.p99_us));
    let span = |v: &[u64]| {
        (
            v.iter().min().copied().unwrap_or(0),
            v.iter().max().copied().unwrap_or(0),
        )
    };
    if !cpu.is_empty() {
        let (lo, hi) = span(&cpu);
        println!(
            "broker CPU (steady windows): {}–{} % of one core",
            per_mille(lo),
            per_mille(hi)
        );
    }
    if let (Some(first), Some(last)) = (rss.first(), rss.last()) {
        let (lo, hi) = span(&rss);
        println!(
            "broker RSS (steady windows): {}–{} MiB, first {} → last {} MiB",
            lo / 1024,
            hi / 1024,
            first / 1024,
            last / 1024
        );
    }
    let (lo, hi) = span(&p50);
    println!("end-to-end p50 (steady windows): {}–{} ms", ms(lo), ms(hi));
    let (lo, hi) = span(&p99);
    println!("end-to-end p99 (steady windows): {}–{} ms", ms(lo), ms(hi));
    let verdicts = [
        (
            "broker RSS",
            rss.first()
                .zip(rss.last())
                .is_none_or(|(f, l)| l.saturating_sub(*f) * 10 <= *f),
        ),
        ("broker CPU", grows_less_than_half(&cpu)),
        ("p50", grows_less_than_half(&p50)),
        ("p99", grows_less_than_half(&p99)),
    ];
    let growing: Vec<&str> = verdicts
        .iter()
        .filter(|(_, flat)| !flat)
        .map(|(name, _)| *name)
        .collect();
    println!(
        "flat (last steady RSS within 10 % of the first; median CPU, p50 and p99 of the last third \
         of the windows under 1.5× those of the first third): {}",
        if growing.is_empty() {
            "yes".to_owned()
        } else {
            format!("no — {} grew", growing.join(", "))
        }
    );
}

/// Whether the median of the last third of `values` stays under 1.5× the median of the first
/// third (a trend, not one noisy window).
fn grows_less_than_half(values: &[u64]) -> bool {
    let third = values.len() / 3;
    if third == 0 {
        return true;
    }
    let median = |part: &[u64]| {
        let mut part = part.to_vec();
        part.sort_unstable();
        part[part.len() / 2]
    };
    let (first, last) = (
        median(&values[..third]),
        median(&values[values.len() - third..]),
    );
    last * 2 < first.max(1) * 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_a_command_name_with_spaces() {
        let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0";
        assert_eq!(cpu_ticks(stat), Some(175));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn rss_is_read_from_status() {
        assert_eq!(
            rss_kib("Name:\tx\nVmRSS:\t  41234 kB\nThreads: 3\n"),
            Some(41_234)
        );
        assert_eq!(rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn a_trend_not_one_noisy_window_makes_a_series_grow() {
        assert!(grows_less_than_half(&[10, 11, 10, 40, 10, 11]));
        assert!(!grows_less_than_half(&[10, 11, 12, 14, 16, 18]));
        assert!(grows_less_than_half(&[5, 5]));
    }

    #[test]
    fn cpu_share_is_per_mille_of_one_core() {
        let before = ProcessSample {
            ticks: 100,
            rss_kib: 0,
        };
        let after = ProcessSample {
            ticks: 350,
            rss_kib: 0,
        };
        // 250 ticks = 2.5 s of CPU in 10 s: 25 %.
        assert_eq!(cpu_per_mille(before, after, Duration::from_secs(10)), 250);
    }
}
