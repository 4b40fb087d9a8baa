//! Test support: DFSP simulators (real HTTP servers that record every request), the handler
//! running in-process against a fresh database and isolated topics, envelopes built the way the
//! producing handlers build them, and metrics read from the handler's `/metrics`.
//!
//! Tests wait for events (a request arriving, a counter reaching a value), never for time.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use ferroloop_core::api::{ErrorInformationObject, Extension};
use ferroloop_core::error::FspiopError;
use ferroloop_core::hash::canonical_json;
use ferroloop_core::id::TransferId;
use ferroloop_core::ledger_id::ParticipantId;
use ferroloop_core::state::TransferState;
use ferroloop_core::view::TransferView;
use ferroloop_messaging::events::{
    self, InboundKind, InboundRequest, action, event_type, inbound_envelope,
};
use ferroloop_messaging::{
    Authentication, BatchProducer, Envelope, EventState, OutboundMessage, Principal,
};
use ferroloop_notification_handler::{CallbackArgs, Config, Running};
use ferroloop_store::participants::{create_participant, endpoints::set_endpoint};
use ferroloop_telemetry::TelemetryArgs;
use ferroloop_testkit::{TestBroker, TestDatabase};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub const HUB: &str = "Hub";
/// Longest a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(30);
pub const CONTENT_TYPE: &str = "application/vnd.interoperability.transfers+json;version=1.1";

pub const POST: &str = "FSPIOP_CALLBACK_URL_TRANSFER_POST";
pub const PUT: &str = "FSPIOP_CALLBACK_URL_TRANSFER_PUT";
pub const ERROR: &str = "FSPIOP_CALLBACK_URL_TRANSFER_ERROR";

/// A file of the crate's test data (`testdata/`, extracted by `scripts/testdata/extract.py`).
pub fn testdata_path(relative: &str) -> String {
    format!("{}/testdata/{relative}", env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// DFSP simulator

/// One request a simulator received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// With TLS: the names of the client certificate the caller presented.
    pub client_names: Vec<String>,
    /// When the request arrived (its body read).
    pub at: tokio::time::Instant,
}

/// The client certificate names of a TLS connection, attached to its requests.
#[derive(Debug, Clone, Default)]
struct ClientNames(Vec<String>);

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Header names, sorted.
    pub fn header_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.headers.keys().map(|k| k.as_str().to_owned()).collect();
        names.sort();
        names
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

#[derive(Debug, Default)]
struct SimState {
    requests: Mutex<Vec<Recorded>>,
    /// Statuses to answer with, in order; then `default_status`.
    script: Mutex<VecDeque<u16>>,
    default_status: Mutex<u16>,
    arrived: Notify,
}

/// A DFSP's callback server on 127.0.0.1 that records every request.
#[derive(Debug, Clone)]
pub struct Sim {
    pub addr: SocketAddr,
    state: Arc<SimState>,
    scheme: &'static str,
}

async fn record(State(state): State<Arc<SimState>>, request: Request) -> StatusCode {
    let (parts, body) = request.into_parts();
    let client_names = parts
        .extensions
        .get::<ClientNames>()
        .map(|n| n.0.clone())
        .unwrap_or_default();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let status = {
        let mut script = state.script.lock().unwrap();
        script
            .pop_front()
            .unwrap_or_else(|| *state.default_status.lock().unwrap())
    };
    state.requests.lock().unwrap().push(Recorded {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body,
        client_names,
        at: tokio::time::Instant::now(),
    });
    state.arrived.notify_waiters();
    StatusCode::from_u16(status).unwrap()
}

impl Sim {
    /// A simulator answering 200 to everything.
    pub async fn start() -> Sim {
        let state = Arc::new(SimState {
            default_status: Mutex::new(200),
            ..SimState::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(record)
            .with_state(Arc::clone(&state));
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Sim {
            addr,
            state,
            scheme: "http",
        }
    }

    /// A simulator on HTTPS with `server` as its certificate, requiring a client certificate
    /// that chains to `client_ca` (PEM), as a DFSP with mTLS does.
    pub async fn start_tls(server: &ferroloop_testkit::pki::Pem, client_ca: &str) -> Sim {
        use hyper_util::rt::TokioIo;
        let dir = ferroloop_testkit::pki::TempDir::new("ferroloop-sim-tls-");
        let files = ferroloop_tls::ServerFiles {
            cert: dir.write("tls.crt", &server.cert),
            key: dir.write("tls.key", &server.key),
            client_ca: Some(dir.write("ca.crt", client_ca)),
        };
        let config = ferroloop_tls::server_config(&files).expect("simulator TLS");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let state = Arc::new(SimState {
            default_status: Mutex::new(200),
            ..SimState::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(record)
            .with_state(Arc::clone(&state));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    // A refused handshake is what some tests want to see; nothing to record.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let names = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|leaf| {
                            ferroloop_tls::identity::PeerIdentity::from_leaf(leaf)
                                .names()
                                .to_vec()
                        })
                        .unwrap_or_default();
                    let app = app.layer(axum::Extension(ClientNames(names)));
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Sim {
            addr,
            state,
            scheme: "https",
        }
    }

    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Answers the next requests with these statuses, in order, then with the default.
    pub fn script(&self, statuses: &[u16]) {
        self.state.script.lock().unwrap().extend(statuses);
    }

    pub fn set_default_status(&self, status: u16) {
        *self.state.default_status.lock().unwrap() = status;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Requests whose path contains `fragment` (e.g. a transfer id).
    pub fn requests_for(&self, fragment: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.contains(fragment))
            .collect()
    }

    /// Waits until `count` requests whose path contains `fragment` arrived; returns them all.
    pub async fn wait_for(&self, fragment: &str, count: usize) -> Vec<Recorded> {
        self.wait_for_within(fragment, count, WAIT).await
    }

    /// [`Self::wait_for`], waiting at most `wait`.
    pub async fn wait_for_within(
        &self,
        fragment: &str,
        count: usize,
        wait: Duration,
    ) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.state.arrived.notified();
            let found = self.requests_for(fragment);
            if found.len() >= count {
                return found;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "timed out waiting for {count} request(s) for {fragment} at {}; got {:#?}",
                    self.addr,
                    self.requests()
                        .iter()
                        .map(|r| format!("{} {}", r.method, r.path))
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// Waits for exactly one request for `fragment` and returns it.
    pub async fn one(&self, fragment: &str) -> Recorded {
        self.wait_for(fragment, 1).await.remove(0)
    }
}

/// A DFSP that accepts connections, reads what it is sent and never answers.
#[derive(Debug, Clone)]
pub struct Hang {
    pub addr: SocketAddr,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Hang {
    pub async fn start() -> Hang {
        use tokio::io::AsyncReadExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let accepted = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::spawn(async move {
                    let mut buffer = [0_u8; 4096];
                    // Read until the caller gives up; never write a byte.
                    while matches!(tcp.read(&mut buffer).await, Ok(n) if n > 0) {}
                });
            }
        });
        Hang { addr, connections }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------------------------
// The handler under test

#[derive(Debug)]
pub struct Harness {
    pub db: TestDatabase,
    pub broker: TestBroker,
    producer: BatchProducer,
    shutdown: CancellationToken,
    pub running: Option<Running>,
    pub ops: SocketAddr,
    sent: usize,
    /// What the handler was started with, for a restart.
    config: Config,
}

/// Fast retries for tests.
pub fn test_callbacks() -> CallbackArgs {
    CallbackArgs {
        timeout_ms: 5_000,
        retry_initial_delay_ms: 20,
        retry_factor: 2,
        retry_max_delay_ms: 100,
        retry_max_attempts: 4,
        retry_max_total_ms: 20_000,
        ..CallbackArgs::DEFAULT
    }
}

impl Harness {
    /// Notified on every reload of the callback TLS files.
    pub fn tls_reloads(&self) -> tokio::sync::watch::Receiver<u64> {
        self.running.as_ref().expect("running").tls_reloads.clone()
    }

    pub async fn start() -> Harness {
        Self::start_with(|_| {}).await
    }

    /// Starts the handler with the test configuration as changed by `edit`.
    pub async fn start_with(edit: impl FnOnce(&mut Config)) -> Harness {
        let db = TestDatabase::new().await;
        let broker = TestBroker::with_partitions(1).await;
        let producer = BatchProducer::new(&broker.args).expect("producer");
        let mut config = Config {
            database: db.args(),
            kafka: broker.args.clone(),
            telemetry: TelemetryArgs {
                ops_addr: "127.0.0.1:0".parse().unwrap(),
                log_level: "warn".into(),
                log_format: "text".into(),
            },
            consumer_group: broker.group("notification"),
            retry_consumer_group: None,
            hub_name: HUB.into(),
            send_transfer_confirmation_to_payee: true,
            protocol_version: ferroloop_fspiop::headers::ProtocolVersion::V1_1,
            jws_sign: false,
            jws_signing_key_path: None,
            jws_signing_algorithm: None,
            callbacks: test_callbacks(),
        };
        edit(&mut config);
        // Warnings (failed callback attempts and why) show in a failing test's output.
        ferroloop_telemetry::init_logging(&config.telemetry);
        let shutdown = CancellationToken::new();
        let running = ferroloop_notification_handler::run(config.clone(), shutdown.clone())
            .await
            .expect("notification handler starts");
        Harness {
            db,
            broker,
            producer,
            shutdown,
            ops: running.ops_addr,
            running: Some(running),
            sent: 0,
            config,
        }
    }

    /// Stops the handler cleanly and starts it again with the same configuration (database,
    /// topics, consumer group: it resumes from the committed offsets).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.shutdown = CancellationToken::new();
        let running =
            ferroloop_notification_handler::run(self.config.clone(), self.shutdown.clone())
                .await
                .expect("notification handler restarts");
        self.ops = running.ops_addr;
        self.running = Some(running);
    }

    /// Onboards a participant whose three transfer endpoints point at `sim` under `/{name}`.
    pub async fn dfsp(&self, name: &str, sim: &Sim) -> ParticipantId {
        let id = self.participant(name).await;
        self.point_endpoints(id, name, &sim.url()).await;
        id
    }

    /// Creates a participant (no endpoints yet); returns its id.
    pub async fn participant(&self, name: &str) -> ParticipantId {
        participant(&self.db, name).await
    }

    /// Registers the three transfer endpoints of a participant under `{base}/{name}`.
    pub async fn point_endpoints(&self, participant_id: ParticipantId, name: &str, base: &str) {
        point_endpoints(&self.db, participant_id, name, base).await;
    }

    /// Produces notification envelopes (all in flight together) and waits for the broker's ack.
    pub async fn send(&mut self, envelopes: &[Envelope]) {
        let payloads: Vec<Vec<u8>> = envelopes.iter().map(Envelope::to_json_bytes).collect();
        self.send_raw(payloads).await;
    }

    pub async fn send_raw(&mut self, payloads: Vec<Vec<u8>>) {
        let topic = self.broker.topics().notification;
        let messages: Vec<OutboundMessage> = payloads
            .into_iter()
            .map(|payload| OutboundMessage {
                topic: topic.clone(),
                key: None,
                payload,
            })
            .collect();
        self.sent += messages.len();
        self.producer.send_all(&messages).await.expect("produce");
    }

    /// The process's metrics as `/metrics` renders them (read in-process, so they can be read
    /// after the handler stopped; each test runs in its own process under nextest).
    pub async fn metrics_text(&self) -> String {
        ferroloop_telemetry::metrics_handle().render()
    }

    /// The sum of the series of `name` whose labels include `labels`.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        metric_value(&self.metrics_text().await, name, labels)
    }

    /// Waits until the metric reaches `at_least`; returns its value.
    pub async fn wait_metric(&self, name: &str, labels: &[(&str, &str)], at_least: u64) -> u64 {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let value = self.metric(name, labels).await;
            if value >= at_least {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name}{labels:?} stayed at {value}, expected {at_least}:\n{}",
                self.metrics_text().await
            );
            // Polling the handler's own counter: the event is the handler finishing a batch.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until every message sent so far went through a batch (all their callbacks had their
    /// first attempt and their offsets are stored) and no callback is on the wire: every first
    /// attempt has its answer (retries may still be waiting).
    pub async fn wait_processed(&self) {
        self.wait_metric(
            "ferroloop_messages_processed_total",
            &[("handler", "notification")],
            self.sent as u64,
        )
        .await;
        // A batch waits until its callbacks are on the wire; their answers come after.
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.metric("ferroloop_callback_in_flight", &[]).await > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "callbacks still in flight:\n{}",
                self.metrics_text().await
            );
            // Polling the handler's own gauge: the event is an answer arriving.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the handler cleanly and waits for its task.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            tokio::time::timeout(WAIT, running.task)
                .await
                .expect("handler stops in time")
                .expect("handler task");
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Creates a participant (no endpoints yet); returns its id.
pub async fn participant(db: &TestDatabase, name: &str) -> ParticipantId {
    let mut conn = db.pool.acquire().await.unwrap();
    create_participant(&mut conn, name, "test").await.unwrap()
}

/// Retries ten minutes away and a short shutdown grace: a failed callback stays waiting for its
/// retry until the handler stops, which then abandons it.
pub fn far_retries(config: &mut Config) {
    config.callbacks.retry_initial_delay_ms = 600_000;
    config.callbacks.retry_max_delay_ms = 600_000;
    config.callbacks.retry_max_total_ms = 3_600_000;
    config.callbacks.shutdown_grace_ms = 100;
}

/// Registers the three transfer endpoints of a participant under `{base}/{name}`.
pub async fn point_endpoints(
    db: &TestDatabase,
    participant_id: ParticipantId,
    name: &str,
    base: &str,
) {
    let mut conn = db.pool.acquire().await.unwrap();
    for (endpoint_type, path) in [
        (POST, "/transfers"),
        (PUT, "/transfers/{{transferId}}"),
        (ERROR, "/transfers/{{transferId}}/error"),
    ] {
        set_endpoint(
            &mut conn,
            participant_id,
            endpoint_type,
            &format!("{base}/{name}{path}"),
            "test",
        )
        .await
        .unwrap();
    }
}

/// The sum of the Prometheus series of `name` whose labels include `labels`.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (label_text, value) = match rest.strip_prefix('{') {
                Some(rest) => {
                    let (labels, value) = rest.split_once('}')?;
                    (labels, value)
                }
                None if rest.starts_with(' ') => ("", rest),
                None => return None,
            };
            let wanted = labels.iter().all(|(k, v)| {
                label_text
                    .split(',')
                    .any(|pair| pair.trim() == format!("{k}=\"{v}\""))
            });
            wanted.then(|| value.trim().parse::<f64>().ok()).flatten()
        })
        .map(|v| v as u64)
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Envelopes, built with `ferroloop_messaging::events` the way the handlers build them

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `id` (one of [`new_id`]'s) as the typed id hub messages are about.
pub fn transfer_id(id: &str) -> TransferId {
    TransferId::parse(id).expect("a transfer id")
}

/// A `timeout-received` for `to`: one hub `PUT /transfers/{id}/error` with 3303.
pub fn expired_error_to(id: &str, to: &str) -> Envelope {
    let expired = FspiopError::new(ferroloop_core::error::ErrorCode::TRANSFER_EXPIRED);
    events::HubMessage {
        to,
        event_type: events::event_type::NOTIFICATION,
        action: action::TIMEOUT_RECEIVED.into(),
        state: EventState::error(3303, expired.description()),
        payload: events::json_payload(&expired.to_body()),
        parties: None,
    }
    .about(&transfer_id(id), HUB)
}

/// Headers a DFSP sends (lower-case, as the adapter stores them), with a signature and the
/// credentials a forward must not pass on.
pub fn dfsp_headers(source: &str, destination: Option<&str>) -> BTreeMap<String, String> {
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
        (
            "fspiop-signature".to_owned(),
            format!("{{\"signature\":\"sig-of-{source}\",\"protectedHeader\":\"ph\"}}"),
        ),
        ("authorization".to_owned(), "Bearer secret".to_owned()),
        ("content-length".to_owned(), "999".to_owned()),
        ("host".to_owned(), "hub.example".to_owned()),
        (
            "traceparent".to_owned(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
        ),
    ]);
    if let Some(destination) = destination {
        headers.insert("fspiop-destination".to_owned(), destination.to_owned());
    }
    headers
}

/// The headers a forwarded callback must carry: the original ones minus credentials, framing
/// and (except on POST) `Accept`, plus `fspiop-uri`/`fspiop-http-method`, and the framing the
/// client adds (`host`, `content-length`).
pub fn forwarded_header_names(original: &BTreeMap<String, String>, post: bool) -> Vec<String> {
    let mut names: Vec<String> = original
        .keys()
        .filter(|k| !["authorization", "content-length", "host"].contains(&k.as_str()))
        .filter(|k| post || k.as_str() != "accept")
        .cloned()
        .chain(
            ["fspiop-uri", "fspiop-http-method", "host", "content-length"]
                .iter()
                .map(|s| (*s).to_owned()),
        )
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A prepare body, deliberately not canonical (spaces, key order), so byte-for-byte matters.
pub fn prepare_bytes(id: &str, payer: &str, payee: &str, expiration: OffsetDateTime) -> Vec<u8> {
    format!(
        "{{ \"transferId\": \"{id}\", \"payerFsp\": \"{payer}\", \"payeeFsp\": \"{payee}\", \
         \"amount\": {{\"currency\": \"USD\", \"amount\": \"100.5\"}}, \"ilpPacket\": \"AYIB\", \
         \"condition\": \"GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM\", \
         \"expiration\": \"{}\" }}",
        ferroloop_core::fspiop_time::format(expiration)
    )
    .into_bytes()
}

/// The adapter's envelope of a POST /transfers.
pub fn prepare_inbound(id: &str, payer: &str, payee: &str, bytes: &[u8]) -> Envelope {
    inbound_envelope(&InboundRequest {
        kind: InboundKind::Prepare,
        transfer_id: id,
        headers: dfsp_headers(payer, Some(payee)),
        body: bytes,
        payer_payee: Some((payer, payee)),
        transfer_state: None,
        principal: Principal::new(payer, Authentication::Mtls),
    })
}

/// prepare-handler → position-handler → notification: the payer's prepare, forwarded.
pub fn prepare_notification(inbound: &Envelope) -> Envelope {
    let position = events::forward(inbound, event_type::POSITION, action::PREPARE);
    events::forward(&position, event_type::NOTIFICATION, action::PREPARE)
}

/// The adapter's envelope of a payee's PUT /transfers/{id}.
pub fn fulfil_inbound(
    id: &str,
    payee: &str,
    payer: Option<&str>,
    bytes: &[u8],
    state: &str,
) -> Envelope {
    inbound_envelope(&InboundRequest {
        kind: InboundKind::Fulfil,
        transfer_id: id,
        headers: dfsp_headers(payee, payer),
        body: bytes,
        payer_payee: None,
        transfer_state: Some(state),
        principal: Principal::new(payee, Authentication::Mtls),
    })
}

/// The adapter's envelope of a payee's PUT /transfers/{id}/error.
pub fn error_inbound(id: &str, payee: &str, payer: Option<&str>, bytes: &[u8]) -> Envelope {
    inbound_envelope(&InboundRequest {
        kind: InboundKind::Error,
        transfer_id: id,
        headers: dfsp_headers(payee, payer),
        body: bytes,
        payer_payee: None,
        transfer_state: None,
        principal: Principal::new(payee, Authentication::Mtls),
    })
}

/// The adapter's envelope of a GET /transfers/{id}.
pub fn get_inbound(id: &str, requester: &str) -> Envelope {
    inbound_envelope(&InboundRequest {
        kind: InboundKind::Get,
        transfer_id: id,
        headers: dfsp_headers(requester, None),
        body: b"",
        payer_payee: None,
        transfer_state: None,
        principal: Principal::new(requester, Authentication::Mtls),
    })
}

/// fulfil-handler → position-handler → notification: the payee's commit, forwarded.
pub fn commit_notification(fulfil: &Envelope) -> Envelope {
    let position = events::forward(fulfil, event_type::POSITION, action::COMMIT);
    events::forward(&position, event_type::NOTIFICATION, action::COMMIT)
}

/// fulfil-handler → position-handler → notification: the payee's abort, forwarded with the error
/// state the fulfil handler decided.
pub fn abort_notification(error: &Envelope, code: u16, description: &str) -> Envelope {
    let position = error.next_event(
        event_type::POSITION,
        action::ABORT,
        EventState::error(code, description),
    );
    events::forward_keeping_state(&position, event_type::NOTIFICATION, action::ABORT)
}

/// A committed transfer's state body as the hub reports it.
pub fn committed_view(fulfilment: Option<&str>) -> TransferView {
    TransferView {
        state: TransferState::Committed,
        state_changed_at: OffsetDateTime::now_utc(),
        fulfilment: fulfilment.map(str::to_owned),
        prepare_extensions: vec![],
        fulfil_extensions: vec![Extension {
            key: "k".into(),
            value: "v".into(),
        }],
        error: None,
    }
}

/// The canonical JSON bytes of a value, as the hub sends its own bodies.
pub fn canonical(value: &Value) -> Vec<u8> {
    canonical_json(value).into_bytes()
}

/// The canonical bytes of an error body.
pub fn error_bytes(error: &FspiopError) -> Vec<u8> {
    canonical(
        &serde_json::to_value(ErrorInformationObject {
            error_information: error.to_error_information(),
        })
        .unwrap(),
    )
}

/// The header names of a hub-originated callback (plus what the client adds).
pub fn hub_header_names(signed: bool) -> Vec<String> {
    let mut names: Vec<String> = [
        "content-length",
        "content-type",
        "date",
        "fspiop-destination",
        "fspiop-http-method",
        "fspiop-source",
        "fspiop-uri",
        "host",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if signed {
        names.push("fspiop-signature".into());
    }
    names.sort();
    names
}

/// Asserts a hub-originated callback's headers exactly.
#[track_caller]
pub fn assert_hub_headers(request: &Recorded, destination: &str, method: &str, uri: &str) {
    assert_hub_headers_versioned(request, destination, method, uri, "1.1");
}

#[track_caller]
pub fn assert_hub_headers_versioned(
    request: &Recorded,
    destination: &str,
    method: &str,
    uri: &str,
    version: &str,
) {
    assert_eq!(
        request.header_names(),
        hub_header_names(false),
        "{request:#?}"
    );
    assert_eq!(request.method.as_str(), method);
    assert_eq!(
        request.header("content-type"),
        Some(format!("application/vnd.interoperability.transfers+json;version={version}").as_str())
    );
    assert_eq!(request.header("fspiop-source"), Some(HUB));
    assert_eq!(request.header("fspiop-destination"), Some(destination));
    assert_eq!(request.header("fspiop-uri"), Some(uri));
    assert_eq!(request.header("fspiop-http-method"), Some(method));
    let date = request.header("date").expect("date");
    assert!(
        ferroloop_fspiop::headers::is_rfc1123_date(date),
        "date {date:?}"
    );
    assert!(request.header("accept").is_none());
}

/// Asserts a forwarded callback's headers exactly.
#[track_caller]
pub fn assert_forwarded_headers(
    request: &Recorded,
    original: &BTreeMap<String, String>,
    method: &str,
    uri: &str,
) {
    let post = method == "POST";
    assert_eq!(
        request.header_names(),
        forwarded_header_names(original, post),
        "{request:#?}"
    );
    assert_eq!(request.method.as_str(), method);
    for (name, value) in original {
        if ["authorization", "content-length", "host"].contains(&name.as_str())
            || (!post && name == "accept")
        {
            continue;
        }
        assert_eq!(request.header(name), Some(value.as_str()), "header {name}");
    }
    assert_eq!(request.header("fspiop-uri"), Some(uri));
    assert_eq!(request.header("fspiop-http-method"), Some(method));
    assert_eq!(
        request.header("content-length"),
        Some(request.body.len().to_string().as_str())
    );
}
