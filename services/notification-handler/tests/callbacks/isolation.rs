//! One DFSP cannot starve the others: a DFSP that accepts connections and never answers holds
//! at most its own share of the handler (docs/callbacks.md#one-dfsp-cannot-starve-the-others).

use std::time::Duration;

use ferroloop_notification_handler::CallbackArgs;
use tokio::time::Instant;

use crate::harness::*;

const HEALTHY: [&str; 4] = ["dfspa", "dfspb", "dfspc", "dfspd"];
const HANGING: &str = "dfsphang";
/// Callbacks per DFSP in one wave.
const PER_DFSP: usize = 2;
/// Waves measured per hub: 2,400 healthy callbacks each, so the p99 is the 24th worst and one
/// batch that waited for the hanging DFSP once (`CALLBACK_MAX_WAIT_PER_DFSP_MS`, 8 callbacks)
/// does not make it.
const WAVES: usize = 300;
/// The hanging DFSP's attempts time out after this (`CALLBACK_TIMEOUT_MS`'s default); the run
/// lasts at least three of them, so timeouts, retries and the circuit opening all happen while
/// the others are measured.
const TIMEOUT_MS: u64 = 5_000;
/// Measuring stops here even if fewer waves were made (a hub that waits for the hanging DFSP
/// makes one wave per timeout).
const BUDGET: Duration = Duration::from_secs(120);

/// The 99th percentile.
fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let rank = (samples.len() * 99).div_ceil(100);
    samples[rank.saturating_sub(1)]
}

/// A notification handler with four healthy DFSPs, and perhaps one that hangs.
struct Hub {
    h: Harness,
    healthy: Vec<(&'static str, Sim)>,
    hang: Option<Hang>,
}

impl Hub {
    async fn start(with_hanging_dfsp: bool) -> Hub {
        let h = Harness::start_with(|c| c.callbacks.timeout_ms = TIMEOUT_MS).await;
        let mut healthy = Vec::new();
        for name in HEALTHY {
            let sim = Sim::start().await;
            h.dfsp(name, &sim).await;
            healthy.push((name, sim));
        }
        let hang = if with_hanging_dfsp {
            let hang = Hang::start().await;
            let id = h.participant(HANGING).await;
            h.point_endpoints(id, HANGING, &hang.url()).await;
            Some(hang)
        } else {
            None
        };
        Hub { h, healthy, hang }
    }

    /// One wave: two callbacks to every healthy DFSP and, with `hang`, to the hanging one
    /// (first, in the same batch), produced together; returns each healthy callback's latency
    /// from the produce to its arrival at the DFSP. The next wave starts when all of them have
    /// arrived.
    async fn wave(&mut self, hang: bool) -> Vec<Duration> {
        let mut envelopes = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..PER_DFSP {
            if hang && self.hang.is_some() {
                envelopes.push(expired_error_to(&new_id(), HANGING));
            }
            for (name, sim) in &self.healthy {
                let id = new_id();
                envelopes.push(expired_error_to(&id, name));
                expected.push((sim, id));
            }
        }
        let produced = Instant::now();
        self.h.send(&envelopes).await;
        let mut latencies = Vec::with_capacity(expected.len());
        for (sim, id) in expected {
            let arrived = sim.one(&id).await.at;
            latencies.push(arrived - produced);
        }
        latencies
    }
}

/// Two hubs run side by side, one with a DFSP that accepts connections and never answers; their
/// waves alternate, so both see the same machine (a shared 2-core box is noisy, and only one hub
/// is busy at a time) and the comparison is of the hanging DFSP alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_dfsp_does_not_slow_the_others_callbacks() {
    let mut calm = Hub::start(false).await;
    let mut hung = Hub::start(true).await;
    // Warm-up, the hanging DFSP not called yet: both consumers have joined, connections are
    // open, endpoints cached.
    for _ in 0..20 {
        calm.wave(false).await;
        hung.wave(false).await;
    }
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let (started, mut waves, mut most_in_flight) = (Instant::now(), 0, 0);
    let enough = |waves, elapsed| {
        (waves >= WAVES && elapsed >= Duration::from_millis(3 * TIMEOUT_MS)) || elapsed >= BUDGET
    };
    while !enough(waves, started.elapsed()) {
        without.extend(calm.wave(false).await);
        with.extend(hung.wave(true).await);
        waves += 1;
        if waves % 10 == 0 {
            let in_flight = hung
                .h
                .metric("ferroloop_callback_in_flight", &[("dfsp", HANGING)])
                .await;
            most_in_flight = most_in_flight.max(in_flight);
        }
    }
    let (p99_without, p99_with) = (p99(without), p99(with));
    let hang = hung.hang.as_ref().unwrap();
    eprintln!(
        "healthy callback latency p99: {p99_without:?} without the hanging DFSP, \
         {p99_with:?} with it ({waves} waves, {} connections to it)",
        hang.connections()
    );
    assert!(
        p99_with <= 2 * p99_without,
        "p99 {p99_with:?} with a hanging DFSP > twice {p99_without:?} without"
    );
    // The hanging DFSP held its own share and no more, and was cut off.
    let limits = CallbackArgs::DEFAULT;
    assert!(hang.connections() > 0, "the hanging DFSP was called");
    assert!(most_in_flight > 0 && most_in_flight <= limits.max_in_flight_per_dfsp as u64);
    let h = &hung.h;
    let queued = h
        .metric("ferroloop_callback_queued", &[("dfsp", HANGING)])
        .await;
    assert!(queued <= limits.queue_capacity_per_dfsp as u64);
    let opened = h
        .metric(
            "ferroloop_callback_circuit_opened_total",
            &[("dfsp", HANGING)],
        )
        .await;
    assert!(opened >= 1, "{}", h.metrics_text().await);
    for name in HEALTHY {
        let dropped = h
            .metric("ferroloop_callback_dropped_total", &[("dfsp", name)])
            .await;
        assert_eq!(dropped, 0, "{name}");
    }
}
