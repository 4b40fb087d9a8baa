//! The admin API over real HTTP against a fresh MariaDB database per test: Mojaloop's
//! onboarding order, central-ledger's response shapes and error texts, and funds in/out with the
//! storage invariants checked after every money movement.

use ferroloop_admin_api::{Config, build_app};
use ferroloop_core::id::TransferId;
use ferroloop_core::state::TransferState;
use ferroloop_store::epoch::admin_epoch;
use ferroloop_store::invariants::assert_storage_invariants;
use ferroloop_store::positions::{self, JournalEntry};
use ferroloop_store::transfers;
use ferroloop_testkit::TestDatabase;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

struct App {
    db: TestDatabase,
    base: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A response: status and JSON body (`Null` when empty).
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["errorInformation"]["errorCode"]
            .as_str()
            .unwrap_or_default()
    }

    fn description(&self) -> &str {
        self.body["errorInformation"]["errorDescription"]
            .as_str()
            .unwrap_or_default()
    }

    #[track_caller]
    fn assert_error(&self, status: u16, code: &str, description: &str) {
        assert_eq!(
            (self.status, self.code(), self.description()),
            (status, code, description),
            "{self:?}"
        );
        assert_eq!(
            self.body.as_object().map(|o| o.len()),
            Some(1),
            "only errorInformation: {self:?}"
        );
    }

    #[track_caller]
    fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{self:?}");
        &self.body
    }
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// A JSON number as an exact decimal.
#[track_caller]
fn num(v: &Value) -> Decimal {
    assert!(v.is_number(), "not a number: {v}");
    dec(&v.to_string())
}

fn new_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

impl App {
    async fn start() -> App {
        Self::start_with(|_| {}).await
    }

    async fn start_with(adjust: impl FnOnce(&mut Config)) -> App {
        let db = TestDatabase::new().await;
        let mut config = Config::for_database(db.args());
        adjust(&mut config);
        let shutdown = CancellationToken::new();
        let running = build_app(config, shutdown.clone()).await.unwrap();
        App {
            db,
            base: format!("http://{}", running.addr),
            client: ferroloop_testkit::http_client(),
            shutdown,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Vec<u8>>) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("FSPIOP-Source", "api-test");
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{path}: not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Reply { status, body }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(
            reqwest::Method::POST,
            path,
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(
            reqwest::Method::PUT,
            path,
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    async fn post_raw(&self, path: &str, body: &str) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body.as_bytes().to_vec()))
            .await
    }

    async fn epoch(&self) -> u64 {
        let mut conn = self.db.pool.acquire().await.unwrap();
        admin_epoch(&mut conn).await.unwrap()
    }

    async fn assert_invariants(&self) {
        assert_storage_invariants(&self.db.pool).await.unwrap();
    }

    async fn transfer_state(&self, id: &str) -> TransferState {
        let mut conn = self.db.pool.acquire().await.unwrap();
        let id = TransferId::parse(id).expect("a transfer id");
        transfers::load_transfers(&mut conn, &[id], false)
            .await
            .unwrap()
            .remove(&id)
            .unwrap_or_else(|| panic!("transfer {id} not stored"))
            .state
    }

    async fn transfer_count(&self, id: &str) -> usize {
        let mut conn = self.db.pool.acquire().await.unwrap();
        let id = TransferId::parse(id).expect("a transfer id");
        transfers::load_transfers(&mut conn, &[id], false)
            .await
            .unwrap()
            .len()
    }

    async fn journal(&self, id: &str) -> Vec<JournalEntry> {
        let mut conn = self.db.pool.acquire().await.unwrap();
        let id = TransferId::parse(id).expect("a transfer id");
        positions::position_journal(&mut conn, &id).await.unwrap()
    }

    async fn states(&self, id: &str) -> Vec<(Option<String>, String, Option<String>)> {
        let mut conn = self.db.pool.acquire().await.unwrap();
        let id = TransferId::parse(id).expect("a transfer id");
        transfers::state_journal(&mut conn, &id).await.unwrap()
    }

    /// Step 1 of the onboarding order: the hub's accounts in a currency.
    async fn hub_accounts(&self, currency: &str) {
        for account_type in ["HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"] {
            self.post(
                "/participants/Hub/accounts",
                json!({"currency": currency, "type": account_type}),
            )
            .await
            .assert_status(201);
        }
    }

    /// Step 2: a settlement model (`None` = the default model).
    async fn settlement_model(&self, name: &str, currency: Option<&str>) {
        let mut body = json!({
            "name": name,
            "settlementGranularity": "NET",
            "settlementInterchange": "MULTILATERAL",
            "settlementDelay": "DEFERRED",
            "requireLiquidityCheck": true,
            "ledgerAccountType": "POSITION",
            "autoPositionReset": true,
            "settlementAccountType": "SETTLEMENT"
        });
        if let Some(currency) = currency {
            body["currency"] = json!(currency);
        }
        self.post("/settlementModels", body)
            .await
            .assert_status(201);
    }

    /// Steps 3 and 4: participant, initial position and NDC.
    async fn dfsp(&self, name: &str, ndc: u64) {
        self.post("/participants", json!({"name": name, "currency": "USD"}))
            .await
            .assert_status(201);
        self.post(
            &format!("/participants/{name}/initialPositionAndLimits"),
            json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": ndc}, "initialPosition": 0}),
        )
        .await
        .assert_status(201);
    }

    /// Hub accounts, DEFERREDNET for USD and the named DFSPs with NDC 10000.
    async fn onboarded(names: &[&str]) -> App {
        let app = App::start().await;
        app.hub_accounts("USD").await;
        app.settlement_model("DEFERREDNET", Some("USD")).await;
        for name in names {
            app.dfsp(name, 10_000).await;
        }
        app
    }

    /// The id of an account of a participant.
    async fn account_id(&self, name: &str, currency: &str, account_type: &str) -> u64 {
        let accounts = self
            .get(&format!("/participants/{name}/accounts"))
            .await
            .assert_status(200)
            .clone();
        accounts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["ledgerAccountType"] == account_type && a["currency"] == currency)
            .unwrap_or_else(|| panic!("{name} has no {account_type} {currency}: {accounts}"))["id"]
            .as_u64()
            .unwrap()
    }

    /// The value of an account of a participant (from `GET …/accounts`).
    async fn balance(&self, name: &str, currency: &str, account_type: &str) -> Decimal {
        let accounts = self
            .get(&format!("/participants/{name}/accounts"))
            .await
            .assert_status(200)
            .clone();
        let account = accounts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["ledgerAccountType"] == account_type && a["currency"] == currency)
            .unwrap_or_else(|| panic!("{name} has no {account_type} {currency}: {accounts}"))
            .clone();
        num(&account["value"])
    }

    async fn funds(&self, name: &str, account: u64, body: Value) -> Reply {
        self.post(&format!("/participants/{name}/accounts/{account}"), body)
            .await
    }

    async fn funds_in(&self, name: &str, transfer_id: &str, amount: &str) -> Reply {
        let account = self.account_id(name, "USD", "SETTLEMENT").await;
        self.funds(
            name,
            account,
            funds_body(transfer_id, "recordFundsIn", amount),
        )
        .await
    }

    async fn funds_out(&self, name: &str, transfer_id: &str, amount: &str) -> Reply {
        let account = self.account_id(name, "USD", "SETTLEMENT").await;
        self.funds(
            name,
            account,
            funds_body(transfer_id, "recordFundsOutPrepareReserve", amount),
        )
        .await
    }

    async fn finish(&self, name: &str, transfer_id: &str, action: &str) -> Reply {
        let account = self.account_id(name, "USD", "SETTLEMENT").await;
        self.put(
            &format!("/participants/{name}/accounts/{account}/transfers/{transfer_id}"),
            json!({"action": action, "reason": format!("{action} by test")}),
        )
        .await
    }
}

fn funds_body(transfer_id: &str, action: &str, amount: &str) -> Value {
    json!({
        "transferId": transfer_id,
        "externalReference": "bank-statement-42",
        "action": action,
        "reason": "liquidity top-up",
        "amount": {"amount": amount, "currency": "USD"},
        "extensionList": {"extension": [{"key": "operator", "value": "alice"}]}
    })
}

#[tokio::test]
async fn onboarding_in_mojaloop_order_with_central_ledger_shapes() {
    let app = App::start().await;

    // (1) hub accounts
    let hub = app
        .post(
            "/participants/Hub/accounts",
            json!({"currency": "USD", "type": "HUB_MULTILATERAL_SETTLEMENT"}),
        )
        .await;
    let hub = hub.assert_status(201);
    assert_eq!(hub["name"], "Hub");
    assert_eq!(
        hub["accounts"][0]["ledgerAccountType"],
        "HUB_MULTILATERAL_SETTLEMENT"
    );
    assert_eq!(hub["accounts"][0]["isActive"], 1);
    app.post(
        "/participants/Hub/accounts",
        json!({"currency": "USD", "type": "HUB_RECONCILIATION"}),
    )
    .await
    .assert_status(201);

    // (2) settlement model
    app.settlement_model("DEFERREDNET", Some("USD")).await;
    let models = app.get("/settlementModels").await;
    let model = &models.assert_status(200)[0];
    assert_eq!(model["name"], "DEFERREDNET");
    assert_eq!(model["settlementGranularity"], "NET");
    assert_eq!(model["settlementInterchange"], "MULTILATERAL");
    assert_eq!(model["settlementDelay"], "DEFERRED");
    assert_eq!(model["currency"], "USD");
    assert_eq!(model["ledgerAccountTypeId"], "POSITION");
    assert_eq!(model["isActive"], true);
    let one = app.get("/settlementModels/DEFERREDNET").await;
    assert_eq!(one.assert_status(200)["requireLiquidityCheck"], true);

    // (3) participant
    let created = app
        .post("/participants", json!({"name": "dfsp1", "currency": "USD"}))
        .await;
    let created = created.assert_status(201).clone();
    assert_eq!(created["name"], "dfsp1");
    assert_eq!(created["id"], "http://central-ledger/participants/dfsp1");
    assert_eq!(created["links"]["self"], created["id"]);
    assert_eq!(created["isActive"], 1);
    assert_eq!(created["isProxy"], 0);
    assert!(created["created"].as_str().unwrap().ends_with('Z'));
    let accounts = created["accounts"].as_array().unwrap();
    let types: Vec<&str> = accounts
        .iter()
        .map(|a| a["ledgerAccountType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["POSITION", "SETTLEMENT"]);
    for account in accounts {
        assert_eq!(account["currency"], "USD");
        assert_eq!(account["isActive"], 0, "accounts start inactive");
        assert_eq!(account["createdBy"], "api-test");
        assert!(account["id"].is_u64());
        assert!(account["createdDate"].as_str().unwrap().ends_with('Z'));
    }
    let fetched = app.get("/participants/dfsp1").await;
    assert_eq!(fetched.assert_status(200), &created);
    let all = app.get("/participants").await;
    let names: Vec<&str> = all
        .assert_status(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Hub", "dfsp1"]);

    // (4) initial position and limits: activates both accounts
    let initial = app
        .post(
            "/participants/dfsp1/initialPositionAndLimits",
            json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 10000}, "initialPosition": 0}),
        )
        .await;
    assert_eq!(initial.assert_status(201), &Value::Null);
    let accounts = app.get("/participants/dfsp1/accounts").await;
    for account in accounts.assert_status(200).as_array().unwrap() {
        assert_eq!(account["isActive"], 1, "{account}");
        assert_eq!(num(&account["value"]), Decimal::ZERO);
        assert_eq!(num(&account["reservedValue"]), Decimal::ZERO);
        assert!(account["changedDate"].as_str().unwrap().ends_with('Z'));
    }
    let limits = app.get("/participants/dfsp1/limits").await;
    assert_eq!(
        limits.assert_status(200),
        &json!([{"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 10000, "alarmPercentage": 10}}])
    );

    // (5) endpoints
    for (endpoint_type, value) in [
        (
            "FSPIOP_CALLBACK_URL_TRANSFER_POST",
            "http://dfsp1.example/transfers",
        ),
        (
            "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
            "http://dfsp1.example/transfers/{{transferId}}",
        ),
    ] {
        let added = app
            .post(
                "/participants/dfsp1/endpoints",
                json!({"type": endpoint_type, "value": value}),
            )
            .await;
        assert_eq!(added.assert_status(201), &Value::Null);
    }
    let endpoints = app.get("/participants/dfsp1/endpoints").await;
    assert_eq!(
        endpoints.assert_status(200),
        &json!([
            {"type": "FSPIOP_CALLBACK_URL_TRANSFER_POST", "value": "http://dfsp1.example/transfers"},
            {"type": "FSPIOP_CALLBACK_URL_TRANSFER_PUT", "value": "http://dfsp1.example/transfers/{{transferId}}"}
        ])
    );
    let one = app
        .get("/participants/dfsp1/endpoints?type=FSPIOP_CALLBACK_URL_TRANSFER_PUT")
        .await;
    assert_eq!(
        one.assert_status(200),
        &json!({"type": "FSPIOP_CALLBACK_URL_TRANSFER_PUT", "value": "http://dfsp1.example/transfers/{{transferId}}"})
    );

    // (6) funds in: settlement −X, hub reconciliation +X
    let transfer_id = new_id();
    let settlement = app.account_id("dfsp1", "USD", "SETTLEMENT").await;
    let hub_reconciliation = app.account_id("Hub", "USD", "HUB_RECONCILIATION").await;
    let funded = app.funds_in("dfsp1", &transfer_id, "5000.25").await;
    assert_eq!(funded.assert_status(202), &Value::Null);
    assert_eq!(
        app.balance("dfsp1", "USD", "SETTLEMENT").await,
        dec("-5000.25")
    );
    assert_eq!(app.balance("dfsp1", "USD", "POSITION").await, Decimal::ZERO);
    assert_eq!(
        app.balance("Hub", "USD", "HUB_RECONCILIATION").await,
        dec("5000.25")
    );
    assert_eq!(
        app.balance("Hub", "USD", "HUB_MULTILATERAL_SETTLEMENT")
            .await,
        Decimal::ZERO
    );
    let positions = app.get("/participants/dfsp1/positions").await;
    let positions = positions.assert_status(200).as_array().unwrap().clone();
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0]["currency"], "USD");
    assert_eq!(num(&positions[0]["value"]), Decimal::ZERO);
    let position = app.get("/participants/dfsp1/positions?currency=USD").await;
    assert_eq!(position.assert_status(200)["currency"], "USD");

    assert_eq!(
        app.transfer_state(&transfer_id).await,
        TransferState::Committed
    );
    let journal = app.journal(&transfer_id).await;
    let entries: Vec<(u64, &str, Decimal)> = journal
        .iter()
        .map(|e| (u64::from(e.account_id.get()), e.phase.as_str(), e.change))
        .collect();
    assert_eq!(
        entries,
        [
            (hub_reconciliation, "RESERVE", dec("5000.25")),
            (settlement, "COMMIT", dec("-5000.25"))
        ]
    );
    let states = app.states(&transfer_id).await;
    assert_eq!(states[0].2.as_deref(), Some("liquidity top-up"));
    let mut conn = app.db.pool.acquire().await.unwrap();
    let id = TransferId::parse(&transfer_id).expect("a transfer id");
    let extensions = transfers::load_extensions(&mut conn, &[id])
        .await
        .unwrap()
        .remove(&id)
        .unwrap();
    let pairs: Vec<(&str, &str)> = extensions
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("externalReference", "bank-statement-42"),
            ("operator", "alice")
        ]
    );
    app.assert_invariants().await;
}

#[tokio::test]
async fn a_participant_gains_a_currency_once() {
    let app = App::onboarded(&["dfsp1"]).await;
    app.hub_accounts("EUR").await;
    app.settlement_model("DEFAULTNET", None).await;
    let added = app
        .post("/participants", json!({"name": "dfsp1", "currency": "EUR"}))
        .await;
    let accounts = added.assert_status(201)["accounts"]
        .as_array()
        .unwrap()
        .clone();
    let pairs: Vec<(String, String)> = accounts
        .iter()
        .map(|a| {
            (
                a["currency"].as_str().unwrap().to_owned(),
                a["ledgerAccountType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("USD".to_owned(), "POSITION".to_owned()),
            ("USD".to_owned(), "SETTLEMENT".to_owned()),
            ("EUR".to_owned(), "POSITION".to_owned()),
            ("EUR".to_owned(), "SETTLEMENT".to_owned()),
        ]
    );
    app.post("/participants", json!({"name": "dfsp1", "currency": "EUR"}))
        .await
        .assert_error(
            400,
            "3000",
            "Generic client error - Participant currency has already been registered",
        );
    // A proxy participant is stored as such and filtered on.
    app.post(
        "/participants",
        json!({"name": "proxy1", "currency": "USD", "isProxy": true}),
    )
    .await
    .assert_status(201);
    let proxies = app.get("/participants?isProxy=true").await;
    let proxies = proxies.assert_status(200).as_array().unwrap().clone();
    assert_eq!(proxies.len(), 1);
    assert_eq!(proxies[0]["name"], "proxy1");
    assert_eq!(proxies[0]["isProxy"], 1);
}

#[tokio::test]
async fn participant_creation_needs_hub_accounts_and_a_settlement_model() {
    let app = App::start().await;
    let create = || app.post("/participants", json!({"name": "dfsp1", "currency": "USD"}));
    create().await.assert_error(
        400,
        "3003",
        "Add Party information error - Hub reconciliation account for the specified currency does not exist",
    );
    app.post(
        "/participants/Hub/accounts",
        json!({"currency": "USD", "type": "HUB_RECONCILIATION"}),
    )
    .await
    .assert_status(201);
    create().await.assert_error(
        400,
        "3003",
        "Add Party information error - Hub multilateral net settlement account for the specified currency does not exist",
    );
    app.post(
        "/participants/Hub/accounts",
        json!({"currency": "USD", "type": "HUB_MULTILATERAL_SETTLEMENT"}),
    )
    .await
    .assert_status(201);
    create().await.assert_error(
        400,
        "6000",
        "Generic Settlement Error - Unable to find a matching or default, Settlement Model",
    );
    // Nothing was left behind by the refused requests.
    app.get("/participants/dfsp1").await.assert_error(
        400,
        "3200",
        "Generic ID not found - The requested resource could not be found.",
    );
    app.settlement_model("DEFERREDNET", Some("USD")).await;
    create().await.assert_status(201);

    // Without the settlement model requirement a participant gets POSITION + SETTLEMENT.
    let lenient = App::start_with(|c| c.require_settlement_model = false).await;
    lenient.hub_accounts("USD").await;
    let created = lenient
        .post("/participants", json!({"name": "dfsp2", "currency": "USD"}))
        .await;
    assert_eq!(
        created.assert_status(201)["accounts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn hub_account_errors_are_central_ledgers() {
    let app = App::onboarded(&["dfsp1"]).await;
    let add = |name: &str, account_type: &str| {
        let path = format!("/participants/{name}/accounts");
        let body = json!({"currency": "USD", "type": account_type});
        let app = &app;
        async move { app.post(&path, body).await }
    };
    add("nobody", "HUB_RECONCILIATION").await.assert_error(
        400,
        "3003",
        "Add Party information error - Participant was not found.",
    );
    add("Hub", "HUB_FANTASY").await.assert_error(
        400,
        "3003",
        "Add Party information error - Ledger account type was not found.",
    );
    add("Hub", "HUB_RECONCILIATION").await.assert_error(
        400,
        "3003",
        "Add Party information error - Hub account has already been registered.",
    );
    add("dfsp1", "HUB_RECONCILIATION").await.assert_error(
        400,
        "3003",
        "Add Party information error - Endpoint is reserved for creation of Hub account types only.",
    );
    add("Hub", "POSITION").await.assert_error(
        400,
        "3003",
        "Add Party information error - The requested hub operator account type is not allowed.",
    );
    app.post(
        "/participants/Hub/accounts",
        json!({"type": "HUB_RECONCILIATION"}),
    )
    .await
    .assert_error(
        400,
        "3102",
        "Missing mandatory element - \"currency\" is required",
    );
}

#[tokio::test]
async fn malformed_and_invalid_requests_get_joi_style_errors() {
    let app = App::onboarded(&["dfsp1"]).await;
    app.post_raw("/participants", "{\"name\": \"dfsp2\",")
        .await
        .assert_error(
            400,
            "3101",
            "Malformed syntax - Invalid request payload JSON format",
        );
    app.post_raw("/participants", "[]").await.assert_error(
        400,
        "3100",
        "Generic validation error - \"value\" must be of type object",
    );
    app.post("/participants", json!({"currency": "USD"}))
        .await
        .assert_error(
            400,
            "3102",
            "Missing mandatory element - \"name\" is required",
        );
    app.post(
        "/participants",
        json!({"name": "dfsp-2", "currency": "USD"}),
    )
    .await
    .assert_error(
        400,
        "3101",
        "Malformed syntax - \"name\" must only contain alpha-numeric characters",
    );
    app.post("/participants", json!({"name": 42, "currency": "USD"}))
        .await
        .assert_error(400, "3101", "Malformed syntax - \"name\" must be a string");
    let bad_currency = app
        .post("/participants", json!({"name": "dfsp2", "currency": "ZZZ"}))
        .await;
    assert_eq!((bad_currency.status, bad_currency.code()), (400, "3101"));
    assert!(
        bad_currency
            .description()
            .starts_with("Malformed syntax - \"currency\" must be one of [AED, "),
        "{bad_currency:?}"
    );
    app.put("/participants/dfsp1", json!({"isActive": "maybe"}))
        .await
        .assert_error(
            400,
            "3100",
            "Generic validation error - \"isActive\" must be a boolean",
        );
    app.put("/participants/dfsp1/limits", json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": -5, "alarmPercentage": 10}}))
        .await
        .assert_error(
            400,
            "3100",
            "Generic validation error - \"limit.value\" must be greater than or equal to 0",
        );
    app.put(
        "/participants/dfsp1/limits",
        json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 5}}),
    )
    .await
    .assert_error(
        400,
        "3102",
        "Missing mandatory element - \"limit.alarmPercentage\" is required",
    );
    app.put(
        "/participants/dfsp1/limits",
        json!({"currency": "USD", "limit": {"type": "OTHER", "value": 5, "alarmPercentage": 10}}),
    )
    .await
    .assert_error(
        400,
        "3101",
        "Malformed syntax - \"limit.type\" must be one of [NET_DEBIT_CAP]",
    );
    let settlement = app.account_id("dfsp1", "USD", "SETTLEMENT").await;
    let path = format!("/participants/dfsp1/accounts/{settlement}");
    let mut body = funds_body(&new_id(), "recordFundsIn", "10.12345");
    app.post(&path, body.clone()).await.assert_error(
        400,
        "3100",
        "Generic validation error - \"amount.amount\" must have no more than 4 decimal places",
    );
    body["amount"]["amount"] = json!(0);
    app.post(&path, body.clone()).await.assert_error(
        400,
        "3100",
        "Generic validation error - \"amount.amount\" must be a positive number",
    );
    body["amount"]["amount"] = json!("10");
    body["action"] = json!("recordFundsSideways");
    app.post(&path, body.clone()).await.assert_error(
        400,
        "3101",
        "Malformed syntax - \"action is missing or not supported\" must be one of [recordFundsIn, recordFundsOutPrepareReserve]",
    );
    body["action"] = json!("recordFundsIn");
    body["transferId"] = json!("not-a-guid");
    app.post(&path, body.clone()).await.assert_error(
        400,
        "3101",
        "Malformed syntax - \"transferId\" must be a valid GUID",
    );
    body["transferId"] = json!(new_id());
    body.as_object_mut().unwrap().remove("amount");
    app.post(&path, body.clone()).await.assert_error(
        400,
        "3102",
        "Missing mandatory element - \"No amount provided\" is required",
    );
    app.post(
        "/participants/dfsp1/accounts/abc",
        funds_body(&new_id(), "recordFundsIn", "1"),
    )
    .await
    .assert_error(
        400,
        "3100",
        "Generic validation error - 'id' URI path parameter",
    );
    app.get("/nowhere")
        .await
        .assert_error(404, "3002", "Unknown URI");
    app.send(reqwest::Method::DELETE, "/participants", None)
        .await
        .assert_error(405, "3000", "Generic client error - Method Not Allowed");
    let huge = format!(
        "{{\"name\": \"dfsp2\", \"currency\": \"USD\", \"pad\": \"{}\"}}",
        "x".repeat(70 * 1024)
    );
    let too_large = app.post_raw("/participants", &huge).await;
    assert_eq!(
        (too_large.status, too_large.code()),
        (400, "3104"),
        "{too_large:?}"
    );
    // Refused requests changed nothing.
    app.assert_invariants().await;
    assert_eq!(
        app.balance("dfsp1", "USD", "SETTLEMENT").await,
        Decimal::ZERO
    );
}

#[tokio::test]
async fn an_unknown_participant_is_3200() {
    let app = App::onboarded(&[]).await;
    app.get("/participants/nobody").await.assert_error(
        400,
        "3200",
        "Generic ID not found - The requested resource could not be found.",
    );
    let expected = "Generic ID not found - Participant does not exist";
    for path in [
        "/participants/nobody/accounts",
        "/participants/nobody/limits",
        "/participants/nobody/positions",
        "/participants/nobody/endpoints",
    ] {
        app.get(path).await.assert_error(400, "3200", expected);
    }
    app.put("/participants/nobody", json!({"isActive": false}))
        .await
        .assert_error(400, "3200", expected);
    app.post(
        "/participants/nobody/endpoints",
        json!({"type": "FSPIOP_CALLBACK_URL_TRANSFER_POST", "value": "http://x"}),
    )
    .await
    .assert_error(400, "3200", expected);
    app.post(
        "/participants/nobody/initialPositionAndLimits",
        json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 1}}),
    )
    .await
    .assert_error(400, "3200", expected);
    app.put(
        "/participants/nobody/limits",
        json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 1, "alarmPercentage": 5}}),
    )
    .await
    .assert_error(400, "3200", expected);
    app.funds("nobody", 3, funds_body(&new_id(), "recordFundsIn", "1"))
        .await
        .assert_error(400, "3200", expected);
}

#[tokio::test]
async fn initial_position_and_limits_are_set_once() {
    let app = App::onboarded(&[]).await;
    app.post("/participants", json!({"name": "dfsp1", "currency": "USD"}))
        .await
        .assert_status(201);
    let set = json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": "2500.5"}, "initialPosition": 100});
    app.post("/participants/dfsp1/initialPositionAndLimits", set.clone())
        .await
        .assert_status(201);
    let position = app.get("/participants/dfsp1/positions?currency=USD").await;
    assert_eq!(num(&position.assert_status(200)["value"]), dec("100"));
    app.post("/participants/dfsp1/initialPositionAndLimits", set)
        .await
        .assert_error(
            500,
            "2001",
            "Internal server error - Participant Limit or Initial Position already set",
        );
    app.post(
        "/participants/dfsp1/initialPositionAndLimits",
        json!({"currency": "EUR", "limit": {"type": "NET_DEBIT_CAP", "value": 1}}),
    )
    .await
    .assert_error(
        400,
        "3200",
        "Generic ID not found - Participant does not exist",
    );
    let limits = app.get("/participants/dfsp1/limits?currency=USD").await;
    assert_eq!(
        num(&limits.assert_status(200)[0]["limit"]["value"]),
        dec("2500.5")
    );
    app.assert_invariants().await;
}

#[tokio::test]
async fn limits_are_read_and_adjusted() {
    let app = App::onboarded(&["dfsp1", "dfsp2"]).await;
    let adjusted = app
        .put(
            "/participants/dfsp1/limits",
            json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 750.75, "alarmPercentage": 20}}),
        )
        .await;
    assert_eq!(
        adjusted.assert_status(200),
        &json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 750.75, "alarmPercentage": 20}})
    );
    let limits = app
        .get("/participants/dfsp1/limits?currency=USD&type=NET_DEBIT_CAP")
        .await;
    assert_eq!(
        limits.assert_status(200),
        &json!([{"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 750.75, "alarmPercentage": 20}}])
    );
    let none = app.get("/participants/dfsp1/limits?type=OTHER").await;
    assert_eq!(none.assert_status(200), &json!([]));
    app.get("/participants/dfsp1/limits?currency=EUR")
        .await
        .assert_error(
            400,
            "3200",
            "Generic ID not found - Participant does not exist",
        );
    let all = app.get("/participants/limits").await;
    assert_eq!(
        all.assert_status(200),
        &json!([
            {"name": "dfsp1", "currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 750.75, "alarmPercentage": 20}},
            {"name": "dfsp2", "currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 10000, "alarmPercentage": 10}}
        ])
    );
    let usd = app
        .get("/participants/limits?currency=USD&type=NET_DEBIT_CAP")
        .await;
    assert_eq!(usd.assert_status(200).as_array().unwrap().len(), 2);
    // Lowering the NDC below the current position is accepted (central-ledger, project#511).
    let lenient = App::onboarded(&[]).await;
    lenient
        .post("/participants", json!({"name": "dfsp3", "currency": "USD"}))
        .await
        .assert_status(201);
    lenient
        .post(
            "/participants/dfsp3/initialPositionAndLimits",
            json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 1000}, "initialPosition": 500}),
        )
        .await
        .assert_status(201);
    lenient
        .put(
            "/participants/dfsp3/limits",
            json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 100, "alarmPercentage": 10}}),
        )
        .await
        .assert_status(200);
}

#[tokio::test]
async fn endpoints_are_upserted() {
    let app = App::onboarded(&["dfsp1"]).await;
    for value in [
        "http://old.example/transfers",
        "http://new.example/transfers",
    ] {
        app.post(
            "/participants/dfsp1/endpoints",
            json!({"type": "FSPIOP_CALLBACK_URL_TRANSFER_POST", "value": value}),
        )
        .await
        .assert_status(201);
    }
    let endpoints = app.get("/participants/dfsp1/endpoints").await;
    assert_eq!(
        endpoints.assert_status(200),
        &json!([{"type": "FSPIOP_CALLBACK_URL_TRANSFER_POST", "value": "http://new.example/transfers"}])
    );
    let missing = app
        .get("/participants/dfsp1/endpoints?type=FSPIOP_CALLBACK_URL_QUOTES")
        .await;
    assert_eq!(missing.assert_status(200), &json!({}));
    app.post(
        "/participants/dfsp1/endpoints",
        json!({"type": "FSPIOP_CALLBACK_URL_QUOTES"}),
    )
    .await
    .assert_error(
        400,
        "3102",
        "Missing mandatory element - \"value\" is required",
    );
}

#[tokio::test]
async fn participants_and_position_accounts_are_activated_and_deactivated() {
    let app = App::onboarded(&["dfsp1", "dfsp2"]).await;
    let deactivated = app
        .put("/participants/dfsp1", json!({"isActive": false}))
        .await;
    assert_eq!(deactivated.assert_status(200)["isActive"], 0);
    assert_eq!(
        app.get("/participants/dfsp1").await.assert_status(200)["isActive"],
        0
    );
    app.put("/participants/dfsp1", json!({"isActive": true}))
        .await
        .assert_status(200);

    let position = app.account_id("dfsp1", "USD", "POSITION").await;
    let settlement = app.account_id("dfsp1", "USD", "SETTLEMENT").await;
    let other = app.account_id("dfsp2", "USD", "POSITION").await;
    let updated = app
        .put(
            &format!("/participants/dfsp1/accounts/{position}"),
            json!({"isActive": false}),
        )
        .await;
    assert_eq!(updated.assert_status(200), &Value::Null);
    let accounts = app.get("/participants/dfsp1/accounts").await;
    let account = accounts
        .assert_status(200)
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == position)
        .unwrap()
        .clone();
    assert_eq!(account["isActive"], 0);
    app.put(
        &format!("/participants/dfsp1/accounts/{settlement}"),
        json!({"isActive": false}),
    )
    .await
    .assert_error(
        500,
        "2001",
        "Internal server error - Only position account update is permitted",
    );
    app.put(
        &format!("/participants/dfsp1/accounts/{other}"),
        json!({"isActive": false}),
    )
    .await
    .assert_error(
        500,
        "2001",
        "Internal server error - Participant/account mismatch",
    );
    app.put(
        "/participants/dfsp1/accounts/999999",
        json!({"isActive": false}),
    )
    .await
    .assert_error(500, "2001", "Internal server error - Account not found");
}

#[tokio::test]
async fn funds_need_the_participants_active_settlement_account() {
    let app = App::onboarded(&["dfsp1"]).await;
    let position = app.account_id("dfsp1", "USD", "POSITION").await;
    let settlement = app.account_id("dfsp1", "USD", "SETTLEMENT").await;
    let body = || funds_body(&new_id(), "recordFundsIn", "100");
    app.funds("dfsp1", position, body()).await.assert_error(
        500,
        "2001",
        "Internal server error - Account is not SETTLEMENT type",
    );
    let mut eur = body();
    eur["amount"]["currency"] = json!("EUR");
    app.funds("dfsp1", settlement, eur).await.assert_error(
        500,
        "2001",
        "Internal server error - The account does not match participant or currency specified",
    );
    let hub_account = app.account_id("Hub", "USD", "HUB_RECONCILIATION").await;
    app.funds("dfsp1", hub_account, body()).await.assert_error(
        500,
        "2001",
        "Internal server error - The account does not match participant or currency specified",
    );
    // A participant whose accounts were never activated (no initialPositionAndLimits).
    app.post("/participants", json!({"name": "dfsp2", "currency": "USD"}))
        .await
        .assert_status(201);
    let inactive = app.account_id("dfsp2", "USD", "SETTLEMENT").await;
    app.funds("dfsp2", inactive, body()).await.assert_error(
        500,
        "2001",
        "Internal server error - Account is currently set inactive",
    );
    app.put("/participants/dfsp1", json!({"isActive": false}))
        .await
        .assert_status(200);
    app.funds("dfsp1", settlement, body()).await.assert_error(
        500,
        "2001",
        "Internal server error - Participant is currently set inactive",
    );
    assert_eq!(
        app.balance("dfsp1", "USD", "SETTLEMENT").await,
        Decimal::ZERO
    );
    app.assert_invariants().await;
}

#[tokio::test]
async fn a_repeated_funds_in_has_no_second_effect() {
    let app = App::onboarded(&["dfsp1", "dfsp2"]).await;
    let id = new_id();
    let settlement = app.account_id("dfsp1", "USD", "SETTLEMENT").await;
    let body = funds_body(&id, "recordFundsIn", "300");
    app.funds("dfsp1", settlement, body.clone())
        .await
        .assert_status(202);
    // The same body again, and the same body with its keys re-ordered: a resend.
    app.funds("dfsp1", settlement, body.clone())
        .await
        .assert_status(202);
    let reordered = format!(
        r#"{{"amount": {{"currency": "USD", "amount": "300"}}, "reason": "liquidity top-up",
            "extensionList": {{"extension": [{{"value": "alice", "key": "operator"}}]}},
            "action": "recordFundsIn", "externalReference": "bank-statement-42", "transferId": "{id}"}}"#
    );
    app.post_raw(
        &format!("/participants/dfsp1/accounts/{settlement}"),
        &reordered,
    )
    .await
    .assert_status(202);
    // The same id with another amount: a modified request, refused, no effect.
    let mut modified = body.clone();
    modified["amount"]["amount"] = json!("301");
    app.funds("dfsp1", settlement, modified).await.assert_error(
        400,
        "3106",
        "Modified request - Transfer ID has already been used with different parameters",
    );
    // The same body for another participant's account: refused as well.
    let other = app.account_id("dfsp2", "USD", "SETTLEMENT").await;
    app.funds("dfsp2", other, body.clone()).await.assert_error(
        400,
        "3106",
        "Modified request - Transfer ID has already been used with different parameters",
    );
    // The same id reused for a funds-out.
    app.funds_out("dfsp1", &id, "300").await.assert_error(
        400,
        "3106",
        "Modified request - Transfer ID has already been used with different parameters",
    );
    assert_eq!(app.balance("dfsp1", "USD", "SETTLEMENT").await, dec("-300"));
    assert_eq!(
        app.balance("dfsp2", "USD", "SETTLEMENT").await,
        Decimal::ZERO
    );
    assert_eq!(
        app.balance("Hub", "USD", "HUB_RECONCILIATION").await,
        dec("300")
    );
    assert_eq!(app.transfer_count(&id).await, 1);
    assert_eq!(app.journal(&id).await.len(), 2);
    app.assert_invariants().await;
}

#[tokio::test]
async fn racing_identical_funds_in_requests_apply_once() {
    let app = App::onboarded(&["dfsp1"]).await;
    let id = new_id();
    let settlement = app.account_id("dfsp1", "USD", "SETTLEMENT").await;
    let body = funds_body(&id, "recordFundsIn", "50");
    let replies =
        futures::future::join_all((0..6).map(|_| app.funds("dfsp1", settlement, body.clone())))
            .await;
    for reply in &replies {
        reply.assert_status(202);
    }
    assert_eq!(app.balance("dfsp1", "USD", "SETTLEMENT").await, dec("-50"));
    assert_eq!(
        app.balance("Hub", "USD", "HUB_RECONCILIATION").await,
        dec("50")
    );
    app.assert_invariants().await;
}

#[tokio::test]
async fn funds_out_reserves_then_commits() {
    let app = App::onboarded(&["dfsp1"]).await;
    app.funds_in("dfsp1", &new_id(), "5000")
        .await
        .assert_status(202);
    let id = new_id();
    let settlement = app.account_id("dfsp1", "USD", "SETTLEMENT").await;
    let hub_reconciliation = app.account_id("Hub", "USD", "HUB_RECONCILIATION").await;

    let reserved = app.funds_out("dfsp1", &id, "2000").await;
    assert_eq!(reserved.assert_status(202), &Value::Null);
    assert_eq!(app.transfer_state(&id).await, TransferState::Reserved);
    assert_eq!(
        app.balance("dfsp1", "USD", "SETTLEMENT").await,
        dec("-3000")
    );
    assert_eq!(
        app.balance("Hub", "USD", "HUB_RECONCILIATION").await,
        dec("5000")
    );
    app.assert_invariants().await;
    // A resend of the prepare changes nothing.
    app.funds_out("dfsp1", &id, "2000").await.assert_status(202);
    assert_eq!(
        app.balance("dfsp1", "USD", "SETTLEMENT").await,
        dec("-3000")
    );

    let committed = app.finish("dfsp1", &id, "recordFundsOutCommit").await;
    assert_eq!(committed.assert_status(202), &Value::Null);
    assert_eq!(app.transfer_state(&id).await, TransferState::Committed);
    assert_eq!(
        app.balance("dfsp1", "USD", "SETTLEMENT").await,
        dec("-3000")
    );
    assert_eq!(
        app.balance("Hub", "USD", "HUB_RECONCILIATION").await,
        dec("3000")
    );
    let entries: Vec<(u64, String, Decimal)> = app
        .journal(&id)
        .await
        .into_iter()
        .map(|e| (u64::from(e.account_id.get()), e.phase, e.change))
        .collect();
    assert_eq!(
        entries,
        [
            (settlement, "RESERVE".to_owned(), dec("2000")),
            (hub_reconciliation, "COMMIT".to_owned(), dec("-2000")),
        ]
    );
    let states: Vec<(Option<String>, String, Option<String>)> = app.states(&id).await;
    assert_eq!(
        states,
        [
            (
                None,
                "RECEIVED_PREPARE".into(),
                Some("liquidity top-up".into())
            ),
            (Some("RECEIVED_PREPARE".into()), "RESERVED".into(), None),
            (
                Some("RESERVED".into()),
                "RECEIVED_FULFIL".into(),
                Some("recordFundsOutCommit by test".into())
            ),
            (Some("RECEIVED_FULFIL".into()), "COMMITTED".into(), None),
        ]
    );
    app.assert_invariants().await;

    // A repeated commit is accepted without effect; an abort now is refused.
    app.finish("dfsp1", &id, "recordFundsOutCommit")
        .await
        .assert_status(202);
    app.finish("dfsp1", &id, "recordFundsOutAbort")
        .await
        .assert_error(
            500,
            "2001",
            "Internal server error - Invalid State: COMMITTED - expected: RESERVED",
        );
    assert_eq!(
        app.balance("Hub", "USD", "HUB_RECONCILIATION").await,
        dec("3000")
    );
    app.assert_invariants().await;
}

#[tokio::test]
async fn funds_out_abort_reverses_the_reservation() {
    let app = App::onboarded(&["dfsp1", "dfsp2"]).await;
    app.funds_in("dfsp1", &new_id(), "5000")
        .await
        .assert_status(202);
    let id = new_id();
    let settlement = app.account_id("dfsp1", "USD", "SETTLEMENT").await;
    app.funds_out("dfsp1", &id, "1000.5")
        .await
        .assert_status(202);
    assert_eq!(
        app.balance("dfsp1", "USD", "SETTLEMENT").await,
        dec("-3999.5")
    );
    // Another participant's account cannot finish it.
    app.finish("dfsp2", &id, "recordFundsOutAbort")
        .await
        .assert_error(
            500,
            "2001",
            "Internal server error - The account does not match participant or currency specified",
        );
    let aborted = app.finish("dfsp1", &id, "recordFundsOutAbort").await;
    assert_eq!(aborted.assert_status(202), &Value::Null);
    assert_eq!(
        app.transfer_state(&id).await,
        TransferState::AbortedRejected
    );
    assert_eq!(
        app.balance("dfsp1", "USD", "SETTLEMENT").await,
        dec("-5000")
    );
    assert_eq!(
        app.balance("Hub", "USD", "HUB_RECONCILIATION").await,
        dec("5000")
    );
    let entries: Vec<(u64, String, Decimal)> = app
        .journal(&id)
        .await
        .into_iter()
        .map(|e| (u64::from(e.account_id.get()), e.phase, e.change))
        .collect();
    assert_eq!(
        entries,
        [
            (settlement, "RESERVE".to_owned(), dec("1000.5")),
            (settlement, "REVERSE".to_owned(), dec("-1000.5")),
        ]
    );
    let states: Vec<String> = app.states(&id).await.into_iter().map(|s| s.1).collect();
    assert_eq!(
        states,
        [
            "RECEIVED_PREPARE",
            "RESERVED",
            "RECEIVED_REJECT",
            "ABORTED_REJECTED"
        ]
    );
    app.finish("dfsp1", &id, "recordFundsOutAbort")
        .await
        .assert_status(202);
    app.finish("dfsp1", &id, "recordFundsOutCommit")
        .await
        .assert_error(
            500,
            "2001",
            "Internal server error - Invalid State: ABORTED_REJECTED - expected: RESERVED",
        );
    app.finish("dfsp1", &new_id(), "recordFundsOutCommit")
        .await
        .assert_error(400, "3208", "Transfer ID not found");
    app.assert_invariants().await;
}

#[tokio::test]
async fn funds_out_beyond_the_deposit_is_aborted_for_insufficient_funds() {
    let app = App::onboarded(&["dfsp1"]).await;
    app.funds_in("dfsp1", &new_id(), "5000")
        .await
        .assert_status(202);
    // Exactly the deposit is allowed…
    let all = new_id();
    app.funds_out("dfsp1", &all, "5000")
        .await
        .assert_status(202);
    assert_eq!(app.transfer_state(&all).await, TransferState::Reserved);
    app.finish("dfsp1", &all, "recordFundsOutAbort")
        .await
        .assert_status(202);
    // …one cent more is not.
    let id = new_id();
    app.funds_out("dfsp1", &id, "5000.01")
        .await
        .assert_status(202);
    assert_eq!(
        app.transfer_state(&id).await,
        TransferState::AbortedRejected
    );
    let states = app.states(&id).await;
    assert_eq!(
        states.last().unwrap(),
        &(
            Some("RECEIVED_PREPARE".to_owned()),
            "ABORTED_REJECTED".to_owned(),
            Some("Aborted due to insufficient funds".to_owned())
        )
    );
    assert!(app.journal(&id).await.is_empty());
    assert_eq!(
        app.balance("dfsp1", "USD", "SETTLEMENT").await,
        dec("-5000")
    );
    assert_eq!(
        app.balance("Hub", "USD", "HUB_RECONCILIATION").await,
        dec("5000")
    );
    app.finish("dfsp1", &id, "recordFundsOutCommit")
        .await
        .assert_error(
            500,
            "2001",
            "Internal server error - Invalid State: ABORTED_REJECTED - expected: RESERVED",
        );
    app.assert_invariants().await;
}

#[tokio::test]
async fn every_admin_change_bumps_the_epoch() {
    let app = App::onboarded(&["dfsp1"]).await;
    let settlement = app.account_id("dfsp1", "USD", "SETTLEMENT").await;
    let position = app.account_id("dfsp1", "USD", "POSITION").await;
    let changes: Vec<(reqwest::Method, String, Value)> = vec![
        (
            reqwest::Method::POST,
            "/participants".into(),
            json!({"name": "dfsp2", "currency": "USD"}),
        ),
        (
            reqwest::Method::PUT,
            "/participants/dfsp1".into(),
            json!({"isActive": true}),
        ),
        (
            reqwest::Method::PUT,
            "/participants/dfsp1/limits".into(),
            json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 5, "alarmPercentage": 10}}),
        ),
        (
            reqwest::Method::POST,
            "/participants/dfsp1/endpoints".into(),
            json!({"type": "FSPIOP_CALLBACK_URL_TRANSFER_POST", "value": "http://x"}),
        ),
        (
            reqwest::Method::PUT,
            format!("/participants/dfsp1/accounts/{position}"),
            json!({"isActive": true}),
        ),
        (
            reqwest::Method::POST,
            format!("/participants/dfsp1/accounts/{settlement}"),
            funds_body(&new_id(), "recordFundsIn", "10"),
        ),
        (
            reqwest::Method::PUT,
            "/settlementModels/DEFERREDNET".into(),
            json!({"isActive": true}),
        ),
    ];
    for (method, path, body) in changes {
        let before = app.epoch().await;
        let reply = app
            .send(method.clone(), &path, Some(body.to_string().into_bytes()))
            .await;
        assert!(reply.status < 300, "{method} {path}: {reply:?}");
        assert!(
            app.epoch().await > before,
            "{method} {path} did not bump the epoch"
        );
    }
    // Reads leave it alone.
    let before = app.epoch().await;
    app.get("/participants").await.assert_status(200);
    app.get("/participants/dfsp1/accounts")
        .await
        .assert_status(200);
    assert_eq!(app.epoch().await, before);
}

#[tokio::test]
async fn the_hub_takes_its_configured_name() {
    let app = App::start_with(|c| c.hub_name = "Switch".into()).await;
    let hub = app.get("/participants/Switch").await;
    assert_eq!(hub.assert_status(200)["name"], "Switch");
    app.get("/participants/Hub").await.assert_error(
        400,
        "3200",
        "Generic ID not found - The requested resource could not be found.",
    );
    app.post(
        "/participants/Switch/accounts",
        json!({"currency": "USD", "type": "HUB_RECONCILIATION"}),
    )
    .await
    .assert_status(201);
    let enums = app.get("/enums").await;
    let enums = enums.assert_status(200);
    assert_eq!(enums["hubParticipant"]["name"], "Switch");
    assert_eq!(enums["ledgerAccountType"]["POSITION"], 1);
}

#[tokio::test]
async fn settlement_models_are_validated_and_stored() {
    let app = App::start().await;
    let model = |name: &str, currency: &str| {
        json!({
            "name": name,
            "settlementGranularity": "NET",
            "settlementInterchange": "MULTILATERAL",
            "settlementDelay": "DEFERRED",
            "currency": currency,
            "requireLiquidityCheck": true,
            "ledgerAccountType": "POSITION",
            "autoPositionReset": true,
            "settlementAccountType": "SETTLEMENT"
        })
    };
    app.post("/settlementModels", model("DEFERREDNET", "USD"))
        .await
        .assert_error(
            400,
            "3003",
            "Add Party information error - Hub reconciliation account for the specified currency does not exist",
        );
    app.hub_accounts("USD").await;
    let mut immediate_net = model("IMMEDIATENET", "USD");
    immediate_net["settlementDelay"] = json!("IMMEDIATE");
    app.post("/settlementModels", immediate_net).await.assert_error(
        400,
        "3000",
        "Generic client error - Invalid settlement model definition - delay-granularity-interchange combination is not supported",
    );
    let mut unknown = model("UNKNOWN", "USD");
    unknown["ledgerAccountType"] = json!("NO_SUCH_TYPE");
    app.post("/settlementModels", unknown).await.assert_error(
        400,
        "3003",
        "Add Party information error - Ledger account type was not found",
    );
    let mut mixed = model("MIXED", "USD");
    mixed["ledgerAccountType"] = json!("INTERCHANGE_FEE");
    app.post("/settlementModels", mixed).await.assert_error(
        400,
        "3000",
        "Generic client error - Ledger account type INTERCHANGE_FEE settles only to INTERCHANGE_FEE_SETTLEMENT",
    );
    let mut granularity = model("WEIRD", "USD");
    granularity["settlementGranularity"] = json!("SOMETIMES");
    app.post("/settlementModels", granularity)
        .await
        .assert_error(
            400,
            "3101",
            "Malformed syntax - \"settlementGranularity\" must be one of [GROSS, NET]",
        );
    app.post("/settlementModels", model("DEFERREDNET", "USD"))
        .await
        .assert_status(201);
    app.post("/settlementModels", model("DEFERREDNET", "USD"))
        .await
        .assert_error(
            400,
            "3000",
            "Generic client error - Settlement Model already exists",
        );
    app.get("/settlementModels/NOPE").await.assert_error(
        400,
        "3200",
        "Generic ID not found - The requested resource could not be found.",
    );
    let off = app
        .put("/settlementModels/DEFERREDNET", json!({"isActive": false}))
        .await;
    assert_eq!(off.assert_status(200)["isActive"], false);
    // An inactive model does not count for POST /participants.
    app.post("/participants", json!({"name": "dfsp1", "currency": "USD"}))
        .await
        .assert_error(
            400,
            "6000",
            "Generic Settlement Error - Unable to find a matching or default, Settlement Model",
        );
    let types = app.get("/ledgerAccountTypes").await;
    assert_eq!(types.assert_status(200).as_array().unwrap().len(), 6);
}

/// The document's `LedgerAccountType`: boolean `isActive` and `isSettleable` on every item, and
/// `POST /ledgerAccountTypes` creating one; a name taken in any letter case, or not of word
/// characters, is refused and changes nothing.
#[tokio::test]
async fn ledger_account_types_are_listed_with_their_flags_and_created() {
    let app = App::start().await;
    let listed = |body: &Value| -> Vec<(String, bool, bool)> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let flag = |key: &str| t[key].as_bool().unwrap_or_else(|| panic!("{key}: {t}"));
                let name = t["name"].as_str().unwrap().to_owned();
                (name, flag("isActive"), flag("isSettleable"))
            })
            .collect()
    };
    let before = listed(app.get("/ledgerAccountTypes").await.assert_status(200));
    assert!(before.contains(&("POSITION".to_owned(), true, true)));
    assert!(before.contains(&("SETTLEMENT".to_owned(), true, false)));
    let pool = json!({"name": "FEE_POOL", "description": "pooled fees", "isActive": false, "isSettleable": true});
    let created = app.post("/ledgerAccountTypes", pool.clone()).await;
    assert_eq!(created.assert_status(201), &pool);
    let after = listed(app.get("/ledgerAccountTypes").await.assert_status(200));
    assert_eq!(after.len(), before.len() + 1);
    assert!(after.contains(&("FEE_POOL".to_owned(), false, true)));
    for (body, code) in [
        (
            json!({"name": "fee_pool", "description": "x", "isActive": true, "isSettleable": true}),
            "3003",
        ),
        (
            json!({"name": "FEE-POOL", "description": "x", "isActive": true, "isSettleable": true}),
            "3101",
        ),
        (
            json!({"name": "X", "description": "x", "isActive": true, "isSettleable": true}),
            "3101",
        ),
        (
            json!({"name": "FEES", "description": "x", "isActive": true}),
            "3102",
        ),
    ] {
        let refused = app.post("/ledgerAccountTypes", body.clone()).await;
        assert_eq!(
            (refused.status, refused.code()),
            (400, code),
            "{body}: {refused:?}"
        );
    }
    let unchanged = listed(app.get("/ledgerAccountTypes").await.assert_status(200));
    assert_eq!(unchanged, after);
    // An inactive type cannot be named by a settlement model.
    let model = json!({
        "name": "POOLED", "settlementGranularity": "NET", "settlementInterchange": "MULTILATERAL",
        "settlementDelay": "DEFERRED", "requireLiquidityCheck": true,
        "ledgerAccountType": "FEE_POOL", "autoPositionReset": true, "settlementAccountType": "SETTLEMENT"
    });
    let refused = app.post("/settlementModels", model).await;
    assert_eq!(
        (refused.status, refused.code()),
        (400, "3003"),
        "{refused:?}"
    );
    assert!(
        refused
            .description()
            .ends_with("Ledger account type was not found"),
        "{refused:?}"
    );
    // An empty currency filter is malformed, not "no filter": the document's enum has no "".
    let empty = app.get("/participants/limits?currency=").await;
    assert_eq!(empty.status, 400, "{empty:?}");
}

#[tokio::test]
async fn health_and_metrics_are_served_on_the_api_port() {
    let app = App::start().await;
    // The broker's entry is tests/health.rs's.
    assert_eq!(
        app.get("/health").await.body["services"][0],
        json!({"name": "datastore", "status": "OK"})
    );
    for path in ["/health/live", "/health/ready", "/metrics"] {
        let response = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    app.get("/participants").await.assert_status(200);
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ferroloop_admin_requests_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn shuts_down_cleanly_when_cancelled() {
    let db = TestDatabase::new().await;
    let shutdown = CancellationToken::new();
    let running = build_app(Config::for_database(db.args()), shutdown.clone())
        .await
        .unwrap();
    let client = ferroloop_testkit::http_client();
    let ready = client
        .get(format!("http://{}/health/ready", running.ops_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let listed = client
        .get(format!("http://{}/participants", running.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    shutdown.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(10), running.task)
        .await
        .expect("stops within 10 s")
        .unwrap()
        .unwrap();
    assert!(
        client
            .get(format!("http://{}/participants", running.addr))
            .send()
            .await
            .is_err(),
        "the listener is closed"
    );
}

/// A JWS test key of the contract's vectors (never retyped).
fn jws_vector_key(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/testdata/test-only-keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("JWS test key")
}

#[tokio::test]
async fn jws_keys_are_registered_rotated_and_removed() {
    let app = App::onboarded(&["dfsp1"]).await;
    let path = "/participants/dfsp1/jwsKey";
    app.get(path).await.assert_error(
        400,
        "3200",
        "Generic ID not found - Participant has no JWS key",
    );
    let first = jws_vector_key("sdk-standard-components_jwsValidationKey.pem");
    let second = jws_vector_key("fspiop-spec-v1.1-signature-example-public.pem");

    let before = app.epoch().await;
    let stored = app.put(path, json!({"publicKey": first})).await;
    assert_eq!(stored.assert_status(200)["publicKey"], json!(first));
    assert!(
        app.epoch().await > before,
        "a key change is an admin change"
    );
    assert_eq!(
        app.get(path).await.assert_status(200)["publicKey"],
        json!(first)
    );

    // Rotation replaces the key.
    let before = app.epoch().await;
    app.put(path, json!({"publicKey": second}))
        .await
        .assert_status(200);
    assert!(app.epoch().await > before);
    let current = app.get(path).await;
    let current = current.assert_status(200);
    assert_eq!(current["publicKey"], json!(second));
    assert!(current["createdDate"].is_string() && current["createdBy"].is_string());

    // What the adapter could not verify with never replaces a working key.
    for bad in [
        "not a key".to_owned(),
        jws_vector_key("sdk-standard-components_jwsSigningKey.pem"),
    ] {
        let reply = app.put(path, json!({"publicKey": bad})).await;
        assert_eq!((reply.status, reply.code()), (400, "3100"), "{bad}");
    }
    app.put(path, json!({})).await.assert_error(
        400,
        "3102",
        "Missing mandatory element - \"publicKey\" is required",
    );
    assert_eq!(
        app.get(path).await.assert_status(200)["publicKey"],
        json!(second)
    );
    app.put("/participants/nobody/jwsKey", json!({"publicKey": first}))
        .await
        .assert_error(
            400,
            "3200",
            "Generic ID not found - Participant does not exist",
        );

    let deleted = app.send(reqwest::Method::DELETE, path, None).await;
    assert_eq!(deleted.status, 204);
    let again = app.send(reqwest::Method::DELETE, path, None).await;
    assert_eq!((again.status, again.code()), (400, "3200"));
}

// Trust boundary: names, opening positions, funds-out against obligations, callback endpoints
// and exact amounts.

/// The participant names `GET /participants` lists.
async fn participant_names(app: &App) -> Vec<String> {
    app.get("/participants")
        .await
        .assert_status(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_name_differing_only_in_letter_case_is_refused_at_creation() {
    let app = App::onboarded(&["payeefsp"]).await;
    let before = participant_names(&app).await;
    for variant in ["PAYEEFSP", "PayeeFsp", "hub", "HUB"] {
        let reply = app
            .post("/participants", json!({"name": variant, "currency": "USD"}))
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (400, "3000"),
            "{variant}: {reply:?}"
        );
        assert!(
            reply.description().contains("differs only in letter case"),
            "{variant}: {reply:?}"
        );
    }
    assert_eq!(participant_names(&app).await, before, "nothing was created");
    // The exact name still gains a currency, and a genuinely new name is still welcome.
    app.hub_accounts("EUR").await;
    app.settlement_model("DEFERREDNETEUR", Some("EUR")).await;
    app.post(
        "/participants",
        json!({"name": "payeefsp", "currency": "EUR"}),
    )
    .await
    .assert_status(201);
    app.post(
        "/participants",
        json!({"name": "payeefsp2", "currency": "USD"}),
    )
    .await
    .assert_status(201);
    app.assert_invariants().await;
}

#[tokio::test]
async fn a_negative_opening_position_is_refused() {
    let app = App::onboarded(&[]).await;
    app.post("/participants", json!({"name": "dfsp1", "currency": "USD"}))
        .await
        .assert_status(201);
    for negative in [json!(-1000000), json!("-0.0001")] {
        app.post(
            "/participants/dfsp1/initialPositionAndLimits",
            json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 1000000}, "initialPosition": negative}),
        )
        .await
        .assert_error(
            400,
            "3100",
            "Generic validation error - \"initialPosition\" must be greater than or equal to 0",
        );
    }
    // Nothing was set: no limit, accounts still inactive, position zero.
    assert_eq!(
        app.get("/participants/dfsp1/limits")
            .await
            .assert_status(200),
        &json!([])
    );
    let accounts = app.get("/participants/dfsp1/accounts").await;
    for account in accounts.assert_status(200).as_array().unwrap() {
        assert_eq!(account["isActive"], 0, "{account}");
        assert_eq!(num(&account["value"]), Decimal::ZERO);
    }
    // Zero (also written as negative zero) and positive opening positions are accepted.
    app.post(
        "/participants/dfsp1/initialPositionAndLimits",
        json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 1000}, "initialPosition": "-0"}),
    )
    .await
    .assert_status(201);
    assert_eq!(app.balance("dfsp1", "USD", "POSITION").await, Decimal::ZERO);
    app.assert_invariants().await;
}

#[tokio::test]
async fn a_funds_out_may_not_take_liquidity_backing_the_net_debit_position() {
    let app = App::onboarded(&[]).await;
    app.post("/participants", json!({"name": "dfsp1", "currency": "USD"}))
        .await
        .assert_status(201);
    // A net debit position of 900 (the opening position stands in for reserved or committed
    // transfers), covered by a funds-in of 1000: 100 is free.
    app.post(
        "/participants/dfsp1/initialPositionAndLimits",
        json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 10000}, "initialPosition": 900}),
    )
    .await
    .assert_status(201);
    app.funds_in("dfsp1", &new_id(), "1000")
        .await
        .assert_status(202);
    for amount in ["1000", "100.0001"] {
        let id = new_id();
        app.funds_out("dfsp1", &id, amount).await.assert_status(202);
        assert_eq!(
            app.transfer_state(&id).await,
            TransferState::AbortedRejected,
            "{amount}"
        );
        let reason = app.states(&id).await.last().unwrap().2.clone().unwrap();
        assert!(
            reason.starts_with("Aborted due to insufficient funds")
                && reason.contains("net debit position"),
            "{reason}"
        );
        assert!(app.journal(&id).await.is_empty());
        assert_eq!(
            app.balance("dfsp1", "USD", "SETTLEMENT").await,
            dec("-1000")
        );
    }
    // Exactly the free liquidity may go.
    let free = new_id();
    app.funds_out("dfsp1", &free, "100")
        .await
        .assert_status(202);
    assert_eq!(app.transfer_state(&free).await, TransferState::Reserved);
    assert_eq!(app.balance("dfsp1", "USD", "SETTLEMENT").await, dec("-900"));
    // Nothing more, not even a cent.
    let more = new_id();
    app.funds_out("dfsp1", &more, "0.01")
        .await
        .assert_status(202);
    assert_eq!(
        app.transfer_state(&more).await,
        TransferState::AbortedRejected
    );
    app.assert_invariants().await;
}

#[tokio::test]
async fn callback_endpoints_must_be_http_urls_to_addresses_the_hub_may_call() {
    let app = App::onboarded(&["dfsp1"]).await;
    let put = "FSPIOP_CALLBACK_URL_TRANSFER_PUT";
    for bad in [
        "ftp://dfsp1.example/transfers/{{transferId}}",
        "dfsp1.example/transfers",
        "not a url",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/transfers",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://user:secret@dfsp1.example/transfers",
        "http://dfsp1.example/transfers/{{unknownPlaceholder}}",
    ] {
        let reply = app
            .post(
                "/participants/dfsp1/endpoints",
                json!({"type": put, "value": bad}),
            )
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (400, "3100"),
            "{bad}: {reply:?}"
        );
        assert!(
            reply
                .description()
                .starts_with("Generic validation error - \"value\""),
            "{bad}: {reply:?}"
        );
    }
    assert_eq!(
        app.get("/participants/dfsp1/endpoints")
            .await
            .assert_status(200),
        &json!([]),
        "nothing was stored"
    );
    // Mojaloop's templates, plain hosts and private addresses are fine; other endpoint types
    // (an e-mail address) stay free text.
    for (endpoint_type, value) in [
        (put, "https://dfsp1.example:8443/transfers/{{transferId}}"),
        (
            "FSPIOP_CALLBACK_URL_TRANSFER_POST",
            "http://10.1.2.3:4000/transfers",
        ),
        ("NET_DEBIT_CAP_ADJUSTMENT_EMAIL", "ops@dfsp1.example"),
    ] {
        app.post(
            "/participants/dfsp1/endpoints",
            json!({"type": endpoint_type, "value": value}),
        )
        .await
        .assert_status(201);
    }
}

#[tokio::test]
async fn an_allow_list_opens_link_local_callback_addresses() {
    let put = "FSPIOP_CALLBACK_URL_TRANSFER_PUT";
    // The operator vouches for one link-local range; the metadata address stays refused.
    let app = App::start_with(|c| {
        c.callback_address_allow_list =
            ferroloop_fspiop::endpoint::AddressPolicy::parse("169.254.10.0/24").unwrap();
    })
    .await;
    app.hub_accounts("USD").await;
    app.settlement_model("DEFERREDNET", Some("USD")).await;
    app.dfsp("dfsp1", 1000).await;
    app.post(
        "/participants/dfsp1/endpoints",
        json!({"type": put, "value": "http://169.254.10.5/transfers/{{transferId}}"}),
    )
    .await
    .assert_status(201);
    app.post(
        "/participants/dfsp1/endpoints",
        json!({"type": put, "value": "http://169.254.169.254/transfers"}),
    )
    .await
    .assert_status(400);
}

#[tokio::test]
async fn admin_amounts_are_parsed_exactly_or_refused() {
    let app = App::onboarded(&["dfsp1"]).await;
    let settlement = app.account_id("dfsp1", "USD", "SETTLEMENT").await;
    let path = format!("/participants/dfsp1/accounts/{settlement}");
    // Text that `Decimal::from_str` would round to an acceptable amount, an exponent beyond
    // the scale, an exponent too large to expand, whitespace inside a numeric string and a
    // negative zero: all refused, nothing moves.
    let refused = [
        (
            json!("1.00000000000000000000000000001"),
            "must have no more than 4 decimal places",
        ),
        (
            json!("1.000000000000000000000000000000000001"),
            "must have no more than 4 decimal places",
        ),
        (json!(1e-5), "must have no more than 4 decimal places"),
        (
            json!("1e999999999"),
            "must have at most 18 digits before the decimal point",
        ),
        (json!(" 10"), "must be a number"),
        (json!("10 "), "must be a number"),
        (json!("-0"), "must be a positive number"),
    ];
    for (amount, why) in refused {
        let mut body = funds_body(&new_id(), "recordFundsIn", "1");
        body["amount"]["amount"] = amount.clone();
        let reply = app.post(&path, body).await;
        assert_eq!(
            (reply.status, reply.code()),
            (400, "3100"),
            "{amount}: {reply:?}"
        );
        assert!(reply.description().ends_with(why), "{amount}: {reply:?}");
    }
    assert_eq!(
        app.balance("dfsp1", "USD", "SETTLEMENT").await,
        Decimal::ZERO
    );
    // Exponents that denote an exact amount within the scale are the amount they denote.
    let mut body = funds_body(&new_id(), "recordFundsIn", "1");
    body["amount"]["amount"] = json!("1.5e2");
    app.post(&path, body).await.assert_status(202);
    assert_eq!(app.balance("dfsp1", "USD", "SETTLEMENT").await, dec("-150"));
    app.assert_invariants().await;
}

/// Mojaloop's onboarding collections create an interchange fee model next to the transfer model;
/// central-ledger has the two ledger account types, so the model is stored and participants
/// created afterwards get accounts of both types (issue 15, item 5).
#[tokio::test]
async fn an_interchange_fee_settlement_model_is_accepted_and_gives_participants_fee_accounts() {
    let app = App::start().await;
    app.hub_accounts("USD").await;
    app.settlement_model("DEFERREDNET", Some("USD")).await;
    let fee = json!({
        "name": "INTERCHANGEFEE",
        "settlementGranularity": "NET",
        "settlementInterchange": "MULTILATERAL",
        "settlementDelay": "DEFERRED",
        "currency": "USD",
        "requireLiquidityCheck": false,
        "ledgerAccountType": "INTERCHANGE_FEE",
        "autoPositionReset": true,
        "settlementAccountType": "INTERCHANGE_FEE_SETTLEMENT"
    });
    app.post("/settlementModels", fee).await.assert_status(201);
    let stored = app.get("/settlementModels/INTERCHANGEFEE").await;
    let stored = stored.assert_status(200);
    assert_eq!(stored["ledgerAccountTypeId"], "INTERCHANGE_FEE");
    assert_eq!(
        stored["settlementAccountType"],
        "INTERCHANGE_FEE_SETTLEMENT"
    );
    let types = app.get("/ledgerAccountTypes").await;
    let names: Vec<&str> = types
        .assert_status(200)
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"INTERCHANGE_FEE") && names.contains(&"INTERCHANGE_FEE_SETTLEMENT"));
    let enums = app.get("/enums").await;
    assert_eq!(
        enums.assert_status(200)["ledgerAccountType"]["INTERCHANGE_FEE"],
        5
    );

    // A participant gets the accounts of both models; its transfers still use POSITION.
    app.dfsp("dfsp1", 10_000).await;
    let accounts = app.get("/participants/dfsp1/accounts").await;
    let mut kinds: Vec<&str> = accounts
        .assert_status(200)
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["ledgerAccountType"].as_str())
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "INTERCHANGE_FEE",
            "INTERCHANGE_FEE_SETTLEMENT",
            "POSITION",
            "SETTLEMENT"
        ]
    );
    app.get("/participants/dfsp1/positions")
        .await
        .assert_status(200);
    app.assert_invariants().await;
}
