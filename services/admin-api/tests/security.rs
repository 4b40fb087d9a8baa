//! Operator security over real HTTP against a fresh MariaDB database per test: bearer tokens
//! (401/403), configurable roles, maker/checker for every change to money, limits and trust
//! (executed exactly once, never by the maker, never after expiry or rejection), and the
//! hash-chained audit log, whose verification names the row an SQL edit, deletion or insertion
//! broke.

use std::path::{Path, PathBuf};

use ferroloop_admin_api::auth::{self, AuthArgs, AuthMode, Authenticator, TokenAlgorithm};
use ferroloop_admin_api::{Config, build_app};
use ferroloop_store::invariants::assert_storage_invariants;
use ferroloop_testkit::TestDatabase;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "ferroloop-admin";

/// A file of the crate's test data (`testdata/`, extracted by `scripts/testdata/extract.py`).
fn testdata(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(relative)
}

fn now() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap()
}

/// The issuer's keys: a P-256 pair made for the test, and the RSA pair of the spec's vectors.
struct Keys {
    dir: PathBuf,
    ec_private: Vec<u8>,
    rsa_private: Vec<u8>,
    /// A key the API does not know.
    stranger: Vec<u8>,
    files: Vec<PathBuf>,
}

impl Keys {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("admin-keys-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ec_private, ec_public) = auth::generate_issuer_key().unwrap();
        std::fs::write(dir.join("ec.pub"), &ec_public).unwrap();
        let rsa_public = testdata("test-only-keys/sdk-standard-components_jwsValidationKey.pem");
        std::fs::copy(&rsa_public, dir.join("rsa.pub")).unwrap();
        let rsa_private = std::fs::read(testdata(
            "test-only-keys/sdk-standard-components_jwsSigningKey.pem",
        ))
        .unwrap();
        let (stranger, _) = auth::generate_issuer_key().unwrap();
        Self {
            files: vec![dir.join("ec.pub"), dir.join("rsa.pub")],
            dir,
            ec_private: ec_private.into_bytes(),
            rsa_private,
            stranger: stranger.into_bytes(),
        }
    }

    fn args(&self) -> AuthArgs {
        AuthArgs {
            mode: AuthMode::On,
            issuer: Some(ISSUER.into()),
            audience: Some(AUDIENCE.into()),
            key_files: self.files.clone(),
            ..AuthArgs::off()
        }
    }

    fn sign(&self, alg: Algorithm, claims: &Value) -> String {
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&self.ec_private).unwrap(),
            _ => EncodingKey::from_rsa_pem(&self.rsa_private).unwrap(),
        };
        jsonwebtoken::encode(&Header::new(alg), claims, &key).unwrap()
    }

    /// A valid ES256 token for `subject` with `roles`.
    fn token(&self, subject: &str, roles: &[&str]) -> String {
        self.sign(Algorithm::ES256, &claims(subject, roles))
    }
}

fn claims(subject: &str, roles: &[&str]) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now(), "exp": now() + 600,
        "roles": roles})
}

struct App {
    db: TestDatabase,
    base: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
    keys: Keys,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
        std::fs::remove_dir_all(&self.keys.dir).ok();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

impl Reply {
    #[track_caller]
    fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{self:?}");
        &self.body
    }

    fn description(&self) -> &str {
        self.body["errorInformation"]["errorDescription"]
            .as_str()
            .unwrap_or_default()
    }
}

fn dec(v: &Value) -> Decimal {
    v.to_string().trim_matches('"').parse().unwrap()
}

impl App {
    async fn start() -> App {
        Self::start_with(|_, _| {}).await
    }

    async fn start_with(adjust: impl FnOnce(&mut Config, &Keys)) -> App {
        let keys = Keys::new();
        let db = TestDatabase::new().await;
        let mut config = Config::for_database(db.args());
        config.auth = keys.args();
        adjust(&mut config, &keys);
        let shutdown = CancellationToken::new();
        let running = build_app(config, shutdown.clone()).await.unwrap();
        App {
            db,
            base: format!("http://{}", running.addr),
            client: reqwest::Client::new(),
            shutdown,
            keys,
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(reqwest::Method::PUT, path, Some(token), Some(body))
            .await
    }

    fn operator(&self) -> String {
        self.keys.token("olga", &["operator"])
    }

    fn maker(&self) -> String {
        self.keys.token("mark", &["finance-maker"])
    }

    fn checker(&self) -> String {
        self.keys.token("chloe", &["finance-checker"])
    }

    fn auditor(&self) -> String {
        self.keys.token("audrey", &["auditor"])
    }

    /// Hub accounts, a settlement model and `dfsp` with an NDC of 1000, as the operator.
    async fn onboard(&self, dfsp: &str) {
        self.prepare_hub().await;
        self.participant(dfsp).await;
    }

    /// Hub accounts and the DEFERREDNET settlement model, as the operator.
    async fn prepare_hub(&self) {
        let op = self.operator();
        for kind in ["HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"] {
            self.post(
                "/participants/Hub/accounts",
                &op,
                json!({"currency": "USD", "type": kind}),
            )
            .await
            .assert_status(201);
        }
        self.post("/settlementModels", &op, json!({"name": "DEFERREDNET", "settlementGranularity": "NET",
            "settlementInterchange": "MULTILATERAL", "settlementDelay": "DEFERRED", "requireLiquidityCheck": true,
            "ledgerAccountType": "POSITION", "settlementAccountType": "SETTLEMENT", "autoPositionReset": true}))
            .await
            .assert_status(201);
    }

    /// `dfsp` with an NDC of 1000: created by the operator, its opening cap approved.
    async fn participant(&self, dfsp: &str) {
        let op = self.operator();
        self.post(
            "/participants",
            &op,
            json!({"name": dfsp, "currency": "USD"}),
        )
        .await
        .assert_status(201);
        // The opening position and cap move limits: the operator asks, a checker approves.
        let asked = self
            .post(
                &format!("/participants/{dfsp}/initialPositionAndLimits"),
                &op,
                json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 1000}}),
            )
            .await;
        let id = asked.assert_status(202)["approvalId"]
            .as_str()
            .unwrap()
            .to_owned();
        let done = self.approve(&id, &self.checker()).await;
        assert_eq!(done.assert_status(200)["status"], "EXECUTED");
    }

    /// The id and value of `dfsp`'s account of a ledger account type.
    async fn account(&self, dfsp: &str, account_type: &str) -> (u64, Decimal) {
        let accounts = self
            .get(&format!("/participants/{dfsp}/accounts"), &self.operator())
            .await
            .assert_status(200)
            .clone();
        let account = accounts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["ledgerAccountType"] == account_type)
            .unwrap()
            .clone();
        (account["id"].as_u64().unwrap(), dec(&account["value"]))
    }

    async fn settlement(&self, dfsp: &str) -> (u64, Decimal) {
        self.account(dfsp, "SETTLEMENT").await
    }

    /// A maker's funds-in: 202 with a pending request; returns its id.
    async fn request_funds_in(&self, dfsp: &str, amount: &str) -> String {
        let (account, _) = self.settlement(dfsp).await;
        let reply = self
            .post(
                &format!("/participants/{dfsp}/accounts/{account}"),
                &self.maker(),
                json!({"transferId": uuid::Uuid::now_v7().to_string(), "externalReference": "stmt-1",
                    "action": "recordFundsIn", "reason": "top-up",
                    "amount": {"amount": amount, "currency": "USD"}}),
            )
            .await;
        let body = reply.assert_status(202);
        assert_eq!(body["status"], "PENDING", "{body}");
        assert_eq!(body["maker"], "mark");
        let id = body["approvalId"].as_str().unwrap().to_owned();
        assert_eq!(
            reply.headers["location"].to_str().unwrap(),
            format!("/approvals/{id}")
        );
        id
    }

    async fn approve(&self, id: &str, token: &str) -> Reply {
        self.post(&format!("/approvals/{id}/approve"), token, json!({}))
            .await
    }

    async fn verify(&self) -> Value {
        self.get("/audit/verify", &self.auditor())
            .await
            .assert_status(200)
            .clone()
    }

    async fn sql(&self, statement: &str) {
        sqlx_exec(&self.db, statement).await;
    }
}

/// Raw SQL of the tampering tests: what an intruder with database access would run.
async fn sqlx_exec(db: &TestDatabase, statement: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Gives row `seq` the hash its content and stored `prev_hash` call for, as a careful forger
/// would.
async fn rehash(db: &TestDatabase, seq: u64) {
    let mut conn = db.pool.acquire().await.unwrap();
    let row = ferroloop_store::audit::rows_after(&mut conn, seq - 1, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(row.content.seq, seq);
    let hash = ferroloop_core::audit::hex(&row.content.chain_hash(&row.prev_hash));
    drop(conn);
    sqlx_exec(
        db,
        &format!("UPDATE admin_audit SET row_hash = UNHEX('{hash}') WHERE seq = {seq}"),
    )
    .await;
}

#[tokio::test]
async fn tokens_are_verified_and_privileges_checked() {
    let app = App::start().await;
    let keys = &app.keys;
    // Valid tokens of every accepted algorithm.
    for alg in [Algorithm::ES256, Algorithm::RS256, Algorithm::PS256] {
        let token = keys.sign(alg, &claims("olga", &["operator"]));
        app.get("/participants", &token).await.assert_status(200);
    }
    // No token.
    let reply = app
        .send(reqwest::Method::GET, "/participants", None, None)
        .await;
    reply.assert_status(401);
    assert!(
        reply.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(reply.body["errorInformation"]["errorCode"], "3000");
    // Expired (beyond the 30 s leeway), wrong issuer, wrong audience, no subject.
    let mut expired = claims("olga", &["operator"]);
    expired["exp"] = json!(now() - 120);
    let mut wrong_issuer = claims("olga", &["operator"]);
    wrong_issuer["iss"] = json!("https://evil.test");
    let mut wrong_audience = claims("olga", &["operator"]);
    wrong_audience["aud"] = json!("another-api");
    let mut no_subject = claims("olga", &["operator"]);
    no_subject.as_object_mut().unwrap().remove("sub");
    for bad in [expired, wrong_issuer, wrong_audience, no_subject] {
        let token = keys.sign(Algorithm::ES256, &bad);
        let reply = app.get("/participants", &token).await;
        assert_eq!(reply.status, 401, "{bad}: {reply:?}");
    }
    // Within the leeway an expired token still passes.
    let mut skewed = claims("olga", &["operator"]);
    skewed["exp"] = json!(now() - 5);
    app.get("/participants", &keys.sign(Algorithm::ES256, &skewed))
        .await
        .assert_status(200);
    // Signed by a key the issuer does not have; HMAC; garbage.
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims("olga", &["operator"]),
        &EncodingKey::from_ec_pem(&keys.stranger).unwrap(),
    )
    .unwrap();
    let hmac = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("olga", &["operator"]),
        &EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    let mut tampered = keys.token("olga", &["auditor"]);
    tampered.push('A');
    for token in [forged, hmac, tampered, "not-a-jwt".to_owned()] {
        app.get("/participants", &token).await.assert_status(401);
    }
    // Valid, but without the privilege: 403.
    let auditor = app.auditor();
    app.get("/participants", &auditor).await.assert_status(200);
    let reply = app
        .post(
            "/participants",
            &auditor,
            json!({"name": "dfsp1", "currency": "USD"}),
        )
        .await;
    reply.assert_status(403);
    assert!(
        reply.description().contains("participants:write"),
        "{reply:?}"
    );
    let nobody = keys.token("nemo", &[]);
    app.get("/participants", &nobody).await.assert_status(403);
    // Roles from `scope` count too; the operator may not move money.
    let scoped = keys.sign(
        Algorithm::ES256,
        &json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "sam", "exp": now() + 60, "scope": "openid auditor"}),
    );
    app.get("/audit", &scoped).await.assert_status(200);
    app.get("/audit", &app.operator()).await.assert_status(403);
    app.post("/participants/x/accounts/1", &app.operator(), json!({}))
        .await
        .assert_status(403);
    // central-ledger's health needs no token: answered (200 or, while the background broker
    // probe has not yet reported, 502 `DOWN`), never refused.
    let health = app.send(reqwest::Method::GET, "/health", None, None).await;
    assert!(matches!(health.status, 200 | 502), "{health:?}");
    assert_eq!(health.body["services"][0]["status"], "OK", "{health:?}");
}

#[tokio::test]
async fn the_role_mapping_is_configurable() {
    let roles = std::env::temp_dir().join(format!("roles-{}.json", uuid::Uuid::now_v7().simple()));
    std::fs::write(
        &roles,
        r#"{"readers": ["read"], "onboarding": ["read", "participants:write"]}"#,
    )
    .unwrap();
    let file = roles.clone();
    let app = App::start_with(move |config, _| {
        config.auth.roles_file = Some(file);
        config.auth.roles_claim = "realm_access.roles".into();
    })
    .await;
    let token = |roles: &[&str]| {
        app.keys.sign(
            Algorithm::ES256,
            &json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "rita", "exp": now() + 60,
                "realm_access": {"roles": roles}}),
        )
    };
    app.get("/participants", &token(&["readers"]))
        .await
        .assert_status(200);
    app.post("/settlementModels", &token(&["readers"]), json!({}))
        .await
        .assert_status(403);
    // The default role names mean nothing under this mapping.
    app.get("/participants", &token(&["operator"]))
        .await
        .assert_status(403);
    // A role with the privilege gets past the gate (and then the body's validation).
    app.post("/participants", &token(&["onboarding"]), json!({}))
        .await
        .assert_status(400);
    std::fs::remove_file(roles).ok();
}

#[tokio::test]
async fn issuer_keys_reload_when_their_files_change() {
    let keys = Keys::new();
    let auth = Authenticator::new(&keys.args()).unwrap();
    let (new_private, new_public) = auth::generate_issuer_key().unwrap();
    let rotated = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims("olga", &["operator"]),
        &EncodingKey::from_ec_pem(new_private.as_bytes()).unwrap(),
    )
    .unwrap();
    assert!(auth.verify(&rotated).is_err());
    assert!(!auth.reload_keys(), "nothing changed yet");
    std::fs::write(&keys.files[0], &new_public).unwrap();
    assert!(auth.reload_keys());
    assert_eq!(auth.verify(&rotated).unwrap().subject, "olga");
    // The old key is gone; a file that no longer parses keeps the keys in force.
    assert!(auth.verify(&keys.token("olga", &["operator"])).is_err());
    std::fs::write(&keys.files[0], "garbage").unwrap();
    assert!(!auth.reload_keys());
    assert!(auth.verify(&rotated).is_ok());
    // The token subcommand's signer produces tokens the verifier accepts.
    let minted = auth::mint(&auth::TokenRequest {
        signing_key_pem: &keys.rsa_private,
        algorithm: TokenAlgorithm::Ps256,
        key_id: Some("rsa"),
        issuer: ISSUER,
        audience: AUDIENCE,
        subject: "demo",
        roles: &["auditor".to_owned()],
        issued_at: now(),
        ttl_seconds: 60,
    })
    .unwrap();
    let identity = auth.verify(&minted).unwrap();
    assert_eq!(identity.roles, ["auditor"]);

    // A keys directory (a mounted Secret): keys added to it are picked up at the next reload.
    let dir = keys.dir.join("mounted");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&keys.files[1], dir.join("rsa.pem")).unwrap();
    let mut args = keys.args();
    args.key_files = Vec::new();
    args.keys_directory = Some(dir.clone());
    let from_dir = Authenticator::new(&args).unwrap();
    assert!(from_dir.verify(&minted).is_ok());
    assert!(from_dir.verify(&rotated).is_err());
    std::fs::write(dir.join("rotated.pem"), &new_public).unwrap();
    assert!(from_dir.reload_keys());
    assert!(from_dir.verify(&rotated).is_ok());
    std::fs::remove_dir_all(&keys.dir).ok();
}

#[tokio::test]
async fn funds_in_waits_for_a_different_checker_and_executes_once() {
    let app = App::start().await;
    app.onboard("dfsp1").await;
    let id = app.request_funds_in("dfsp1", "500").await;
    // Not executed yet.
    assert_eq!(app.settlement("dfsp1").await.1, Decimal::ZERO);
    let pending = app.get("/approvals?status=PENDING", &app.checker()).await;
    assert_eq!(pending.assert_status(200).as_array().unwrap().len(), 1);
    // The maker cannot approve their own request, not even with a checker's role.
    let maker_as_checker = app
        .keys
        .token("mark", &["finance-maker", "finance-checker"]);
    let reply = app.approve(&id, &maker_as_checker).await;
    reply.assert_status(403);
    assert!(reply.description().contains("own request"), "{reply:?}");
    // A maker-only token lacks the privilege to decide at all.
    app.approve(&id, &app.keys.token("max", &["finance-maker"]))
        .await
        .assert_status(403);
    // A different checker approves: executed.
    let approved = app.approve(&id, &app.checker()).await;
    let body = approved.assert_status(200);
    assert_eq!(body["status"], "EXECUTED", "{body}");
    assert_eq!(body["checker"], "chloe");
    assert_eq!(body["result"]["httpStatus"], 202);
    assert_eq!(app.settlement("dfsp1").await.1, Decimal::from(-500));
    // Retried approval: refused, nothing more happens.
    let again = app.approve(&id, &app.checker()).await;
    again.assert_status(400);
    assert!(
        again.description().contains("already EXECUTED"),
        "{again:?}"
    );
    assert_eq!(app.settlement("dfsp1").await.1, Decimal::from(-500));
    assert_storage_invariants(&app.db.pool).await.unwrap();
}

#[tokio::test]
async fn a_rejected_request_never_executes() {
    let app = App::start().await;
    app.onboard("dfsp1").await;
    let id = app.request_funds_in("dfsp1", "300").await;
    let rejected = app
        .post(
            &format!("/approvals/{id}/reject"),
            &app.checker(),
            json!({"reason": "no statement line"}),
        )
        .await;
    let body = rejected.assert_status(200);
    assert_eq!(body["status"], "REJECTED");
    assert_eq!(body["reason"], "no statement line");
    app.approve(&id, &app.checker()).await.assert_status(400);
    assert_eq!(app.settlement("dfsp1").await.1, Decimal::ZERO);
}

#[tokio::test]
async fn an_expired_request_cannot_be_approved() {
    let app = App::start_with(|config, _| config.approval_ttl_seconds = 3_600).await;
    app.onboard("dfsp1").await;
    let id = app.request_funds_in("dfsp1", "300").await;
    let mut conn = app.db.pool.acquire().await.unwrap();
    let past = ferroloop_store::db_time(time::OffsetDateTime::now_utc() - time::Duration::SECOND);
    ferroloop_store::approvals::set_expiry(&mut conn, &id, past)
        .await
        .unwrap();
    drop(conn);
    let listed = app.get(&format!("/approvals/{id}"), &app.checker()).await;
    assert_eq!(listed.assert_status(200)["status"], "EXPIRED");
    let reply = app.approve(&id, &app.checker()).await;
    reply.assert_status(400);
    assert_eq!(
        reply.body["errorInformation"]["errorCode"], "3300",
        "{reply:?}"
    );
    assert_eq!(app.settlement("dfsp1").await.1, Decimal::ZERO);
    let stored = app.get(&format!("/approvals/{id}"), &app.checker()).await;
    assert_eq!(stored.assert_status(200)["status"], "EXPIRED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_approvals_execute_once() {
    let app = App::start().await;
    app.onboard("dfsp1").await;
    let id = app.request_funds_in("dfsp1", "250").await;
    let checkers: Vec<String> = (0..8)
        .map(|i| {
            app.keys
                .token(&format!("checker-{i}"), &["finance-checker"])
        })
        .collect();
    let replies =
        futures::future::join_all(checkers.iter().map(|token| app.approve(&id, token))).await;
    let executed = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(executed, 1, "{replies:?}");
    assert!(
        replies.iter().all(|r| r.status == 200 || r.status == 400),
        "{replies:?}"
    );
    assert_eq!(app.settlement("dfsp1").await.1, Decimal::from(-250));
    assert_storage_invariants(&app.db.pool).await.unwrap();
}

#[tokio::test]
async fn limit_changes_and_funds_out_go_through_maker_checker() {
    let app = App::start().await;
    app.onboard("dfsp1").await;
    let id = app.request_funds_in("dfsp1", "800").await;
    app.approve(&id, &app.checker()).await.assert_status(200);
    // Limit change: the operator asks, a checker approves.
    let asked = app
        .put(
            "/participants/dfsp1/limits",
            &app.operator(),
            json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 5000, "alarmPercentage": 20}}),
        )
        .await;
    let limit_id = asked.assert_status(202)["approvalId"]
        .as_str()
        .unwrap()
        .to_owned();
    let limits = app.get("/participants/dfsp1/limits", &app.auditor()).await;
    assert_eq!(
        dec(&limits.assert_status(200)[0]["limit"]["value"]),
        Decimal::from(1000)
    );
    let done = app.approve(&limit_id, &app.checker()).await;
    assert_eq!(
        dec(&done.assert_status(200)["result"]["body"]["limit"]["value"]),
        Decimal::from(5000)
    );
    let limits = app.get("/participants/dfsp1/limits", &app.auditor()).await;
    assert_eq!(
        dec(&limits.assert_status(200)[0]["limit"]["value"]),
        Decimal::from(5000)
    );
    // A request that cannot execute is refused at once (dry run), not queued.
    let (account, _) = app.settlement("dfsp1").await;
    let refused = app
        .post(
            &format!("/participants/dfsp1/accounts/{account}"),
            &app.maker(),
            json!({"transferId": uuid::Uuid::now_v7().to_string(), "externalReference": "x",
                "action": "recordFundsIn", "reason": "r", "amount": {"amount": "1", "currency": "EUR"}}),
        )
        .await;
    refused.assert_status(500);
    // Funds out: reserve and commit, each approved.
    let transfer_id = uuid::Uuid::now_v7().to_string();
    let reserve = app
        .post(
            &format!("/participants/dfsp1/accounts/{account}"),
            &app.maker(),
            json!({"transferId": transfer_id, "externalReference": "payout", "action": "recordFundsOutPrepareReserve",
                "reason": "withdrawal", "amount": {"amount": "300", "currency": "USD"}}),
        )
        .await;
    let reserve_id = reserve.assert_status(202)["approvalId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.settlement("dfsp1").await.1, Decimal::from(-800));
    app.approve(&reserve_id, &app.checker())
        .await
        .assert_status(200);
    assert_eq!(app.settlement("dfsp1").await.1, Decimal::from(-500));
    let commit = app
        .put(
            &format!("/participants/dfsp1/accounts/{account}/transfers/{transfer_id}"),
            &app.maker(),
            json!({"action": "recordFundsOutCommit", "reason": "paid"}),
        )
        .await;
    let commit_id = commit.assert_status(202)["approvalId"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = app.approve(&commit_id, &app.checker()).await;
    assert_eq!(body.assert_status(200)["status"], "EXECUTED");
    assert_storage_invariants(&app.db.pool).await.unwrap();
}

/// The audit rows, oldest first.
async fn audit_rows(app: &App) -> Vec<Value> {
    let mut rows = app
        .get("/audit", &app.auditor())
        .await
        .assert_status(200)
        .as_array()
        .unwrap()
        .clone();
    rows.reverse();
    rows
}

#[tokio::test]
async fn every_action_is_audited_in_one_verifiable_chain() {
    let app = App::start().await;
    app.onboard("dfsp1").await;
    let id = app.request_funds_in("dfsp1", "100").await;
    app.approve(&id, &app.maker()).await.assert_status(403);
    app.approve(&id, &app.checker()).await.assert_status(200);
    app.send(
        reqwest::Method::POST,
        "/participants",
        None,
        Some(json!({})),
    )
    .await
    .assert_status(401);
    app.post("/participants", &app.operator(), json!({"name": "x"}))
        .await
        .assert_status(400);
    let rows = audit_rows(&app).await;
    let summary: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap().to_owned(),
                format!(
                    "{} {}",
                    r["method"].as_str().unwrap(),
                    r["route"].as_str().unwrap()
                ),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("olga", "POST /participants/{name}/accounts", "ok"),
        ("olga", "POST /participants/{name}/accounts", "ok"),
        ("olga", "POST /settlementModels", "ok"),
        ("olga", "POST /participants", "ok"),
        (
            "olga",
            "POST /participants/{name}/initialPositionAndLimits",
            "pending",
        ),
        ("chloe", "POST /approvals/{id}/approve", "approved"),
        ("mark", "POST /participants/{name}/accounts/{id}", "pending"),
        ("mark", "POST /approvals/{id}/approve", "forbidden"),
        ("chloe", "POST /approvals/{id}/approve", "approved"),
        ("unauthenticated", "POST /participants", "unauthenticated"),
        ("olga", "POST /participants", "refused"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, w, o)| ((*a).to_owned(), (*w).to_owned(), (*o).to_owned()))
        .collect();
    assert_eq!(summary, expected);
    assert_eq!(rows[8]["approvalId"], id.as_str());
    assert_eq!(
        dec(&rows[8]["before"]["settlementAccount"]["value"]),
        Decimal::ZERO
    );
    assert_eq!(
        dec(&rows[8]["after"]["balances"]["settlementAccount"]["value"]),
        Decimal::from(-100)
    );
    assert_eq!(rows[0]["prevHash"], "0".repeat(64));
    assert_eq!(rows[1]["prevHash"], rows[0]["rowHash"]);
    let verified = app.verify().await;
    assert_eq!(verified["intact"], true, "{verified}");
    assert_eq!(verified["rows"], 11);
    assert_eq!(verified["head"]["hash"], rows[10]["rowHash"]);
}

/// Runs `admin-api verify-audit` against the test database.
fn verify_command(app: &App) -> (bool, Value) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_admin-api"))
        .args([
            "verify-audit",
            "--json",
            "--page-size",
            "3",
            "--database-url",
            &app.db.url,
        ])
        .output()
        .expect("admin-api runs");
    let result: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.success(), result)
}

#[tokio::test]
async fn tampering_with_the_audit_table_is_found_at_the_right_row() {
    let app = App::start().await;
    app.onboard("dfsp1").await; // rows 1..=6 (the opening position asked, then approved)
    for name in ["dfsp2", "dfsp3"] {
        app.post(
            "/participants",
            &app.operator(),
            json!({"name": name, "currency": "USD"}),
        )
        .await
        .assert_status(201); // rows 7, 8
    }
    let (ok, result) = verify_command(&app);
    assert!(ok && result["intact"] == true, "{result}");

    // An edit (the actor of row 4 rewritten).
    app.sql("UPDATE admin_audit SET actor = 'mallory' WHERE seq = 4")
        .await;
    let (ok, result) = verify_command(&app);
    assert!(!ok);
    assert_eq!(result["firstBrokenSeq"], 4, "{result}");
    assert!(result["problem"].as_str().unwrap().contains("altered"));
    assert_eq!(app.verify().await["firstBrokenSeq"], 4);
    app.sql("UPDATE admin_audit SET actor = 'olga' WHERE seq = 4")
        .await;
    assert_eq!(app.verify().await["intact"], true);

    // A deletion in the middle.
    app.sql("CREATE TABLE saved AS SELECT * FROM admin_audit WHERE seq = 3")
        .await;
    app.sql("DELETE FROM admin_audit WHERE seq = 3").await;
    let (_, result) = verify_command(&app);
    assert_eq!(result["firstBrokenSeq"], 3, "{result}");
    assert!(result["problem"].as_str().unwrap().contains("deleted"));
    app.sql("INSERT INTO admin_audit SELECT * FROM saved").await;
    assert_eq!(app.verify().await["intact"], true);

    // An insertion between rows 5 and 6: the later rows renumbered, the forged row linked to
    // row 5 with a correctly computed hash.
    app.sql("UPDATE admin_audit SET seq = seq + 1 WHERE seq >= 6 ORDER BY seq DESC")
        .await;
    app.sql(
        "INSERT INTO admin_audit (seq, at, actor, roles, method, route, path, outcome, http_status,
             prev_hash, row_hash)
         SELECT 6, at, 'mallory', '', 'POST', '/participants', '/participants', 'ok', 201, row_hash, row_hash
         FROM admin_audit WHERE seq = 5",
    )
    .await;
    rehash(&app.db, 6).await;
    let (_, result) = verify_command(&app);
    assert_eq!(result["firstBrokenSeq"], 6, "{result}");
    assert!(
        result["problem"].as_str().unwrap().contains("inserted"),
        "{result}"
    );

    // A row appended behind the API's back, past the head.
    app.sql("DELETE FROM admin_audit WHERE seq = 6").await;
    app.sql("UPDATE admin_audit SET seq = seq - 1 WHERE seq >= 7 ORDER BY seq")
        .await;
    assert_eq!(app.verify().await["intact"], true);
    app.sql(
        "INSERT INTO admin_audit (seq, at, actor, roles, method, route, path, outcome, http_status,
             prev_hash, row_hash)
         SELECT 9, at, 'mallory', '', 'POST', '/participants', '/participants', 'ok', 201, row_hash, row_hash
         FROM admin_audit WHERE seq = 8",
    )
    .await;
    let (_, result) = verify_command(&app);
    assert_eq!(result["firstBrokenSeq"], 9, "{result}");
    assert!(
        result["problem"].as_str().unwrap().contains("inserted"),
        "{result}"
    );
}

#[tokio::test]
async fn with_auth_off_actions_execute_directly_and_are_still_audited() {
    let db = TestDatabase::new().await;
    let config = Config::for_database(db.args());
    let shutdown = CancellationToken::new();
    let running = build_app(config, shutdown.clone()).await.unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://{}", running.addr);
    for kind in ["HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"] {
        let status = client
            .post(format!("{base}/participants/Hub/accounts"))
            .header("FSPIOP-Source", "onboarding-script")
            .json(&json!({"currency": "USD", "type": kind}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 201);
    }
    let rows: Value = client
        .get(format!("{base}/audit"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["actor"], "anonymous");
    assert!(
        rows[0]["detail"]
            .as_str()
            .unwrap()
            .contains("onboarding-script")
    );
    let verified: Value = client
        .get(format!("{base}/audit/verify"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verified["intact"], true);
    shutdown.cancel();
}

/// A reply as a probe compares it: status and body.
async fn probe(app: &App, path: &str) -> (u16, Value) {
    let reply = app.get(path, &app.auditor()).await;
    (reply.status, reply.body)
}

#[tokio::test]
async fn every_money_limit_or_trust_change_waits_for_a_different_checker() {
    let app = App::start().await;
    app.onboard("dfsp1").await;
    let op = app.operator();
    app.post(
        "/participants",
        &op,
        json!({"name": "dfsp2", "currency": "USD"}),
    )
    .await
    .assert_status(201);
    let (position, _) = app.account("dfsp1", "POSITION").await;
    // Deactivation (an emergency stop) needs no checker: it applies at once, with auth on too.
    app.put("/participants/dfsp1", &op, json!({"isActive": false}))
        .await
        .assert_status(200);
    app.put(
        &format!("/participants/dfsp1/accounts/{position}"),
        &op,
        json!({"isActive": false}),
    )
    .await
    .assert_status(200);
    let key = std::fs::read_to_string(testdata(
        "test-only-keys/sdk-standard-components_jwsValidationKey.pem",
    ))
    .unwrap();
    // (method, path, body, what shows the change) — each asked by the operator.
    let cases: Vec<(reqwest::Method, String, Option<Value>, String)> = vec![
        (
            reqwest::Method::POST,
            "/participants/dfsp2/initialPositionAndLimits".into(),
            Some(
                json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 500}, "initialPosition": 0}),
            ),
            "/participants/dfsp2/limits".into(),
        ),
        (
            reqwest::Method::PUT,
            "/participants/dfsp1/limits".into(),
            Some(
                json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": 2000, "alarmPercentage": 10}}),
            ),
            "/participants/dfsp1/limits".into(),
        ),
        (
            reqwest::Method::POST,
            "/participants/dfsp1/endpoints".into(),
            Some(
                json!({"type": "FSPIOP_CALLBACK_URL_TRANSFER_PUT", "value": "https://dfsp1.example/transfers/{{transferId}}"}),
            ),
            "/participants/dfsp1/endpoints".into(),
        ),
        (
            reqwest::Method::PUT,
            "/participants/dfsp1/jwsKey".into(),
            Some(json!({"publicKey": key})),
            "/participants/dfsp1/jwsKey".into(),
        ),
        (
            reqwest::Method::DELETE,
            "/participants/dfsp1/jwsKey".into(),
            None,
            "/participants/dfsp1/jwsKey".into(),
        ),
        (
            reqwest::Method::PUT,
            "/participants/dfsp1".into(),
            Some(json!({"isActive": true})),
            "/participants/dfsp1".into(),
        ),
        (
            reqwest::Method::PUT,
            format!("/participants/dfsp1/accounts/{position}"),
            Some(json!({"isActive": true})),
            "/participants/dfsp1/accounts".into(),
        ),
    ];
    let maker_as_checker = app.keys.token("olga", &["operator", "finance-checker"]);
    for (method, path, body, shown_by) in cases {
        let what = format!("{method} {path}");
        let before = probe(&app, &shown_by).await;
        let asked = app.send(method, &path, Some(op.as_str()), body).await;
        let pending = asked.assert_status(202).clone();
        assert_eq!(pending["status"], "PENDING", "{what}: {pending}");
        assert_eq!(pending["maker"], "olga", "{what}");
        let id = pending["approvalId"].as_str().unwrap().to_owned();
        assert_eq!(
            probe(&app, &shown_by).await,
            before,
            "{what} applied without a checker"
        );
        // Not by its maker, whatever their roles.
        app.approve(&id, &maker_as_checker).await.assert_status(403);
        assert_eq!(
            probe(&app, &shown_by).await,
            before,
            "{what} approved by its maker"
        );
        let approved = app.approve(&id, &app.checker()).await;
        let approved = approved.assert_status(200);
        assert_eq!(approved["status"], "EXECUTED", "{what}: {approved}");
        assert_ne!(probe(&app, &shown_by).await, before, "{what} had no effect");
    }
    let participant = probe(&app, "/participants/dfsp1").await;
    assert_eq!(participant.1["isActive"], 1);
    assert_eq!(probe(&app, "/participants/dfsp1/jwsKey").await.0, 400);
    let limits = probe(&app, "/participants/dfsp2/limits").await;
    assert_eq!(dec(&limits.1[0]["limit"]["value"]), Decimal::from(500));
    assert_storage_invariants(&app.db.pool).await.unwrap();
    let verified = app.verify().await;
    assert_eq!(verified["intact"], true, "{verified}");
}

/// Money a committed transfer from `payer` to `payee` would have put into the open window
/// (the position handler's hook, called directly: this test is about the operators).
async fn window_money(app: &App, payer: u64, payee: u64, amount: &str) {
    use ferroloop_core::ledger_id::AccountId;
    use ferroloop_core::state::TransferState;
    use ferroloop_store::transfers::{StateChange, TransferKind, TransferRecord};
    let at = ferroloop_store::db_time(time::OffsetDateTime::now_utc());
    let id = ferroloop_core::id::TransferId::new_uuid_v7();
    let record = TransferRecord {
        transfer_id: id,
        kind: TransferKind::Transfer,
        payer_fsp: "dfsp1".into(),
        payee_fsp: "dfsp2".into(),
        payer_participant_id: None,
        payee_participant_id: None,
        payer_account_id: Some(AccountId(u32::try_from(payer).unwrap())),
        payee_account_id: Some(AccountId(u32::try_from(payee).unwrap())),
        amount: Some(amount.parse().unwrap()),
        currency: ferroloop_core::currency::Currency::parse("USD")
            .unwrap()
            .into(),
        ilp_condition: None,
        expiration: None,
        state: TransferState::Committed,
        state_changed_at: at,
    };
    let change = StateChange {
        transfer_id: id,
        from: Some(TransferState::ReceivedFulfil),
        to: TransferState::Committed,
        reason: None,
        at,
    };
    let mut tx = app.db.pool.begin().await.unwrap();
    ferroloop_store::settlement::record_committed(&mut tx, &[change], &[(id, record)].into())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// A maker asks, a different checker approves; returns the executed action's answer.
async fn asked_and_approved(app: &App, method: reqwest::Method, path: &str, body: Value) -> Value {
    let asked = app.send(method, path, Some(&app.maker()), Some(body)).await;
    let id = asked.assert_status(202)["approvalId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.approve(&id, &app.maker()).await.assert_status(403);
    let done = app.approve(&id, &app.checker()).await;
    let done = done.assert_status(200);
    assert_eq!(done["status"], "EXECUTED", "{done}");
    assert_eq!(done["result"]["httpStatus"], 200, "{done}");
    done["result"]["body"].clone()
}

#[tokio::test]
async fn settlement_actions_wait_for_a_checker_and_are_audited() {
    let app = App::start().await;
    app.onboard("dfsp1").await;
    app.participant("dfsp2").await;
    let op = app.operator();
    let (payer, _) = app.account("dfsp1", "POSITION").await;
    let (payee, _) = app.account("dfsp2", "POSITION").await;
    window_money(&app, payer, payee, "25.5").await;

    // The operator may read windows but not close them.
    let open = app.get("/settlementWindows?state=OPEN", &op).await;
    assert_eq!(open.assert_status(200)[0]["id"], 1);
    let close = json!({"state": "CLOSED", "reason": "end of day"});
    app.post("/settlementWindows/1", &op, close.clone())
        .await
        .assert_status(403);
    // The maker's close waits: the window stays OPEN until a checker approves.
    let asked = app
        .post("/settlementWindows/1", &app.maker(), close.clone())
        .await;
    let id = asked.assert_status(202)["approvalId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get("/settlementWindows/1", &op)
            .await
            .assert_status(200)["state"],
        "OPEN"
    );
    let done = app.approve(&id, &app.checker()).await;
    let opened = &done.assert_status(200)["result"]["body"];
    // A new OPEN window (the maker's dry run used an id of its own).
    assert_eq!(opened["state"], "OPEN", "{done:?}");
    assert!(opened["id"].as_u64().unwrap() > 1, "{done:?}");
    assert_eq!(
        app.get("/settlementWindows/1", &op)
            .await
            .assert_status(200)["state"],
        "CLOSED"
    );

    let settlement = asked_and_approved(
        &app,
        reqwest::Method::POST,
        "/settlements",
        json!({"settlementModel": "DEFERREDNET", "reason": "daily", "settlementWindows": [{"id": 1}]}),
    )
    .await;
    let settlement_id = settlement["id"].as_u64().unwrap();
    for state in [
        "PS_TRANSFERS_RECORDED",
        "PS_TRANSFERS_RESERVED",
        "PS_TRANSFERS_COMMITTED",
        "SETTLED",
    ] {
        let accounts = |pid: &Value, aid: u64| json!({"id": pid, "accounts": [{"id": aid, "state": state, "reason": "bank"}]});
        let participants = settlement["participants"].as_array().unwrap();
        let body = json!({"participants": participants.iter().map(|p| accounts(&p["id"], p["accounts"][0]["id"].as_u64().unwrap())).collect::<Vec<_>>()});
        let moved = asked_and_approved(
            &app,
            reqwest::Method::PUT,
            &format!("/settlements/{settlement_id}"),
            body,
        )
        .await;
        assert_eq!(moved["state"], state, "{moved}");
    }
    assert_eq!(
        app.account("dfsp1", "SETTLEMENT").await.1,
        "25.5".parse::<Decimal>().unwrap()
    );
    assert_eq!(
        app.account("dfsp2", "SETTLEMENT").await.1,
        "-25.5".parse::<Decimal>().unwrap()
    );

    // Every settlement action is in the verifiable chain, with its maker and checker.
    assert_eq!(app.verify().await["intact"], true);
    let rows = audit_rows(&app).await;
    for action in [
        "closeSettlementWindow",
        "createSettlement",
        "updateSettlement",
    ] {
        assert!(
            rows.iter().any(|r| r["outcome"] == "approved"
                && r["detail"].as_str().is_some_and(|d| d.starts_with(action))),
            "no approved {action} in the audit log"
        );
    }
    assert_storage_invariants(&app.db.pool).await.unwrap();
}
