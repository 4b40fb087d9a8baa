//! The pipeline's side of the trust boundary (docs/transfer-states.md#who-may-change-a-transfer):
//! every handler authorises on the principal the API adapter authenticated, never on a header a
//! DFSP wrote; names compare exactly; FSPIOP requests never touch funds transfers; PUT /error goes
//! to the payer only; limits are read under the position lock; expiry is always told; the
//! expiration has an upper bound; no reservation for an expired transfer; state updates are
//! guarded by the state they leave; and inactive participants start nothing new.

use std::time::Duration;

use ferroloop_core::hash::RequestHash;
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::AccountId;
use ferroloop_core::state::TransferState;
use ferroloop_messaging::{Authentication, BatchProducer, Envelope, KafkaArgs, Principal};
use ferroloop_store::participants::{self, limits};
use ferroloop_store::transfers::funds::{self, FundsAccount, FundsOutOutcome, FundsRequest};
use ferroloop_store::transfers::{self, StateChange};
use ferroloop_tests::{Dfsp, HUB, Handlers, Pipeline, WAIT, dec, error_code, ilp_pair, payload};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::OffsetDateTime;

const MINUTE: Duration = Duration::from_secs(60);

struct Setup {
    p: Pipeline,
    payer: Dfsp,
    payee: Dfsp,
}

async fn setup(handlers: Handlers) -> Setup {
    let mut p = Pipeline::start_with(handlers).await;
    let payer = p.onboard("payerfsp", "1000", "1000").await;
    let payee = p.onboard("payeefsp", "1000", "0").await;
    p.onboard("otherfsp", "1000", "0").await;
    Setup { p, payer, payee }
}

fn id_of(body: &Value) -> String {
    body["transferId"].as_str().unwrap().to_owned()
}

/// The same envelope, authenticated as someone else (what a DFSP that wrote another's name into
/// FSPIOP-Source would look like if anything upstream let it through).
fn as_principal(mut envelope: Envelope, fsp: &str) -> Envelope {
    envelope
        .content
        .context
        .get_or_insert_with(Default::default)
        .principal = Some(Principal::new(fsp, Authentication::Mtls));
    envelope
}

/// The same envelope without a principal (another adapter in front, such as Mojaloop's).
fn without_principal(mut envelope: Envelope) -> Envelope {
    if let Some(context) = envelope.content.context.as_mut() {
        context.principal = None;
    }
    envelope
}

fn committed_put(fulfilment: &str) -> Value {
    json!({"transferState": "COMMITTED", "fulfilment": fulfilment})
}

fn payee_error() -> Value {
    json!({"errorInformation": {"errorCode": "5100", "errorDescription": "Payee rejected"}})
}

/// A transfer of 10 from payerfsp to `payee`, RESERVED.
async fn reserved_to(p: &Pipeline, payee: &str) -> String {
    let body = p.prepare_body("payerfsp", payee, "10", MINUTE);
    let id = id_of(&body);
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    p.notifications
        .wait_for("reserved", |e| {
            e.transfer_id() == id && e.action() == "prepare"
        })
        .await;
    assert_eq!(p.state(&id).await, Some(TransferState::Reserved));
    id
}

/// Sends a marker fulfil behind whatever was sent before and waits for its answer: everything
/// the fulfil topic held before it has been handled and its output produced.
async fn fulfil_marker(p: &Pipeline) {
    let marker = uuid::Uuid::now_v7().to_string();
    p.send_fulfils(&[Pipeline::fulfil_envelope(
        &marker,
        &committed_put("x"),
        "payeefsp",
        None,
    )])
    .await;
    p.notifications
        .wait_for("marker", |e| e.transfer_id() == marker)
        .await;
}

/// Sends a marker prepare (payer → payee, 1) and waits for its reservation: every message the
/// prepare and position topics held before it has been handled.
async fn prepare_marker(p: &Pipeline) {
    let body = p.prepare_body("payerfsp", "payeefsp", "1", MINUTE);
    let id = id_of(&body);
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    p.notifications
        .wait_for("marker prepare", |e| e.transfer_id() == id)
        .await;
}

/// The warm-up transfer of [`prepare_handler_running`] (the only one of amount 1).
async fn first_reserved(p: &Pipeline) -> String {
    sqlx::query_scalar("SELECT transfer_id FROM transfer WHERE amount = 1")
        .fetch_one(&p.db.pool)
        .await
        .unwrap()
}

async fn count(p: &Pipeline, query: &str, id: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
        .bind(id)
        .fetch_one(&p.db.pool)
        .await
        .unwrap()
}

/// Waits until the prepare handler has joined its group and handles prepares (a prepare with a
/// short expiration must not expire while the consumer is still starting).
async fn prepare_handler_running(p: &Pipeline) {
    let body = p.prepare_body("payerfsp", "payeefsp", "1", MINUTE);
    let id = id_of(&body);
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    p.wait_for_state(&id, TransferState::ReceivedPrepare).await;
}

// ---- Item 0: the principal, not a header, decides -------------------------------------------

#[tokio::test]
async fn a_prepare_whose_principal_is_not_the_payer_is_refused_and_stores_nothing() {
    let s = setup(Handlers::ALL).await;
    let p = &s.p;
    // otherfsp authenticated, but wrote the payer's name into FSPIOP-Source.
    let body = p.prepare_body("payerfsp", "otherfsp", "10", MINUTE);
    let id = id_of(&body);
    p.send_prepares(&[as_principal(
        Pipeline::prepare_envelope(&body, "payerfsp"),
        "otherfsp",
    )])
    .await;
    let refused = p
        .notifications
        .wait_for("refusal", |e| e.transfer_id() == id)
        .await;
    assert_eq!(refused.to, "otherfsp", "the answer goes to the sender only");
    assert_eq!(error_code(&refused).as_deref(), Some("3100"));
    prepare_marker(p).await;
    assert_eq!(p.state(&id).await, None, "no transfer was stored");
    let claims = count(
        p,
        "SELECT COUNT(*) FROM transfer_duplicate_check WHERE transfer_id = ?",
        &id,
    )
    .await;
    assert_eq!(claims, 0, "a stranger's request does not occupy the id");
    assert_eq!(p.position(s.payer.position_account).await, dec("1"));
    assert!(
        p.notifications
            .for_transfer(&id)
            .iter()
            .all(|e| e.to == "otherfsp"),
        "the payer hears nothing"
    );
}

#[tokio::test]
async fn an_envelope_without_a_principal_is_refused_unless_the_boundary_is_trusted() {
    let s = setup(Handlers::ALL).await;
    let p = &s.p;
    let body = p.prepare_body("payerfsp", "payeefsp", "10", MINUTE);
    let id = id_of(&body);
    p.send_prepares(&[without_principal(Pipeline::prepare_envelope(
        &body, "payerfsp",
    ))])
    .await;
    prepare_marker(p).await;
    assert_eq!(p.state(&id).await, None, "refused: nobody authenticated it");
    assert!(p.notifications.for_transfer(&id).is_empty());

    // A reserved transfer: an unauthenticated fulfil changes nothing either.
    let reserved = reserved_to(p, "payeefsp").await;
    let (fulfilment, _, _) = ilp_pair();
    p.send_fulfils(&[without_principal(Pipeline::fulfil_envelope(
        &reserved,
        &committed_put(&fulfilment),
        "payeefsp",
        Some("payerfsp"),
    ))])
    .await;
    fulfil_marker(p).await;
    assert_eq!(p.state(&reserved).await, Some(TransferState::Reserved));
}

#[tokio::test]
async fn a_trusted_boundary_authorises_envelopes_without_a_principal_on_fspiop_source() {
    let mut p = Pipeline::start_with(Handlers::NONE).await;
    p.onboard("payerfsp", "1000", "1000").await;
    p.onboard("payeefsp", "1000", "0").await;
    let _trusting = p
        .start_group_trusting_boundary(
            Handlers {
                prepare: true,
                position: true,
                ..Handlers::NONE
            },
            "trusting-",
        )
        .await;
    let body = p.prepare_body("payerfsp", "payeefsp", "10", MINUTE);
    let id = id_of(&body);
    p.send_prepares(&[without_principal(Pipeline::prepare_envelope(
        &body, "payerfsp",
    ))])
    .await;
    p.wait_for_state(&id, TransferState::Reserved).await;
}

#[tokio::test]
async fn a_fulfil_or_error_whose_principal_is_not_the_payee_is_refused_even_with_the_payee_as_source()
 {
    let s = setup(Handlers::ALL).await;
    let p = &s.p;
    let id = reserved_to(p, "payeefsp").await;
    let (fulfilment, _, _) = ilp_pair();
    p.send_fulfils(&[
        as_principal(
            Pipeline::fulfil_envelope(
                &id,
                &committed_put(&fulfilment),
                "payeefsp",
                Some("payerfsp"),
            ),
            "otherfsp",
        ),
        as_principal(
            Pipeline::error_envelope(&id, &payee_error(), "payeefsp", Some("payerfsp")),
            "otherfsp",
        ),
    ])
    .await;
    let refused = p
        .notifications
        .wait_for_count("refusals", 2, |e| {
            e.transfer_id() == id && e.to == "otherfsp"
        })
        .await;
    for refusal in &refused {
        assert_eq!(error_code(refusal).as_deref(), Some("3100"));
    }
    fulfil_marker(p).await;
    assert_eq!(p.state(&id).await, Some(TransferState::Reserved));
    for table in [
        "transfer_fulfilment_duplicate_check",
        "transfer_error_duplicate_check",
    ] {
        let query = format!("SELECT COUNT(*) FROM {table} WHERE transfer_id = ?");
        assert_eq!(count(p, &query, &id).await, 0, "{table} stays free");
    }
    // The real payee still can.
    p.send_fulfils(&[Pipeline::fulfil_envelope(
        &id,
        &committed_put(&fulfilment),
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    p.wait_for_state(&id, TransferState::Committed).await;
    assert_eq!(p.position(s.payee.position_account).await, dec("-10"));
    p.assert_invariants().await;
}

#[tokio::test]
async fn a_get_is_answered_to_the_principal_only_when_it_is_a_party() {
    let s = setup(Handlers::ALL).await;
    let p = &s.p;
    let id = reserved_to(p, "payeefsp").await;
    // otherfsp claims to be the payer in FSPIOP-Source.
    p.send_gets(&[as_principal(
        Pipeline::get_envelope(&id, "payerfsp"),
        "otherfsp",
    )])
    .await;
    let answer = p
        .notifications
        .wait_for("answer", |e| e.transfer_id() == id && e.action() == "get")
        .await;
    assert_eq!(answer.to, "otherfsp");
    assert_eq!(error_code(&answer).as_deref(), Some("3000"));
    assert!(payload(&answer).get("transferState").is_none());
}

// ---- Item 3: exact names ---------------------------------------------------------------------

#[tokio::test]
async fn names_that_differ_only_in_case_are_different_participants_to_the_fulfil_handler() {
    let mut s = setup(Handlers::ALL).await;
    s.p.onboard("PAYEEFSP", "1000", "0").await;
    let p = &s.p;
    let (fulfilment, _, _) = ilp_pair();

    // PAYEEFSP, authenticated as itself, answers a transfer whose payee is payeefsp.
    let id = reserved_to(p, "payeefsp").await;
    p.send_fulfils(&[
        Pipeline::error_envelope(&id, &payee_error(), "PAYEEFSP", Some("payerfsp")),
        Pipeline::fulfil_envelope(
            &id,
            &committed_put(&fulfilment),
            "PAYEEFSP",
            Some("payerfsp"),
        ),
    ])
    .await;
    p.notifications
        .wait_for_count("refusals", 2, |e| {
            e.transfer_id() == id && e.to == "PAYEEFSP"
        })
        .await;
    fulfil_marker(p).await;
    assert_eq!(p.state(&id).await, Some(TransferState::Reserved));

    // The payee names PAYERFSP as the destination of its fulfilment for payer payerfsp: the
    // routing check fails (as for any other wrong destination) and nothing is committed.
    let second = reserved_to(p, "payeefsp").await;
    p.send_fulfils(&[Pipeline::fulfil_envelope(
        &second,
        &committed_put(&fulfilment),
        "payeefsp",
        Some("PAYERFSP"),
    )])
    .await;
    p.wait_for_state(&second, TransferState::AbortedError).await;
    assert!(
        p.notifications
            .for_transfer(&second)
            .iter()
            .all(|e| e.to != "PAYERFSP"),
        "nothing goes to the case variant"
    );
    p.assert_invariants().await;
}

// ---- Item 5: funds transfers are not FSPIOP transfers ----------------------------------------

#[tokio::test]
async fn fspiop_requests_on_funds_transfers_answer_as_unknown_and_change_nothing() {
    let s = setup(Handlers::ALL).await;
    let p = &s.p;
    let payer = &s.payer;
    let hub_account: AccountId = sqlx::query_scalar(
        "SELECT account_id FROM account WHERE ledger_account_type = 'HUB_RECONCILIATION'",
    )
    .fetch_one(&p.db.pool)
    .await
    .unwrap();
    let hub_id = {
        let mut conn = p.db.pool.acquire().await.unwrap();
        participants::hub_participant_id(&mut conn).await.unwrap()
    };
    let funds_out_id = TransferId::new_uuid_v7();
    let funds_out = funds_out_id.to_string();
    let mut tx = p.db.pool.begin().await.unwrap();
    let outcome = funds::record_funds_out_prepare(
        &mut tx,
        &FundsRequest {
            transfer_id: funds_out_id,
            request_hash: RequestHash::from_bytes([3; 32]),
            hub_account: FundsAccount {
                account_id: hub_account,
                participant_id: hub_id,
                participant_name: HUB,
            },
            settlement_account: FundsAccount {
                account_id: payer.settlement_account,
                participant_id: payer.participant_id,
                participant_name: "payerfsp",
            },
            currency: ferroloop_tests::usd(),
            amount: dec("100"),
            reason: "test",
            extensions: &[],
            now: ferroloop_store::db_time(OffsetDateTime::now_utc()),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(outcome, FundsOutOutcome::Reserved);
    let settlement_before = p.position(payer.settlement_account).await;

    // Someone speaking as the hub (the funds-out's payee) aborts or fulfils it over FSPIOP.
    let (fulfilment, _, _) = ilp_pair();
    p.send_fulfils(&[
        Pipeline::error_envelope(&funds_out, &payee_error(), HUB, Some("payerfsp")),
        Pipeline::fulfil_envelope(
            &funds_out,
            &committed_put(&fulfilment),
            HUB,
            Some("payerfsp"),
        ),
    ])
    .await;
    let answers = p
        .notifications
        .wait_for_count("answers", 2, |e| e.transfer_id() == funds_out)
        .await;
    for answer in &answers {
        assert_eq!(answer.to, HUB);
        let description = payload(answer)["errorInformation"]["errorDescription"].to_string();
        assert!(
            description.contains("transfer not found"),
            "answered as an unknown transfer: {description}"
        );
    }
    fulfil_marker(p).await;
    assert_eq!(p.state(&funds_out).await, Some(TransferState::Reserved));
    assert_eq!(
        p.position(payer.settlement_account).await,
        settlement_before
    );

    // GET of a funds-in id (the payer's onboarding funds-in) by its DFSP: 3208.
    let funds_in: String = sqlx::query_scalar(
        "SELECT transfer_id FROM transfer WHERE kind = 'FUNDS_IN' AND payee_fsp = 'payerfsp'",
    )
    .fetch_one(&p.db.pool)
    .await
    .unwrap();
    p.send_gets(&[Pipeline::get_envelope(&funds_in, "payerfsp")])
        .await;
    let answer = p
        .notifications
        .wait_for("get answer", |e| e.transfer_id() == funds_in)
        .await;
    assert_eq!(error_code(&answer).as_deref(), Some("3208"));
    p.assert_invariants().await;
}

// ---- Item 8: PUT /error goes to the payer ----------------------------------------------------

#[tokio::test]
async fn a_put_error_naming_anyone_but_the_payer_as_destination_is_refused_and_forwarded_to_nobody()
{
    let s = setup(Handlers::ALL).await;
    let p = &s.p;
    let id = reserved_to(p, "payeefsp").await;
    p.send_fulfils(&[
        Pipeline::error_envelope(&id, &payee_error(), "payeefsp", Some("otherfsp")),
        Pipeline::error_envelope(&id, &payee_error(), "payeefsp", None),
    ])
    .await;
    let refused = p
        .notifications
        .wait_for_count("refusals", 2, |e| {
            e.transfer_id() == id && e.to == "payeefsp" && error_code(e).is_some()
        })
        .await;
    for refusal in &refused {
        assert_eq!(error_code(refusal).as_deref(), Some("3100"));
        assert_eq!(refusal.action(), "commit", "an error for the sender only");
    }
    fulfil_marker(p).await;
    assert_eq!(p.state(&id).await, Some(TransferState::Reserved));
    assert!(
        p.notifications
            .for_transfer(&id)
            .iter()
            .all(|e| e.to != "otherfsp"),
        "nothing reached otherfsp"
    );
    // Named correctly, it aborts.
    p.send_fulfils(&[Pipeline::error_envelope(
        &id,
        &payee_error(),
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    p.wait_for_state(&id, TransferState::AbortedError).await;
    p.assert_invariants().await;
}

// ---- Item 12: expiration cap, expired reservations, guarded updates, inactive participants ---

#[tokio::test]
async fn an_expiration_beyond_the_maximum_is_refused_with_3100() {
    let s = setup(Handlers::ALL).await;
    let p = &s.p;
    let body = p.prepare_body(
        "payerfsp",
        "payeefsp",
        "10",
        Duration::from_secs(86_400 + 3_600),
    );
    let id = id_of(&body);
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    let refused = p
        .notifications
        .wait_for("refusal", |e| e.transfer_id() == id)
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("3100"));
    let description = payload(&refused)["errorInformation"]["errorDescription"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        description.contains("86400 seconds"),
        "names the limit: {description}"
    );
    assert_eq!(p.state(&id).await, Some(TransferState::Invalid));
    // Just within the limit is accepted.
    let body = p.prepare_body("payerfsp", "payeefsp", "10", Duration::from_secs(86_000));
    let id = id_of(&body);
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    p.wait_for_state(&id, TransferState::Reserved).await;
}

#[tokio::test]
async fn a_transfer_past_its_expiration_is_not_reserved_by_a_lagging_position_handler() {
    let mut p = Pipeline::start_with(Handlers {
        prepare: true,
        ..Handlers::NONE
    })
    .await;
    let payer = p.onboard("payerfsp", "1000", "1000").await;
    p.onboard("payeefsp", "1000", "0").await;
    prepare_handler_running(&p).await;
    let body = p.prepare_body("payerfsp", "payeefsp", "10", Duration::from_secs(3));
    let id = id_of(&body);
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    p.wait_for_state(&id, TransferState::ReceivedPrepare).await;
    // The position handler lags past the expiration (the timeout handler is not running).
    let expiration = ferroloop_core::fspiop_time::parse(body["expiration"].as_str().unwrap())
        .unwrap()
        + time::Duration::milliseconds(50);
    let wait = expiration - OffsetDateTime::now_utc();
    if wait.is_positive() {
        tokio::time::sleep(wait.unsigned_abs()).await;
    }
    p.start_handlers(Handlers {
        position: true,
        ..Handlers::NONE
    })
    .await;
    let told = p
        .notifications
        .wait_for("expiry", |e| e.transfer_id() == id)
        .await;
    assert_eq!(told.to, "payerfsp");
    assert_eq!(error_code(&told).as_deref(), Some("3303"));
    p.wait_for_state(&id, TransferState::ExpiredPrepared).await;
    p.wait_for_state(&first_reserved(&p).await, TransferState::Reserved)
        .await;
    assert_eq!(
        p.position(payer.position_account).await,
        dec("1"),
        "only the warm-up prepare was reserved"
    );
    let reservations = count(
        &p,
        "SELECT COUNT(*) FROM position_change WHERE transfer_id = ?",
        &id,
    )
    .await;
    assert_eq!(reservations, 0);
    let timeouts = count(
        &p,
        "SELECT COUNT(*) FROM transfer_timeout WHERE transfer_id = ?",
        &id,
    )
    .await;
    assert_eq!(timeouts, 0, "final: nothing left for the timeout handler");
    p.assert_invariants().await;
}

#[tokio::test]
async fn a_state_update_from_a_state_the_transfer_is_not_in_changes_nothing() {
    let s = setup(Handlers {
        prepare: true,
        ..Handlers::NONE
    })
    .await;
    let p = &s.p;
    let body = p.prepare_body("payerfsp", "payeefsp", "10", MINUTE);
    let id = id_of(&body);
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    p.wait_for_state(&id, TransferState::ReceivedPrepare).await;
    // A caller that believes the transfer is RESERVED (it is not) tries to commit it.
    let mut tx = p.db.pool.begin().await.unwrap();
    let result = transfers::change_states(
        &mut tx,
        &[StateChange {
            transfer_id: TransferId::parse(&id).expect("a transfer id"),
            from: Some(TransferState::Reserved),
            to: TransferState::ReceivedFulfil,
            reason: None,
            at: ferroloop_store::db_time(OffsetDateTime::now_utc()),
        }],
    )
    .await;
    assert!(result.is_err(), "the guard refuses the update");
    // Rolled back explicitly: sqlx's rollback-on-drop waits for a runtime turn that a
    // current-thread test runtime blocked in the next query never gives it.
    tx.rollback().await.unwrap();
    assert_eq!(p.state(&id).await, Some(TransferState::ReceivedPrepare));
}

#[tokio::test]
async fn an_inactive_participant_starts_nothing_new_and_transfers_in_flight_finish() {
    let s = setup(Handlers::ALL).await;
    let p = &s.p;
    let (fulfilment, _, _) = ilp_pair();
    let in_flight = reserved_to(p, "payeefsp").await;
    {
        let mut tx = p.db.pool.begin().await.unwrap();
        participants::set_participant_active(&mut tx, s.payee.participant_id, false)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    // A new prepare naming the inactive payee: 3100, INVALID.
    let body = p.prepare_body("payerfsp", "payeefsp", "10", MINUTE);
    let id = id_of(&body);
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    let refused = p
        .notifications
        .wait_for("refusal", |e| e.transfer_id() == id)
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("3100"));
    assert_eq!(
        payload(&refused)["errorInformation"]["errorDescription"],
        "Generic validation error - Participant payeefsp is inactive"
    );
    // The transfer that was reserved before the deactivation finishes.
    p.send_fulfils(&[Pipeline::fulfil_envelope(
        &in_flight,
        &committed_put(&fulfilment),
        "payeefsp",
        Some("payerfsp"),
    )])
    .await;
    p.wait_for_state(&in_flight, TransferState::Committed).await;
    p.assert_invariants().await;
}

// ---- Item 7: expiry is always told ------------------------------------------------------------

#[tokio::test]
async fn the_payers_expiry_notification_survives_a_failed_produce_after_the_commit() {
    let mut p = Pipeline::start_with(Handlers {
        prepare: true,
        ..Handlers::NONE
    })
    .await;
    p.onboard("payerfsp", "1000", "1000").await;
    p.onboard("payeefsp", "1000", "0").await;
    prepare_handler_running(&p).await;
    let body = p.prepare_body("payerfsp", "payeefsp", "10", Duration::from_secs(3));
    let id = id_of(&body);
    p.send_prepares(&[Pipeline::prepare_envelope(&body, "payerfsp")])
        .await;
    p.wait_for_state(&id, TransferState::ReceivedPrepare).await;

    // A broker outage: the scanner commits EXPIRED_PREPARED, then cannot produce.
    let down = KafkaArgs {
        kafka_brokers: "127.0.0.1:1".into(),
        kafka_message_timeout_ms: 500,
        ..p.kafka()
    };
    let unreachable = BatchProducer::new(&down).unwrap();
    let scanner = ferroloop_timeout_handler::TimeoutScanner::new(
        p.db.pool.clone(),
        p.broker.topics(),
        HUB.into(),
        100,
        Duration::from_millis(200),
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if scanner.scan_once(&unreachable).await.is_err() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never became due");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(p.state(&id).await, Some(TransferState::ExpiredPrepared));
    assert!(p.notifications.for_transfer(&id).is_empty());

    // The broker is back: a later scan tells the payer.
    let producer = BatchProducer::new(&p.kafka()).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while p.notifications.for_transfer(&id).is_empty() {
        scanner.scan_once(&producer).await.expect("scan");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the payer was never told"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let told = p.notifications.for_transfer(&id).remove(0);
    assert_eq!(told.to, "payerfsp");
    assert_eq!(error_code(&told).as_deref(), Some("3303"));
    // Told once acknowledged, the row goes; nothing more is sent.
    let deadline = tokio::time::Instant::now() + WAIT;
    while count(
        &p,
        "SELECT COUNT(*) FROM transfer_timeout WHERE transfer_id = ?",
        &id,
    )
    .await
        > 0
    {
        scanner.scan_once(&producer).await.expect("scan");
        assert!(tokio::time::Instant::now() < deadline, "row never removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- Item 6: limits under the position lock ---------------------------------------------------

/// One net debit cap change: the cap, and the last journal row of the account when it took
/// effect (read while the change held the position lock).
struct CapChange {
    cap: Decimal,
    last_row_before: u64,
}

#[tokio::test]
async fn a_reservation_never_exceeds_the_net_debit_cap_in_force_when_it_commits() {
    const ROUND: usize = 300;
    const MIN_ROUNDS: usize = 5;
    const MAX_ROUNDS: usize = 20;
    const HIGH: &str = "1000000";
    let mut p = Pipeline::start_with(Handlers {
        prepare: true,
        position: true,
        ..Handlers::NONE
    })
    .await;
    let payer = p.onboard("payerfsp", HIGH, "10000000").await;
    p.onboard("payeefsp", "1000", "0").await;
    let account = payer.position_account;

    // The cap moves between HIGH and 0 while the prepares stream; each change holds the
    // position lock a moment (as a slow admin transaction would), widening the window in which
    // a position batch can read the old cap before it waits for the lock.
    let stop = tokio_util::sync::CancellationToken::new();
    let pool = p.db.pool.clone();
    let toggler = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut changes = Vec::new();
            let mut low = true;
            while !stop.is_cancelled() {
                let cap = if low { dec("0") } else { dec(HIGH) };
                let mut tx = pool.begin().await.unwrap();
                limits::set_net_debit_cap(&mut tx, account, cap, dec("10"), "test")
                    .await
                    .unwrap();
                let last: Option<u64> = sqlx::query_scalar(
                    "SELECT MAX(position_change_id) FROM position_change WHERE account_id = ?",
                )
                .bind(account)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis(15)).await;
                tx.commit().await.unwrap();
                changes.push(CapChange {
                    cap,
                    last_row_before: last.unwrap_or(0),
                });
                low = !low;
                tokio::time::sleep(Duration::from_millis(if low { 25 } else { 10 })).await;
            }
            changes
        }
    });
    // Rounds go on until both outcomes were seen: on a slow machine every batch of a round can
    // land while the cap is 0, and a run of rejections alone would prove nothing.
    let (mut reserved, mut rejected) = (0, 0);
    for round in 1..=MAX_ROUNDS {
        let (r, j) = prepare_round(&p, ROUND).await;
        (reserved, rejected) = (reserved + r, rejected + j);
        if round >= MIN_ROUNDS && reserved > 0 && rejected > 0 {
            break;
        }
    }
    assert!(
        reserved > 0 && rejected > 0,
        "after {MAX_ROUNDS} rounds: {reserved} reserved, {rejected} rejected"
    );
    stop.cancel();
    let changes = toggler.await.unwrap();
    assert!(changes.len() > 4, "the cap moved {} times", changes.len());

    let rows: Vec<(u64, Decimal)> = sqlx::query_as(
        "SELECT position_change_id, value_after FROM position_change
         WHERE account_id = ? AND phase = 'RESERVE' ORDER BY position_change_id",
    )
    .bind(account)
    .fetch_all(&p.db.pool)
    .await
    .unwrap();
    assert!(!rows.is_empty());
    let mut violations = Vec::new();
    for (row, value_after) in &rows {
        let in_force = changes
            .iter()
            .rev()
            .find(|c| c.last_row_before < *row)
            .map_or(dec(HIGH), |c| c.cap);
        if *value_after > in_force {
            violations.push(format!("row {row}: {value_after} > cap {in_force}"));
        }
    }
    assert!(
        violations.is_empty(),
        "{} of {} reservations exceeded the cap in force: {:?}",
        violations.len(),
        rows.len(),
        &violations[..violations.len().min(5)]
    );
    p.assert_invariants().await;
}

/// Sends `count` prepares from payerfsp to payeefsp and waits until each is decided; returns how
/// many were reserved and how many rejected.
async fn prepare_round(p: &Pipeline, count: usize) -> (usize, usize) {
    let bodies: Vec<Value> = (0..count)
        .map(|_| p.prepare_body("payerfsp", "payeefsp", "1", MINUTE))
        .collect();
    for chunk in bodies.chunks(50) {
        let envelopes: Vec<Envelope> = chunk
            .iter()
            .map(|b| Pipeline::prepare_envelope(b, "payerfsp"))
            .collect();
        p.send_prepares(&envelopes).await;
    }
    let (mut reserved, mut rejected) = (0, 0);
    for body in &bodies {
        let id = id_of(body);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match p.state(&id).await {
                Some(TransferState::Reserved) => reserved += 1,
                Some(TransferState::AbortedRejected) => rejected += 1,
                _ => {
                    assert!(tokio::time::Instant::now() < deadline, "{id} never decided");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            }
            break;
        }
    }
    (reserved, rejected)
}
