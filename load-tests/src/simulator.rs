//! The embedded DFSP simulators: one HTTP listener serving every simulated DFSP under
//! `/<dfsp name>/…`, so the hub's callback matrix is observed exactly as DFSPs would see it.
//!
//! As payee a simulator answers POST /transfers with 202 and then, on its own connection, PUTs
//! the valid fulfilment (COMMITTED or RESERVED) or stays silent, as the transfer's record says.
//! As payer it records the final callback (PUT or PUT /error). Everything else the hub sends
//! (the commit copy and PATCH to the payee, errors to the payee) is counted per transfer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{post, put};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::book::{Outcome, PayeeBehaviour, Record};
use crate::fspiop;
use crate::run::Run;

/// Starts the simulators on `addr`; they stop when `shutdown` is cancelled.
pub async fn start(
    run: Arc<Run>,
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let router = Router::new()
        .route("/{dfsp}/transfers", post(on_prepare))
        .route("/{dfsp}/transfers/{id}", put(on_put).patch(on_patch))
        .route("/{dfsp}/transfers/{id}/error", put(on_error))
        .fallback(on_stray)
        .with_state(run);
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            eprintln!("simulators stopped: {e}");
        }
    });
    Ok(bound)
}

#[derive(serde::Deserialize)]
struct PrepareIds<'a> {
    #[serde(rename = "transferId", borrow)]
    transfer_id: &'a str,
}

#[derive(serde::Deserialize)]
struct TransferState<'a> {
    #[serde(rename = "transferState", borrow)]
    transfer_state: Option<&'a str>,
}

enum Party {
    Payer,
    Payee,
}

/// The record of `id` and which of its parties `dfsp` is; counts strays and misdirections.
fn locate<'r>(run: &'r Run, dfsp: &str, id: &str) -> Option<(&'r Record, Party)> {
    let Some((_, record)) = run.record(id) else {
        run.counters.stray_callbacks.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    let (payer, payee) = record.parties();
    match run.dfsp_index(dfsp) {
        Some(i) if i == payer => Some((record, Party::Payer)),
        Some(i) if i == payee => Some((record, Party::Payee)),
        _ => {
            run.counters
                .misdirected_callbacks
                .fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

async fn on_prepare(
    State(run): State<Arc<Run>>,
    Path(dfsp): Path<String>,
    body: Bytes,
) -> StatusCode {
    if refuse_on_purpose(&run, &dfsp) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let Ok(ids) = serde_json::from_slice::<PrepareIds>(&body) else {
        run.counters.stray_callbacks.fetch_add(1, Ordering::Relaxed);
        return StatusCode::BAD_REQUEST;
    };
    let Some((record, Party::Payee)) = locate(&run, &dfsp, ids.transfer_id) else {
        return StatusCode::ACCEPTED;
    };
    run.payee_prepared(record);
    let state = match record.behaviour() {
        Some(PayeeBehaviour::Fulfil) => "COMMITTED",
        Some(PayeeBehaviour::Reserve) => "RESERVED",
        Some(PayeeBehaviour::Silent) | None => return StatusCode::ACCEPTED,
    };
    // A real DFSP answers after the 202, on its own connection.
    let id = ids.transfer_id.to_owned();
    tokio::spawn(answer(run, id, state));
    StatusCode::ACCEPTED
}

/// The failing DFSP's 503 (`--failing-dfsp-*`), counted.
fn refuse_on_purpose(run: &Run, dfsp: &str) -> bool {
    let failing = run.failing_now(dfsp);
    if failing {
        run.counters
            .failed_on_purpose
            .fetch_add(1, Ordering::Relaxed);
    }
    failing
}

/// First wait before a payee resends its answer; doubled after each failure.
const RESEND_DELAY: Duration = Duration::from_millis(250);

/// The payee's PUT /transfers/{id} with the fulfilment, resent (same body, as a DFSP does)
/// while it fails to send or gets a 5xx, up to the configured attempts.
async fn answer(run: Arc<Run>, id: String, state: &'static str) {
    let Some((_, record)) = run.record(&id) else {
        return;
    };
    let (payer, payee) = record.parties();
    run.book.payee_answer(record);
    let body = fspiop::fulfil_body(state);
    let attempts = run.misbehaviour.payee_answer_attempts.max(1);
    let mut delay = RESEND_DELAY;
    let mut refused = true;
    for attempt in 1..=attempts {
        if attempt > 1 {
            tokio::time::sleep(delay).await;
            delay *= 2;
            run.counters
                .payee_answer_resends
                .fetch_add(1, Ordering::Relaxed);
        }
        let sent = run
            .http
            .put(format!("{}/transfers/{id}", run.api_url))
            .headers(fspiop::headers(run.dfsp(payee), run.dfsp(payer)))
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                refused = false;
                break;
            }
            // A 4xx will not change on a resend.
            Ok(response) if !response.status().is_server_error() => break,
            _ => {}
        }
    }
    if refused {
        run.book.payee_answer_refused(record);
        run.counters
            .payee_answer_failures
            .fetch_add(1, Ordering::Relaxed);
    }
}

async fn on_put(
    State(run): State<Arc<Run>>,
    Path((dfsp, id)): Path<(String, String)>,
    body: Bytes,
) -> StatusCode {
    if refuse_on_purpose(&run, &dfsp) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match locate(&run, &dfsp, &id) {
        Some((record, Party::Payer)) => {
            let state = serde_json::from_slice::<TransferState>(&body)
                .ok()
                .and_then(|s| s.transfer_state);
            match state {
                Some("COMMITTED") => run.payer_heard(record, Outcome::Committed, 0),
                Some("ABORTED") => run.payer_heard(record, Outcome::Aborted, 0),
                // RESERVED is not final for the payer; anything else is not a state.
                _ => {}
            }
        }
        Some((record, Party::Payee)) => run.payee_told(record),
        None => {}
    }
    StatusCode::OK
}

async fn on_patch(
    State(run): State<Arc<Run>>,
    Path((dfsp, id)): Path<(String, String)>,
) -> StatusCode {
    if refuse_on_purpose(&run, &dfsp) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if let Some((record, _)) = locate(&run, &dfsp, &id) {
        run.payee_told(record);
    }
    StatusCode::OK
}

async fn on_error(
    State(run): State<Arc<Run>>,
    Path((dfsp, id)): Path<(String, String)>,
    body: Bytes,
) -> StatusCode {
    if refuse_on_purpose(&run, &dfsp) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let code = fspiop::error_code(&body);
    run.counters.error_callback(code);
    match locate(&run, &dfsp, &id) {
        Some((record, Party::Payer)) => {
            run.payer_heard(record, Outcome::Aborted, code);
        }
        Some((record, Party::Payee)) => run.payee_told(record),
        None => {}
    }
    StatusCode::OK
}

async fn on_stray(State(run): State<Arc<Run>>) -> StatusCode {
    run.counters.stray_callbacks.fetch_add(1, Ordering::Relaxed);
    StatusCode::NOT_FOUND
}
