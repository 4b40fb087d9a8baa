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
    let mut prepare =
        ferroloop_prepare_handler::handler(pool.clone(), topics.clone(), HUB.into(), false);
    let prepared = twice(&pool, &mut prepare, &batch).await;
    assert_eq!(only(&topics.position, &prepared).len(), 4);
    assert_eq!(
        only(&topics.notification, &prepared).len(),
        1,
        "the invalid one"
    );

    // Position: reserve three, reject one with 4200.
    let mut position =
        ferroloop_position_handler::handler(pool.clone(), topics.clone(), HUB.into());
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
    let mut fulfil = ferroloop_fulfil_handler::handler(pool.clone(), topics.clone(), HUB.into());
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

    // The fulfil batch again, after the position handler moved every transfer on (COMMITTED,
    // ABORTED_ERROR twice): a replay after downstream progress sends nothing to anyone.
    let before = snapshot(&pool).await;
    let late = fulfil
        .handle(&envelopes(&topics.fulfil, &fulfils))
        .await
        .expect("late replay");
    assert_eq!(
        snapshot(&pool).await,
        before,
        "the late replay changed the database"
    );
    assert!(
        late.is_empty(),
        "a replay after commit or abort said something: {:?}",
        normalised(&late)
    );

    // Get: answers are the same however often they are asked.
    let gets: Vec<Envelope> = ids
        .iter()
        .map(|id| Pipeline::get_envelope(id, "payerfsp"))
        .collect();
    let mut get = ferroloop_get_handler::handler(pool.clone(), topics.clone(), HUB.into());
    let answers = twice(&pool, &mut get, &envelopes(&topics.get, &gets)).await;
    assert_eq!(answers.len(), ids.len());

    p.assert_invariants().await;
}

/// A pipeline with payerfsp and payeefsp, and one transfer of 10 RESERVED through the handlers
/// themselves (no consumers running: every step is a direct call).
struct Direct {
    p: Pipeline,
    topics: Topics,
    fulfil: ferroloop_fulfil_handler::FulfilHandler,
    id: String,
}

async fn reserved_direct() -> Direct {
    let mut p = Pipeline::start_with(Handlers::NONE).await;
    p.onboard("payerfsp", "1000", "1000").await;
    p.onboard("payeefsp", "1000", "0").await;
    let pool = p.db.pool.clone();
    let topics: Topics = p.broker.topics();
    let body = p.prepare_body("payerfsp", "payeefsp", "10", Duration::from_secs(60));
    let id = body["transferId"].as_str().unwrap().to_owned();
    let mut prepare =
        ferroloop_prepare_handler::handler(pool.clone(), topics.clone(), HUB.into(), false);
    let prepared = prepare
        .handle(&envelopes(
            &topics.prepare,
            &[Pipeline::prepare_envelope(&body, "payerfsp")],
        ))
        .await
        .unwrap();
    let mut position =
        ferroloop_position_handler::handler(pool.clone(), topics.clone(), HUB.into());
    position
        .handle(&received(
            &topics.position,
            &only(&topics.position, &prepared),
        ))
        .await
        .unwrap();
    let fulfil = ferroloop_fulfil_handler::handler(pool.clone(), topics.clone(), HUB.into());
    Direct {
        p,
        topics,
        fulfil,
        id,
    }
}

/// The transfers, their journal and the positions (not the request log).
async fn ledger(pool: &MySqlPool) -> Vec<String> {
    snapshot(pool)
        .await
        .split(|row| row == "--")
        .take(4)
        .flatten()
        .cloned()
        .collect()
}

fn payee_error() -> Value {
    json!({"errorInformation": {"errorCode": "5100", "errorDescription": "Payee rejected"}})
}

#[tokio::test]
async fn a_payee_error_after_a_hub_abort_is_a_duplicate_not_the_hubs_replay() {
    let mut d = reserved_direct().await;
    let (_, _, wrong) = ilp_pair();
    // The payee's wrong fulfilment makes the hub abort (RECEIVED_ERROR, reversal pending).
    let aborted = d
        .fulfil
        .handle(&envelopes(
            &d.topics.fulfil,
            &[Pipeline::fulfil_envelope(
                &d.id,
                &json!({"transferState": "COMMITTED", "fulfilment": wrong}),
                "payeefsp",
                Some("payerfsp"),
            )],
        ))
        .await
        .unwrap();
    assert_eq!(only(&d.topics.position, &aborted).len(), 1);
    assert_eq!(
        d.p.state(&d.id).await,
        Some(ferroloop_core::state::TransferState::ReceivedError)
    );
    // Then its own PUT /error arrives: not a second abort.
    let before = ledger(&d.p.db.pool).await;
    let answer = d
        .fulfil
        .handle(&envelopes(
            &d.topics.fulfil,
            &[Pipeline::error_envelope(
                &d.id,
                &payee_error(),
                "payeefsp",
                Some("payerfsp"),
            )],
        ))
        .await
        .unwrap();
    assert!(
        only(&d.topics.position, &answer).is_empty(),
        "no second abort for the position handler: {:?}",
        normalised(&answer)
    );
    assert_eq!(
        ledger(&d.p.db.pool).await,
        before,
        "the transfer and positions changed"
    );
}

#[tokio::test]
async fn a_fulfil_after_the_payees_own_error_is_a_modified_request_not_the_hubs_replay() {
    let mut d = reserved_direct().await;
    let (fulfilment, _, _) = ilp_pair();
    let aborted = d
        .fulfil
        .handle(&envelopes(
            &d.topics.fulfil,
            &[Pipeline::error_envelope(
                &d.id,
                &payee_error(),
                "payeefsp",
                Some("payerfsp"),
            )],
        ))
        .await
        .unwrap();
    assert_eq!(only(&d.topics.position, &aborted).len(), 1);
    // The payee changes its mind and fulfils.
    let before = ledger(&d.p.db.pool).await;
    let answer = d
        .fulfil
        .handle(&envelopes(
            &d.topics.fulfil,
            &[Pipeline::fulfil_envelope(
                &d.id,
                &json!({"transferState": "COMMITTED", "fulfilment": fulfilment}),
                "payeefsp",
                Some("payerfsp"),
            )],
        ))
        .await
        .unwrap();
    assert!(
        only(&d.topics.position, &answer).is_empty(),
        "no abort replayed: {:?}",
        normalised(&answer)
    );
    let told = only(&d.topics.notification, &answer);
    assert_eq!(told.len(), 1, "{:?}", normalised(&answer));
    let envelope = Envelope::from_json_bytes(&told[0].payload).unwrap();
    assert_eq!(envelope.to, "payeefsp");
    assert_eq!(
        ferroloop_tests::error_code(&envelope).as_deref(),
        Some("3106")
    );
    assert_eq!(
        ledger(&d.p.db.pool).await,
        before,
        "the transfer and positions changed"
    );
}
