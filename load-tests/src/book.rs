//! What happened to every transfer of a run, written lock-free by the driver and the simulators
//! while the run goes and read once at the end.
//!
//! Records live in fixed-size chunks allocated on first use, so the book never moves a record
//! (simulator tasks hold `&Record`s) and never needs to know the run's length in advance.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// Records per chunk (a chunk is about 1.5 MiB).
const CHUNK_RECORDS: usize = 16_384;
/// Chunks a run may use: 67 million transfers, far beyond any run this tool makes.
const MAX_CHUNKS: usize = 4_096;

/// How the payee of a transfer answers its prepare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum PayeeBehaviour {
    /// PUT with COMMITTED and the valid fulfilment.
    Fulfil = 1,
    /// PUT with RESERVED and the valid fulfilment; the hub commits and PATCHes the payee.
    Reserve = 2,
    /// Never answers: the transfer expires (timeout load).
    Silent = 3,
}

impl PayeeBehaviour {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Fulfil),
            2 => Some(Self::Reserve),
            3 => Some(Self::Silent),
            _ => None,
        }
    }
}

/// How a transfer ended as the tool saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Outcome {
    /// Nothing final yet.
    Pending = 0,
    /// The payer's PUT callback said COMMITTED.
    Committed = 1,
    /// The payer got PUT /error (the code is in the record) or a PUT that said ABORTED.
    Aborted = 2,
    /// POST /transfers was answered with an error status (the FSPIOP code is in the record).
    Refused = 3,
    /// POST /transfers never got an answer (connection error or timeout).
    SendFailed = 4,
}

impl Outcome {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Committed,
            2 => Self::Aborted,
            3 => Self::Refused,
            4 => Self::SendFailed,
            _ => Self::Pending,
        }
    }
}

/// One transfer. Instants are microseconds since the run's epoch plus one, so 0 means "not yet".
#[derive(Debug, Default)]
pub struct Record {
    /// When the driver meant to send the POST (open loop: its slot in the schedule, so a stalled
    /// hub shows up as latency rather than as a lower send rate: no coordinated omission).
    scheduled: AtomicU64,
    /// When the 202 arrived.
    accepted: AtomicU64,
    /// When the payee's simulator received the hub's POST /transfers.
    payee_prepare: AtomicU64,
    /// When the payee's simulator sent its PUT.
    payee_answer: AtomicU64,
    /// When the payer's simulator received the final callback.
    finished: AtomicU64,
    /// Payer and payee as indexes into the run's DFSP list (payer << 16 | payee).
    parties: AtomicU32,
    behaviour: AtomicU8,
    outcome: AtomicU8,
    /// FSPIOP error code of a refusal or an abort (0 = none).
    error_code: AtomicU16,
    /// Final callbacks the payer received: more than one is a duplicate notification.
    payer_finals: AtomicU16,
    /// Callbacks the payee received after its answer (commit copy, PATCH, error).
    payee_notices: AtomicU16,
    /// The payee's PUT was refused by the hub.
    payee_answer_refused: AtomicU8,
}

/// A snapshot of one record, for the report.
#[derive(Debug, Clone, Copy)]
pub struct RecordView {
    pub index: u64,
    pub scheduled_us: Option<u64>,
    pub accepted_us: Option<u64>,
    pub payee_prepare_us: Option<u64>,
    pub payee_answer_us: Option<u64>,
    pub finished_us: Option<u64>,
    pub payer: u16,
    pub payee: u16,
    pub behaviour: Option<PayeeBehaviour>,
    pub outcome: Outcome,
    pub error_code: u16,
    pub payer_finals: u16,
    pub payee_notices: u16,
    pub payee_answer_refused: bool,
}

fn stored(v: u64) -> Option<u64> {
    v.checked_sub(1)
}

impl Record {
    pub fn parties(&self) -> (u16, u16) {
        let p = self.parties.load(Ordering::Acquire);
        ((p >> 16) as u16, (p & 0xffff) as u16)
    }

    pub fn behaviour(&self) -> Option<PayeeBehaviour> {
        PayeeBehaviour::from_u8(self.behaviour.load(Ordering::Acquire))
    }

    pub fn outcome(&self) -> Outcome {
        Outcome::from_u8(self.outcome.load(Ordering::Acquire))
    }
}

/// Every record of a run.
#[derive(Debug)]
pub struct Book {
    epoch: Instant,
    chunks: Box<[OnceLock<Box<[Record]>>]>,
    /// Records handed out so far.
    allocated: AtomicU64,
}

impl Book {
    pub fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            chunks: (0..MAX_CHUNKS).map(|_| OnceLock::new()).collect(),
            allocated: AtomicU64::new(0),
        }
    }

    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Microseconds since the epoch, stored plus one.
    fn stamp(&self, at: Instant) -> u64 {
        let us = u64::try_from(at.saturating_duration_since(self.epoch).as_micros())
            .unwrap_or(u64::MAX - 1);
        us + 1
    }

    /// A new record for a transfer between `payer` and `payee`, or `None` when the book is full.
    pub fn allocate(
        &self,
        scheduled: Instant,
        payer: u16,
        payee: u16,
        behaviour: PayeeBehaviour,
    ) -> Option<(u64, &Record)> {
        let index = self.allocated.fetch_add(1, Ordering::AcqRel);
        let record = self.slot(index)?;
        record
            .parties
            .store(u32::from(payer) << 16 | u32::from(payee), Ordering::Release);
        record.behaviour.store(behaviour as u8, Ordering::Release);
        record
            .scheduled
            .store(self.stamp(scheduled), Ordering::Release);
        Some((index, record))
    }

    fn slot(&self, index: u64) -> Option<&Record> {
        let index = usize::try_from(index).ok()?;
        let chunk = self.chunks.get(index / CHUNK_RECORDS)?;
        let records = chunk.get_or_init(|| {
            (0..CHUNK_RECORDS)
                .map(|_| Record::default())
                .collect::<Vec<_>>()
                .into_boxed_slice()
        });
        records.get(index % CHUNK_RECORDS)
    }

    /// The record of an allocated transfer.
    pub fn get(&self, index: u64) -> Option<&Record> {
        if index >= self.len() {
            return None;
        }
        self.slot(index)
    }

    /// Transfers allocated so far.
    pub fn len(&self) -> u64 {
        self.allocated
            .load(Ordering::Acquire)
            .min((MAX_CHUNKS * CHUNK_RECORDS) as u64)
    }

    pub fn accepted(&self, record: &Record) {
        record
            .accepted
            .store(self.stamp(Instant::now()), Ordering::Release);
    }

    /// Ends the transfer with `outcome` unless it ended already; true if this call ended it.
    fn settle(&self, record: &Record, outcome: Outcome, code: u16) -> bool {
        let ended_now = record
            .outcome
            .compare_exchange(
                Outcome::Pending as u8,
                outcome as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if ended_now {
            record.error_code.store(code, Ordering::Release);
            record
                .finished
                .store(self.stamp(Instant::now()), Ordering::Release);
        }
        ended_now
    }

    /// POST /transfers was refused with FSPIOP `code`, or never answered. True if this ended
    /// the transfer.
    pub fn refused(&self, record: &Record, outcome: Outcome, code: u16) -> bool {
        debug_assert!(matches!(outcome, Outcome::Refused | Outcome::SendFailed));
        self.settle(record, outcome, code)
    }

    /// The payee's simulator got the prepare. Only the first arrival is kept; true for it.
    pub fn payee_prepare(&self, record: &Record) -> bool {
        record
            .payee_prepare
            .compare_exchange(
                0,
                self.stamp(Instant::now()),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    pub fn payee_answer(&self, record: &Record) {
        let _ = record.payee_answer.compare_exchange(
            0,
            self.stamp(Instant::now()),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    pub fn payee_answer_refused(&self, record: &Record) {
        record.payee_answer_refused.store(1, Ordering::Release);
    }

    /// The payee heard of the transfer's end (or of its commit). True for the first notice.
    pub fn payee_notice(&self, record: &Record) -> bool {
        record.payee_notices.fetch_add(1, Ordering::AcqRel) == 0
    }

    /// The payer heard the end of the transfer. Returns true for the first final callback (the
    /// caller then releases the transfer's closed-loop slot); later ones only count.
    pub fn payer_final(&self, record: &Record, outcome: Outcome, code: u16) -> bool {
        record.payer_finals.fetch_add(1, Ordering::AcqRel);
        self.settle(record, outcome, code)
    }

    pub fn view(&self, index: u64) -> Option<RecordView> {
        let r = self.get(index)?;
        let (payer, payee) = r.parties();
        Some(RecordView {
            index,
            scheduled_us: stored(r.scheduled.load(Ordering::Acquire)),
            accepted_us: stored(r.accepted.load(Ordering::Acquire)),
            payee_prepare_us: stored(r.payee_prepare.load(Ordering::Acquire)),
            payee_answer_us: stored(r.payee_answer.load(Ordering::Acquire)),
            finished_us: stored(r.finished.load(Ordering::Acquire)),
            payer,
            payee,
            behaviour: r.behaviour(),
            outcome: r.outcome(),
            error_code: r.error_code.load(Ordering::Acquire),
            payer_finals: r.payer_finals.load(Ordering::Acquire),
            payee_notices: r.payee_notices.load(Ordering::Acquire),
            payee_answer_refused: r.payee_answer_refused.load(Ordering::Acquire) != 0,
        })
    }

    /// Every record, in index order.
    pub fn views(&self) -> impl Iterator<Item = RecordView> + '_ {
        (0..self.len()).filter_map(|i| self.view(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_keeps_its_first_final_callback() {
        let book = Book::new(Instant::now());
        let (index, record) = book
            .allocate(Instant::now(), 3, 4, PayeeBehaviour::Fulfil)
            .unwrap();
        assert_eq!(record.parties(), (3, 4));
        assert!(book.payer_final(record, Outcome::Committed, 0));
        assert!(!book.payer_final(record, Outcome::Aborted, 3100));
        let view = book.view(index).unwrap();
        assert_eq!(view.outcome, Outcome::Committed);
        assert_eq!(view.error_code, 0);
        assert_eq!(view.payer_finals, 2);
        assert!(view.finished_us.is_some());
    }

    #[test]
    fn records_span_chunks_and_unallocated_ones_are_absent() {
        let book = Book::new(Instant::now());
        for _ in 0..CHUNK_RECORDS + 2 {
            book.allocate(Instant::now(), 0, 1, PayeeBehaviour::Silent)
                .unwrap();
        }
        assert_eq!(book.len(), (CHUNK_RECORDS + 2) as u64);
        assert!(book.get((CHUNK_RECORDS + 1) as u64).is_some());
        assert!(book.get((CHUNK_RECORDS + 2) as u64).is_none());
    }
}
