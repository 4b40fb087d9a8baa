//! Durable retries: callbacks whose fate is still open when their batch ends survive a crash of
//! the handler.
//!
//! A batch's offsets are stored once its callbacks' first attempts are answered (or their DFSP
//! is behind); a callback that failed its first attempt, or whose DFSP is behind, goes on in this
//! process (its DFSP's lane: retries, limits, circuit), and a *retry record* of it goes to
//! `topic-notification-retry` with the batch's output, before the offsets are stored. The same
//! process consumes that topic (group `<NOTIFICATION_CONSUMER_GROUP>-retry`); each record waits
//! until it is due, then:
//!
//! - the callback is still this process's (pending): the record is written again, due one
//!   `CALLBACK_RETRY_JOURNAL_INTERVAL_MS` later, so that a record exists until it settles;
//! - it settled here (delivered, refused, given up): the record is dropped;
//! - it was deferred here (its DFSP's queue was full): it is resumed, as below;
//! - this process does not know it (the one that wrote the record crashed, or stopped with it
//!   pending, or the record's partition moved to this member): it is resumed here, with the
//!   attempts it already had and its original retry deadline, and tracked from then on.
//!
//! So a crash loses no callback whose record was written, and the record of a callback that
//! settled costs one more message. A record is resumed by whichever member owns its partition:
//! while two members run, a callback the writer is still retrying can be resumed by the other
//! one too (a duplicate callback, which FSPIOP callbacks tolerate). A record waits behind the
//! records ahead of it in its partition, at most one interval each batch.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ferroloop_messaging::{BatchHandler, HandlerError, OutboundMessage, Outputs, ReceivedMessage};
use http::{HeaderName, HeaderValue, Uri};
use time::OffsetDateTime;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::delivery::{Delivery, Fate, Outcome, Outgoing, RetryPolicy, Tracked, record_outcome};
use crate::matrix::Kind;

/// A callback's retry record on `topic-notification-retry` (JSON). Header values and the body
/// are base64: they are sent again byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetryRecord {
    pub id: String,
    pub kind: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub transfer_id: String,
    pub recipient: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the first attempt started, Unix milliseconds (the retry deadline counts from it).
    pub first_at_ms: i64,
    /// Not acted on before this, Unix milliseconds.
    pub due_at_ms: i64,
    /// No attempt after this (the transfer's expiry plus the grace), Unix milliseconds.
    pub not_after_ms: Option<i64>,
}

/// Why a record cannot be turned back into a callback.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("not a retry record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown callback kind {0:?}")]
    Kind(String),
    #[error("bad {0} in the retry record")]
    Field(&'static str),
}

fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    unix_ms(OffsetDateTime::now_utc())
}

/// The monotonic instant of a Unix-milliseconds time (now if it is past).
fn instant_at(ms: i64) -> Instant {
    let ahead = u64::try_from(ms.saturating_sub(now_ms())).unwrap_or(0);
    Instant::now() + Duration::from_millis(ahead)
}

/// The Unix-milliseconds time of a monotonic instant.
fn ms_at(at: Instant) -> i64 {
    let now = Instant::now();
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    if at >= now {
        now_ms().saturating_add(ms(at - now))
    } else {
        now_ms().saturating_sub(ms(now - at))
    }
}

impl RetryRecord {
    /// The record of a callback tracked under `id`, due at `due`.
    pub fn of(outgoing: &Outgoing, tracked: &Tracked, attempts: u32, due: Instant) -> Self {
        Self {
            id: tracked.id.to_string(),
            kind: outgoing.kind.label().to_owned(),
            uri: outgoing.uri.to_string(),
            headers: outgoing
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), STANDARD.encode(value.as_bytes())))
                .collect(),
            body: STANDARD.encode(&outgoing.body),
            transfer_id: outgoing.transfer_id.clone(),
            recipient: outgoing.recipient.clone(),
            attempts,
            first_at_ms: ms_at(tracked.started),
            due_at_ms: ms_at(due),
            not_after_ms: outgoing.not_after.map(ms_at),
        }
    }

    pub fn message(&self, topic: &str) -> OutboundMessage {
        OutboundMessage {
            topic: topic.to_owned(),
            key: Some(self.recipient.clone()),
            payload: serde_json::to_vec(self).expect("a retry record serializes"),
        }
    }

    /// The callback and its tracking, as the record describes them.
    pub fn callback(&self) -> Result<(Outgoing, Tracked), RecordError> {
        let kind =
            Kind::from_label(&self.kind).ok_or_else(|| RecordError::Kind(self.kind.clone()))?;
        let uri: Uri = self.uri.parse().map_err(|_| RecordError::Field("uri"))?;
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let name =
                HeaderName::try_from(name.as_str()).map_err(|_| RecordError::Field("header"))?;
            let bytes = STANDARD
                .decode(value)
                .map_err(|_| RecordError::Field("header"))?;
            let value =
                HeaderValue::from_bytes(&bytes).map_err(|_| RecordError::Field("header"))?;
            headers.push((name, value));
        }
        let body = STANDARD
            .decode(&self.body)
            .map_err(|_| RecordError::Field("body"))?;
        let outgoing = Outgoing {
            kind,
            method: kind.method(),
            uri,
            headers,
            body: body.into(),
            not_after: self.not_after_ms.map(instant_at),
            transfer_id: self.transfer_id.clone(),
            recipient: self.recipient.clone(),
        };
        let first = Instant::now()
            .checked_sub(Duration::from_millis(
                u64::try_from(now_ms().saturating_sub(self.first_at_ms)).unwrap_or(0),
            ))
            .unwrap_or_else(Instant::now);
        let tracked = Tracked {
            id: Arc::from(self.id.as_str()),
            attempts: self.attempts,
            started: first,
        };
        Ok((outgoing, tracked))
    }

    /// Whether the policy allows no further attempt.
    fn spent(&self, policy: &RetryPolicy) -> bool {
        let total = i64::try_from(policy.max_total.as_millis()).unwrap_or(i64::MAX);
        let deadline = self
            .not_after_ms
            .map_or(i64::MAX, |n| n)
            .min(self.first_at_ms.saturating_add(total));
        self.attempts >= policy.max_attempts || now_ms() > deadline
    }
}

/// A new callback's tracking: a fresh record id, no attempt yet.
pub fn track_new() -> Tracked {
    Tracked {
        id: Arc::from(uuid::Uuid::now_v7().simple().to_string()),
        attempts: 0,
        started: Instant::now(),
    }
}

/// The record to write for a tracked callback once its hand-over returned: none if it settled.
pub fn record_after(
    delivery: &Delivery,
    outgoing: &Outgoing,
    tracked: &Tracked,
    fate: Fate,
    interval: Duration,
) -> Option<RetryRecord> {
    match fate {
        Fate::Settled => {
            delivery.forget(&tracked.id);
            None
        }
        Fate::Pending { attempts } | Fate::Deferred { attempts } => Some(RetryRecord::of(
            outgoing,
            tracked,
            attempts,
            Instant::now() + interval,
        )),
    }
}

/// The batch handler of `topic-notification-retry`.
#[derive(Debug)]
pub struct RetryHandler {
    delivery: Delivery,
    outputs: Outputs,
    policy: RetryPolicy,
    interval: Duration,
    shutdown: CancellationToken,
}

impl RetryHandler {
    pub fn new(
        delivery: Delivery,
        outputs: Outputs,
        policy: RetryPolicy,
        interval: Duration,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            delivery,
            outputs,
            policy,
            interval,
            shutdown,
        }
    }

    /// The delivery the records are resumed on (the handler's own).
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// One record, once due: written again, dropped or resumed (see the module documentation).
    async fn act(&self, record: RetryRecord) -> Option<RetryRecord> {
        match self.delivery.fate(&record.id) {
            Some(Fate::Settled) => {
                self.delivery.forget(&record.id);
                None
            }
            Some(Fate::Pending { attempts }) => Some(RetryRecord {
                attempts,
                due_at_ms: now_ms().saturating_add(self.interval_ms()),
                ..record
            }),
            Some(Fate::Deferred { attempts }) => {
                self.delivery.forget(&record.id);
                self.resume(RetryRecord { attempts, ..record }).await
            }
            None => self.resume(record).await,
        }
    }

    async fn resume(&self, record: RetryRecord) -> Option<RetryRecord> {
        let (outgoing, tracked) = match record.callback() {
            Ok(callback) => callback,
            Err(error) => {
                tracing::error!(id = %record.id, %error, "retry record cannot be resumed");
                return None;
            }
        };
        if record.spent(&self.policy) {
            tracing::warn!(transfer_id = %record.transfer_id, recipient = %record.recipient,
                kind = %record.kind, attempts = record.attempts, "callback failed; no more retries");
            record_outcome(outgoing.kind, Outcome::Failed, record.attempts);
            return None;
        }
        tracing::info!(transfer_id = %record.transfer_id, recipient = %record.recipient,
            kind = %record.kind, attempts = record.attempts, "resuming a callback from its retry record");
        metrics::counter!("ferroloop_callback_retries_resumed_total").increment(1);
        let fate = self
            .delivery
            .hand_over(outgoing.clone(), tracked.clone())
            .await;
        record_after(&self.delivery, &outgoing, &tracked, fate, self.interval)
    }

    fn interval_ms(&self) -> i64 {
        i64::try_from(self.interval.as_millis()).unwrap_or(i64::MAX)
    }
}

impl BatchHandler for RetryHandler {
    /// Every record of the batch once it is due, concurrently; the records to write again.
    async fn handle(
        &mut self,
        batch: &[ReceivedMessage],
    ) -> Result<Vec<OutboundMessage>, HandlerError> {
        let topic = self.outputs.topics().notification_retry.clone();
        let mut output = Vec::new();
        let records: Vec<RetryRecord> = batch
            .iter()
            .filter_map(|message| {
                serde_json::from_slice(&message.payload)
                    .map_err(|e| output.push(self.outputs.dead_letter(message, &e.to_string())))
                    .ok()
            })
            .collect();
        let this = &*self;
        let acted = futures::future::join_all(records.into_iter().map(|record| async move {
            tokio::select! {
                () = this.shutdown.cancelled() => Err(()),
                () = tokio::time::sleep_until(instant_at(record.due_at_ms)) => Ok(this.act(record).await),
            }
        }))
        .await;
        for result in acted {
            // Stopping: the batch is not done; its offsets stay unstored and it is replayed.
            let again = result.map_err(|()| HandlerError::transient("stopping"))?;
            output.extend(again.map(|record| record.message(&topic)));
        }
        Ok(output)
    }

    fn name(&self) -> &'static str {
        "notification-retry"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::Method;

    #[test]
    fn a_record_gives_back_the_callback_byte_for_byte_and_its_deadline() {
        let outgoing = Outgoing {
            kind: Kind::Patch,
            method: Method::PATCH,
            uri: "http://dfsp.example:8444/transfers/1".parse().unwrap(),
            headers: vec![(
                HeaderName::from_static("fspiop-source"),
                HeaderValue::from_bytes(b"Hub\xe9").unwrap(),
            )],
            body: Bytes::from_static(b"{\"transferState\":\"COMMITTED\"}"),
            not_after: Some(Instant::now() + Duration::from_secs(30)),
            transfer_id: "1".into(),
            recipient: "payerfsp".into(),
        };
        let tracked = Tracked {
            started: Instant::now() - Duration::from_secs(5),
            ..track_new()
        };
        let record = RetryRecord::of(&outgoing, &tracked, 3, Instant::now());
        let bytes = record.message("t").payload;
        let back: RetryRecord = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, record);
        let (again, tracked_again) = back.callback().unwrap();
        assert_eq!(again.kind, Kind::Patch);
        assert_eq!(again.method, Method::PATCH);
        assert_eq!(again.uri, outgoing.uri);
        assert_eq!(again.headers, outgoing.headers);
        assert_eq!(again.body, outgoing.body);
        assert_eq!(tracked_again.id, tracked.id);
        assert_eq!(tracked_again.attempts, 3);
        let started_off =
            tracked_again.started.max(tracked.started) - tracked_again.started.min(tracked.started);
        assert!(started_off < Duration::from_millis(50), "{started_off:?}");
        let policy = RetryPolicy {
            initial_delay: Duration::from_millis(1),
            factor: 2,
            max_delay: Duration::from_millis(1),
            max_attempts: 4,
            max_total: Duration::from_secs(60),
            expiry_grace: Duration::ZERO,
        };
        assert!(!back.spent(&policy));
        assert!(
            RetryRecord {
                attempts: 4,
                ..back.clone()
            }
            .spent(&policy)
        );
        assert!(
            RetryRecord {
                not_after_ms: Some(now_ms() - 1),
                ..back
            }
            .spent(&policy)
        );
    }
}
