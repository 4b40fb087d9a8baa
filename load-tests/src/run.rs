//! The state one run shares between the driver, the simulators and the report.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Woken whenever a transfer ends (the drain waits on it).
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

    pub fn sent(&self) -> u64 {
        self.counters.sent.load(Ordering::Acquire)
    }

    pub fn ended_count(&self) -> u64 {
        self.counters.ended.load(Ordering::Acquire)
    }
}
