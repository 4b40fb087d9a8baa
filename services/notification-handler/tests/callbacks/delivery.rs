//! Retries, their bounds, and the outcome metrics.

use std::time::Duration;

use ferroloop_messaging::Envelope;
use time::OffsetDateTime;

use crate::harness::*;

const PAYER: &str = "payerfsp";
const PAYEE: &str = "payeefsp";

/// A `timeout-received` for the payer: one hub `PUT …/error`.
fn error_to_payer(id: &str) -> Envelope {
    expired_error_to(id, PAYER)
}

fn callbacks(outcome: &str) -> [(&'static str, String); 2] {
    [
        ("kind", "error".to_owned()),
        ("outcome", outcome.to_owned()),
    ]
}

async fn outcome_count(h: &Harness, outcome: &str) -> u64 {
    let labels = callbacks(outcome);
    let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    h.metric("ferroloop_callbacks_total", &labels).await
}

async fn wait_outcome(h: &Harness, outcome: &str, count: u64) {
    let labels = callbacks(outcome);
    let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    h.wait_metric("ferroloop_callbacks_total", &labels, count)
        .await;
}

async fn attempts(h: &Harness, result: &str) -> u64 {
    h.metric(
        "ferroloop_callback_attempts_total",
        &[("kind", "error"), ("result", result)],
    )
    .await
}

#[tokio::test]
async fn failures_are_retried_until_success_and_counted() {
    let sim = Sim::start().await;
    let mut h = Harness::start().await;
    h.dfsp(PAYER, &sim).await;
    // Two 503s, then the default 200: three attempts.
    sim.script(&[503, 503]);
    let id = new_id();
    h.send(&[error_to_payer(&id)]).await;
    let requests = sim.wait_for(&id, 3).await;
    wait_outcome(&h, "delivered", 1).await;
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.body == requests[0].body));
    assert_eq!(attempts(&h, "5xx").await, 2);
    assert_eq!(attempts(&h, "2xx").await, 1);
    // 429 is retried too.
    sim.script(&[429]);
    let id = new_id();
    h.send(&[error_to_payer(&id)]).await;
    sim.wait_for(&id, 2).await;
    wait_outcome(&h, "delivered", 2).await;
    assert_eq!(attempts(&h, "429").await, 1);
    assert_eq!(outcome_count(&h, "failed").await, 0);
    assert_eq!(sim.requests().len(), 5);
    // The same figures on the operations endpoint.
    let text = ferroloop_testkit::http_client()
        .get(format!("http://{}/metrics", h.ops))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric_value(
            &text,
            "ferroloop_callbacks_total",
            &[("kind", "error"), ("outcome", "delivered")]
        ),
        2
    );
    assert!(
        text.contains("ferroloop_callback_attempt_seconds"),
        "{text}"
    );
    for path in ["/health/live", "/health/ready"] {
        let status = ferroloop_testkit::http_client()
            .get(format!("http://{}{path}", h.ops))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{path}");
    }
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let sim = Sim::start().await;
    let mut h = Harness::start().await;
    h.dfsp(PAYER, &sim).await;
    sim.script(&[400]);
    let id = new_id();
    h.send(&[error_to_payer(&id)]).await;
    wait_outcome(&h, "rejected", 1).await;
    // The outcome is final: nothing is pending and exactly one request was made.
    assert_eq!(sim.requests_for(&id).len(), 1);
    assert_eq!(attempts(&h, "4xx").await, 1);
    assert_eq!(h.metric("ferroloop_callback_retries_pending", &[]).await, 0);
}

#[tokio::test]
async fn an_always_failing_dfsp_gets_exactly_max_attempts() {
    let sim = Sim::start().await;
    sim.set_default_status(503);
    let mut h = Harness::start().await; // 4 attempts at most
    h.dfsp(PAYER, &sim).await;
    // And one whose endpoint refuses connections.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let payee = h.participant(PAYEE).await;
    h.point_endpoints(payee, PAYEE, &format!("http://{closed}"))
        .await;
    let id = new_id();
    let refused = new_id();
    let mut to_payee = error_to_payer(&refused);
    to_payee.to = PAYEE.into();
    h.send(&[error_to_payer(&id), to_payee]).await;
    wait_outcome(&h, "failed", 2).await;
    assert_eq!(sim.requests_for(&id).len(), 4);
    assert_eq!(attempts(&h, "5xx").await, 4);
    assert_eq!(attempts(&h, "connect").await, 4);
    assert_eq!(outcome_count(&h, "delivered").await, 0);
}

#[tokio::test]
async fn retries_stop_at_the_transfers_expiry() {
    let payee = Sim::start().await;
    payee.set_default_status(503);
    let mut h = Harness::start().await; // expiry grace 0
    h.dfsp(PAYEE, &payee).await;
    let payer = Sim::start().await;
    h.dfsp(PAYER, &payer).await;
    // A prepare that has just expired: the first attempt is made, no retry.
    let id = new_id();
    let bytes = prepare_bytes(
        &id,
        PAYER,
        PAYEE,
        OffsetDateTime::now_utc() - Duration::from_secs(1),
    );
    h.send(&[prepare_notification(&prepare_inbound(
        &id, PAYER, PAYEE, &bytes,
    ))])
    .await;
    h.wait_metric(
        "ferroloop_callbacks_total",
        &[("kind", "post"), ("outcome", "failed")],
        1,
    )
    .await;
    assert_eq!(payee.requests().len(), 1);
}

#[tokio::test]
async fn a_missing_endpoint_is_counted_and_not_retried() {
    let sim = Sim::start().await;
    let mut h = Harness::start().await;
    h.dfsp(PAYER, &sim).await;
    // A participant without endpoints, and a name nobody registered.
    h.participant(PAYEE).await;
    let mut without = error_to_payer(&new_id());
    without.to = PAYEE.into();
    let mut unknown = error_to_payer(&new_id());
    unknown.to = "nobody".into();
    h.send(&[without, unknown]).await;
    h.wait_processed().await;
    assert_eq!(outcome_count(&h, "no_endpoint").await, 2);
    assert!(sim.requests().is_empty());
    assert_eq!(attempts(&h, "5xx").await + attempts(&h, "connect").await, 0);
}

#[tokio::test]
async fn shutdown_waits_for_retries_at_most_the_grace() {
    let sim = Sim::start().await;
    sim.set_default_status(503);
    let mut h = Harness::start_with(far_retries).await;
    h.dfsp(PAYER, &sim).await;
    let id = new_id();
    h.send(&[error_to_payer(&id)]).await;
    h.wait_processed().await;
    assert_eq!(sim.requests_for(&id).len(), 1);
    assert_eq!(h.metric("ferroloop_callback_retries_pending", &[]).await, 1);
    // The retry is ten minutes away; the handler still stops at once, abandoning it.
    h.stop().await;
    assert_eq!(outcome_count(&h, "abandoned").await, 1);
    assert_eq!(sim.requests_for(&id).len(), 1);
}
