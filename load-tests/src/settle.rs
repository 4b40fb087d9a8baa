//! Settlement while transfers stream (`--settle-every-seconds N`, docs/settlement.md): every N
//! seconds the tool closes the open settlement window through the admin API, creates a
//! settlement of it under the onboarding settlement model and walks every account to SETTLED
//! (with auth on, each step is approved with `--admin-checker-token`). It records what each
//! settlement took off each DFSP's position, so the gate can still check that the positions
//! moved by exactly the committed transfers; the database half of the gate checks the
//! settlement invariants S1–S4.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::gate::Check;
use crate::onboard::{Admin, SETTLEMENT_MODEL};

/// The states an account walks, in order.
const STEPS: [&str; 4] = [
    "PS_TRANSFERS_RECORDED",
    "PS_TRANSFERS_RESERVED",
    "PS_TRANSFERS_COMMITTED",
    "SETTLED",
];

/// What the settlements of a run did.
#[derive(Debug, Default, Clone)]
pub struct Settled {
    pub windows_closed: u32,
    pub settlements: u32,
    /// Net amount settled per POSITION account id (the position moved by −amount).
    pub by_account: HashMap<u64, Decimal>,
    pub failures: Vec<String>,
    /// Seconds each close-and-settle took.
    pub durations: Vec<f64>,
}

/// Settles every `every` until `stop`, then returns what it did.
pub async fn settle_periodically(
    admin: Arc<Admin>,
    every: Duration,
    stop: CancellationToken,
) -> Settled {
    let done = Arc::new(Mutex::new(Settled::default()));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
        let started = std::time::Instant::now();
        let outcome = settle_once(&admin, &done).await;
        if let Ok(mut settled) = done.lock() {
            match outcome {
                Ok(true) => settled.durations.push(started.elapsed().as_secs_f64()),
                Ok(false) => {}
                Err(error) => settled.failures.push(format!("{error:#}")),
            }
        }
    }
    done.lock().map(|s| s.clone()).unwrap_or_default()
}

/// Closes the open window and settles it; false when the window was empty.
async fn settle_once(admin: &Admin, done: &Mutex<Settled>) -> Result<bool> {
    let (status, open) = admin
        .call(Method::GET, "/settlementWindows?state=OPEN", None)
        .await?;
    let window = open[0]["id"]
        .as_u64()
        .with_context(|| format!("no OPEN settlement window: {status}: {open}"))?;
    let body = json!({"state": "CLOSED", "reason": "ferroloop-load settlement"});
    let path = format!("/settlementWindows/{window}");
    let (status, answer) = change_retrying_busy(admin, Method::POST, &path, &body).await?;
    if status == StatusCode::BAD_REQUEST && answer.to_string().contains("is empty") {
        return Ok(false);
    }
    if status != StatusCode::OK {
        bail!("closing window {window}: {status}: {answer}");
    }
    count(done, |s| s.windows_closed += 1);
    let body = json!({"settlementModel": SETTLEMENT_MODEL, "reason": "ferroloop-load",
        "settlementWindows": [{"id": window}]});
    let (status, mut settlement) =
        change_retrying_busy(admin, Method::POST, "/settlements", &body).await?;
    if status != StatusCode::OK {
        bail!("settling window {window}: {status}: {settlement}");
    }
    for step in STEPS {
        settlement = advance(admin, &settlement, step).await?;
    }
    count(done, |s| {
        s.settlements += 1;
        for (account, net) in net_amounts(&settlement) {
            *s.by_account.entry(account).or_default() += net;
        }
    });
    Ok(true)
}

/// Attempts of one change while the hub answers 503 (2003, "database busy, please retry": a lock
/// wait or deadlock against the stream rolled the change back), and the pause between them.
const BUSY_ATTEMPTS: u32 = 5;
const BUSY_PAUSE: Duration = Duration::from_millis(200);

/// A change through the admin API, sent again when the hub asks for a retry, as an operator's
/// tool does.
async fn change_retrying_busy(
    admin: &Admin,
    method: Method,
    path: &str,
    body: &Value,
) -> Result<(StatusCode, Value)> {
    let mut attempt = 1;
    loop {
        let (status, answer) = admin.change_with_answer(method.clone(), path, body).await?;
        if status != StatusCode::SERVICE_UNAVAILABLE || attempt >= BUSY_ATTEMPTS {
            return Ok((status, answer));
        }
        attempt += 1;
        tokio::time::sleep(BUSY_PAUSE).await;
    }
}

fn count(done: &Mutex<Settled>, change: impl FnOnce(&mut Settled)) {
    if let Ok(mut settled) = done.lock() {
        change(&mut settled);
    }
}

/// Every account of the settlement to `state`, in one request.
async fn advance(admin: &Admin, settlement: &Value, state: &str) -> Result<Value> {
    let id = settlement["id"]
        .as_u64()
        .with_context(|| format!("not a settlement: {settlement}"))?;
    let participants: Vec<Value> = settlement["participants"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let accounts: Vec<Value> = p["accounts"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|a| json!({"id": a["id"], "state": state, "reason": "ferroloop-load"}))
                .collect();
            json!({"id": p["id"], "accounts": accounts})
        })
        .collect();
    let body = json!({"participants": participants});
    let path = format!("/settlements/{id}");
    let (status, answer) = change_retrying_busy(admin, Method::PUT, &path, &body).await?;
    if status != StatusCode::OK || answer["state"] != state {
        bail!("settlement {id} to {state}: {status}: {answer}");
    }
    Ok(answer)
}

/// What the run's settlements took off `name`'s position in `currency` (its POSITION
/// account's net amounts).
pub async fn settled_for(
    admin: &Admin,
    settled: &Settled,
    name: &str,
    currency: &str,
) -> Result<Decimal> {
    let (status, accounts) = admin
        .call(Method::GET, &format!("/participants/{name}/accounts"), None)
        .await?;
    if status != StatusCode::OK {
        bail!("accounts of {name}: {status}: {accounts}");
    }
    let position = accounts
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|a| a["ledgerAccountType"] == "POSITION" && a["currency"] == currency)
        })
        .and_then(|a| a["id"].as_u64())
        .with_context(|| format!("{name} has no {currency} position account"))?;
    Ok(settled
        .by_account
        .get(&position)
        .copied()
        .unwrap_or_default())
}

/// The gate's line about the settlements themselves.
pub fn check(settled: &Settled) -> Check {
    let slowest = settled.durations.iter().copied().fold(0.0_f64, f64::max);
    Check {
        name: "settlements during the run closed and settled every window they took".to_owned(),
        passed: settled.failures.is_empty(),
        detail: format!(
            "{} windows closed, {} settled (slowest close-and-settle {slowest:.2} s){}",
            settled.windows_closed,
            settled.settlements,
            settled
                .failures
                .first()
                .map(|f| format!("; failed: {f}"))
                .unwrap_or_default()
        ),
    }
}

/// `(POSITION account id, net amount)` of every account of a settlement.
fn net_amounts(settlement: &Value) -> Vec<(u64, Decimal)> {
    let mut found = Vec::new();
    for p in settlement["participants"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        for a in p["accounts"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let amount = a["netSettlementAmount"]["amount"].to_string();
            if let (Some(id), Ok(net)) = (a["id"].as_u64(), amount.parse::<Decimal>()) {
                found.push((id, net));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_amounts_are_read_exactly_from_the_settlement() {
        let settlement = json!({"participants": [
            {"id": 2, "accounts": [{"id": 3, "netSettlementAmount": {"amount": 12.5, "currency": "USD"}}]},
            {"id": 4, "accounts": [{"id": 5, "netSettlementAmount": {"amount": -12.5, "currency": "USD"}}]},
        ]});
        assert_eq!(
            net_amounts(&settlement),
            vec![(3, Decimal::new(125, 1)), (5, Decimal::new(-125, 1))]
        );
    }
}
