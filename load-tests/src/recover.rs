//! The FSPIOP recovery for a missed callback: a payer still waiting asks the hub with
//! `GET /transfers/{ID}` and the hub answers with the transfer's state on the usual callback
//! (`--recover-with-get`). The chaos campaign uses it to tell "the hub finished the transfer but
//! its callback was lost" from "the hub lost the transfer".

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;

use crate::book::Outcome;
use crate::fspiop;
use crate::run::Run;

/// GETs in flight at once.
const CONCURRENCY: usize = 32;

/// Asks the hub about every accepted transfer whose payer heard nothing, then waits up to
/// `wait` for the answers. Returns how many of them ended that way.
pub async fn ask_hub(run: &Arc<Run>, wait: Duration) -> u64 {
    let waiting: Vec<u64> = run
        .book
        .views()
        .filter(|v| v.accepted_us.is_some() && v.outcome == Outcome::Pending)
        .map(|v| v.index)
        .collect();
    if waiting.is_empty() {
        return 0;
    }
    eprintln!(
        "{} payers heard nothing: asking the hub (GET /transfers/{{ID}})",
        waiting.len()
    );
    futures::stream::iter(waiting.iter().copied())
        .for_each_concurrent(CONCURRENCY, |index| ask(run, index))
        .await;
    let deadline = Instant::now() + wait;
    loop {
        let woken = run.ended.notified();
        let still = waiting.iter().filter(|&&i| pending(run, i)).count();
        if still == 0 || Instant::now() >= deadline {
            return (waiting.len() - still) as u64;
        }
        let _ = tokio::time::timeout_at(deadline.into(), woken).await;
    }
}

fn pending(run: &Run, index: u64) -> bool {
    run.book
        .get(index)
        .is_some_and(|r| r.outcome() == Outcome::Pending)
}

async fn ask(run: &Run, index: u64) {
    let Some(record) = run.book.get(index) else {
        return;
    };
    let (payer, payee) = record.parties();
    let id = run.ids.id(index).to_string();
    // Content-Type too: FSPIOP requires it on a GET (shared/fspiop headers rules).
    let headers = fspiop::headers(run.dfsp(payer), run.dfsp(payee));
    let sent = run
        .http
        .get(format!("{}/transfers/{id}", run.api_url))
        .headers(headers)
        .send()
        .await;
    if let Ok(response) = sent
        && !response.status().is_success()
    {
        eprintln!("GET /transfers/{id}: {}", response.status());
    }
}
