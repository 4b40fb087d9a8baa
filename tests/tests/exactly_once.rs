//! Every handler, fed the same batch twice, has no second effect and emits the same output
//! (docs/delivery.md#idempotent-handlers): the redelivery a crash between commit and offset store
//! causes is harmless.

use std::time::Duration;

use ferroloop_messaging::{BatchHandler, Envelope, OutboundMessage, ReceivedMessage, Topics};
use ferroloop_tests::{Handlers, Pipeline, ilp_pair};
use serde_json::{Value, json};
use sqlx::MySqlPool;

const HUB: &str = "Hub";

/// Messages as a consumer would hand them over.
fn received(topic: &str, messages: &[OutboundMessage]) -> Vec<ReceivedMessage> {
    messages
        .iter()
        .enumerate()
        .map(|(offset, m)| ReceivedMessage {
            topic: topic.to_owned(),
            partition: 0,
            offset: offset as i64,
            key: m.key.as_ref().map(|k| k.clone().into_bytes()),
            payload: m.payload.clone(),
        })
        .collect()
}

fn envelopes(topic: &str, envelopes: &[Envelope]) -> Vec<ReceivedMessage> {
    let messages: Vec<OutboundMessage> = envelopes
        .iter()
        .map(|e| OutboundMessage {
            topic: topic.to_owned(),
            key: None,
            payload: e.to_json_bytes(),
        })
        .collect();
    received(topic, &messages)
}

/// An output message without what legitimately differs between two runs: fresh event ids,
/// creation times and Date headers. Sorted: a batch's output is produced together, and order
/// between different transfers is not part of the contract (each transfer has one message
/// per batch here).
fn normalised(messages: &[OutboundMessage]) -> Vec<Value> {
    let mut normalised: Vec<Value> = messages
        .iter()
        .map(|m| {
            let mut envelope: Value = serde_json::from_slice(&m.payload).unwrap();
            let event = &mut envelope["metadata"]["event"];
            event["id"] = Value::Null;
            event["createdAt"] = Value::Null;
            if let Some(headers) = envelope["content"]["headers"].as_object_mut() {
                headers.remove("date");
            }
            json!({"topic": m.topic, "key": m.key, "envelope": envelope})
        })
        .collect();
    normalised.sort_by_key(Value::to_string);
    normalised
}

/// Everything a handler may write, in a stable order.
async fn snapshot(pool: &MySqlPool) -> Vec<String> {
    let queries = [
        "SELECT CONCAT_WS('|', transfer_id, state, state_changed_at) FROM transfer ORDER BY transfer_id",
        "SELECT CONCAT_WS('|', transfer_id, COALESCE(from_state, '-'), state) FROM transfer_state_change ORDER BY transfer_state_change_id",
        "SELECT CONCAT_WS('|', account_id, value, reserved_value) FROM participant_position ORDER BY account_id",
        "SELECT CONCAT_WS('|', account_id, transfer_id, phase, change_amount, value_after) FROM position_change ORDER BY position_change_id",
        "SELECT CONCAT_WS('|', transfer_id, error_code, error_description) FROM transfer_error ORDER BY transfer_id",
        "SELECT CONCAT_WS('|', transfer_id, source_event_id) FROM transfer_duplicate_check ORDER BY transfer_id",
        "SELECT CONCAT_WS('|', transfer_id, source_event_id) FROM transfer_fulfilment_duplicate_check ORDER BY transfer_id",
        "SELECT CONCAT_WS('|', transfer_id, source_event_id) FROM transfer_error_duplicate_check ORDER BY transfer_id",
        "SELECT CONCAT_WS('|', transfer_id, ilp_fulfilment) FROM transfer_fulfilment ORDER BY transfer_id",
        "SELECT CONCAT_WS('|', transfer_id, phase, ext_key) FROM transfer_extension ORDER BY transfer_extension_id",
        "SELECT CONCAT_WS('|', transfer_id, due_at) FROM transfer_timeout ORDER BY transfer_id",
    ];
    let mut rows = Vec::new();
    for query in queries {
        rows.extend(
            sqlx::query_scalar::<_, String>(query)
                .fetch_all(pool)
                .await
                .unwrap(),
        );
        rows.push("--".into());
    }
    rows
}

/// Runs `batch` through `handler` twice; asserts the second run changed nothing and said the
/// same. Returns the output.
async fn twice<H: BatchHandler>(
    pool: &MySqlPool,
    handler: &mut H,
    batch: &[ReceivedMessage],
) -> Vec<OutboundMessage> {
    let first = handler.handle(batch).await.expect("first run");
    let after_first = snapshot(pool).await;
    let second = handler.handle(batch).await.expect("second run");
    assert_eq!(
        snapshot(pool).await,
        after_first,
        "{}: the replay changed the database",
        handler.name()
    );
    assert_eq!(
        normalised(&second),
        normalised(&first),
        "{}: the replay said something else",
        handler.name()
    );
    first
}

fn only(topic: &str, messages: &[OutboundMessage]) -> Vec<OutboundMessage> {
    messages
        .iter()
        .filter(|m| m.topic == topic)
        .cloned()
        .collect()
}

#[tokio::test]
async fn every_handler_fed_the_same_batch_twice_has_one_effect_and_the_same_output() {
    let mut p = Pipeline::start_with(Handlers::NONE).await;
    p.onboard("payerfsp", "25", "1000").await;
    p.onboard("payeefsp", "1000", "0").await;
    let pool = p.db.pool.clone();
    let topics: Topics = p.broker.topics();
    let minute = Duration::from_secs(60);

    // Prepare: three that fit, one over the cap, one invalid.
    let bodies: Vec<Value> = ["10", "10", "5", "10"]
        .iter()
        .map(|a| p.prepare_body("payerfsp", "payeefsp", a, minute))
        .chain([p.prepare_body("payerfsp", "ghostfsp", "1", minute)])
        .collect();
    let ids: Vec<String> = bodies
        .iter()
        .map(|b| b["transferId"].as_str().unwrap().to_owned())
        .collect();
    let batch = envelopes(
        &topics.prepare,
        &bodies
            .iter()
            .map(|b| Pipeline::prepare_envelope(b, "payerfsp"))
            .collect::<Vec<_>>(),
    );
    let mut prepare = ferroloop_prepare_handler::PrepareHandler::new(
        pool.clone(),
        topics.clone(),
        HUB.into(),
        false,
    );
    let prepared = twice(&pool, &mut prepare, &batch).await;
    assert_eq!(only(&topics.position, &prepared).len(), 4);
    assert_eq!(
        only(&topics.notification, &prepared).len(),
        1,
        "the invalid one"
    );

    // Position: reserve three, reject one with 4200.
    let mut position =
        ferroloop_position_handler::PositionHandler::new(pool.clone(), topics.clone(), HUB.into());
    let reserved = twice(
        &pool,
        &mut position,
        &received(&topics.position, &only(&topics.position, &prepared)),
    )
    .await;
    assert_eq!(reserved.len(), 4);

    // Fulfil: commit the first, wrong fulfilment for the second, payee error for the third.
    let (fulfilment, _, wrong) = ilp_pair();
    let fulfils = vec![
        Pipeline::fulfil_envelope(
            &ids[0],
            &json!({"transferState": "COMMITTED", "fulfilment": fulfilment}),
            "payeefsp",
            Some("payerfsp"),
        ),
        Pipeline::fulfil_envelope(
            &ids[1],
            &json!({"transferState": "COMMITTED", "fulfilment": wrong}),
            "payeefsp",
            Some("payerfsp"),
        ),
        Pipeline::error_envelope(
            &ids[2],
            &json!({"errorInformation": {"errorCode": "5104", "errorDescription": "Payee rejected transaction"}}),
            "payeefsp",
            Some("payerfsp"),
        ),
    ];
    let mut fulfil =
        ferroloop_fulfil_handler::FulfilHandler::new(pool.clone(), topics.clone(), HUB.into());
    let fulfilled = twice(&pool, &mut fulfil, &envelopes(&topics.fulfil, &fulfils)).await;
    assert_eq!(only(&topics.position, &fulfilled).len(), 3);

    // Position again: commit, two reversals.
    let finished = twice(
        &pool,
        &mut position,
        &received(&topics.position, &only(&topics.position, &fulfilled)),
    )
    .await;
    assert_eq!(finished.len(), 3);

    // Get: answers are the same however often they are asked.
    let gets: Vec<Envelope> = ids
        .iter()
        .map(|id| Pipeline::get_envelope(id, "payerfsp"))
        .collect();
    let mut get = ferroloop_get_handler::GetHandler::new(pool.clone(), topics.clone(), HUB.into());
    let answers = twice(&pool, &mut get, &envelopes(&topics.get, &gets)).await;
    assert_eq!(answers.len(), ids.len());

    p.assert_invariants().await;
}
