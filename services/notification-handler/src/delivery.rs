//! Sending callbacks: a pooled keep-alive HTTP/1.1 client, one lane per recipient DFSP
//! (`lane.rs`: its in-flight limit, its queue, its circuit breaker), the first attempt of every
//! callback started from the batch, and retries from the DFSP's queue.
//!
//! **Guarantee.** The batch loop stores a batch's offsets only after the first attempt of every
//! callback of the batch is answered (or failed before it got on the wire), or its DFSP is behind
//! (below), so each callback is attempted at least once, even across a crash (a crash before the
//! offsets are stored replays the batch and sends its callbacks again; DFSPs see an occasional
//! duplicate callback, which FSPIOP callbacks tolerate: they carry the transfer's state, keyed by
//! its id). A callback whose fate is still open then — its first attempt failed, or its DFSP is
//! behind — goes on in its DFSP's lane (retries, queue, circuit) and its fate is tracked
//! ([`Delivery::hand_over`]); the batch writes a retry record of it to the retry topic with its
//! output, so a crash does not lose it: the next process resumes it (`crate::retry`). A clean
//! shutdown waits for what is pending at most `CALLBACK_SHUTDOWN_GRACE_MS` and then abandons the
//! rest (counted), which the next start resumes from the records likewise.
//!
//! **Retry policy.** Retried: connection errors, timeouts, other transport errors, HTTP 5xx and
//! 429. Not retried: any other non-2xx status (4xx, and 3xx — redirects are not followed), and an
//! endpoint whose address the hub does not call (link-local, cloud metadata; checked on every
//! address the host name resolves to when connecting). Delays grow from `initial_delay` by
//! `factor` up to `max_delay`; a callback is attempted at most `max_attempts` times, and no
//! attempt starts later than `max_total` after the callback was handed over, nor after the
//! transfer's expiry plus `expiry_grace` where the expiry is known (a forwarded prepare).
//!
//! **Isolation.** Each recipient DFSP has its own lane: at most `lanes.max_in_flight` requests on
//! the wire and at most `lanes.queue_capacity` callbacks waiting; a callback that finds its
//! DFSP's queue (or the queue of all DFSPs, `retry_queue_capacity`) full is dropped and counted.
//! A DFSP is *behind* when its circuit is open or one of its callbacks waited for it (for a free
//! slot, a connection, or an answer) longer than `lanes.max_wait`; the batch then leaves its
//! callbacks to its lane and moves on. So a DFSP that hangs holds its own slots and queue, and the first
//! attempts to the other DFSPs go out as before: never behind its retries, never behind its
//! timeouts.

mod client;
mod fates;
mod lane;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use ferroloop_fspiop::endpoint::{AddressPolicy, redacted};
use ferroloop_tls::rustls::ClientConfig;
use ferroloop_tls::{ClientFiles, Reloading};
use http::{HeaderName, HeaderValue, Method, Uri};
use http_body_util::{BodyExt as _, Limited};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::matrix::Kind;
pub use client::HostLookup;
use client::{Attempt, HttpClient, OnWire, SentBody, classify, error_chain, is_refused};
pub use fates::Fate;
use fates::Fates;
pub use lane::LaneLimits;
use lane::{Admission, Lane};

/// Largest response body read (and discarded) so a connection can be reused.
const RESPONSE_BODY_LIMIT: usize = 64 * 1024;
/// How long reading a response body may take after its status arrived.
const RESPONSE_DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// A deadline "never" (an `Instant` cannot be far in the future on every platform).
const NEVER: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The retry policy (see the module documentation).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub initial_delay: Duration,
    pub factor: u32,
    pub max_delay: Duration,
    /// Attempts in all, the first one included (1 = no retry).
    pub max_attempts: u32,
    pub max_total: Duration,
    pub expiry_grace: Duration,
}

impl RetryPolicy {
    /// The delay before attempt `attempts + 1`, after `attempts` failed ones.
    pub fn delay_after(&self, attempts: u32) -> Duration {
        let mut delay = self.initial_delay.min(self.max_delay);
        for _ in 1..attempts {
            delay = delay.saturating_mul(self.factor).min(self.max_delay);
        }
        delay
    }
}

/// Client, concurrency and retry settings.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    pub pool_idle_timeout: Duration,
    /// Requests on the wire at once, all DFSPs together.
    pub max_in_flight: usize,
    pub retry: RetryPolicy,
    /// Callbacks waiting at once, all DFSPs together.
    pub retry_queue_capacity: usize,
    /// Each DFSP's share.
    pub lanes: LaneLimits,
    /// Addresses the hub does not call, with the operator's exceptions.
    pub address_policy: AddressPolicy,
    /// Host name lookups instead of the system resolver (embedding, tests).
    pub lookup: Option<HostLookup>,
    /// Client certificate and CA bundle of `https` callbacks.
    pub tls: ClientFiles,
}

/// A callback ready to go on the wire.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub kind: Kind,
    pub method: Method,
    pub uri: Uri,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// No attempt starts after this instant (the transfer's expiry plus the grace), if known.
    pub not_after: Option<Instant>,
    pub transfer_id: String,
    pub recipient: String,
}

/// The final outcome of a callback (the `outcome` label of `ferroloop_callbacks_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered,
    /// A status that is not retried (4xx but 429, 3xx, 1xx).
    Rejected,
    /// Retryable failures until the policy gave up.
    Failed,
    /// The recipient has no endpoint of the type needed.
    NoEndpoint,
    /// The message names no recipient for this callback.
    NoRecipient,
    /// The request could not be built (bad endpoint template or URL, unsendable header).
    Invalid,
    /// Its DFSP's queue (or the queue of all DFSPs) was full when it had to wait.
    Dropped,
    /// Still pending at the end of the shutdown grace.
    Abandoned,
    /// The endpoint's host is, or resolves to, an address the hub does not call.
    RefusedAddress,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
            Outcome::NoEndpoint => "no_endpoint",
            Outcome::NoRecipient => "no_recipient",
            Outcome::Invalid => "invalid",
            Outcome::Dropped => "dropped",
            Outcome::Abandoned => "abandoned",
            Outcome::RefusedAddress => "refused_address",
        }
    }
}

/// Where a callback is when [`Delivery::deliver`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handoff {
    /// Its first attempt is on the wire (or already failed).
    Sent,
    /// Its DFSP is behind: the callback goes on without the batch (connecting, or waiting in
    /// the DFSP's queue).
    Behind,
    /// Not sent, and never will be.
    Dropped,
}

/// Counts a callback's final outcome and how many attempts it took.
pub fn record_outcome(kind: Kind, outcome: Outcome, attempts: u32) {
    metrics::counter!("ferroloop_callbacks_total", "kind" => kind.label(), "outcome" => outcome.label())
        .increment(1);
    if attempts > 0 {
        metrics::histogram!("ferroloop_callback_attempts", "kind" => kind.label(), "outcome" => outcome.label())
            .record(f64::from(attempts));
    }
}

/// A callback and its progress.
struct Job {
    outgoing: Outgoing,
    started: Instant,
    attempts: u32,
    /// The id of its retry record, if its fate is tracked ([`Delivery::hand_over`]).
    tracked: Option<Arc<str>>,
}

impl Job {
    /// No attempt starts after this.
    fn deadline(&self, policy: &RetryPolicy) -> Instant {
        let total = policy.max_total.min(NEVER);
        let latest = self.started + total;
        self.outgoing.not_after.map_or(latest, |n| n.min(latest))
    }
}

/// The right to put one request on the wire to a DFSP: its lane's slot and a slot of the
/// whole handler, and whether it is the probe of an open circuit.
struct InFlight {
    lane: Arc<Lane>,
    _slot: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
    probe: bool,
}

impl InFlight {
    fn new(
        lane: &Arc<Lane>,
        slot: OwnedSemaphorePermit,
        global: OwnedSemaphorePermit,
        probe: bool,
    ) -> Self {
        lane.started();
        Self {
            lane: Arc::clone(lane),
            _slot: slot,
            _global: global,
            probe,
        }
    }

    /// Tells the circuit how the attempt went.
    fn record(&mut self, result: Attempt) {
        let probe = std::mem::take(&mut self.probe);
        match result {
            Attempt::Success | Attempt::Permanent => self.lane.record(true, probe),
            Attempt::Retryable => self.lane.record(false, probe),
            Attempt::Refused if probe => self.lane.probe_dropped(),
            Attempt::Refused => {}
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.probe {
            self.lane.probe_dropped();
        }
        self.lane.finished();
    }
}

/// A probe admitted by the circuit that has no request slot yet.
struct ProbeClaim(Option<Arc<Lane>>);

impl Drop for ProbeClaim {
    fn drop(&mut self) {
        if let Some(lane) = self.0.take() {
            lane.probe_dropped();
        }
    }
}

/// A place in a DFSP's queue and in the queue of all DFSPs; given back when dropped.
struct Queued {
    lane: Arc<Lane>,
    total: Arc<AtomicUsize>,
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.lane.unqueue();
        self.total.fetch_sub(1, Ordering::Relaxed);
        pending_gauge(&self.total);
    }
}

fn pending_gauge(total: &AtomicUsize) {
    metrics::gauge!("ferroloop_callback_retries_pending").set(total.load(Ordering::Relaxed) as f64);
}

/// How a callback's next attempt gets its slot.
enum Start {
    Now(InFlight),
    Queued(Queued),
}

/// Why a waiting callback ends without another attempt.
#[derive(Clone, Copy)]
enum Ended {
    /// Its retry deadline passed while it waited for its DFSP.
    Expired,
    Abandoned,
}

/// A callback handed over with its fate tracked: its record's id, the attempts made so far and
/// when the first one started.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub id: Arc<str>,
    pub attempts: u32,
    pub started: Instant,
}

/// The callback sender. Cheap to clone.
#[derive(Clone)]
pub struct Delivery {
    inner: Arc<Inner>,
}

struct Inner {
    /// The client of the TLS configuration's generation it was built for.
    client: std::sync::RwLock<(u64, HttpClient)>,
    tls: Arc<Reloading<ClientConfig>>,
    permits: Arc<Semaphore>,
    config: DeliveryConfig,
    tasks: TaskTracker,
    abandon: CancellationToken,
    /// Callbacks waiting, all DFSPs together.
    pending: Arc<AtomicUsize>,
    lanes: Mutex<HashMap<String, Arc<Lane>>>,
    fates: Fates,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("config", &self.inner.config)
            .field("pending_retries", &self.pending_retries())
            .finish_non_exhaustive()
    }
}

impl Delivery {
    pub fn new(config: DeliveryConfig) -> Result<Self, ferroloop_tls::TlsError> {
        let files = config.tls.clone();
        let tls = Arc::new(Reloading::new(
            "callback client",
            files.paths(),
            move || ferroloop_tls::client_config(&files),
        )?);
        let client = client::build(&config, (*tls.current()).clone());
        // Exported from the start, so dashboards and alerts see 0 rather than no series.
        let pending = Arc::new(AtomicUsize::new(0));
        pending_gauge(&pending);
        Ok(Self {
            inner: Arc::new(Inner {
                client: std::sync::RwLock::new((0, client)),
                tls,
                permits: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
                config,
                tasks: TaskTracker::new(),
                abandon: CancellationToken::new(),
                pending,
                lanes: Mutex::new(HashMap::new()),
                fates: Fates::default(),
            }),
        })
    }

    /// The callback TLS configuration, for its reload task.
    pub fn tls(&self) -> Arc<Reloading<ClientConfig>> {
        Arc::clone(&self.inner.tls)
    }

    /// The client of the current TLS configuration: rebuilt (with an empty pool, so new
    /// connections use the new files) after a reload. Connections of the old pool finish
    /// their requests and close.
    fn client(&self) -> HttpClient {
        let generation = self.inner.tls.generation();
        {
            let current = self
                .inner
                .client
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if current.0 == generation {
                return current.1.clone();
            }
        }
        let client = client::build(&self.inner.config, (*self.inner.tls.current()).clone());
        let mut current = self
            .inner
            .client
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *current = (generation, client.clone());
        client
    }

    /// Callbacks waiting (for a retry, a free slot or an open circuit), all DFSPs together.
    pub fn pending_retries(&self) -> usize {
        self.inner.pending.load(Ordering::Relaxed)
    }

    /// The lane of a recipient DFSP.
    fn lane(&self, recipient: &str) -> Arc<Lane> {
        let mut lanes = self
            .inner
            .lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            lanes
                .entry(recipient.to_owned())
                .or_insert_with(|| Arc::new(Lane::new(recipient, self.inner.config.lanes))),
        )
    }

    /// Hands a callback over: starts its first attempt (or queues it, if its DFSP is at its limit
    /// or its circuit is open) and returns once the request is on the wire — or as soon as the
    /// DFSP is behind, leaving the callback to its queue. Answers and retries are handled in the
    /// background.
    pub async fn deliver(&self, outgoing: Outgoing) -> Handoff {
        let job = Job {
            outgoing,
            started: Instant::now(),
            attempts: 0,
            tracked: None,
        };
        self.start(job, None).await
    }

    /// Hands over a callback whose fate is tracked under `tracked.id` (its retry record's id):
    /// like [`Delivery::deliver`], then waits for the answer to this first attempt as long as
    /// the DFSP keeps up, and returns what is known of it. `tracked.attempts` were made before
    /// (by a process that crashed), `tracked.started` is when the first one was.
    pub async fn hand_over(&self, outgoing: Outgoing, tracked: Tracked) -> Fate {
        self.inner.fates.track(&tracked.id, tracked.attempts);
        let lane = self.lane(&outgoing.recipient);
        let job = Job {
            outgoing,
            started: tracked.started,
            attempts: tracked.attempts,
            tracked: Some(Arc::clone(&tracked.id)),
        };
        let (answered, answer) = oneshot::channel();
        if self.start(job, Some(answered)).await == Handoff::Sent {
            // The sender is dropped once the attempt's fate is recorded (or never will be).
            wait_while_keeping_up(&lane, answer).await;
        }
        self.fate(&tracked.id).unwrap_or(Fate::Settled)
    }

    /// What this process knows of a tracked callback; `None`: not tracked here.
    pub fn fate(&self, id: &str) -> Option<Fate> {
        self.inner.fates.get(id)
    }

    /// Stops tracking a callback (its record is written, or no longer needed).
    pub fn forget(&self, id: &str) {
        self.inner.fates.forget(id);
    }

    async fn start(&self, job: Job, answered: Option<oneshot::Sender<()>>) -> Handoff {
        let lane = self.lane(&job.outgoing.recipient);
        let (sent, on_wire) = oneshot::channel();
        let pending = OnWire {
            sent,
            waiting: lane.wait_ticket(),
        };
        let start = match self.try_start(&lane) {
            Some(in_flight) => Start::Now(in_flight),
            None => match self.queue(&lane, &job) {
                Some(queued) => Start::Queued(queued),
                None => return Handoff::Dropped,
            },
        };
        self.spawn(&lane, job, start, pending, answered);
        // Also while it connects: a DFSP that does not even accept connections is behind too.
        if wait_while_keeping_up(&lane, on_wire).await {
            Handoff::Sent
        } else {
            Handoff::Behind
        }
    }

    /// Waits for pending callbacks at most `grace`, then abandons what is left.
    pub async fn shutdown(&self, grace: Duration) {
        let tasks = &self.inner.tasks;
        tasks.close();
        if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
            tracing::warn!(
                pending = self.pending_retries(),
                "shutdown grace over: abandoning pending callbacks"
            );
            self.inner.abandon.cancel();
            tasks.wait().await;
        }
    }

    /// Slots for a request now, if the DFSP's circuit is closed and both it and the handler are
    /// below their limits.
    fn try_start(&self, lane: &Arc<Lane>) -> Option<InFlight> {
        let slot = lane.try_slot()?;
        let global = Arc::clone(&self.inner.permits).try_acquire_owned().ok()?;
        Some(InFlight::new(lane, slot, global, false))
    }

    /// A place in the DFSP's queue and in the queue of all; `None` (dropped, counted) if full.
    fn queue(&self, lane: &Arc<Lane>, job: &Job) -> Option<Queued> {
        if !lane.try_queue() {
            self.dropped(lane, job, "dfsp_queue_full");
            return None;
        }
        let capacity = self.inner.config.retry_queue_capacity;
        let total = &self.inner.pending;
        if total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < capacity).then_some(n + 1)
            })
            .is_err()
        {
            lane.unqueue();
            self.dropped(lane, job, "queue_full");
            return None;
        }
        pending_gauge(total);
        Some(Queued {
            lane: Arc::clone(lane),
            total: Arc::clone(total),
        })
    }

    fn dropped(&self, lane: &Lane, job: &Job, reason: &'static str) {
        let outgoing = &job.outgoing;
        if let Some(id) = &job.tracked {
            // Tracked: its retry record holds it instead of memory.
            tracing::info!(transfer_id = %outgoing.transfer_id, recipient = %outgoing.recipient,
                kind = outgoing.kind.label(), attempts = job.attempts, reason,
                "callback queue full; callback deferred to its retry record");
            metrics::counter!("ferroloop_callback_deferred_total", "dfsp" => lane.name.clone(), "reason" => reason)
                .increment(1);
            self.inner.fates.defer(id, job.attempts);
            return;
        }
        tracing::warn!(transfer_id = %outgoing.transfer_id, recipient = %outgoing.recipient,
            kind = outgoing.kind.label(), attempts = job.attempts, reason,
            "callback queue full; callback dropped");
        metrics::counter!("ferroloop_callback_dropped_total", "dfsp" => lane.name.clone(), "reason" => reason)
            .increment(1);
        record_outcome(outgoing.kind, Outcome::Dropped, job.attempts);
        self.settle(job);
    }

    fn spawn(
        &self,
        lane: &Arc<Lane>,
        job: Job,
        start: Start,
        on_wire: OnWire,
        answered: Option<oneshot::Sender<()>>,
    ) {
        let (this, lane) = (self.clone(), Arc::clone(lane));
        self.inner
            .tasks
            .spawn(async move { this.run(lane, job, start, on_wire, answered).await });
    }

    /// A callback's attempts until success, a final answer, or the policy gives up. `answered`
    /// is dropped once the first attempt's fate is recorded.
    async fn run(
        &self,
        lane: Arc<Lane>,
        mut job: Job,
        start: Start,
        on_wire: OnWire,
        mut answered: Option<oneshot::Sender<()>>,
    ) {
        let mut on_wire = Some(on_wire);
        let mut next = Some(start);
        while let Some(start) = next.take() {
            let mut in_flight = match start {
                Start::Now(in_flight) => in_flight,
                Start::Queued(queued) => match self.admit(&lane, &job).await {
                    Ok(in_flight) => {
                        drop(queued);
                        in_flight
                    }
                    Err(ended) => return self.ended(&job, ended),
                },
            };
            // An attempt whose answer takes longer than `lanes.max_wait` makes its DFSP behind
            // too: a DFSP that takes requests and never answers holds no batch back.
            let answering = lane.wait_ticket();
            let result = tokio::select! {
                () = self.inner.abandon.cancelled() => return self.ended(&job, Ended::Abandoned),
                result = self.attempt(&job.outgoing, job.attempts + 1, on_wire.take()) => result,
            };
            drop(answering);
            job.attempts += 1;
            in_flight.record(result);
            let outcome = match result {
                Attempt::Success => Outcome::Delivered,
                Attempt::Permanent => Outcome::Rejected,
                Attempt::Refused => Outcome::RefusedAddress,
                Attempt::Retryable => {
                    if let Some(id) = &job.tracked {
                        self.inner.fates.attempted(id, job.attempts);
                    }
                    drop(answered.take());
                    next = self.retry_later(&lane, &job, in_flight).await;
                    continue;
                }
            };
            if outcome == Outcome::Delivered {
                self.delivered(&job);
            } else {
                record_outcome(job.outgoing.kind, outcome, job.attempts);
                self.settle(&job);
            }
        }
    }

    /// Marks a tracked callback finished in this process (not for an abandoned one: its record
    /// lets the next process resume it).
    fn settle(&self, job: &Job) {
        if let Some(id) = &job.tracked {
            self.inner.fates.settle(id);
        }
    }

    /// After a failed attempt: a place in the queue once the delay is over, or nothing if the
    /// policy gives up (or the queue is full, or the handler stops).
    async fn retry_later(&self, lane: &Arc<Lane>, job: &Job, in_flight: InFlight) -> Option<Start> {
        let delay = self.inner.config.retry.delay_after(job.attempts);
        let next = Instant::now() + delay;
        let policy = &self.inner.config.retry;
        if job.attempts >= policy.max_attempts || next > job.deadline(policy) {
            self.gave_up(job);
            return None;
        }
        let queued = self.queue(lane, job)?;
        drop(in_flight);
        tokio::select! {
            () = self.inner.abandon.cancelled() => {
                self.ended(job, Ended::Abandoned);
                None
            }
            () = tokio::time::sleep_until(next) => Some(Start::Queued(queued)),
        }
    }

    /// Waits until the DFSP's circuit and limit let an attempt go, within the job's deadline.
    async fn admit(&self, lane: &Arc<Lane>, job: &Job) -> Result<InFlight, Ended> {
        let _waiting = lane.wait_ticket();
        let admitted = async {
            let probe = loop {
                let changed = lane.changed.notified();
                match lane.admit(Instant::now()) {
                    Admission::Go => break ProbeClaim(None),
                    Admission::Probe => break ProbeClaim(Some(Arc::clone(lane))),
                    Admission::WaitUntil(until) => tokio::select! {
                        () = tokio::time::sleep_until(until) => {}
                        () = changed => {}
                    },
                    Admission::WaitForProbe => changed.await,
                }
            };
            let slot = lane.slot().await;
            let global = Arc::clone(&self.inner.permits)
                .acquire_owned()
                .await
                .expect("the handler's semaphore is never closed");
            let mut probe = probe;
            InFlight::new(lane, slot, global, probe.0.take().is_some())
        };
        let deadline = job.deadline(&self.inner.config.retry);
        tokio::select! {
            () = self.inner.abandon.cancelled() => Err(Ended::Abandoned),
            admitted = tokio::time::timeout_at(deadline, admitted) => admitted.map_err(|_| Ended::Expired),
        }
    }

    fn ended(&self, job: &Job, ended: Ended) {
        match ended {
            Ended::Expired => self.gave_up(job),
            Ended::Abandoned => record_outcome(job.outgoing.kind, Outcome::Abandoned, job.attempts),
        }
    }

    fn delivered(&self, job: &Job) {
        let (outgoing, attempts) = (&job.outgoing, job.attempts);
        record_outcome(outgoing.kind, Outcome::Delivered, attempts);
        self.settle(job);
        metrics::histogram!("ferroloop_callback_delivery_seconds", "kind" => outgoing.kind.label())
            .record(job.started.elapsed().as_secs_f64());
        if attempts > 1 {
            tracing::info!(transfer_id = %outgoing.transfer_id, recipient = %outgoing.recipient,
                kind = outgoing.kind.label(), attempts, "callback delivered after retries");
        }
    }

    fn gave_up(&self, job: &Job) {
        let outgoing = &job.outgoing;
        tracing::warn!(transfer_id = %outgoing.transfer_id, recipient = %outgoing.recipient,
            kind = outgoing.kind.label(), attempts = job.attempts, "callback failed; no more retries");
        record_outcome(outgoing.kind, Outcome::Failed, job.attempts);
        self.settle(job);
    }

    /// One HTTP request, counted and timed. `on_wire` fires when the request is on the wire (or
    /// will never be).
    async fn attempt(&self, outgoing: &Outgoing, number: u32, on_wire: Option<OnWire>) -> Attempt {
        let host = outgoing.uri.host().unwrap_or("");
        if let Err(error) = self.inner.config.address_policy.check_host(host) {
            return self.failed(
                outgoing,
                number,
                Attempt::Refused,
                "refused_address",
                &error.to_string(),
            );
        }
        let mut builder = http::Request::builder()
            .method(outgoing.method.clone())
            .uri(outgoing.uri.clone());
        for (name, value) in &outgoing.headers {
            builder = builder.header(name, value);
        }
        let request = match builder.body(SentBody::new(outgoing.body.clone(), on_wire)) {
            Ok(request) => request,
            Err(error) => {
                // Method, URI and headers were validated when the callback was built.
                tracing::error!(%error, "callback request cannot be built");
                return Attempt::Permanent;
            }
        };
        let started = Instant::now();
        let answer = tokio::time::timeout(
            self.inner.config.request_timeout,
            self.client().request(request),
        )
        .await;
        metrics::histogram!("ferroloop_callback_attempt_seconds", "kind" => outgoing.kind.label())
            .record(started.elapsed().as_secs_f64());
        let (result, label, detail) = match answer {
            Ok(Ok(response)) => {
                let status = response.status();
                // Read the (normally empty) body so the connection goes back to the pool.
                let body = Limited::new(response.into_body(), RESPONSE_BODY_LIMIT);
                drop(tokio::time::timeout(RESPONSE_DRAIN_TIMEOUT, body.collect()).await);
                classify(status)
            }
            Ok(Err(error)) if is_refused(&error) => {
                (Attempt::Refused, "refused_address", error_chain(&error))
            }
            Ok(Err(error)) if error.is_connect() => {
                (Attempt::Retryable, "connect", error_chain(&error))
            }
            Ok(Err(error)) => (Attempt::Retryable, "error", error_chain(&error)),
            Err(_) => (
                Attempt::Retryable,
                "timeout",
                "request timed out".to_owned(),
            ),
        };
        if result == Attempt::Success {
            metrics::counter!("ferroloop_callback_attempts_total", "kind" => outgoing.kind.label(), "result" => label)
                .increment(1);
            return result;
        }
        self.failed(outgoing, number, result, label, &detail)
    }

    /// Counts and logs a failed attempt. The endpoint is logged without user information and
    /// query: an endpoint may embed a token.
    fn failed(
        &self,
        outgoing: &Outgoing,
        number: u32,
        result: Attempt,
        label: &'static str,
        detail: &str,
    ) -> Attempt {
        metrics::counter!("ferroloop_callback_attempts_total", "kind" => outgoing.kind.label(), "result" => label)
            .increment(1);
        let endpoint = redacted(&outgoing.uri.to_string());
        if result == Attempt::Refused {
            tracing::error!(transfer_id = %outgoing.transfer_id, recipient = %outgoing.recipient,
                kind = outgoing.kind.label(), endpoint, detail,
                "callback endpoint refused: the hub does not call this address; not retried");
        } else {
            tracing::warn!(transfer_id = %outgoing.transfer_id, recipient = %outgoing.recipient,
                kind = outgoing.kind.label(), endpoint, attempt = number, result = label,
                detail, "callback attempt failed");
        }
        result
    }
}

/// Waits until `on_wire` fires, as long as the DFSP keeps up; returns whether it fired.
async fn wait_while_keeping_up(lane: &Lane, mut on_wire: oneshot::Receiver<()>) -> bool {
    loop {
        let changed = lane.changed.notified();
        let Some(until) = lane.keeps_up(Instant::now()) else {
            return false;
        };
        tokio::select! {
            _ = &mut on_wire => return true,
            () = tokio::time::sleep_until(until) => {}
            () = changed => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial_delay: Duration::from_millis(100),
            factor: 3,
            max_delay: Duration::from_millis(1_000),
            max_attempts: 10,
            max_total: Duration::from_secs(60),
            expiry_grace: Duration::ZERO,
        }
    }

    fn config() -> DeliveryConfig {
        DeliveryConfig {
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            pool_max_idle_per_host: 1,
            pool_idle_timeout: Duration::from_secs(1),
            max_in_flight: 4,
            retry: RetryPolicy {
                max_attempts: 1,
                ..policy()
            },
            retry_queue_capacity: 4,
            lanes: LaneLimits {
                max_in_flight: 2,
                queue_capacity: 2,
                max_wait: Duration::from_millis(200),
                circuit_failures: 5,
                circuit_open_for: Duration::from_secs(5),
            },
            address_policy: AddressPolicy::default(),
            lookup: None,
            tls: ClientFiles::default(),
        }
    }

    /// Log lines written while `run` runs on a current-thread runtime (so every task of the
    /// delivery logs through this subscriber).
    fn logs_of(run: impl AsyncFnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(run());
        });
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn failed_attempts_log_the_endpoint_without_credentials_or_query() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let logs = logs_of(async || {
            let delivery = Delivery::new(config()).unwrap();
            let uri = format!("http://user:s3cret@{closed}/transfers/1/error?token=t0ken");
            delivery.deliver(outgoing(&uri)).await;
            delivery.shutdown(Duration::from_secs(10)).await;
        });
        assert!(logs.contains("callback attempt failed"), "{logs}");
        assert!(
            logs.contains(&format!("http://{closed}/transfers/1/error")),
            "{logs}"
        );
        assert!(!logs.contains("s3cret"), "{logs}");
        assert!(!logs.contains("t0ken"), "{logs}");
    }

    fn outgoing(uri: &str) -> Outgoing {
        Outgoing {
            kind: Kind::Error,
            method: Method::PUT,
            uri: uri.parse().unwrap(),
            headers: vec![],
            body: Bytes::from_static(b"{}"),
            not_after: None,
            transfer_id: "1".into(),
            recipient: "dfsp".into(),
        }
    }

    #[tokio::test]
    async fn a_dfsp_that_does_not_accept_connections_is_behind_after_the_wait() {
        // A listener that never accepts, its accept queue filled: further SYNs are dropped, so
        // a connection to it hangs until the connect timeout.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut fillers = Vec::new();
        for _ in 0..4 {
            let connect = tokio::net::TcpStream::connect(addr);
            if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_millis(200), connect).await
            {
                fillers.push(stream);
            }
        }
        let delivery = Delivery::new(DeliveryConfig {
            connect_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            ..config()
        })
        .unwrap();
        let started = Instant::now();
        let handoff = delivery
            .deliver(outgoing(&format!("http://{addr}/transfers/1/error")))
            .await;
        // The batch stopped waiting after CALLBACK_MAX_WAIT_PER_DFSP_MS, not the connect timeout.
        assert_eq!(handoff, Handoff::Behind);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        delivery.shutdown(Duration::ZERO).await;
    }

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap() {
        let p = policy();
        let delays: Vec<u128> = (1..=5).map(|n| p.delay_after(n).as_millis()).collect();
        assert_eq!(delays, [100, 300, 900, 1_000, 1_000]);
        let huge = RetryPolicy {
            factor: u32::MAX,
            max_delay: Duration::MAX,
            ..policy()
        };
        assert!(huge.delay_after(40) > Duration::from_secs(1));
    }
}
