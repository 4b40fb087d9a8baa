//! The state one run shares between the driver, the simulators and the report.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};

use crate::book::{Book, Outcome, Record};
use crate::ids::IdSpace;

/// Counters the progress bar and the report read while the run goes.
#[derive(Debug, Default)]
pub struct Counters {
    /// POSTs started.
    pub sent: AtomicU64,
    /// 202s received.
    pub accepted: AtomicU64,
    /// Transfers that ended (final callback, refusal or failed send).
    pub ended: AtomicU64,
    /// Callbacks for ids this run did not send, or to paths the simulators do not serve.
    pub stray_callbacks: AtomicU64,
    /// Callbacks that reached a DFSP that is neither the transfer's payer nor the payee it was
    /// meant for (a routing bug in the hub).
    pub misdirected_callbacks: AtomicU64,
    /// Payee PUTs the hub refused or that failed to send.
    pub payee_answer_failures: AtomicU64,
    /// Payee PUTs sent again after a failed attempt.
    pub payee_answer_resends: AtomicU64,
    /// Callbacks the failing DFSP answered with 503 (`--failing-dfsp-*`).
    pub failed_on_purpose: AtomicU64,
    /// Payees that got a prepare less payees that heard the end: the notices still owed (the
    /// hub tells a payee of every end after a prepare). Below zero while a notice overtakes
    /// its prepare.
    pub payee_notices_owed: AtomicI64,
    /// Error callbacks (`PUT …/error`) received, payer and payee alike, by FSPIOP code.
    pub error_callbacks: Mutex<BTreeMap<u16, u64>>,
}

impl Counters {
    pub fn error_callback(&self, code: u16) {
        let mut codes = self
            .error_callbacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *codes.entry(code).or_default() += 1;
    }

    pub fn error_callbacks(&self) -> BTreeMap<u16, u64> {
        self.error_callbacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// How the simulated DFSPs misbehave on purpose (`make chaos`).
#[derive(Debug, Default)]
pub struct Misbehaviour {
    /// Attempts of a payee's PUT, the first included.
    pub payee_answer_attempts: u32,
    /// From when to when the first DFSP answers every callback with 503 (set when sending
    /// starts).
    pub failing_window: OnceLock<(Instant, Instant)>,
}

/// What the simulators and the driver send with.
#[derive(Debug, Clone)]
pub struct TransferTerms {
    pub amount: String,
    pub currency: String,
    pub expires_in: Duration,
}

#[derive(Debug)]
pub struct Run {
    pub book: Book,
    pub ids: IdSpace,
    pub dfsps: Vec<String>,
    by_name: HashMap<String, u16>,
    pub api_url: String,
    pub http: reqwest::Client,
    pub terms: TransferTerms,
    pub counters: Counters,
    /// Closed loop: one permit per transfer that may start; a transfer that ends returns one.
    pub closed_loop_slots: Option<Arc<Semaphore>>,
    /// Woken whenever a transfer ends and whenever a payee hears of an end for the first time
    /// (the drain waits on it).
    pub ended: Notify,
    pub misbehaviour: Misbehaviour,
}

impl Run {
    pub fn new(
        book: Book,
        ids: IdSpace,
        dfsps: Vec<String>,
        api_url: &str,
        http: reqwest::Client,
        terms: TransferTerms,
        closed_loop_slots: Option<Arc<Semaphore>>,
    ) -> Self {
        let by_name = dfsps
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), u16::try_from(i).unwrap_or(u16::MAX)))
            .collect();
        Self {
            book,
            ids,
            dfsps,
            by_name,
            api_url: api_url.trim_end_matches('/').to_owned(),
            http,
            terms,
            counters: Counters::default(),
            closed_loop_slots,
            ended: Notify::new(),
            misbehaviour: Misbehaviour::default(),
        }
    }

    pub fn with_misbehaviour(mut self, misbehaviour: Misbehaviour) -> Self {
        self.misbehaviour = misbehaviour;
        self
    }

    /// Whether `dfsp` answers its callbacks with 503 right now.
    pub fn failing_now(&self, dfsp: &str) -> bool {
        let Some((from, until)) = self.misbehaviour.failing_window.get() else {
            return false;
        };
        let now = Instant::now();
        self.dfsp_index(dfsp) == Some(0) && now >= *from && now < *until
    }

    pub fn dfsp(&self, index: u16) -> &str {
        self.dfsps
            .get(usize::from(index))
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn dfsp_index(&self, name: &str) -> Option<u16> {
        self.by_name.get(name).copied()
    }

    /// The record of one of this run's transfers, by id.
    pub fn record(&self, transfer_id: &str) -> Option<(u64, &Record)> {
        let index = self.ids.index_of(transfer_id)?;
        self.book.get(index).map(|r| (index, r))
    }

    /// A transfer ended: counts it, frees its closed-loop slot and wakes the drain.
    pub fn transfer_ended(&self) {
        self.counters.ended.fetch_add(1, Ordering::AcqRel);
        if let Some(slots) = &self.closed_loop_slots {
            slots.add_permits(1);
        }
        self.ended.notify_waiters();
    }

    /// Records the payer's final callback; the first one ends the transfer.
    pub fn payer_heard(&self, record: &Record, outcome: Outcome, code: u16) {
        if self.book.payer_final(record, outcome, code) {
            self.transfer_ended();
        }
    }

    /// The payee's simulator got the prepare.
    pub fn payee_prepared(&self, record: &Record) {
        if self.book.payee_prepare(record) {
            self.counters
                .payee_notices_owed
                .fetch_add(1, Ordering::AcqRel);
        }
    }

    /// A callback told the payee of the transfer's end; the first one may end the drain.
    pub fn payee_told(&self, record: &Record) {
        if self.book.payee_notice(record) {
            self.counters
                .payee_notices_owed
                .fetch_sub(1, Ordering::AcqRel);
            self.ended.notify_waiters();
        }
    }

    pub fn payee_notices_owed(&self) -> i64 {
        self.counters.payee_notices_owed.load(Ordering::Acquire)
    }

    /// Waits until `done` holds or `deadline` passes, woken by every transfer's end and every
    /// payee's first notice.
    pub async fn drain_until(&self, deadline: Instant, done: impl Fn() -> bool) {
        loop {
            let woken = self.ended.notified();
            if done() || Instant::now() >= deadline {
                return;
            }
            // Bounded wait: `notified` was registered before the check, so no wake-up is
            // missed; the timeout only bounds the wait at the deadline.
            let _ = tokio::time::timeout_at(deadline.into(), woken).await;
        }
    }

    pub fn sent(&self) -> u64 {
        self.counters.sent.load(Ordering::Acquire)
    }

    pub fn ended_count(&self) -> u64 {
        self.counters.ended.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::PayeeBehaviour;

    fn run() -> Arc<Run> {
        ferroloop_tls::install_crypto_provider();
        let terms = TransferTerms {
            amount: "1".into(),
            currency: "XXX".into(),
            expires_in: Duration::from_secs(30),
        };
        let dfsps = vec!["payer".into(), "payee".into()];
        let http = reqwest::Client::new();
        let book = Book::new(Instant::now());
        Arc::new(Run::new(
            book,
            IdSpace::new(1),
            dfsps,
            "http://hub",
            http,
            terms,
            None,
        ))
    }

    /// A transfer from DFSP 0 to DFSP 1 whose payee got the prepare; its index.
    fn prepared_at_the_payee(run: &Run) -> u64 {
        let (index, record) = run
            .book
            .allocate(Instant::now(), 0, 1, PayeeBehaviour::Fulfil)
            .unwrap();
        run.payee_prepared(record);
        index
    }

    #[tokio::test]
    async fn the_drain_waits_for_a_payee_notice_still_owed() {
        let run = run();
        let index = prepared_at_the_payee(&run);
        run.payee_prepared(run.book.get(index).unwrap()); // a second prepare owes nothing more
        assert_eq!(run.payee_notices_owed(), 1);

        let teller = tokio::spawn({
            let run = Arc::clone(&run);
            async move {
                tokio::task::yield_now().await;
                let record = run.book.get(index).unwrap();
                run.payee_told(record);
                run.payee_told(record); // a duplicate pays nothing back
            }
        });
        let far = Instant::now() + Duration::from_secs(60);
        run.drain_until(far, || run.payee_notices_owed() <= 0).await;
        teller.await.unwrap();
        assert_eq!(run.payee_notices_owed(), 0);
        assert!(
            Instant::now() < far,
            "woken by the notice, not the deadline"
        );
    }

    #[tokio::test]
    async fn the_drain_gives_up_at_its_deadline() {
        let run = run();
        prepared_at_the_payee(&run);
        let deadline = Instant::now() + Duration::from_millis(50);
        run.drain_until(deadline, || run.payee_notices_owed() <= 0)
            .await;
        assert!(Instant::now() >= deadline);
        assert_eq!(run.payee_notices_owed(), 1);
    }
}
