//! A pipeline under test: a fresh database, isolated topics on the real broker, the handlers
//! running in-process, a producer that plays the API adapter, and a collector of everything
//! that reaches `topic-notification-event`.
//!
//! Tests wait for events (a notification arriving, a state being reached), never for time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferroloop_core::currency::Currency;
use ferroloop_core::hash::RequestHash;
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::{AccountId, ParticipantId};
use ferroloop_core::state::TransferState;
use ferroloop_messaging::events::{InboundKind, InboundRequest, inbound_envelope};
use ferroloop_messaging::{
    Authentication, BatchConsumer, BatchProducer, BoundaryArgs, Envelope, KafkaArgs,
    OutboundMessage, Principal,
};
use ferroloop_store::participants::{self, accounts, limits};
use ferroloop_store::transfers::funds::{self, FundsAccount};
use ferroloop_telemetry::TelemetryArgs;
use ferroloop_testkit::{TestBroker, TestDatabase};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use ferroloop_testkit;

pub mod e2e;
#[cfg(test)]
mod testdata_lock;

/// Longest a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(30);

pub const CONTENT_TYPE: &str = "application/vnd.interoperability.transfers+json;version=1.1";

/// A file of this crate's test data (`testdata/`, extracted from upstream documents by
/// `scripts/testdata/extract.py`; never retyped).
pub fn testdata_path(relative: &str) -> String {
    format!("{}/testdata/{relative}", env!("CARGO_MANIFEST_DIR"))
}

/// A binary of the workspace, built next to the test executable
/// (`cargo build --workspace --bins`, which `make test` runs before the suite).
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// A matching (fulfilment, condition) pair and a non-matching fulfilment, from
/// `testdata/ilp/condition-fulfilment.json`.
pub fn ilp_pair() -> (String, String, String) {
    let text = std::fs::read_to_string(testdata_path("ilp/condition-fulfilment.json"))
        .expect("ILP vectors");
    let vectors: Vec<Value> = serde_json::from_str(&text).expect("ILP vectors JSON");
    let valid = vectors
        .iter()
        .find(|v| v["match"] == true && v.get("claimed_condition").is_some())
        .expect("a matching pair");
    let wrong = vectors
        .iter()
        .find(|v| v["match"] == false && v["claimed_condition"] == valid["claimed_condition"])
        .expect("a non-matching fulfilment for the same condition");
    (
        valid["fulfilment"].as_str().unwrap().to_owned(),
        valid["claimed_condition"].as_str().unwrap().to_owned(),
        wrong["fulfilment"].as_str().unwrap().to_owned(),
    )
}

/// An ILP packet as DFSPs send them, from `testdata/ilp/packets-decoded.json`.
pub fn ilp_packet() -> String {
    static PACKET: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PACKET
        .get_or_init(|| {
            let text = std::fs::read_to_string(testdata_path("ilp/packets-decoded.json"))
                .expect("ILP packet vectors");
            let vectors: Value = serde_json::from_str(&text).expect("ILP packet vectors JSON");
            vectors
                .as_object()
                .and_then(|o| o.values().find_map(|v| v["ilpPacket"].as_str()))
                .expect("an ilpPacket")
                .to_owned()
        })
        .clone()
}

/// Which handlers a test runs in-process.
#[derive(Debug, Clone, Copy)]
pub struct Handlers {
    pub prepare: bool,
    pub position: bool,
    pub fulfil: bool,
    pub timeout: bool,
    pub get: bool,
}

impl Handlers {
    pub const ALL: Handlers = Handlers {
        prepare: true,
        position: true,
        fulfil: true,
        timeout: true,
        get: true,
    };
    pub const NONE: Handlers = Handlers {
        prepare: false,
        position: false,
        fulfil: false,
        timeout: false,
        get: false,
    };
}

/// Handlers started together that can be stopped together (cleanly: finish the batch in hand,
/// commit offsets).
#[derive(Debug)]
pub struct HandlerGroup {
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl HandlerGroup {
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = tokio::time::timeout(WAIT, task).await;
        }
    }
}

/// The currency the tests onboard in.
pub fn usd() -> Currency {
    Currency::parse("USD").expect("USD is an FSPIOP currency")
}

/// A DFSP onboarded for a test.
#[derive(Debug, Clone)]
pub struct Dfsp {
    pub name: String,
    pub participant_id: ParticipantId,
    pub position_account: AccountId,
    pub settlement_account: AccountId,
}

#[derive(Debug)]
pub struct Pipeline {
    pub db: TestDatabase,
    pub broker: TestBroker,
    pub producer: BatchProducer,
    pub notifications: Notifications,
    pub shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    hub_reconciliation: Option<AccountId>,
}

pub const HUB: &str = "Hub";

impl Pipeline {
    /// Every handler running, topics with one partition (so order is observable).
    pub async fn start() -> Self {
        Self::start_with(Handlers::ALL).await
    }

    pub async fn start_with(handlers: Handlers) -> Self {
        let db = TestDatabase::new().await;
        let broker = TestBroker::with_partitions(1).await;
        let producer = BatchProducer::new(&broker.args).expect("producer");
        let shutdown = CancellationToken::new();
        let notifications =
            Notifications::collect(&broker, &broker.topics().notification, shutdown.clone()).await;
        let mut pipeline = Self {
            db,
            broker,
            producer,
            notifications,
            shutdown,
            tasks: Vec::new(),
            hub_reconciliation: None,
        };
        pipeline.start_handlers(handlers).await;
        pipeline
    }

    pub fn kafka(&self) -> KafkaArgs {
        self.broker.args.clone()
    }

    pub fn telemetry() -> TelemetryArgs {
        TelemetryArgs {
            ops_addr: "127.0.0.1:0".parse().unwrap(),
            log_level: "warn".into(),
            log_format: "text".into(),
        }
    }

    /// Starts handlers in-process (in addition to any already running).
    pub async fn start_handlers(&mut self, handlers: Handlers) {
        let group = self.start_group(handlers, &self.broker.group("")).await;
        self.tasks.extend(group.tasks);
    }

    /// Starts handlers that can be stopped on their own (consumer groups named after
    /// `group_prefix`, so a restarted group resumes from its committed offsets).
    pub async fn start_group(&self, handlers: Handlers, group_prefix: &str) -> HandlerGroup {
        self.start_group_with(handlers, group_prefix, BoundaryArgs::default())
            .await
    }

    async fn start_group_with(
        &self,
        handlers: Handlers,
        group_prefix: &str,
        boundary: BoundaryArgs,
    ) -> HandlerGroup {
        // Group names are the broker's, not the test's: scoped to this test's topics, so that
        // tests running at once (or a member a crashed run left behind) never share a group
        // and wait on each other's rebalances.
        let group_prefix = format!("{}-{group_prefix}", self.broker.topics().prepare);
        let database = self.db.args();
        let kafka = self.kafka();
        let shutdown = self.shutdown.child_token();
        let mut tasks = Vec::new();
        if handlers.prepare {
            let config = ferroloop_prepare_handler::Config {
                database: database.clone(),
                kafka: kafka.clone(),
                telemetry: Self::telemetry(),
                consumer_group: format!("{group_prefix}prepare"),
                hub_name: HUB.into(),
                enable_on_us_transfers: false,
                transfer_max_expiry_seconds: ferroloop_core::prepare::DEFAULT_MAX_EXPIRY_SECONDS,
                boundary,
            };
            let running = ferroloop_prepare_handler::run(config, shutdown.clone())
                .await
                .expect("prepare handler");
            tasks.push(running.task);
        }
        if handlers.position {
            let config = ferroloop_position_handler::Config {
                database: database.clone(),
                kafka: kafka.clone(),
                telemetry: Self::telemetry(),
                consumer_group: format!("{group_prefix}position"),
                hub_name: HUB.into(),
            };
            let running = ferroloop_position_handler::run(config, shutdown.clone())
                .await
                .expect("position handler");
            tasks.push(running.task);
        }
        if handlers.fulfil {
            let config = ferroloop_fulfil_handler::Config {
                database: database.clone(),
                kafka: kafka.clone(),
                telemetry: Self::telemetry(),
                consumer_group: format!("{group_prefix}fulfil"),
                hub_name: HUB.into(),
                boundary,
            };
            let running = ferroloop_fulfil_handler::run(config, shutdown.clone())
                .await
                .expect("fulfil handler");
            tasks.push(running.task);
        }
        if handlers.timeout {
            let running =
                ferroloop_timeout_handler::run(timeout_config(&database, &kafka), shutdown.clone())
                    .await
                    .expect("timeout handler");
            tasks.push(running.task);
        }
        if handlers.get {
            let config = ferroloop_get_handler::Config {
                database: database.clone(),
                kafka: kafka.clone(),
                telemetry: Self::telemetry(),
                consumer_group: format!("{group_prefix}get"),
                hub_name: HUB.into(),
                boundary,
            };
            let running = ferroloop_get_handler::run(config, shutdown.clone())
                .await
                .expect("get handler");
            tasks.push(running.task);
        }
        HandlerGroup { shutdown, tasks }
    }

    /// Starts handlers that trust the boundary: envelopes without a principal (another adapter
    /// in front) are authorised on FSPIOP-Source.
    pub async fn start_group_trusting_boundary(
        &self,
        handlers: Handlers,
        group_prefix: &str,
    ) -> HandlerGroup {
        self.start_group_with(handlers, group_prefix, BoundaryArgs::trusting(true))
            .await
    }

    /// Stops every handler (clean shutdown) and waits for them.
    pub async fn stop(mut self) -> TestDatabase {
        self.shutdown.cancel();
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(WAIT, task).await;
        }
        self.db
    }

    async fn hub_account(&mut self) -> AccountId {
        if let Some(id) = self.hub_reconciliation {
            return id;
        }
        let mut conn = self.db.pool.acquire().await.unwrap();
        let hub = participants::hub_participant_id(&mut conn).await.unwrap();
        let id =
            accounts::create_account(&mut conn, hub, usd(), "HUB_RECONCILIATION", true, "test")
                .await
                .unwrap();
        self.hub_reconciliation = Some(id);
        id
    }

    /// Onboards a DFSP in USD with a net debit cap and a funds-in (liquidity cover).
    pub async fn onboard(&mut self, name: &str, net_debit_cap: &str, funds_in: &str) -> Dfsp {
        let hub_account = self.hub_account().await;
        let mut tx = self.db.pool.begin().await.unwrap();
        let participant_id = participants::create_participant(&mut tx, name, "test")
            .await
            .unwrap();
        let position_account =
            accounts::create_account(&mut tx, participant_id, usd(), "POSITION", true, "test")
                .await
                .unwrap();
        let settlement_account =
            accounts::create_account(&mut tx, participant_id, usd(), "SETTLEMENT", true, "test")
                .await
                .unwrap();
        limits::set_net_debit_cap(
            &mut tx,
            position_account,
            dec(net_debit_cap),
            dec("10"),
            "test",
        )
        .await
        .unwrap();
        let funds: Decimal = dec(funds_in);
        if funds > Decimal::ZERO {
            let hub = participants::hub_participant_id(&mut tx).await.unwrap();
            funds::record_funds_in(
                &mut tx,
                TransferId::new_uuid_v7(),
                RequestHash::from_bytes([9; 32]),
                FundsAccount {
                    account_id: hub_account,
                    participant_id: hub,
                    participant_name: HUB,
                },
                FundsAccount {
                    account_id: settlement_account,
                    participant_id,
                    participant_name: name,
                },
                usd(),
                funds,
                ferroloop_store::db_time(OffsetDateTime::now_utc()),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        Dfsp {
            name: name.to_owned(),
            participant_id,
            position_account,
            settlement_account,
        }
    }

    /// A prepare body from `payer` to `payee`, expiring `expires_in` from now.
    pub fn prepare_body(
        &self,
        payer: &str,
        payee: &str,
        amount: &str,
        expires_in: Duration,
    ) -> Value {
        Self::prepare_body_static(payer, payee, amount, expires_in)
    }

    /// [`Pipeline::prepare_body`] without a pipeline (tools and examples).
    pub fn prepare_body_static(
        payer: &str,
        payee: &str,
        amount: &str,
        expires_in: Duration,
    ) -> Value {
        let (_, condition, _) = ilp_pair();
        let expiration = OffsetDateTime::now_utc() + expires_in;
        json!({
            "transferId": uuid::Uuid::now_v7().to_string(),
            "payerFsp": payer,
            "payeeFsp": payee,
            "amount": {"amount": amount, "currency": "USD"},
            "ilpPacket": ilp_packet(),
            "condition": condition,
            "expiration": ferroloop_core::fspiop_time::format(expiration),
        })
    }

    /// The envelope the API adapter would produce for a POST /transfers.
    pub fn prepare_envelope(body: &Value, source: &str) -> Envelope {
        let bytes = serde_json::to_vec(body).unwrap();
        Self::prepare_envelope_bytes(body, &bytes, source)
    }

    pub fn prepare_envelope_bytes(body: &Value, bytes: &[u8], source: &str) -> Envelope {
        let id = body["transferId"].as_str().unwrap_or_default();
        let payer = body["payerFsp"].as_str().unwrap_or_default();
        let payee = body["payeeFsp"].as_str().unwrap_or_default();
        inbound_envelope(&InboundRequest {
            kind: InboundKind::Prepare,
            transfer_id: id,
            headers: headers(source, Some(payee)),
            body: bytes,
            payer_payee: Some((payer, payee)),
            transfer_state: None,
            principal: Principal::new(source, Authentication::Mtls),
        })
    }

    /// The envelope of a payee's PUT /transfers/{id}.
    pub fn fulfil_envelope(
        transfer_id: &str,
        body: &Value,
        source: &str,
        destination: Option<&str>,
    ) -> Envelope {
        let bytes = serde_json::to_vec(body).unwrap();
        inbound_envelope(&InboundRequest {
            kind: InboundKind::Fulfil,
            transfer_id,
            headers: headers(source, destination),
            body: &bytes,
            payer_payee: None,
            transfer_state: body["transferState"].as_str(),
            principal: Principal::new(source, Authentication::Mtls),
        })
    }

    /// The envelope of a payee's PUT /transfers/{id}/error.
    pub fn error_envelope(
        transfer_id: &str,
        body: &Value,
        source: &str,
        destination: Option<&str>,
    ) -> Envelope {
        let bytes = serde_json::to_vec(body).unwrap();
        inbound_envelope(&InboundRequest {
            kind: InboundKind::Error,
            transfer_id,
            headers: headers(source, destination),
            body: &bytes,
            payer_payee: None,
            transfer_state: None,
            principal: Principal::new(source, Authentication::Mtls),
        })
    }

    pub fn get_envelope(transfer_id: &str, source: &str) -> Envelope {
        inbound_envelope(&InboundRequest {
            kind: InboundKind::Get,
            transfer_id,
            headers: headers(source, None),
            body: b"",
            payer_payee: None,
            transfer_state: None,
            principal: Principal::new(source, Authentication::Mtls),
        })
    }

    /// Produces envelopes to a topic (all in flight together), waiting for the broker's ack.
    pub async fn produce(&self, topic: &str, envelopes: &[Envelope]) {
        let messages: Vec<OutboundMessage> = envelopes
            .iter()
            .map(|e| OutboundMessage {
                topic: topic.to_owned(),
                key: None,
                payload: e.to_json_bytes(),
            })
            .collect();
        self.producer.send_all(&messages).await.expect("produce");
    }

    pub async fn send_prepares(&self, envelopes: &[Envelope]) {
        self.produce(&self.broker.topics().prepare, envelopes).await;
    }

    pub async fn send_fulfils(&self, envelopes: &[Envelope]) {
        self.produce(&self.broker.topics().fulfil, envelopes).await;
    }

    pub async fn send_gets(&self, envelopes: &[Envelope]) {
        self.produce(&self.broker.topics().get, envelopes).await;
    }

    /// The stored state of a transfer.
    pub async fn state(&self, transfer_id: &str) -> Option<TransferState> {
        let row: Option<String> =
            sqlx::query_scalar("SELECT state FROM transfer WHERE transfer_id = ?")
                .bind(transfer_id)
                .fetch_optional(&self.db.pool)
                .await
                .unwrap();
        row.map(|s| s.parse().unwrap())
    }

    /// Waits until the transfer reaches `state` (polls the database: the handlers' commit is
    /// the event; there is no other signal for "stored").
    pub async fn wait_for_state(&self, transfer_id: &str, state: TransferState) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let now = self.state(transfer_id).await;
            if now == Some(state) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "transfer {transfer_id} did not reach {state} (is {now:?})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn position(&self, account_id: AccountId) -> Decimal {
        sqlx::query_scalar("SELECT value FROM participant_position WHERE account_id = ?")
            .bind(account_id)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    /// I1, I2 and I4, and the settlement invariants S1–S4 (docs/invariants.md): every
    /// committed transfer is in exactly one settlement window, settlements net to zero, and
    /// the ledger holds exactly the money in flight.
    pub async fn assert_invariants(&self) {
        if let Err(report) =
            ferroloop_store::invariants::assert_storage_invariants(&self.db.pool).await
        {
            panic!("{report}");
        }
        let settlement = ferroloop_store::settlement::checks::violations(&self.db.pool)
            .await
            .expect("settlement invariant queries");
        assert!(
            settlement.is_empty(),
            "settlement invariants violated: {settlement:#?}"
        );
    }
}

pub fn timeout_config(
    database: &ferroloop_store::DatabaseArgs,
    kafka: &KafkaArgs,
) -> ferroloop_timeout_handler::Config {
    ferroloop_timeout_handler::Config {
        database: database.clone(),
        kafka: kafka.clone(),
        telemetry: Pipeline::telemetry(),
        hub_name: HUB.into(),
        interval_ms: 100,
        batch_size: 500,
        redrive_after_ms: 2_000,
        redrive_max_ms: 60_000,
    }
}

pub fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// Headers a DFSP sends (lower-case, as the adapter stores them).
pub fn headers(source: &str, destination: Option<&str>) -> BTreeMap<String, String> {
    let mut headers = BTreeMap::from([
        ("content-type".to_owned(), CONTENT_TYPE.to_owned()),
        (
            "accept".to_owned(),
            "application/vnd.interoperability.transfers+json;version=1".to_owned(),
        ),
        (
            "date".to_owned(),
            "Sun, 22 Nov 2026 08:00:00 GMT".to_owned(),
        ),
        ("fspiop-source".to_owned(), source.to_owned()),
    ]);
    if let Some(destination) = destination {
        headers.insert("fspiop-destination".to_owned(), destination.to_owned());
    }
    headers
}

/// Everything that reached the notification topic, in order.
#[derive(Debug, Clone)]
pub struct Notifications {
    seen: Arc<Mutex<Vec<Envelope>>>,
    arrived: Arc<Notify>,
}

impl Notifications {
    /// Collects everything produced to `topic` from now on (its own consumer group).
    pub async fn collect(broker: &TestBroker, topic: &str, shutdown: CancellationToken) -> Self {
        let group = broker.group(&format!("test-collector-{}", uuid::Uuid::now_v7().simple()));
        let consumer = BatchConsumer::new(&broker.args, &group, &[topic]).expect("collector");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (s, a) = (Arc::clone(&seen), Arc::clone(&arrived));
        tokio::spawn(async move {
            loop {
                let batch = match consumer.next_batch(&shutdown).await {
                    Ok(batch) if batch.is_empty() => break,
                    Ok(batch) => batch,
                    Err(_) => continue,
                };
                let mut seen = s.lock().unwrap();
                for message in &batch {
                    if let Ok(mut envelope) = Envelope::from_json_bytes(&message.payload) {
                        // Keep the Kafka key where tests can see it.
                        if let Some(key) = message.key_str() {
                            envelope
                                .content
                                .headers
                                .insert("x-kafka-key".into(), key.into());
                        }
                        seen.push(envelope);
                    }
                }
                drop(seen);
                a.notify_waiters();
            }
        });
        Self { seen, arrived }
    }

    /// All notifications so far.
    pub fn all(&self) -> Vec<Envelope> {
        self.seen.lock().unwrap().clone()
    }

    /// Notifications about one transfer.
    pub fn for_transfer(&self, transfer_id: &str) -> Vec<Envelope> {
        self.all()
            .into_iter()
            .filter(|e| e.transfer_id() == transfer_id)
            .collect()
    }

    /// Waits until `condition` holds over everything received so far.
    pub async fn wait_until(&self, what: &str, condition: impl Fn(&[Envelope]) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let notified = self.arrived.notified();
            if condition(&self.all()) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("timed out waiting until {what}");
            }
        }
    }

    /// Waits for the first notification matching `predicate`.
    pub async fn wait_for(&self, what: &str, predicate: impl Fn(&Envelope) -> bool) -> Envelope {
        self.wait_for_count(what, 1, predicate).await.remove(0)
    }

    /// Waits until `count` notifications match, returning them in arrival order.
    pub async fn wait_for_count(
        &self,
        what: &str,
        count: usize,
        predicate: impl Fn(&Envelope) -> bool,
    ) -> Vec<Envelope> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let notified = self.arrived.notified();
            let found: Vec<Envelope> = self.all().into_iter().filter(|e| predicate(e)).collect();
            if found.len() >= count {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "timed out waiting for {count} × {what}; got {}: {:#?}",
                    found.len(),
                    self.all().iter().map(summary).collect::<Vec<_>>()
                );
            }
        }
    }
}

/// One line per notification, for failure messages.
pub fn summary(envelope: &Envelope) -> String {
    format!(
        "{} {} {}→{} {} {}",
        envelope.transfer_id(),
        envelope.action(),
        envelope.from,
        envelope.to,
        envelope.metadata.event.state.status,
        envelope.metadata.event.state.description
    )
}

/// The decoded payload of a notification.
pub fn payload(envelope: &Envelope) -> Value {
    envelope.content.payload.decode().unwrap_or(Value::Null)
}

/// The error code of an error notification.
pub fn error_code(envelope: &Envelope) -> Option<String> {
    payload(envelope)["errorInformation"]["errorCode"]
        .as_str()
        .map(str::to_owned)
}
