//! The bundled load-test tool against the whole hub over HTTP: it onboards its DFSPs, drives
//! transfers, reports what happened, and its validity gate fails a run that loses transfers.
//!
//! The tool runs as its real binary (`cargo build --workspace --bins`, as `make test` does).

use std::path::Path;
use std::process::Output;

use ferroloop_tests::e2e::Hub;
use ferroloop_tests::workspace_binary;
use serde_json::Value;
use tokio::process::Command;

async fn load_tool(hub: &Hub, report_dir: &Path, args: &[&str]) -> Output {
    Command::new(workspace_binary("ferroloop-load"))
        .arg("--api-url")
        .arg(format!("http://{}", hub.api))
        .arg("--admin-url")
        .arg(format!("http://{}", hub.admin))
        .arg("--database-url")
        .arg(&hub.pipeline.db.url)
        .arg("--report-dir")
        .arg(report_dir)
        .arg("--no-progress")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("ferroloop-load runs")
}

/// The single report the run wrote under `dir`.
fn report(dir: &Path) -> (Value, String) {
    let run_dir = std::fs::read_dir(dir)
        .expect("report dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.is_dir())
        .expect("a run directory");
    let json = std::fs::read(run_dir.join("report.json")).expect("report.json");
    let html = std::fs::read_to_string(run_dir.join("report.html")).expect("report.html");
    (serde_json::from_slice(&json).expect("JSON report"), html)
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_onboards_drives_every_payee_kind_and_passes_its_gate() {
    let hub = Hub::start().await;
    let dir = temp_dir("load-ok");
    let output = load_tool(
        &hub,
        &dir,
        &[
            "--dfsps",
            "4",
            "--count",
            "120",
            "--rate",
            "60",
            "--pairs",
            "skewed",
            "--reserved-percent",
            "20",
            "--silent-percent",
            "10",
            "--expiry-seconds",
            // Long enough for a cold pipeline: a transfer already past its expiration when the
            // position handler reaches it is expired, not reserved.
            "8",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output));
    let (report, html) = report(&dir);
    let totals = &report["totals"];
    assert_eq!(totals["sent"], 120, "{report:#}");
    assert_eq!(totals["still_open"], 0, "{report:#}");
    let committed = totals["committed"].as_u64().unwrap();
    let aborted = totals["aborted"].as_u64().unwrap();
    assert_eq!(committed + aborted, 120, "{report:#}");
    // Silent payees (10 %) make transfers expire with 3303; nothing else fails.
    assert!(aborted > 0, "{report:#}");
    assert_eq!(report["errors_by_code"]["3303"].as_u64(), Some(aborted));
    assert_eq!(report["latency"]["end_to_end"]["count"], committed);
    assert!(report["latency"]["end_to_end"]["p50_us"].as_u64().unwrap() > 0);
    assert_eq!(report["gate"]["passed"], true);
    assert_eq!(report["gate"]["database_checked"], true);
    // The tool waits for the payees' notices before it stops its simulators, so every payee
    // that got a prepare heard the end, expired ones included.
    assert_eq!(report["faults"]["payee_untold"], 0, "{report:#}");
    let checks = report["gate"]["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["name"].as_str().unwrap().starts_with("I3"))
    );
    // Four DFSPs, their positions balanced and the table printed.
    assert_eq!(report["positions"].as_array().unwrap().len(), 4);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("validity gate: PASSED"), "{stdout}");
    assert!(stdout.contains("end to end (committed)"), "{stdout}");
    assert!(html.contains("<svg") && html.contains("Transfers per second"));
    // The bar's unit: every committed transfer falls in one window of the timeline.
    let windows = report["windows"].as_array().unwrap();
    let in_windows: u64 = windows
        .iter()
        .map(|w| w["committed"].as_u64().unwrap())
        .sum();
    assert_eq!(in_windows, committed, "{report:#}");
    assert!(stdout.contains("worst window p99"), "{stdout}");
    assert!(html.contains("End to end per window"));
    // The ledger agrees.
    ferroloop_store::invariants::assert_storage_invariants(&hub.pipeline.db.pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn binding_limits_refuse_with_4200_as_expected() {
    let hub = Hub::start().await;
    let dir = temp_dir("load-limits");
    let output = load_tool(
        &hub,
        &dir,
        &[
            "--dfsps",
            "2",
            "--pairs",
            "static",
            "--count",
            "30",
            "--mode",
            "closed",
            "--concurrency",
            "4",
            "--limits",
            "binding",
            "--binding-transfers",
            "10",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output));
    let (report, _) = report(&dir);
    // One payer, a cap of ten transfers: exactly ten commit, twenty are refused.
    assert_eq!(report["totals"]["committed"], 10, "{report:#}");
    assert_eq!(report["errors_by_code"]["4200"], 20, "{report:#}");
    let payer = &report["positions"][0];
    assert_eq!(payer["after"], "10");
    assert_eq!(report["gate"]["passed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gate_fails_a_run_whose_callbacks_never_arrive() {
    let hub = Hub::start().await;
    let dir = temp_dir("load-lost");
    // The hub is told to call the simulators where nothing listens: no payee ever hears the
    // prepare and no payer the outcome.
    let output = load_tool(
        &hub,
        &dir,
        &[
            "--count",
            "10",
            "--rate",
            "20",
            "--expiry-seconds",
            "1",
            "--drain-grace-seconds",
            "2",
            "--callback-url",
            "http://127.0.0.1:9",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let (report, _) = report(&dir);
    assert_eq!(report["gate"]["passed"], false);
    assert_eq!(report["totals"]["still_open"], 10);
    let failed: Vec<_> = report["gate"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        failed.iter().any(|n| n.starts_with("every transfer ended")),
        "{failed:?}"
    );
    // The ledger itself is fine: the transfers expired and were reversed.
    ferroloop_store::invariants::assert_storage_invariants(&hub.pipeline.db.pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tool_onboards_against_an_admin_api_with_auth_on() {
    use ferroloop_admin_api::auth::{self, AuthMode, TokenAlgorithm, TokenRequest};

    let keys = temp_dir("admin-issuer");
    let (public, _) = auth::write_issuer_key(&keys, "issuer").expect("issuer key");
    let signing_key = std::fs::read(keys.join("issuer.key")).unwrap();
    let hub = Hub::start_with_admin(|config| {
        config.auth.mode = AuthMode::On;
        config.auth.issuer = Some("local-demo".into());
        config.auth.audience = Some("ferroloop-admin".into());
        config.auth.key_files = vec![public.clone()];
    })
    .await;
    let issued_at = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    let token = |subject: &str, roles: &[&str]| {
        auth::mint(&TokenRequest {
            signing_key_pem: &signing_key,
            algorithm: TokenAlgorithm::Es256,
            key_id: Some("issuer"),
            issuer: "local-demo",
            audience: "ferroloop-admin",
            subject,
            roles: &roles.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>(),
            issued_at,
            ttl_seconds: 600,
        })
        .unwrap()
    };
    let maker = token("load-operator", &["operator", "finance-maker"]);
    let checker = token("load-checker", &["finance-checker"]);
    let dir = temp_dir("load-auth");
    let run = [
        "--dfsps", "2", "--pairs", "static", "--count", "10", "--rate", "20",
    ];
    // Without tokens the tool is refused at its first call.
    let refused = load_tool(&hub, &dir, &run).await;
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("401"), "{}", text(&refused));
    // With the maker's token only, funds-in waits for a checker: the tool says what it needs.
    let mut args = vec!["--admin-token", maker.as_str(), "--name-prefix", "mk"];
    args.extend(run);
    let unchecked = load_tool(&hub, &dir, &args).await;
    assert!(!unchecked.status.success(), "{}", text(&unchecked));
    assert!(
        text(&unchecked).contains("--admin-checker-token"),
        "{}",
        text(&unchecked)
    );
    // With both it onboards (approving its own funds-in as the checker) and runs.
    let dir = temp_dir("load-auth-ok");
    let mut args = vec![
        "--admin-token",
        maker.as_str(),
        "--admin-checker-token",
        checker.as_str(),
    ];
    args.extend(run);
    let output = load_tool(&hub, &dir, &args).await;
    assert!(output.status.success(), "{}", text(&output));
    let (report, _) = report(&dir);
    assert_eq!(report["totals"]["committed"], 10, "{report:#}");
    assert_eq!(report["gate"]["passed"], true);
    ferroloop_store::invariants::assert_storage_invariants(&hub.pipeline.db.pool)
        .await
        .unwrap();
    std::fs::remove_dir_all(keys).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tool_settles_windows_while_it_drives_and_its_gate_stays_green() {
    let hub = Hub::start().await;
    let dir = temp_dir("load-settle");
    let output = load_tool(
        &hub,
        &dir,
        &[
            "--dfsps",
            "3",
            "--count",
            "150",
            "--rate",
            "20",
            // Long enough for a cold pipeline on a loaded machine (see above).
            "--expiry-seconds",
            "20",
            "--settle-every-seconds",
            "1",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output));
    let (report, _) = report(&dir);
    assert_eq!(report["gate"]["passed"], true, "{report:#}");
    let checks = report["gate"]["checks"].as_array().unwrap();
    let settled = checks
        .iter()
        .find(|c| {
            c["name"]
                .as_str()
                .unwrap()
                .starts_with("settlements during the run")
        })
        .expect("the settlement check");
    assert_eq!(settled["passed"], true, "{settled}");
    assert!(
        checks
            .iter()
            .any(|c| c["name"].as_str().unwrap().starts_with("S1")),
        "{report:#}"
    );
    let pool = &hub.pipeline.db.pool;
    let settled: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM settlement WHERE state = 'SETTLED'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(settled >= 1, "windows were settled while the tool drove");
    hub.pipeline.assert_invariants().await;
}
