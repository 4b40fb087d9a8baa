//! The whole hub over HTTP, black-box: the API adapter, admin API and notification handler in
//! front of the pipeline, onboarded through the admin API, with DFSP simulator servers that
//! record every callback and answer as a payee would.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{post, put};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use ferroloop_fspiop::jws::{ProtectedHeaders, SigningKey};

use crate::{CONTENT_TYPE, Handlers, Pipeline, WAIT, ilp_pair};

/// How a simulated DFSP reaches the hub: its HTTP client (e.g. presenting its client
/// certificate) and its signing key.
#[derive(Debug, Clone, Default)]
pub struct DfspOptions {
    pub http: Option<reqwest::Client>,
    pub signing_key: Option<SigningKey>,
}

/// Signs a request the way a DFSP's SDK does: over exactly `body`, protecting the URI, method,
/// source, destination and date; returns the three headers to add.
pub fn signature_headers(
    key: &SigningKey,
    method: &str,
    path: &str,
    source: &str,
    destination: Option<&str>,
    date: &str,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let protected = ProtectedHeaders {
        uri: path.to_owned(),
        http_method: method.to_owned(),
        source: source.to_owned(),
        destination: destination.map(str::to_owned),
        date: Some(date.to_owned()),
    };
    let signature =
        ferroloop_fspiop::jws::sign(body, &protected, key, key.default_algorithm()).expect("sign");
    [
        ("fspiop-uri", path.to_owned()),
        ("fspiop-http-method", method.to_owned()),
        ("fspiop-signature", signature),
    ]
}

/// How a simulated DFSP answers a prepare it receives as payee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payee {
    /// `PUT` with `COMMITTED` and the valid fulfilment.
    Fulfils,
    /// Never answers (the transfer times out).
    Silent,
    /// `PUT /error` with this code.
    Rejects(&'static str),
    /// `PUT` with `RESERVED` and the valid fulfilment (then waits for the PATCH).
    Reserves,
    /// `PUT` with `COMMITTED` and a fulfilment that does not match the condition.
    WrongFulfilment,
}

/// One request the hub made to a simulated DFSP.
#[derive(Debug, Clone)]
pub struct Callback {
    pub method: Method,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Callback {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Debug)]
struct DfspState {
    name: String,
    behaviour: Mutex<Payee>,
    api: String,
    http: reqwest::Client,
    /// Signs the DFSP's answers (`FSPIOP-Signature`) when set.
    signing_key: Option<SigningKey>,
    received: Mutex<Vec<Callback>>,
    arrived: Notify,
}

/// A DFSP: an HTTP server for the hub's callbacks, answering prepares per its [`Payee`] role.
#[derive(Debug, Clone)]
pub struct SimulatedDfsp {
    state: Arc<DfspState>,
    pub addr: SocketAddr,
}

impl SimulatedDfsp {
    pub async fn start(name: &str, behaviour: Payee, api: SocketAddr) -> Self {
        Self::start_with(
            name,
            behaviour,
            format!("http://{api}"),
            DfspOptions::default(),
        )
        .await
    }

    /// With the hub's FSPIOP base URL (`https://…` with mTLS) and how to reach it.
    pub async fn start_with(
        name: &str,
        behaviour: Payee,
        api_url: String,
        options: DfspOptions,
    ) -> Self {
        let state = Arc::new(DfspState {
            name: name.to_owned(),
            behaviour: Mutex::new(behaviour),
            api: api_url,
            http: options.http.unwrap_or_else(ferroloop_testkit::http_client),
            signing_key: options.signing_key,
            received: Mutex::new(Vec::new()),
            arrived: Notify::new(),
        });
        let router = Router::new()
            .route("/transfers", post(on_prepare))
            .route("/transfers/{id}", put(on_callback).patch(on_callback))
            .route("/transfers/{id}/error", put(on_callback))
            .with_state(Arc::clone(&state));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("simulator port");
        let addr = listener.local_addr().expect("simulator address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { state, addr }
    }

    pub fn name(&self) -> &str {
        &self.state.name
    }

    pub fn set_behaviour(&self, behaviour: Payee) {
        *self.state.behaviour.lock().unwrap() = behaviour;
    }

    /// Every callback received so far.
    pub fn received(&self) -> Vec<Callback> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits for a callback matching `predicate` and returns it.
    pub async fn wait_for(&self, what: &str, predicate: impl Fn(&Callback) -> bool) -> Callback {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let notified = self.state.arrived.notified();
            if let Some(found) = self.received().into_iter().find(|c| predicate(c)) {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "{}: timed out waiting for {what}; got {:#?}",
                    self.state.name,
                    self.received()
                        .iter()
                        .map(|c| format!("{} {}", c.method, c.path))
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// The endpoints to register for this DFSP.
    pub fn endpoints(&self) -> [(&'static str, String); 3] {
        let base = format!("http://{}", self.addr);
        [
            (
                "FSPIOP_CALLBACK_URL_TRANSFER_POST",
                format!("{base}/transfers"),
            ),
            (
                "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
                format!("{base}/transfers/{{{{transferId}}}}"),
            ),
            (
                "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
                format!("{base}/transfers/{{{{transferId}}}}/error"),
            ),
        ]
    }
}

fn record(state: &DfspState, method: Method, path: String, headers: &HeaderMap, body: &Bytes) {
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    state.received.lock().unwrap().push(Callback {
        method,
        path,
        headers,
        body: body.to_vec(),
    });
    state.arrived.notify_waiters();
}

async fn on_callback(
    State(state): State<Arc<DfspState>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    record(&state, method, uri.path().to_owned(), &headers, &body);
    StatusCode::OK
}

async fn on_prepare(
    State(state): State<Arc<DfspState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    record(
        &state,
        Method::POST,
        "/transfers".to_owned(),
        &headers,
        &body,
    );
    let prepare: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = prepare["transferId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let payer = headers
        .get("fspiop-source")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let behaviour = state.behaviour.lock().unwrap().clone();
    let (fulfilment, _, wrong) = ilp_pair();
    let now = ferroloop_core::fspiop_time::format(time::OffsetDateTime::now_utc());
    let answer = match behaviour {
        Payee::Silent => None,
        Payee::Fulfils => Some((
            format!("/transfers/{id}"),
            json!({"transferState": "COMMITTED", "fulfilment": fulfilment, "completedTimestamp": now}),
        )),
        Payee::Reserves => Some((
            format!("/transfers/{id}"),
            json!({"transferState": "RESERVED", "fulfilment": fulfilment, "completedTimestamp": now}),
        )),
        Payee::WrongFulfilment => Some((
            format!("/transfers/{id}"),
            json!({"transferState": "COMMITTED", "fulfilment": wrong, "completedTimestamp": now}),
        )),
        Payee::Rejects(code) => Some((
            format!("/transfers/{id}/error"),
            json!({"errorInformation": {"errorCode": code, "errorDescription": "Payee rejected transaction"}}),
        )),
    };
    if let Some((path, body)) = answer {
        // A real DFSP answers after the 202, on its own connection.
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let date = httpdate::fmt_http_date(std::time::SystemTime::now());
            let bytes = serde_json::to_vec(&body).unwrap();
            let mut request = state
                .http
                .put(format!("{}{path}", state.api))
                .header("content-type", CONTENT_TYPE)
                // reqwest would send `Accept: */*`, which the FSPIOP header rules refuse.
                .header(
                    "accept",
                    "application/vnd.interoperability.transfers+json;version=1.1",
                )
                .header("date", date.as_str())
                .header("fspiop-source", state.name.as_str())
                .header("fspiop-destination", payer.as_str());
            if let Some(key) = &state.signing_key {
                for (name, value) in
                    signature_headers(key, "PUT", &path, &state.name, Some(&payer), &date, &bytes)
                {
                    request = request.header(name, value);
                }
            }
            let sent = request.body(bytes).send().await.expect("hub reachable");
            let status = sent.status();
            assert!(
                status.is_success(),
                "{}: the hub refused the answer: {status} {:?}",
                state.name,
                sent.text().await
            );
        });
    }
    StatusCode::ACCEPTED
}

/// The hub over HTTP with every process in-process.
#[derive(Debug)]
pub struct Hub {
    pub pipeline: Pipeline,
    pub api: SocketAddr,
    /// `http://…` or, with TLS, `https://…` of the FSPIOP API.
    pub api_url: String,
    pub admin: SocketAddr,
    pub http: reqwest::Client,
    /// The adapter's JWS keys and their reload notifications (with [`Security::jws`]).
    pub jws_keys: Option<Arc<ferroloop_api_adapter::keys::KeyStore>>,
    pub jws_key_reloads: Option<tokio::sync::watch::Receiver<u64>>,
}

/// Transport and message security of a [`Hub`].
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// `JWS_MODE=required`, keys from the database (registered through the admin API),
    /// refreshed every `jws_keys_reload_interval_ms`.
    pub jws: bool,
    pub jws_keys_reload_interval_ms: u64,
    /// The FSPIOP listener's TLS files (a client CA makes it mTLS).
    pub tls: Option<ferroloop_tls::ServerFiles>,
    /// `JWS_SIGN=true` with this private key: hub-originated callbacks are signed.
    pub hub_signing_key: Option<std::path::PathBuf>,
}

impl Hub {
    pub async fn start() -> Self {
        Self::start_secured(Security::default()).await
    }

    /// The hub with the FSPIOP listener's and callbacks' security settings.
    pub async fn start_secured(security: Security) -> Self {
        Self::start_full(security, |_| {}).await
    }

    /// The hub with the admin API's configuration adjusted (e.g. auth on).
    pub async fn start_with_admin(adjust: impl FnOnce(&mut ferroloop_admin_api::Config)) -> Self {
        Self::start_full(Security::default(), adjust).await
    }

    /// The hub with both the FSPIOP side's security and the admin API's configuration adjusted.
    pub async fn start_full(
        security: Security,
        adjust: impl FnOnce(&mut ferroloop_admin_api::Config),
    ) -> Self {
        let pipeline = Pipeline::start_with(Handlers::ALL).await;
        let kafka = pipeline.kafka();
        let shutdown = pipeline.shutdown.clone();

        let mut admin_config = ferroloop_admin_api::Config::for_database(pipeline.db.args());
        admin_config.telemetry = Pipeline::telemetry();
        admin_config.kafka = kafka.clone();
        adjust(&mut admin_config);
        let admin = ferroloop_admin_api::build_app(admin_config, shutdown.clone())
            .await
            .expect("admin api");

        let api_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut api_config =
            ferroloop_api_adapter::Config::new(kafka.clone(), Pipeline::telemetry());
        if security.jws {
            api_config.jws_mode = Some(ferroloop_api_adapter::JwsMode::Required);
            api_config.jws_keys_source = Some(ferroloop_api_adapter::keys::KeySourceKind::Database);
            api_config.database_url = Some(pipeline.db.args().database_url);
            api_config.jws_keys_reload_interval_ms = security.jws_keys_reload_interval_ms.max(1);
        }
        let scheme = if let Some(files) = &security.tls {
            api_config.tls.cert_path = Some(files.cert.clone());
            api_config.tls.key_path = Some(files.key.clone());
            api_config.tls.client_ca_path = files.client_ca.clone();
            "https"
        } else {
            "http"
        };
        let api = ferroloop_api_adapter::run(api_listener, api_config, shutdown.clone())
            .await
            .expect("api adapter");

        let mut callbacks = ferroloop_notification_handler::CallbackArgs::DEFAULT;
        callbacks.retry_max_attempts = 3;
        callbacks.retry_initial_delay_ms = 50;
        let notification = ferroloop_notification_handler::Config {
            database: pipeline.db.args(),
            kafka,
            telemetry: Pipeline::telemetry(),
            consumer_group: pipeline.broker.group("notification"),
            retry_consumer_group: None,
            hub_name: crate::HUB.into(),
            send_transfer_confirmation_to_payee: true,
            protocol_version: ferroloop_fspiop::headers::ProtocolVersion::V1_1,
            jws_sign: security.hub_signing_key.is_some(),
            jws_signing_key_path: security.hub_signing_key.clone(),
            jws_signing_algorithm: None,
            callbacks,
        };
        ferroloop_notification_handler::run(notification, shutdown)
            .await
            .expect("notification handler");
        Self {
            pipeline,
            api_url: format!("{scheme}://{}", api.addr),
            api: api.addr,
            admin: admin.addr,
            http: ferroloop_testkit::http_client(),
            jws_keys: api.jws_keys,
            jws_key_reloads: api.jws_key_reloads,
        }
    }

    /// Registers (or rotates) a participant's public JWS key through the admin API.
    pub async fn register_jws_key(&self, name: &str, public_pem: &str) {
        let (status, body) = self
            .admin_call(
                reqwest::Method::PUT,
                &format!("/participants/{name}/jwsKey"),
                Some(json!({"publicKey": public_pem})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn admin_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("http://{}{path}", self.admin));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin api reachable");
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Hub accounts and a default settlement model, as an operator does first
    /// (docs/positions.md#onboarding).
    pub async fn prepare_hub(&self) {
        for kind in ["HUB_RECONCILIATION", "HUB_MULTILATERAL_SETTLEMENT"] {
            let (status, body) = self
                .admin_call(
                    reqwest::Method::POST,
                    "/participants/Hub/accounts",
                    Some(json!({"currency": "USD", "type": kind})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let (status, body) = self
            .admin_call(
                reqwest::Method::POST,
                "/settlementModels",
                Some(json!({"name": "DEFERREDNET", "settlementGranularity": "NET", "settlementInterchange": "MULTILATERAL",
                    "settlementDelay": "DEFERRED", "requireLiquidityCheck": true, "ledgerAccountType": "POSITION",
                    "settlementAccountType": "SETTLEMENT", "autoPositionReset": true})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Onboards a simulated DFSP through the admin API: participant, limits, endpoints, funds in.
    pub async fn onboard(&self, dfsp: &SimulatedDfsp, net_debit_cap: &str, funds_in: &str) {
        let name = dfsp.name();
        let (status, body) = self
            .admin_call(
                reqwest::Method::POST,
                "/participants",
                Some(json!({"name": name, "currency": "USD"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = self
            .admin_call(
                reqwest::Method::POST,
                &format!("/participants/{name}/initialPositionAndLimits"),
                Some(json!({"currency": "USD", "limit": {"type": "NET_DEBIT_CAP", "value": net_debit_cap.parse::<u64>().unwrap()}, "initialPosition": 0})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        for (kind, url) in dfsp.endpoints() {
            let (status, body) = self
                .admin_call(
                    reqwest::Method::POST,
                    &format!("/participants/{name}/endpoints"),
                    Some(json!({"type": kind, "value": url})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        if funds_in != "0" {
            let (_, accounts) = self
                .admin_call(
                    reqwest::Method::GET,
                    &format!("/participants/{name}/accounts"),
                    None,
                )
                .await;
            let settlement = accounts
                .as_array()
                .and_then(|a| a.iter().find(|x| x["ledgerAccountType"] == "SETTLEMENT"))
                .and_then(|a| a["id"].as_u64())
                .expect("settlement account");
            let (status, body) = self
                .admin_call(
                    reqwest::Method::POST,
                    &format!("/participants/{name}/accounts/{settlement}"),
                    Some(json!({"transferId": uuid::Uuid::now_v7().to_string(), "externalReference": "onboarding", "action": "recordFundsIn",
                        "reason": "initial liquidity", "amount": {"amount": funds_in, "currency": "USD"}})),
                )
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        }
    }

    /// The DFSP's POSITION value as the admin API reports it.
    pub async fn position(&self, name: &str) -> rust_decimal::Decimal {
        let (status, body) = self
            .admin_call(
                reqwest::Method::GET,
                &format!("/participants/{name}/positions?currency=USD"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let value = &body["value"];
        value
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string())
            .parse()
            .expect("a decimal position")
    }

    /// Sends an FSPIOP request as `source`, with the headers a DFSP sends.
    pub async fn fspiop(
        &self,
        method: reqwest::Method,
        path: &str,
        source: &str,
        destination: Option<&str>,
        body: Option<&[u8]>,
    ) -> reqwest::Response {
        self.fspiop_with(&self.http, method, path, source, destination, body, &[])
            .await
    }

    /// [`Hub::fspiop`] with another client (one presenting a client certificate) and extra
    /// headers (a signature).
    #[allow(clippy::too_many_arguments)]
    pub async fn fspiop_with(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        source: &str,
        destination: Option<&str>,
        body: Option<&[u8]>,
        extra: &[(&str, String)],
    ) -> reqwest::Response {
        let mut request = client
            .request(method.clone(), format!("{}{path}", self.api_url))
            .header("content-type", CONTENT_TYPE)
            .header(
                "date",
                extra.iter().find(|(name, _)| *name == "date").map_or_else(
                    || httpdate::fmt_http_date(std::time::SystemTime::now()),
                    |(_, date)| date.clone(),
                ),
            )
            .header("fspiop-source", source);
        // Always an FSPIOP Accept: reqwest would otherwise send `*/*`, which the rules refuse.
        request = request.header(
            "accept",
            "application/vnd.interoperability.transfers+json;version=1.1",
        );
        if let Some(destination) = destination {
            request = request.header("fspiop-destination", destination);
        }
        for (name, value) in extra.iter().filter(|(name, _)| *name != "date") {
            request = request.header(*name, value.as_str());
        }
        if let Some(body) = body {
            request = request.body(body.to_vec());
        }
        request.send().await.expect("api adapter reachable")
    }
}
