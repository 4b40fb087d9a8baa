//! Crash safety (I5): each handler process is killed with SIGKILL in the middle of a stream of
//! 2,000 transfers and restarted; afterwards every transfer reached exactly one final state and
//! the storage invariants hold.
//!
//! The handlers run as their real binaries (built by `cargo build --workspace --bins`, which
//! `make test` does before the suite). A payee simulator at the Kafka boundary answers every
//! prepare that reaches it with a valid fulfilment.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use ferroloop_core::state::TransferState;
use ferroloop_messaging::{BatchConsumer, Envelope};
use ferroloop_tests::{Dfsp, Handlers, Pipeline, ilp_pair, workspace_binary};
use rust_decimal::Decimal;
use serde_json::json;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

const TRANSFERS: usize = 2_000;
const CHUNK: usize = 50;
/// Longest the whole stream may take to finish after the last kill.
const FINISH_WITHIN: Duration = Duration::from_secs(120);

struct Process {
    name: &'static str,
    child: Child,
}

fn spawn(p: &Pipeline, name: &'static str) -> Process {
    let prefix = &p.broker.args.kafka_topic_prefix;
    let child = Command::new(workspace_binary(name))
        .env("DATABASE_URL", &p.db.url)
        .env("DATABASE_MAX_CONNECTIONS", "4")
        .env("KAFKA_BROKERS", &p.broker.args.kafka_brokers)
        .env("KAFKA_TOPIC_PREFIX", prefix)
        .env("PREPARE_CONSUMER_GROUP", format!("{prefix}prepare"))
        .env("POSITION_CONSUMER_GROUP", format!("{prefix}position"))
        .env("FULFIL_CONSUMER_GROUP", format!("{prefix}fulfil"))
        .env("TIMEOUT_INTERVAL_MS", "100")
        .env("TIMEOUT_REDRIVE_AFTER_MS", "3000")
        .env("OPS_ADDR", "127.0.0.1:0")
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    Process { name, child }
}

/// Answers every prepare that reaches a payee with a valid fulfilment, at the Kafka boundary.
fn payee_simulator(p: &Pipeline, stop: CancellationToken) {
    let consumer = BatchConsumer::new(
        &p.broker.args,
        &p.broker.group("payee-simulator"),
        &[p.broker.topics().notification.as_str()],
    )
    .expect("simulator consumer");
    let producer = p.producer.clone();
    let fulfil_topic = p.broker.topics().fulfil;
    let (fulfilment, _, _) = ilp_pair();
    tokio::spawn(async move {
        loop {
            let batch = match consumer.next_batch(&stop).await {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => batch,
                Err(_) => continue,
            };
            let mut answers = Vec::new();
            for message in &batch {
                let Ok(envelope) = Envelope::from_json_bytes(&message.payload) else {
                    continue;
                };
                if envelope.action() != "prepare" || !envelope.metadata.event.state.is_success() {
                    continue;
                }
                let put = json!({"transferState": "COMMITTED", "fulfilment": fulfilment});
                let answer = Pipeline::fulfil_envelope(
                    envelope.transfer_id(),
                    &put,
                    &envelope.to,
                    Some(&envelope.from),
                );
                answers.push(ferroloop_messaging::OutboundMessage {
                    topic: fulfil_topic.clone(),
                    key: None,
                    payload: answer.to_json_bytes(),
                });
            }
            if producer.send_all(&answers).await.is_ok() {
                consumer.store_offsets(&batch).ok();
            }
        }
    });
}

async fn count_final(p: &Pipeline) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM transfer t JOIN transfer_state s ON s.state = t.state WHERE t.kind = 'TRANSFER' AND s.is_final",
    )
    .fetch_one(&p.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_handler_killed_mid_stream_loses_and_duplicates_nothing() {
    let mut p = Pipeline::start_with(Handlers::NONE).await;
    let mut dfsps: Vec<Dfsp> = Vec::new();
    for name in ["dfspa", "dfspb", "dfspc", "dfspd"] {
        dfsps.push(p.onboard(name, "1000000", "1000000").await);
    }
    let stop = CancellationToken::new();
    payee_simulator(&p, stop.clone());
    let mut processes: Vec<Process> = [
        "prepare-handler",
        "position-handler",
        "fulfil-handler",
        "timeout-handler",
    ]
    .into_iter()
    .map(|name| spawn(&p, name))
    .collect();

    // The stream, with one SIGKILL + restart of each handler spread through it.
    let kill_at = [400, 800, 1_200, 1_600];
    let mut ids = HashSet::new();
    for chunk_start in (0..TRANSFERS).step_by(CHUNK) {
        if let Some(victim) = kill_at.iter().position(|&at| at == chunk_start) {
            // Kill while work flows: once most of what was sent so far is finished.
            let flowing = (chunk_start / 2) as i64;
            let deadline = tokio::time::Instant::now() + FINISH_WITHIN;
            while count_final(&p).await < flowing {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the pipeline is not flowing"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let process = &mut processes[victim];
            process.child.start_kill().expect("SIGKILL");
            process.child.wait().await.expect("reaped");
            let name = process.name;
            processes[victim] = spawn(&p, name);
        }
        let mut envelopes = Vec::with_capacity(CHUNK);
        for n in chunk_start..chunk_start + CHUNK {
            let payer = &dfsps[n % dfsps.len()];
            let payee = &dfsps[(n + 1 + n / dfsps.len()) % dfsps.len()];
            let payee = if payee.name == payer.name {
                &dfsps[(n + 1) % dfsps.len()]
            } else {
                payee
            };
            let body = p.prepare_body(&payer.name, &payee.name, "1.25", Duration::from_secs(300));
            ids.insert(body["transferId"].as_str().unwrap().to_owned());
            envelopes.push(Pipeline::prepare_envelope(&body, &payer.name));
        }
        p.send_prepares(&envelopes).await;
        tokio::time::sleep(Duration::from_millis(20)).await; // pacing: a stream, not one burst
    }
    assert_eq!(ids.len(), TRANSFERS);

    // Wait for the last commit: the database says when every transfer is final.
    let deadline = tokio::time::Instant::now() + FINISH_WITHIN;
    loop {
        let finished = count_final(&p).await;
        if finished as usize == TRANSFERS {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {finished} of {TRANSFERS} transfers finished"
        );
        // Polling the database: "stored" has no other signal.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop.cancel();
    for mut process in processes {
        process.child.start_kill().ok();
        process.child.wait().await.ok();
    }

    let committed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM transfer WHERE kind = 'TRANSFER' AND state = ?")
            .bind(TransferState::Committed.as_str())
            .fetch_one(&p.db.pool)
            .await
            .unwrap();
    assert_eq!(
        committed as usize, TRANSFERS,
        "every transfer committed exactly once"
    );
    p.assert_invariants().await;
    // I3: no position ever above its cap.
    for dfsp in &dfsps {
        let highest: Option<Decimal> =
            sqlx::query_scalar("SELECT MAX(value_after) FROM position_change WHERE account_id = ?")
                .bind(dfsp.position_account)
                .fetch_one(&p.db.pool)
                .await
                .unwrap();
        assert!(highest.unwrap_or_default() <= ferroloop_tests::dec("1000000"));
    }
}
