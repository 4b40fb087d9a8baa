//! The Helm chart's Grafana dashboard queries only metrics the services export: a hub runs a
//! transfer end to end, and every metric name the dashboard's queries read must then be in the
//! Prometheus exposition, histograms with their buckets (the dashboard's `histogram_quantile`
//! needs `_bucket` series, not summaries).

use std::collections::BTreeSet;
use std::time::Duration;

use ferroloop_tests::Pipeline;
use ferroloop_tests::e2e::{Hub, Payee, SimulatedDfsp};
use reqwest::Method;
use serde_json::Value;

/// The dashboard shipped by the chart (`grafanaDashboard.enabled`).
fn dashboard() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../helm/ferroloop/dashboards/ferroloop.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("dashboard JSON")
}

/// Every `ferroloop_…` series name the dashboard's queries use, as written (`_bucket` kept).
fn queried_series(dashboard: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("expr");
            let mut rest = expr;
            while let Some(start) = rest.find("ferroloop_") {
                let tail = &rest[start..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                    .unwrap_or(tail.len());
                names.insert(tail[..end].to_owned());
                rest = &tail[end..];
            }
        }
    }
    names
}

/// Series names present in a Prometheus text exposition.
fn exported_series(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            line[..end].to_owned()
        })
        .collect()
}

#[test]
fn the_dashboard_queries_a_dozen_series_and_finds_them_by_name() {
    let names = queried_series(&dashboard());
    assert!(names.len() >= 12, "{names:?}");
    assert!(
        names.contains("ferroloop_batch_seconds_bucket"),
        "{names:?}"
    );
    assert!(
        names.contains("ferroloop_consumer_lag_messages"),
        "{names:?}"
    );
    let exported = exported_series(
        "# TYPE x counter\nferroloop_a_total{k=\"v\"} 1\nferroloop_b_bucket{le=\"1\"} 0\n",
    );
    assert_eq!(
        exported,
        BTreeSet::from(["ferroloop_a_total".into(), "ferroloop_b_bucket".into()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_queries_is_exported_by_a_running_hub() {
    let wanted = queried_series(&dashboard());
    let hub = Hub::start().await;
    hub.prepare_hub().await;
    let payer = SimulatedDfsp::start("payerfsp", Payee::Fulfils, hub.api).await;
    let payee = SimulatedDfsp::start("payeefsp", Payee::Fulfils, hub.api).await;
    hub.onboard(&payer, "1000", "5000").await;
    hub.onboard(&payee, "1000", "0").await;

    let body = Pipeline::prepare_body_static("payerfsp", "payeefsp", "10", Duration::from_secs(60));
    let id = body["transferId"].as_str().unwrap().to_owned();
    let bytes = serde_json::to_vec(&body).unwrap();
    let response = hub
        .fspiop(
            Method::POST,
            "/transfers",
            "payerfsp",
            Some("payeefsp"),
            Some(&bytes),
        )
        .await;
    assert_eq!(response.status(), 202);
    payer
        .wait_for("the commit", |c| {
            c.method == "PUT" && c.path == format!("/transfers/{id}")
        })
        .await;

    // Consumer lag comes from librdkafka's statistics, every 5 s: wait for that event, bounded.
    let handle = ferroloop_telemetry::metrics_handle();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let missing = loop {
        let exported = exported_series(&handle.render());
        let missing: Vec<&String> = wanted.difference(&exported).collect();
        if missing.is_empty() || tokio::time::Instant::now() >= deadline {
            break missing.into_iter().cloned().collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        missing.is_empty(),
        "the dashboard queries series no service exports: {missing:?}"
    );
}
