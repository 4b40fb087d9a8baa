//! Drives POST /transfers: open loop at a constant arrival rate, or closed loop with a fixed
//! number of transfers in flight, for a duration or a count.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::book::{Outcome, PayeeBehaviour};
use crate::config::{Mode, Pairs};
use crate::fspiop;
use crate::run::Run;

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// What to send.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: Mode,
    pub rate_per_second: u32,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    pub pairs: Pairs,
    pub skew_percent: u8,
    pub reserved_percent: u8,
    pub silent_percent: u8,
    pub max_in_flight: u32,
    pub seed: u64,
}

/// Chooses payer, payee and payee behaviour for each transfer.
#[derive(Debug)]
struct Chooser {
    rng: SmallRng,
    dfsps: u16,
    pairs: Pairs,
    skew_percent: u8,
    reserved_percent: u8,
    silent_percent: u8,
    next_static_pair: u16,
}

impl Chooser {
    fn new(plan: &Plan, dfsps: u16) -> Self {
        assert!(dfsps >= 2, "a transfer needs two DFSPs");
        Self {
            rng: SmallRng::seed_from_u64(plan.seed),
            dfsps,
            pairs: plan.pairs,
            skew_percent: plan.skew_percent,
            reserved_percent: plan.reserved_percent,
            silent_percent: plan.silent_percent,
            next_static_pair: 0,
        }
    }

    fn percent(&mut self) -> u8 {
        self.rng.random_range(0..100)
    }

    /// A payee other than `payer`, uniformly.
    fn other_than(&mut self, payer: u16) -> u16 {
        let pick = self.rng.random_range(0..self.dfsps - 1);
        if pick >= payer { pick + 1 } else { pick }
    }

    fn parties(&mut self) -> (u16, u16) {
        match self.pairs {
            Pairs::Static => {
                let pair = self.next_static_pair;
                self.next_static_pair = (pair + 1) % (self.dfsps / 2);
                (pair * 2, pair * 2 + 1)
            }
            Pairs::Random => {
                let payer = self.rng.random_range(0..self.dfsps);
                (payer, self.other_than(payer))
            }
            Pairs::Skewed => {
                let payer = if self.percent() < self.skew_percent {
                    0
                } else {
                    self.rng.random_range(1..self.dfsps)
                };
                (payer, self.other_than(payer))
            }
        }
    }

    fn behaviour(&mut self) -> PayeeBehaviour {
        let roll = self.percent();
        if roll < self.silent_percent {
            PayeeBehaviour::Silent
        } else if roll < self.silent_percent.saturating_add(self.reserved_percent) {
            PayeeBehaviour::Reserve
        } else {
            PayeeBehaviour::Fulfil
        }
    }
}

/// When sending started and stopped.
#[derive(Debug, Clone, Copy)]
pub struct Driven {
    pub started: Instant,
    pub stopped: Instant,
}

/// Sends transfers per `plan` until the count or duration is reached or `stop` is cancelled.
pub async fn drive(run: Arc<Run>, plan: Plan, stop: CancellationToken) -> Driven {
    let dfsps = u16::try_from(run.dfsps.len()).unwrap_or(u16::MAX);
    let mut chooser = Chooser::new(&plan, dfsps);
    let in_flight = Arc::new(Semaphore::new(plan.max_in_flight as usize));
    let started = Instant::now();
    let end = plan.duration.map(|d| started + d);
    let period_ns = NANOS_PER_SECOND / u64::from(plan.rate_per_second.max(1));
    let mut sent: u64 = 0;
    loop {
        if plan.count.is_some_and(|count| sent >= count) || stop.is_cancelled() {
            break;
        }
        let scheduled = match plan.mode {
            Mode::Open => {
                // The schedule, not the clock, says when a transfer is due: a stalled hub makes
                // the next sends late, and that lateness is counted as latency.
                let due = started + Duration::from_nanos(period_ns.saturating_mul(sent));
                if end.is_some_and(|end| due >= end) {
                    break;
                }
                tokio::select! {
                    () = tokio::time::sleep_until(due.into()) => {}
                    () = stop.cancelled() => break,
                }
                due
            }
            Mode::Closed => {
                let Some(slots) = run.closed_loop_slots.clone() else {
                    unreachable!("a closed-loop run has slots")
                };
                tokio::select! {
                    permit = slots.acquire_owned() => match permit {
                        Ok(permit) => permit.forget(),
                        Err(_) => break,
                    },
                    () = stop.cancelled() => break,
                }
                let now = Instant::now();
                if end.is_some_and(|end| now >= end) {
                    break;
                }
                now
            }
        };
        let permit = tokio::select! {
            permit = Arc::clone(&in_flight).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = stop.cancelled() => break,
        };
        let (payer, payee) = chooser.parties();
        let behaviour = chooser.behaviour();
        let Some((index, _)) = run.book.allocate(scheduled, payer, payee, behaviour) else {
            eprintln!("the run's record book is full; stopping");
            break;
        };
        sent += 1;
        run.counters.sent.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(send(Arc::clone(&run), index, permit));
    }
    Driven {
        started,
        stopped: Instant::now(),
    }
}

/// One POST /transfers as the payer.
async fn send(run: Arc<Run>, index: u64, _in_flight: OwnedSemaphorePermit) {
    let Some(record) = run.book.get(index) else {
        return;
    };
    let (payer, payee) = record.parties();
    let id = run.ids.id(index).to_string();
    let (payer, payee) = (run.dfsp(payer), run.dfsp(payee));
    let body = fspiop::prepare_body(
        &id,
        payer,
        payee,
        &run.terms.amount,
        &run.terms.currency,
        run.terms.expires_in,
    );
    let sent = run
        .http
        .post(format!("{}/transfers", run.api_url))
        .headers(fspiop::headers(payer, payee))
        .body(body)
        .send()
        .await;
    let ended = match sent {
        Ok(response) if response.status() == reqwest::StatusCode::ACCEPTED => {
            run.book.accepted(record);
            run.counters.accepted.fetch_add(1, Ordering::AcqRel);
            false
        }
        Ok(response) => {
            let body = response.bytes().await.unwrap_or_default();
            run.book
                .refused(record, Outcome::Refused, fspiop::error_code(&body))
        }
        Err(_) => run.book.refused(record, Outcome::SendFailed, 0),
    };
    if ended {
        run.transfer_ended();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(pairs: Pairs) -> Plan {
        Plan {
            mode: Mode::Open,
            rate_per_second: 1,
            count: None,
            duration: None,
            pairs,
            skew_percent: 70,
            reserved_percent: 20,
            silent_percent: 10,
            max_in_flight: 1,
            seed: 7,
        }
    }

    #[test]
    fn static_pairs_cycle_through_fixed_payer_payee_pairs() {
        let mut chooser = Chooser::new(&plan(Pairs::Static), 6);
        let seen: Vec<_> = (0..6).map(|_| chooser.parties()).collect();
        assert_eq!(seen, [(0, 1), (2, 3), (4, 5), (0, 1), (2, 3), (4, 5)]);
    }

    #[test]
    fn random_pairs_never_pay_themselves_and_reach_everyone() {
        let mut chooser = Chooser::new(&plan(Pairs::Random), 5);
        let mut payers = [0_u32; 5];
        for _ in 0..10_000 {
            let (payer, payee) = chooser.parties();
            assert_ne!(payer, payee);
            assert!(payee < 5);
            payers[usize::from(payer)] += 1;
        }
        assert!(payers.iter().all(|&n| n > 1_500), "{payers:?}");
    }

    #[test]
    fn skewed_pairs_send_the_share_from_the_first_dfsp() {
        let mut chooser = Chooser::new(&plan(Pairs::Skewed), 4);
        let from_first = (0..10_000).filter(|_| chooser.parties().0 == 0).count();
        assert!((6_700..7_300).contains(&from_first), "{from_first}");
    }

    #[test]
    fn behaviours_follow_the_percentages() {
        let mut chooser = Chooser::new(&plan(Pairs::Random), 4);
        let mut counts = [0_u32; 3];
        for _ in 0..10_000 {
            match chooser.behaviour() {
                PayeeBehaviour::Silent => counts[0] += 1,
                PayeeBehaviour::Reserve => counts[1] += 1,
                PayeeBehaviour::Fulfil => counts[2] += 1,
            }
        }
        assert!((800..1_200).contains(&counts[0]), "{counts:?}");
        assert!((1_800..2_200).contains(&counts[1]), "{counts:?}");
        assert!((6_700..7_300).contains(&counts[2]), "{counts:?}");
    }
}
