//! One DFSP's share of the callback sender: its in-flight limit, its queue of callbacks waiting
//! (retries, and first attempts that found it at its limit or its circuit open), and its circuit
//! breaker. Lanes are keyed by recipient participant, so what one DFSP does to its endpoints
//! — hang, refuse, answer slowly — only ever uses up its own lane.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Per-DFSP limits (docs/callbacks.md#one-dfsp-cannot-starve-the-others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneLimits {
    /// Requests on the wire to one DFSP at once.
    pub max_in_flight: usize,
    /// Callbacks waiting for one DFSP at once; a callback that finds it full is dropped.
    pub queue_capacity: usize,
    /// Longest a batch waits for a DFSP to take a callback (a slot, a connection); after that
    /// the DFSP is behind and the batch no longer waits for it.
    pub max_wait: Duration,
    /// Consecutive failed attempts that open the circuit (0: never).
    pub circuit_failures: u32,
    /// How long an open circuit stays open before one probe may go.
    pub circuit_open_for: Duration,
}

/// What the breaker lets an attempt do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Go,
    /// Go, as the one request that decides whether the circuit closes again.
    Probe,
    WaitUntil(Instant),
    /// A probe is on the wire; wait for its result.
    WaitForProbe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// A change of the circuit, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Opened,
    Closed,
}

/// The circuit breaker of one DFSP: after `threshold` consecutive failed attempts (connection
/// errors, timeouts, 5xx, 429) no request goes to the DFSP for `open_for`; then a single probe
/// decides: any answer closes the circuit, a failure opens it again. Pure: time is passed in.
#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    open_for: Duration,
    failures: u32,
    state: State,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            threshold,
            open_for,
            failures: 0,
            state: State::Closed,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    pub(crate) fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            State::Closed => Admission::Go,
            State::Open { until } if now < until => Admission::WaitUntil(until),
            State::Open { .. } | State::HalfOpen { probing: false } => {
                self.state = State::HalfOpen { probing: true };
                Admission::Probe
            }
            State::HalfOpen { probing: true } => Admission::WaitForProbe,
        }
    }

    /// Records an attempt's result: `answered` is any HTTP answer (the DFSP is there), else a
    /// retryable failure.
    pub(crate) fn record(&mut self, answered: bool, probe: bool, now: Instant) -> Option<Change> {
        if answered {
            self.failures = 0;
            let was_closed = self.is_closed();
            self.state = State::Closed;
            return (!was_closed).then_some(Change::Closed);
        }
        self.failures = self.failures.saturating_add(1);
        let trips = self.is_closed() && self.threshold > 0 && self.failures >= self.threshold;
        if probe || trips {
            self.state = State::Open {
                until: now + self.open_for,
            };
            return trips.then_some(Change::Opened);
        }
        None
    }

    /// A probe ended without a result (abandoned, or its callback gave up): let another go.
    pub(crate) fn probe_dropped(&mut self) {
        if self.state == (State::HalfOpen { probing: true }) {
            self.state = State::HalfOpen { probing: false };
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One DFSP's lane.
#[derive(Debug)]
pub(crate) struct Lane {
    pub(crate) name: String,
    limits: LaneLimits,
    permits: Arc<Semaphore>,
    in_flight: AtomicUsize,
    queued: AtomicUsize,
    breaker: Mutex<Breaker>,
    /// Callbacks waiting for this DFSP (for the circuit, a free slot, a connection): ticket →
    /// since when. The oldest one tells whether the DFSP is behind.
    waiting: Mutex<BTreeMap<u64, Instant>>,
    next_ticket: AtomicU64,
    /// Woken when the circuit changes.
    pub(crate) changed: Notify,
    in_flight_gauge: metrics::Gauge,
    queued_gauge: metrics::Gauge,
    circuit_gauge: metrics::Gauge,
    circuit_opened: metrics::Counter,
}

impl Lane {
    pub(crate) fn new(name: &str, limits: LaneLimits) -> Self {
        Self {
            name: name.to_owned(),
            limits,
            permits: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            in_flight: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            breaker: Mutex::new(Breaker::new(
                limits.circuit_failures,
                limits.circuit_open_for,
            )),
            waiting: Mutex::new(BTreeMap::new()),
            next_ticket: AtomicU64::new(0),
            changed: Notify::new(),
            in_flight_gauge: metrics::gauge!("ferroloop_callback_in_flight", "dfsp" => name.to_owned()),
            queued_gauge: metrics::gauge!("ferroloop_callback_queued", "dfsp" => name.to_owned()),
            circuit_gauge: metrics::gauge!("ferroloop_callback_circuit_open", "dfsp" => name.to_owned()),
            circuit_opened: metrics::counter!("ferroloop_callback_circuit_opened_total", "dfsp" => name.to_owned()),
        }
    }

    /// A slot now, if the circuit is closed and the DFSP is below its limit (never waits).
    pub(crate) fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        if !lock(&self.breaker).is_closed() {
            return None;
        }
        Arc::clone(&self.permits).try_acquire_owned().ok()
    }

    /// Waits for a slot (in order of arrival).
    pub(crate) async fn slot(&self) -> OwnedSemaphorePermit {
        // The semaphore is never closed.
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .expect("lane semaphore is never closed")
    }

    pub(crate) fn admit(&self, now: Instant) -> Admission {
        lock(&self.breaker).admit(now)
    }

    /// Records an attempt's result on the circuit.
    pub(crate) fn record(&self, answered: bool, probe: bool) {
        let change = lock(&self.breaker).record(answered, probe, Instant::now());
        match change {
            Some(Change::Opened) => {
                tracing::warn!(recipient = %self.name, failures = self.limits.circuit_failures,
                    open_ms = self.limits.circuit_open_for.as_millis() as u64,
                    "callback circuit opened: no requests to this DFSP until a probe succeeds");
                self.circuit_opened.increment(1);
                self.circuit_gauge.set(1.0);
            }
            Some(Change::Closed) => {
                tracing::info!(recipient = %self.name, "callback circuit closed: the DFSP answers again");
                self.circuit_gauge.set(0.0);
            }
            None => {}
        }
        self.changed.notify_waiters();
    }

    pub(crate) fn probe_dropped(&self) {
        lock(&self.breaker).probe_dropped();
        self.changed.notify_waiters();
    }

    /// Registers a callback waiting for this DFSP; it leaves when dropped.
    pub(crate) fn wait_ticket(self: &Arc<Self>) -> WaitTicket {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        lock(&self.waiting).insert(ticket, Instant::now());
        WaitTicket {
            lane: Arc::clone(self),
            ticket,
        }
    }

    /// Whether the DFSP keeps up at `now`: `Some(when to ask again)` if so, `None` if it is
    /// behind — its circuit is not closed, or an attempt has waited for it longer than
    /// `max_wait`.
    pub(crate) fn keeps_up(&self, now: Instant) -> Option<Instant> {
        if !lock(&self.breaker).is_closed() {
            return None;
        }
        let oldest = lock(&self.waiting).values().next().copied();
        let Some(oldest) = oldest else {
            return Some(now + self.limits.max_wait);
        };
        let deadline = oldest + self.limits.max_wait;
        (now < deadline).then_some(deadline)
    }

    /// Takes a place in the queue, unless it is full.
    pub(crate) fn try_queue(&self) -> bool {
        let capacity = self.limits.queue_capacity;
        let taken = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < capacity).then_some(n + 1)
            })
            .is_ok();
        if taken {
            self.show_queued();
        }
        taken
    }

    pub(crate) fn unqueue(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        self.show_queued();
    }

    fn show_queued(&self) {
        self.queued_gauge
            .set(self.queued.load(Ordering::Relaxed) as f64);
    }

    pub(crate) fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.show_in_flight();
    }

    pub(crate) fn finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.show_in_flight();
    }

    fn show_in_flight(&self) {
        self.in_flight_gauge
            .set(self.in_flight.load(Ordering::Relaxed) as f64);
    }
}

/// A callback waiting for its DFSP (see [`Lane::keeps_up`]).
#[derive(Debug)]
pub(crate) struct WaitTicket {
    lane: Arc<Lane>,
    ticket: u64,
}

impl Drop for WaitTicket {
    fn drop(&mut self) {
        lock(&self.lane.waiting).remove(&self.ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_circuit_opens_after_the_threshold_and_one_probe_decides() {
        let now = Instant::now();
        let open_for = Duration::from_secs(5);
        let mut breaker = Breaker::new(3, open_for);
        assert_eq!(breaker.record(false, false, now), None);
        assert_eq!(breaker.record(false, false, now), None);
        assert_eq!(breaker.admit(now), Admission::Go);
        assert_eq!(breaker.record(false, false, now), Some(Change::Opened));
        assert_eq!(breaker.admit(now), Admission::WaitUntil(now + open_for));
        // Open time over: one probe, the others wait for it.
        let later = now + open_for;
        assert_eq!(breaker.admit(later), Admission::Probe);
        assert_eq!(breaker.admit(later), Admission::WaitForProbe);
        // The probe fails: open again, for the full time.
        assert_eq!(breaker.record(false, true, later), None);
        assert_eq!(breaker.admit(later), Admission::WaitUntil(later + open_for));
        // A probe that is dropped without a result lets another one go.
        let again = later + open_for;
        assert_eq!(breaker.admit(again), Admission::Probe);
        breaker.probe_dropped();
        assert_eq!(breaker.admit(again), Admission::Probe);
        // Any answer closes the circuit and resets the count.
        assert_eq!(breaker.record(true, true, again), Some(Change::Closed));
        assert_eq!(breaker.admit(again), Admission::Go);
        assert_eq!(breaker.record(false, false, again), None);
        assert!(breaker.is_closed());
    }

    #[test]
    fn a_zero_threshold_never_opens() {
        let now = Instant::now();
        let mut breaker = Breaker::new(0, Duration::from_secs(1));
        for _ in 0..100 {
            assert_eq!(breaker.record(false, false, now), None);
        }
        assert_eq!(breaker.admit(now), Admission::Go);
    }

    #[test]
    fn a_dfsp_is_behind_once_an_attempt_waited_longer_than_the_limit() {
        let limits = LaneLimits {
            max_in_flight: 1,
            queue_capacity: 2,
            max_wait: Duration::from_millis(200),
            circuit_failures: 1,
            circuit_open_for: Duration::from_secs(5),
        };
        let lane = Arc::new(Lane::new("dfsp", limits));
        let now = Instant::now();
        assert!(lane.keeps_up(now).is_some());
        let ticket = lane.wait_ticket();
        let deadline = lane.keeps_up(Instant::now()).expect("keeps up");
        assert!(deadline <= Instant::now() + limits.max_wait);
        assert_eq!(lane.keeps_up(deadline), None);
        drop(ticket);
        assert!(lane.keeps_up(deadline).is_some());
        // An open circuit: behind at once.
        lane.record(false, false);
        assert_eq!(lane.keeps_up(Instant::now()), None);
        assert!(lane.try_slot().is_none());
        // The queue is bounded.
        assert!(lane.try_queue() && lane.try_queue());
        assert!(!lane.try_queue());
        lane.unqueue();
        assert!(lane.try_queue());
    }
}
