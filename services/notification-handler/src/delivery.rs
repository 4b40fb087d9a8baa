//! Sending callbacks: a pooled keep-alive HTTP/1.1 client, the first attempt of every callback
//! inline (the batch waits for it), and retries in a bounded in-process queue.
//!
//! **Guarantee.** The batch loop stores a batch's offsets only after every callback of the batch
//! had its first attempt, so each callback is attempted at least once, even across a crash (a
//! crash before the offsets are stored replays the batch and sends its callbacks again; DFSPs see
//! an occasional duplicate callback, which FSPIOP callbacks tolerate: they carry the transfer's
//! state, keyed by its id). Retries after a failed first attempt are best effort: they live in
//! this process only, so a crash loses the pending ones, and a clean shutdown waits for them at
//! most `CALLBACK_SHUTDOWN_GRACE_MS` and then abandons the rest (counted). A DFSP that missed a
//! callback recovers with `GET /transfers/{ID}`, as with Mojaloop (which never retries at all).
//!
//! **Retry policy.** Retried: connection errors, timeouts, other transport errors, HTTP 5xx and
//! 429. Not retried: any other non-2xx status (4xx, and 3xx — redirects are not followed). Delays
//! grow from `initial_delay` by `factor` up to `max_delay`; a callback is attempted at most
//! `max_attempts` times, no attempt starts later than `max_total` after the first one, nor after
//! the transfer's expiry plus `expiry_grace` where the expiry is known (a forwarded prepare).
//!
//! **Isolation.** The queue holds at most `retry_queue_capacity` callbacks; a failure that finds
//! it full is not retried (counted as `dropped`), so a DFSP that is down cannot make the handler
//! grow without bound, nor stall the consumer: at most `max_in_flight` requests are on the wire at
//! once and each is bounded by `request_timeout`, so a batch waits at most about one timeout per
//! callback chain for a DFSP that hangs.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ferroloop_tls::rustls::ClientConfig;
use ferroloop_tls::{ClientFiles, Reloading};
use http::{HeaderName, HeaderValue, Method, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::matrix::Kind;

/// Largest response body read (and discarded) so a connection can be reused.
const RESPONSE_BODY_LIMIT: usize = 64 * 1024;
/// How long reading a response body may take after its status arrived.
const RESPONSE_DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

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
    pub max_in_flight: usize,
    pub retry: RetryPolicy,
    pub retry_queue_capacity: usize,
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
    /// The first attempt failed and the retry queue was full.
    Dropped,
    /// Retries still pending at the end of the shutdown grace.
    Abandoned,
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
        }
    }
}

/// What the first attempt led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstAttempt {
    Final(Outcome),
    /// Queued for retries.
    Retrying,
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

/// The result of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Success,
    Retryable,
    Permanent,
}

/// The callback sender. Cheap to clone.
#[derive(Clone)]
pub struct Delivery {
    inner: Arc<Inner>,
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

struct Inner {
    /// The client of the TLS configuration's generation it was built for.
    client: std::sync::RwLock<(u64, HttpClient)>,
    tls: Arc<Reloading<ClientConfig>>,
    permits: Semaphore,
    config: DeliveryConfig,
    retries: TaskTracker,
    abandon: CancellationToken,
    pending: AtomicUsize,
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
        let client = build_client(&config, (*tls.current()).clone());
        Ok(Self {
            inner: Arc::new(Inner {
                client: std::sync::RwLock::new((0, client)),
                tls,
                permits: Semaphore::new(config.max_in_flight.max(1)),
                config,
                retries: TaskTracker::new(),
                abandon: CancellationToken::new(),
                pending: AtomicUsize::new(0),
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
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if current.0 == generation {
                return current.1.clone();
            }
        }
        let client = build_client(&self.inner.config, (*self.inner.tls.current()).clone());
        let mut current = self
            .inner
            .client
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = (generation, client.clone());
        client
    }

    /// Callbacks waiting for a retry.
    pub fn pending_retries(&self) -> usize {
        self.inner.pending.load(Ordering::Relaxed)
    }

    /// Makes the first attempt now; a retryable failure is handed to the retry queue.
    pub async fn deliver(&self, outgoing: Outgoing) -> FirstAttempt {
        let started = Instant::now();
        match self.attempt(&outgoing, 1).await {
            Attempt::Success => {
                self.delivered(&outgoing, 1, started);
                FirstAttempt::Final(Outcome::Delivered)
            }
            Attempt::Permanent => {
                record_outcome(outgoing.kind, Outcome::Rejected, 1);
                FirstAttempt::Final(Outcome::Rejected)
            }
            Attempt::Retryable => self.queue_retries(outgoing, started),
        }
    }

    /// Waits for pending retries at most `grace`, then abandons what is left.
    pub async fn shutdown(&self, grace: Duration) {
        let retries = &self.inner.retries;
        retries.close();
        if tokio::time::timeout(grace, retries.wait()).await.is_err() {
            tracing::warn!(
                pending = self.pending_retries(),
                "shutdown grace over: abandoning pending callback retries"
            );
            self.inner.abandon.cancel();
            retries.wait().await;
        }
    }

    fn delivered(&self, outgoing: &Outgoing, attempts: u32, started: Instant) {
        record_outcome(outgoing.kind, Outcome::Delivered, attempts);
        metrics::histogram!("ferroloop_callback_delivery_seconds", "kind" => outgoing.kind.label())
            .record(started.elapsed().as_secs_f64());
        if attempts > 1 {
            tracing::info!(transfer_id = %outgoing.transfer_id, recipient = %outgoing.recipient,
                kind = outgoing.kind.label(), attempts, "callback delivered after retries");
        }
    }

    /// Whether another attempt may start after `delay`, `attempts` having been made.
    fn may_retry(
        &self,
        outgoing: &Outgoing,
        attempts: u32,
        started: Instant,
        delay: Duration,
    ) -> bool {
        let policy = &self.inner.config.retry;
        let next = Instant::now() + delay;
        attempts < policy.max_attempts
            && next.duration_since(started) <= policy.max_total
            && outgoing.not_after.is_none_or(|limit| next <= limit)
    }

    fn gave_up(&self, outgoing: &Outgoing, attempts: u32) {
        tracing::warn!(transfer_id = %outgoing.transfer_id, recipient = %outgoing.recipient,
            kind = outgoing.kind.label(), attempts, "callback failed; no more retries");
        record_outcome(outgoing.kind, Outcome::Failed, attempts);
    }

    fn queue_retries(&self, outgoing: Outgoing, started: Instant) -> FirstAttempt {
        let delay = self.inner.config.retry.delay_after(1);
        if !self.may_retry(&outgoing, 1, started, delay) {
            self.gave_up(&outgoing, 1);
            return FirstAttempt::Final(Outcome::Failed);
        }
        let capacity = self.inner.config.retry_queue_capacity;
        let queued = self
            .inner
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < capacity).then_some(n + 1)
            });
        if queued.is_err() {
            tracing::warn!(transfer_id = %outgoing.transfer_id, recipient = %outgoing.recipient,
                kind = outgoing.kind.label(), capacity, "callback retry queue full; callback dropped");
            record_outcome(outgoing.kind, Outcome::Dropped, 1);
            return FirstAttempt::Final(Outcome::Dropped);
        }
        self.pending_gauge();
        let this = self.clone();
        self.inner.retries.spawn(async move {
            this.retry(&outgoing, started, delay).await;
            this.inner.pending.fetch_sub(1, Ordering::Relaxed);
            this.pending_gauge();
        });
        FirstAttempt::Retrying
    }

    fn pending_gauge(&self) {
        metrics::gauge!("ferroloop_callback_retries_pending").set(self.pending_retries() as f64);
    }

    /// Attempts 2, 3, … until success, a permanent answer, or the policy gives up.
    async fn retry(&self, outgoing: &Outgoing, started: Instant, mut delay: Duration) {
        let abandon = &self.inner.abandon;
        let mut attempts = 1;
        loop {
            tokio::select! {
                () = abandon.cancelled() => break,
                () = tokio::time::sleep(delay) => {}
            }
            let result = tokio::select! {
                () = abandon.cancelled() => break,
                result = self.attempt(outgoing, attempts + 1) => result,
            };
            attempts += 1;
            match result {
                Attempt::Success => return self.delivered(outgoing, attempts, started),
                Attempt::Permanent => {
                    return record_outcome(outgoing.kind, Outcome::Rejected, attempts);
                }
                Attempt::Retryable => {
                    delay = self.inner.config.retry.delay_after(attempts);
                    if !self.may_retry(outgoing, attempts, started, delay) {
                        return self.gave_up(outgoing, attempts);
                    }
                }
            }
        }
        record_outcome(outgoing.kind, Outcome::Abandoned, attempts);
    }

    /// One HTTP request, counted and timed.
    async fn attempt(&self, outgoing: &Outgoing, number: u32) -> Attempt {
        // The semaphore is never closed.
        let _permit = self.inner.permits.acquire().await.ok();
        let mut builder = http::Request::builder()
            .method(outgoing.method.clone())
            .uri(outgoing.uri.clone());
        for (name, value) in &outgoing.headers {
            builder = builder.header(name, value);
        }
        let request = match builder.body(Full::new(outgoing.body.clone())) {
            Ok(request) => request,
            Err(error) => {
                // Method, URI and headers were validated when the callback was built.
                tracing::error!(%error, "callback request cannot be built");
                return Attempt::Permanent;
            }
        };
        let sent = Instant::now();
        let answer = tokio::time::timeout(
            self.inner.config.request_timeout,
            self.client().request(request),
        )
        .await;
        metrics::histogram!("ferroloop_callback_attempt_seconds", "kind" => outgoing.kind.label())
            .record(sent.elapsed().as_secs_f64());
        let (result, label, detail) = match answer {
            Ok(Ok(response)) => {
                let status = response.status();
                // Read the (normally empty) body so the connection goes back to the pool.
                let body = Limited::new(response.into_body(), RESPONSE_BODY_LIMIT);
                drop(tokio::time::timeout(RESPONSE_DRAIN_TIMEOUT, body.collect()).await);
                classify(status)
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
        metrics::counter!("ferroloop_callback_attempts_total", "kind" => outgoing.kind.label(), "result" => label)
            .increment(1);
        if result != Attempt::Success {
            tracing::warn!(transfer_id = %outgoing.transfer_id, recipient = %outgoing.recipient,
                kind = outgoing.kind.label(), uri = %outgoing.uri, attempt = number, result = label,
                detail, "callback attempt failed");
        }
        result
    }
}

/// A pooled keep-alive HTTP/1.1 client for `http` and `https` endpoints.
fn build_client(config: &DeliveryConfig, tls: ClientConfig) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(config.connect_timeout));
    connector.set_nodelay(true);
    // The HTTPS connector below handles both schemes.
    connector.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(config.pool_idle_timeout)
        .pool_max_idle_per_host(config.pool_max_idle_per_host)
        .build(connector)
}

fn classify(status: StatusCode) -> (Attempt, &'static str, String) {
    let detail = format!("HTTP {}", status.as_u16());
    let (attempt, label) = if status.is_success() {
        (Attempt::Success, "2xx")
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        (Attempt::Retryable, "429")
    } else if status.is_server_error() {
        (Attempt::Retryable, "5xx")
    } else if status.is_client_error() {
        (Attempt::Permanent, "4xx")
    } else if status.is_redirection() {
        (Attempt::Permanent, "3xx")
    } else {
        (Attempt::Permanent, "1xx")
    };
    (attempt, label, detail)
}

/// An error with its sources, for logs.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(StatusCode::OK).0, Attempt::Success);
        assert_eq!(classify(StatusCode::ACCEPTED).0, Attempt::Success);
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS).0,
            Attempt::Retryable
        );
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE).0,
            Attempt::Retryable
        );
        assert_eq!(classify(StatusCode::BAD_REQUEST).0, Attempt::Permanent);
        assert_eq!(classify(StatusCode::NOT_FOUND).0, Attempt::Permanent);
        assert_eq!(
            classify(StatusCode::MOVED_PERMANENTLY).0,
            Attempt::Permanent
        );
    }
}
