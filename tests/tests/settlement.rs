//! Settlement end to end (docs/settlement.md): transfers committed by the real handlers land in
//! the open window; the admin API closes it, settles it under DEFERREDNET through every account
//! state, resets the positions against the settlement accounts, aborts and re-settles, and
//! closes windows while a stream of transfers commits — with the storage and settlement
//! invariants checked at every step.

use std::time::Duration;

use ferroloop_core::ledger_id::AccountId;
use ferroloop_core::state::TransferState;
use ferroloop_store::settlement::models::{self, NewSettlementModel};
use ferroloop_tests::{Dfsp, Pipeline, dec, ilp_pair};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The admin API in-process (auth off: central-settlement's unauthenticated API).
struct Admin {
    base: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Admin {
    async fn start(p: &Pipeline) -> Admin {
        let config = ferroloop_admin_api::Config::for_database(p.db.args());
        let shutdown = CancellationToken::new();
        let running = ferroloop_admin_api::build_app(config, shutdown.clone())
            .await
            .unwrap();
        Admin {
            base: format!("http://{}", running.addr),
            client: ferroloop_testkit::http_client(),
            shutdown,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self.call(method, path, body).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    async fn refused(&self, method: reqwest::Method, path: &str, body: Value, text: &str) {
        let (status, body) = self.call(method, path, Some(body)).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["errorInformation"]["errorCode"], "3100", "{body}");
        let description = body["errorInformation"]["errorDescription"]
            .as_str()
            .unwrap();
        assert!(
            description.contains(text),
            "{description} should say {text}"
        );
    }

    async fn open_window(&self) -> u64 {
        let open = self
            .ok(reqwest::Method::GET, "/settlementWindows?state=OPEN", None)
            .await;
        assert_eq!(open.as_array().unwrap().len(), 1, "one OPEN window: {open}");
        open[0]["id"].as_u64().unwrap()
    }

    /// Closes the open window; returns (closed, opened).
    async fn close(&self) -> (u64, u64) {
        let closed = self.open_window().await;
        let opened = self
            .ok(
                reqwest::Method::POST,
                &format!("/settlementWindows/{closed}"),
                Some(json!({"state": "CLOSED", "reason": "end of day"})),
            )
            .await;
        assert_eq!(opened["state"], "OPEN");
        (closed, opened["id"].as_u64().unwrap())
    }

    async fn get(&self, path: &str) -> Value {
        self.ok(reqwest::Method::GET, path, None).await
    }

    async fn window(&self, id: u64) -> Value {
        self.get(&format!("/settlementWindows/{id}")).await
    }

    /// A settlement of `windows` under DEFERREDNET.
    async fn settle(&self, windows: &[u64], reason: &str) -> Value {
        let body = settlement_request(windows, reason);
        self.ok(reqwest::Method::POST, "/settlements", Some(body))
            .await
    }

    /// Every account through `states`, checking the settlement follows.
    async fn walk(&self, settlement: Value, states: &[&str]) -> Value {
        let mut current = settlement;
        for state in states {
            current = self.move_all(&current, state).await;
            assert_eq!(current["state"], *state, "{current}");
        }
        current
    }

    /// Moves every account of the settlement to `state`.
    async fn move_all(&self, settlement: &Value, state: &str) -> Value {
        let participants: Vec<Value> = settlement["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let accounts: Vec<Value> = p["accounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| json!({"id": a["id"], "state": state, "reason": format!("to {state}"), "externalReference": "bank-42"}))
                    .collect();
                json!({"id": p["id"], "accounts": accounts})
            })
            .collect();
        let id = settlement["id"].as_u64().unwrap();
        self.ok(
            reqwest::Method::PUT,
            &format!("/settlements/{id}"),
            Some(json!({"participants": participants})),
        )
        .await
    }
}

const TO_COMMITTED: [&str; 3] = [
    "PS_TRANSFERS_RECORDED",
    "PS_TRANSFERS_RESERVED",
    "PS_TRANSFERS_COMMITTED",
];

fn settlement_request(windows: &[u64], reason: &str) -> Value {
    let windows: Vec<Value> = windows.iter().map(|id| json!({"id": id})).collect();
    json!({"settlementModel": "DEFERREDNET", "reason": reason, "settlementWindows": windows})
}

async fn deferred_net_model(p: &Pipeline) {
    let mut conn = p.db.pool.acquire().await.unwrap();
    models::create_settlement_model(
        &mut conn,
        &NewSettlementModel {
            name: "DEFERREDNET",
            settlement_granularity: "NET",
            settlement_interchange: "MULTILATERAL",
            settlement_delay: "DEFERRED",
            currency: None,
            require_liquidity_check: true,
            ledger_account_type: "POSITION",
            settlement_account_type: "SETTLEMENT",
            auto_position_reset: true,
            created_by: "test",
        },
    )
    .await
    .unwrap();
}

/// Sends transfers (payer, payee, amount) and waits until all are committed.
async fn commit(p: &Pipeline, transfers: &[(&Dfsp, &Dfsp, &str)]) -> Vec<String> {
    let mut ids = Vec::new();
    let mut prepares = Vec::new();
    for (payer, payee, amount) in transfers {
        let body = p.prepare_body(&payer.name, &payee.name, amount, Duration::from_secs(60));
        ids.push((
            body["transferId"].as_str().unwrap().to_owned(),
            payer.name.clone(),
            payee.name.clone(),
        ));
        prepares.push(Pipeline::prepare_envelope(&body, &payer.name));
    }
    p.send_prepares(&prepares).await;
    let (fulfilment, _, _) = ilp_pair();
    let mut fulfils = Vec::new();
    for (id, payer, payee) in &ids {
        p.wait_for_state(id, TransferState::Reserved).await;
        let put = json!({"transferState": "COMMITTED", "fulfilment": fulfilment,
            "completedTimestamp": ferroloop_core::fspiop_time::format(time::OffsetDateTime::now_utc())});
        fulfils.push(Pipeline::fulfil_envelope(id, &put, payee, Some(payer)));
    }
    p.send_fulfils(&fulfils).await;
    for (id, _, _) in &ids {
        p.wait_for_state(id, TransferState::Committed).await;
    }
    ids.into_iter().map(|(id, _, _)| id).collect()
}

async fn assert_all_invariants(p: &Pipeline) {
    p.assert_invariants().await;
}

fn net_of(settlement: &Value, account: AccountId) -> Decimal {
    for p in settlement["participants"].as_array().unwrap() {
        for a in p["accounts"].as_array().unwrap() {
            if a["id"] == json!(account) {
                return dec(&a["netSettlementAmount"]["amount"].to_string());
            }
        }
    }
    panic!("account {account} not in {settlement}")
}

struct Three {
    a: Dfsp,
    b: Dfsp,
    c: Dfsp,
}

async fn three_dfsps(p: &mut Pipeline) -> Three {
    deferred_net_model(p).await;
    Three {
        a: p.onboard("dfspa", "10000", "10000").await,
        b: p.onboard("dfspb", "10000", "10000").await,
        c: p.onboard("dfspc", "10000", "10000").await,
    }
}

#[tokio::test]
async fn a_closed_window_is_netted_settled_and_resets_the_positions() {
    let mut p = Pipeline::start().await;
    let Three { a, b, c } = three_dfsps(&mut p).await;
    let admin = Admin::start(&p).await;
    let first = admin.open_window().await;
    commit(
        &p,
        &[
            (&a, &b, "100"),
            (&b, &c, "30.25"),
            (&c, &a, "10"),
            (&a, &c, "5.5"),
        ],
    )
    .await;
    // Net: a paid 105.5, got 10 → 95.5; b paid 30.25, got 100 → −69.75; c paid 10, got 35.75 → −25.75.
    assert_eq!(p.position(a.position_account).await, dec("95.5"));

    let (closed, opened) = admin.close().await;
    assert_eq!(closed, first);
    assert!(opened > closed);
    let window = admin.window(closed).await;
    assert_eq!(window["state"], "CLOSED");
    assert_eq!(window["reason"], "end of day");
    assert_eq!(window["content"].as_array().unwrap().len(), 1, "{window}");
    assert_eq!(window["content"][0]["ledgerAccountType"], "POSITION");
    assert_eq!(window["content"][0]["currencyId"], "USD");
    assert_eq!(window["content"][0]["state"], "CLOSED");
    assert_all_invariants(&p).await;

    let settlement = admin.settle(&[closed], "daily").await;
    assert_eq!(settlement["state"], "PENDING_SETTLEMENT");
    assert_eq!(
        settlement["settlementWindows"][0]["state"],
        "PENDING_SETTLEMENT"
    );
    assert_eq!(net_of(&settlement, a.position_account), dec("95.5"));
    assert_eq!(net_of(&settlement, b.position_account), dec("-69.75"));
    assert_eq!(net_of(&settlement, c.position_account), dec("-25.75"));
    assert_all_invariants(&p).await;

    let cover_before = p.position(a.settlement_account).await;
    let mut current = settlement;
    for state in [
        "PS_TRANSFERS_RECORDED",
        "PS_TRANSFERS_RESERVED",
        "PS_TRANSFERS_COMMITTED",
        "SETTLED",
    ] {
        current = admin.move_all(&current, state).await;
        assert_eq!(current["state"], state, "{current}");
        assert_all_invariants(&p).await;
        if state == "PS_TRANSFERS_RESERVED" {
            // The net sender's liquidity is earmarked; nothing else moved yet.
            assert_eq!(
                p.position(a.settlement_account).await,
                cover_before + dec("95.5")
            );
            assert_eq!(p.position(a.position_account).await, dec("95.5"));
        }
    }
    for dfsp in [&a, &b, &c] {
        assert_eq!(
            p.position(dfsp.position_account).await,
            Decimal::ZERO,
            "{} reset",
            dfsp.name
        );
    }
    assert_eq!(
        p.position(a.settlement_account).await,
        dec("-10000") + dec("95.5")
    );
    assert_eq!(
        p.position(b.settlement_account).await,
        dec("-10000") - dec("69.75")
    );
    assert_eq!(
        p.position(c.settlement_account).await,
        dec("-10000") - dec("25.75")
    );
    let window = admin.window(closed).await;
    assert_eq!(window["state"], "SETTLED");
    let listed = admin
        .get(&format!("/settlements?settlementWindowId={closed}"))
        .await;
    assert_eq!(listed[0]["state"], "SETTLED");
    let by_window_date = admin
        .get("/settlements?fromSettlementWindowDateTime=2020-01-01T00:00:00Z&state=SETTLED")
        .await;
    assert_eq!(by_window_date[0]["id"], listed[0]["id"]);
    let account = admin
        .ok(
            reqwest::Method::GET,
            &format!(
                "/settlements/{}/participants/{}/accounts/{}",
                current["id"], b.participant_id, b.position_account
            ),
            None,
        )
        .await;
    assert_eq!(
        account["participants"][0]["accounts"][0]["externalReference"],
        "bank-42"
    );

    // Settled windows cannot be settled again; the next window keeps counting.
    admin
        .refused(
            reqwest::Method::POST,
            "/settlements",
            settlement_request(&[closed], "again"),
            "not in closed or aborted state",
        )
        .await;
    commit(&p, &[(&b, &a, "1")]).await;
    assert_eq!(p.position(b.position_account).await, dec("1"));
    assert_all_invariants(&p).await;
}

#[tokio::test]
async fn an_aborted_settlement_restores_every_balance_and_its_windows_settle_again() {
    let mut p = Pipeline::start().await;
    let Three { a, b, c: _ } = three_dfsps(&mut p).await;
    let admin = Admin::start(&p).await;
    commit(&p, &[(&a, &b, "40")]).await;
    let (closed, _) = admin.close().await;
    let accounts = [
        a.position_account,
        a.settlement_account,
        b.position_account,
        b.settlement_account,
    ];
    let mut before = Vec::new();
    for account in accounts {
        before.push(p.position(account).await);
    }
    let settlement = admin.settle(&[closed], "r").await;
    let id = settlement["id"].as_u64().unwrap();
    // One participant at a time, through its own route.
    for participant in settlement["participants"].as_array().unwrap() {
        let accounts: Vec<Value> = participant["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| json!({"id": a["id"], "state": "PS_TRANSFERS_RECORDED", "reason": "r"}))
            .collect();
        let path = format!("/settlements/{id}/participants/{}", participant["id"]);
        let body = json!({"accounts": accounts});
        admin.ok(reqwest::Method::PUT, &path, Some(body)).await;
        let shown = admin.get(&path).await;
        assert_eq!(
            shown["participants"].as_array().unwrap().len(),
            1,
            "{shown}"
        );
    }
    let recorded = admin.get(&format!("/settlements/{id}")).await;
    assert_eq!(recorded["state"], "PS_TRANSFERS_RECORDED");
    let reserved = admin.move_all(&recorded, "PS_TRANSFERS_RESERVED").await;
    assert_ne!(
        p.position(a.settlement_account).await,
        before[1],
        "reserved"
    );
    // A step may not be skipped or undone.
    admin
        .refused(
            reqwest::Method::PUT,
            &format!(
                "/settlements/{id}/participants/{}/accounts/{}",
                a.participant_id, a.position_account
            ),
            json!({"state": "SETTLED", "reason": "skip"}),
            "State change from PS_TRANSFERS_RESERVED to SETTLED is not allowed",
        )
        .await;

    let aborted = admin
        .ok(
            reqwest::Method::PUT,
            &format!("/settlements/{id}"),
            Some(json!({"state": "ABORTED", "reason": "bank rejected"})),
        )
        .await;
    assert_eq!(aborted["state"], "ABORTED");
    assert_eq!(reserved["state"], "PS_TRANSFERS_RESERVED");
    for (account, value) in accounts.iter().zip(&before) {
        assert_eq!(
            p.position(*account).await,
            *value,
            "account {account} restored"
        );
    }
    let window = admin.window(closed).await;
    assert_eq!(window["state"], "ABORTED");
    assert_all_invariants(&p).await;
    admin
        .refused(
            reqwest::Method::PUT,
            &format!("/settlements/{id}"),
            json!({"state": "ABORTED", "reason": "twice"}),
            "already ABORTED",
        )
        .await;

    // The aborted window is settled again, and once committed it cannot be aborted.
    let again = admin.settle(&[closed], "retry").await;
    let current = admin.walk(again, &TO_COMMITTED).await;
    admin
        .refused(
            reqwest::Method::PUT,
            &format!("/settlements/{}", current["id"]),
            json!({"state": "ABORTED", "reason": "too late"}),
            "accounts have reached PS_TRANSFERS_COMMITTED",
        )
        .await;
    assert_eq!(p.position(a.position_account).await, Decimal::ZERO);
    assert_all_invariants(&p).await;
}

#[tokio::test]
async fn bad_requests_are_refused_with_central_settlements_errors_and_change_nothing() {
    let mut p = Pipeline::start().await;
    let Three { a, b, c: _ } = three_dfsps(&mut p).await;
    let admin = Admin::start(&p).await;
    let open = admin.open_window().await;
    let close = json!({"state": "CLOSED", "reason": "r"});
    admin
        .refused(
            reqwest::Method::POST,
            &format!("/settlementWindows/{open}"),
            close.clone(),
            &format!("Window {open} is empty"),
        )
        .await;
    admin
        .refused(
            reqwest::Method::POST,
            "/settlementWindows/999",
            close.clone(),
            "Window 999 does not exist",
        )
        .await;
    let (status, body) = admin
        .call(
            reqwest::Method::POST,
            &format!("/settlementWindows/{open}"),
            Some(json!({"state": "OPEN", "reason": "r"})),
        )
        .await;
    assert_eq!(
        (status, body["errorInformation"]["errorCode"].as_str()),
        (400, Some("3101")),
        "{body}"
    );
    let (status, body) = admin
        .call(reqwest::Method::GET, "/settlementWindows", None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errorInformation"]["errorDescription"]
            .as_str()
            .unwrap()
            .contains("Use at least one parameter")
    );

    commit(&p, &[(&a, &b, "7")]).await;
    admin
        .refused(
            reqwest::Method::POST,
            "/settlements",
            settlement_request(&[open], "r"),
            "not in closed or aborted state",
        )
        .await;
    let (closed, _) = admin.close().await;
    admin
        .refused(
            reqwest::Method::POST,
            &format!("/settlementWindows/{closed}"),
            close,
            &format!("Window {closed} is not open"),
        )
        .await;
    admin
        .refused(
            reqwest::Method::POST,
            "/settlements",
            json!({"settlementModel": "NOPE", "reason": "r", "settlementWindows": [{"id": closed}]}),
            "Settlement model NOPE not found",
        )
        .await;
    admin
        .refused(
            reqwest::Method::POST,
            "/settlements",
            settlement_request(&[closed, 4242], "r"),
            "At least one provided settlement window does not exist",
        )
        .await;
    admin
        .refused(
            reqwest::Method::GET,
            "/settlements/77",
            Value::Null,
            "Settlement not found",
        )
        .await;
    let settlements: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM settlement")
        .fetch_one(&p.db.pool)
        .await
        .unwrap();
    assert_eq!(settlements, 0, "nothing was created");
    assert_all_invariants(&p).await;
}

#[tokio::test]
async fn closing_windows_under_a_running_stream_loses_no_transfer() {
    let mut p = Pipeline::start().await;
    let Three { a, b, c } = three_dfsps(&mut p).await;
    let admin = Admin::start(&p).await;
    let p = std::sync::Arc::new(p);
    let stream = {
        let p = std::sync::Arc::clone(&p);
        let (a, b, c) = (a.clone(), b.clone(), c.clone());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for round in 0..12 {
                // FSPIOP amounts have no trailing zeros.
                let amount = format!("{}.5", round + 1);
                ids.extend(commit(&p, &[(&a, &b, &amount), (&b, &c, "1"), (&c, &a, "2.5")]).await);
            }
            ids
        })
    };
    // Close windows while the stream commits (each close needs money in the window).
    let mut closed = Vec::new();
    while !stream.is_finished() {
        let open = admin.open_window().await;
        let (status, body) = admin
            .call(
                reqwest::Method::POST,
                &format!("/settlementWindows/{open}"),
                Some(json!({"state": "CLOSED", "reason": "stream"})),
            )
            .await;
        match status {
            200 => closed.push(open),
            _ => assert!(body.to_string().contains("is empty"), "{body}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids = stream.await.unwrap();
    assert!(closed.len() >= 2, "closed {closed:?} while the stream ran");
    // Every committed transfer is in exactly one window: the windows hold them all, once.
    let (recorded, count): (Decimal, Decimal) = sqlx::query_as(
        "SELECT COALESCE(SUM(amount), 0), COALESCE(SUM(transfer_count), 0) FROM settlement_window_flow",
    )
    .fetch_one(&p.db.pool)
    .await
    .unwrap();
    let committed: Decimal = sqlx::query_scalar(
        "SELECT COALESCE(SUM(amount), 0) FROM transfer WHERE kind = 'TRANSFER' AND state = 'COMMITTED'",
    )
    .fetch_one(&p.db.pool)
    .await
    .unwrap();
    assert_eq!(count, Decimal::from(ids.len()));
    assert_eq!(recorded, committed);
    assert_all_invariants(&p).await;
    // And the closed windows settle together.
    let settlement = admin.settle(&closed, "all").await;
    let committed = admin.walk(settlement, &TO_COMMITTED).await;
    admin.walk(committed, &["SETTLED"]).await;
    assert_all_invariants(&p).await;
}
