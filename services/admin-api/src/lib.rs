//! The hub operator's HTTP API, compatible with central-ledger's admin API (Mojaloop, port 3001) so
//! that existing onboarding scripts work unchanged: hub accounts, settlement models, participants
//! and their accounts, initial position and limits, limits, callback endpoints, positions, and
//! funds in/out (docs/positions.md#onboarding, docs/positions.md#funds-in-and-out); and, beyond
//! central-ledger, the participants' public JWS keys (`jws_keys`) and the hub's own (`hub`).
//!
//! Every request runs in one database transaction. Every change starts with
//! [`ferroloop_store::admin::begin_admin_change`], which bumps the admin change epoch (so the
//! handlers' caches see the change with their next batch) and serialises admin changes. Funds
//! in/out are recorded synchronously — there is no admin Kafka handler — as FUNDS_IN/FUNDS_OUT
//! transfers that walk the transfer state machine with their position journal entries.
//!
//! Operators are authenticated with bearer tokens and authorised per route ([`auth`],
//! [`guard`]); every change that moves money, limits or trust (funds in/out, limits, the
//! opening position, endpoints, JWS keys, activation) needs a maker and a different checker
//! (`approvals`); every action lands in a hash-chained audit log (`audit_api`,
//! [`ferroloop_core::audit`]). `ADMIN_AUTH=off` keeps central-ledger's unauthenticated API.
//!
//! Errors are FSPIOP error objects with the catalogue's HTTP status; see [`input`] for how body
//! validation failures map to 3100/3101/3102.

mod approvals;
pub mod audit_api;
pub mod auth;
mod change;
mod error;
mod funds;
pub mod guard;
mod hub;
pub use ferroloop_admin_input::input;
mod jws_keys;
pub mod output;
mod participants;
mod reference;
mod settlement_windows;
mod settlements;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post, put};
use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_fspiop::endpoint::AddressPolicy;
use ferroloop_messaging::KafkaArgs;
use ferroloop_store::{DatabaseArgs, MySql, MySqlPool, Transaction};
use ferroloop_telemetry::edge::EdgeLimits;
use ferroloop_telemetry::{Health, TelemetryArgs};
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::{ApiError, ApiResult};

use crate::auth::{AuthArgs, AuthMode, Authenticator};

/// Configuration, from flags or environment variables (`admin-api --help`).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "admin-api",
    version,
    about = "ferroloop admin API (central-ledger compatible). Operator tools: admin-api verify-audit | token | issuer-keygen --help"
)]
pub struct Config {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// The broker, probed for central-ledger's `GET /health` only (the admin API produces
    /// nothing and stays ready without it).
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// PEM public key of the hub's callback signing key (the notification handler's
    /// `JWS_SIGNING_KEY_PATH`), published at `GET /hub/jwsKey` so DFSPs can verify hub-signed
    /// callbacks; re-read on every request. Unset: the hub publishes no key.
    #[arg(long, env = "HUB_JWS_PUBLIC_KEY_PATH")]
    pub hub_jws_public_key_path: Option<PathBuf>,
    /// How long a maker's request waits for a checker before it expires, in seconds.
    #[arg(long, env = "ADMIN_APPROVAL_TTL_SECONDS", default_value_t = 86_400)]
    pub approval_ttl_seconds: u64,
    /// Most requests `GET /approvals` returns (newest first).
    #[arg(long, env = "ADMIN_APPROVALS_LIST_LIMIT", default_value_t = 500)]
    pub approvals_list_limit: u32,
    /// Rows per query when the audit chain is verified, and most rows `GET /audit` returns.
    #[arg(long, env = "ADMIN_AUDIT_PAGE_SIZE", default_value_t = 1_000)]
    pub audit_page_size: u32,
    /// Most settlement windows `GET /settlementWindows` and settlements `GET /settlements`
    /// return (newest first).
    #[arg(long, env = "SETTLEMENT_LIST_LIMIT", default_value_t = 1_000)]
    pub settlement_list_limit: u32,
    /// Listen address of the admin API (central-ledger's admin port is 3001). It also serves
    /// `/health/live`, `/health/ready` and `/metrics`.
    #[arg(long, env = "ADMIN_API_ADDR", default_value = "0.0.0.0:3001")]
    pub addr: SocketAddr,
    /// The hub operator's participant name. The hub row (found by `is_hub`) is renamed to it at
    /// start-up if it differs.
    #[arg(long, env = "HUB_NAME", default_value = "Hub")]
    pub hub_name: String,
    /// Largest request body accepted, in bytes (larger: 3104 Too large payload).
    #[arg(long, env = "ADMIN_API_BODY_LIMIT_BYTES", default_value_t = 64 * 1024)]
    pub body_limit_bytes: usize,
    /// Longest a request may take, body reading included (2004 after it), so that a client
    /// dripping its body does not hold a connection and a task for ever.
    #[arg(long, env = "ADMIN_API_REQUEST_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,
    /// Connections open at once; further clients wait in the listen backlog. The process needs
    /// that many file descriptors and some more (`ulimit -n`).
    #[arg(long, env = "ADMIN_API_MAX_CONNECTIONS", default_value_t = 16_384, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Longest a request's line and headers may take to arrive, and so the longest a connection
    /// may stay open without sending a request (idle keep-alive included).
    #[arg(long, env = "ADMIN_API_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,
    /// Headers one request may have (431 beyond).
    #[arg(long, env = "ADMIN_API_MAX_HEADERS", default_value_t = 100)]
    pub max_headers: usize,
    /// Bytes of request line and headers one request may have (431 beyond).
    #[arg(long, env = "ADMIN_API_MAX_HEADER_BYTES", default_value_t = 16_384)]
    pub max_header_bytes: usize,
    /// Base of the participant links in responses (`id`, `links.self`), as central-ledger's
    /// `HOSTNAME`.
    #[arg(
        long,
        env = "ADMIN_API_PUBLIC_URL",
        default_value = "http://central-ledger"
    )]
    pub public_url: String,
    /// Whether `POST /participants` requires a settlement model for the currency or a default
    /// one (6000 otherwise), as central-ledger does. When false, a participant without one gets
    /// a POSITION and a SETTLEMENT account.
    #[arg(
        long,
        env = "ADMIN_REQUIRE_SETTLEMENT_MODEL",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub require_settlement_model: bool,
    /// Link-local and cloud metadata addresses callback endpoints may nevertheless point to
    /// (refused otherwise, so that whoever may edit endpoints cannot make the hub send signed
    /// requests into its own network): comma-separated host names, addresses or
    /// `address/prefix` ranges. The notification handler reads the same variable when it
    /// connects.
    #[arg(
        long,
        env = "CALLBACK_ADDRESS_ALLOW_LIST",
        default_value = "",
        value_parser = AddressPolicy::parse
    )]
    pub callback_address_allow_list: AddressPolicy,
}

impl Config {
    /// The listener's connection limits.
    pub fn edge_limits(&self) -> EdgeLimits {
        EdgeLimits {
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            max_headers: self.max_headers,
            max_header_bytes: self.max_header_bytes,
        }
    }

    /// A configuration for tests and tools: the given database, an ephemeral loopback port, and
    /// auth off (central-ledger's behaviour; the binary's default is on).
    pub fn for_database(database: DatabaseArgs) -> Self {
        Self {
            database,
            telemetry: TelemetryArgs {
                ops_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                log_level: "info".into(),
                log_format: "json".into(),
            },
            auth: AuthArgs::off(),
            kafka: KafkaArgs::local("127.0.0.1:9092", ""),
            hub_jws_public_key_path: None,
            approval_ttl_seconds: 86_400,
            approvals_list_limit: 500,
            audit_page_size: 1_000,
            settlement_list_limit: 1_000,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            hub_name: "Hub".into(),
            body_limit_bytes: 64 * 1024,
            request_timeout_ms: 30_000,
            max_connections: 16_384,
            header_read_timeout_ms: 10_000,
            max_headers: 100,
            max_header_bytes: 16_384,
            public_url: "http://central-ledger".into(),
            require_settlement_model: true,
            callback_address_allow_list: AddressPolicy::default(),
        }
    }
}

/// What the request handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: MySqlPool,
    public_url: String,
    require_settlement_model: bool,
    body_limit_bytes: usize,
    request_timeout: Duration,
    edge: EdgeLimits,
    health: Health,
    ready: Arc<AtomicBool>,
    auth: Arc<Authenticator>,
    approval_ttl: Duration,
    approvals_list_limit: u32,
    audit_page_size: u32,
    settlement_list_limit: u32,
    callback_policy: AddressPolicy,
    /// The broker answered the last probe (reported by `GET /health`, not a readiness part).
    broker_up: Arc<AtomicBool>,
    hub_jws_public_key_path: Option<PathBuf>,
    started: Instant,
    start_time: String,
    /// How each kind of change executes (the approval flow's, [`change::Executors`]).
    executors: change::Executors,
}

/// Every module's change executors: the approval flow executes changes through them without
/// naming the modules (`scripts/module-cycles.py` keeps it so).
fn executors() -> change::Executors {
    let mut executors = change::Executors::default();
    executors.register(&funds::EXECUTORS);
    executors.register(&participants::EXECUTORS);
    executors.register(&jws_keys::EXECUTORS);
    executors.register(&settlement_windows::EXECUTORS);
    executors.register(&settlements::EXECUTORS);
    executors
}

impl AppState {
    pub fn new(pool: MySqlPool, config: &Config, health: Health, auth: Arc<Authenticator>) -> Self {
        let ready = health.part("admin-api");
        Self {
            inner: Arc::new(Inner {
                pool,
                public_url: config.public_url.clone(),
                require_settlement_model: config.require_settlement_model,
                body_limit_bytes: config.body_limit_bytes,
                request_timeout: Duration::from_millis(config.request_timeout_ms),
                edge: config.edge_limits(),
                health,
                ready,
                auth,
                approval_ttl: Duration::from_secs(config.approval_ttl_seconds),
                approvals_list_limit: config.approvals_list_limit.max(1),
                audit_page_size: config.audit_page_size.max(1),
                settlement_list_limit: config.settlement_list_limit.max(1),
                callback_policy: config.callback_address_allow_list.clone(),
                broker_up: Arc::new(AtomicBool::new(false)),
                hub_jws_public_key_path: config.hub_jws_public_key_path.clone(),
                started: Instant::now(),
                start_time: ferroloop_messaging::envelope::now_iso(),
                executors: executors(),
            }),
        }
    }

    /// How each kind of change executes.
    fn executors(&self) -> &change::Executors {
        &self.inner.executors
    }

    pub fn auth(&self) -> &Authenticator {
        &self.inner.auth
    }

    /// Which addresses callback endpoints may not point to.
    pub fn callback_policy(&self) -> &AddressPolicy {
        &self.inner.callback_policy
    }

    /// Whether changes that move money, limits or trust wait for a checker (auth on) or execute
    /// at once (off).
    pub fn maker_checker(&self) -> bool {
        self.inner.auth.mode() == AuthMode::On
    }

    /// Most windows or settlements a list returns.
    pub fn settlement_list_limit(&self) -> u32 {
        self.inner.settlement_list_limit
    }

    fn body_limit(&self) -> usize {
        self.inner.body_limit_bytes
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.inner.pool
    }

    /// A transaction for one request.
    async fn begin(&self) -> ApiResult<Transaction<'static, MySql>> {
        self.inner
            .pool
            .begin()
            .await
            .map_err(|e| ApiError::Store(e.into()))
    }

    fn public_url(&self) -> &str {
        &self.inner.public_url
    }
}

/// A started API: its addresses and the serving task, which ends after `shutdown`.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub ops_addr: SocketAddr,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("listener: {0}")]
    Listen(std::io::Error),
    #[error(transparent)]
    Store(#[from] ferroloop_store::StoreError),
    #[error(transparent)]
    Auth(#[from] auth::AuthConfigError),
    #[error("kafka: {0}")]
    Kafka(#[from] ferroloop_messaging::KafkaError),
}

/// Builds the application from its configuration: connects to the database (migrating when
/// configured), gives the hub its configured name, binds the API and operations listeners and
/// starts serving; everything stops when `shutdown` fires.
pub async fn build_app(config: Config, shutdown: CancellationToken) -> Result<Running, StartError> {
    let auth = Arc::new(Authenticator::new(&config.auth)?);
    match auth.mode() {
        AuthMode::On => tracing::info!(
            issuer = config.auth.issuer.as_deref().unwrap_or_default(),
            audience = config.auth.audience.as_deref().unwrap_or_default(),
            keys = config.auth.key_files.len(),
            "admin auth on: bearer tokens required, maker/checker for changes to money, limits and trust"
        ),
        AuthMode::Off => tracing::warn!(
            actor = %config.auth.off_actor,
            "ADMIN_AUTH=off: the admin API is unauthenticated (central-ledger compatible); changes to money, limits and trust execute without a checker; do not expose it"
        ),
    }
    auth.spawn_key_reloader(shutdown.clone());
    let health = Health::default();
    let ops_addr =
        ferroloop_telemetry::serve_ops(config.telemetry.ops_addr, health.clone(), shutdown.clone())
            .await
            .map_err(StartError::Listen)?;
    let pool = ferroloop_store::connect(&config.database).await?;
    {
        let mut tx = pool
            .begin()
            .await
            .map_err(ferroloop_store::StoreError::from)?;
        if ferroloop_store::participants::rename_hub(&mut tx, &config.hub_name).await? {
            tracing::info!(hub_name = %config.hub_name, "hub participant renamed");
        }
        tx.commit()
            .await
            .map_err(ferroloop_store::StoreError::from)?;
    }
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(StartError::Listen)?;
    let addr = listener.local_addr().map_err(StartError::Listen)?;
    tracing::info!(%addr, "admin API listening");
    let state = AppState::new(pool, &config, health, auth);
    ferroloop_messaging::probe::spawn(
        &config.kafka,
        config.kafka.topics().admin_transfer,
        Arc::clone(&state.inner.broker_up),
        shutdown.clone(),
    )?;
    let task = tokio::spawn(run(listener, state, shutdown));
    Ok(Running {
        addr,
        ops_addr,
        task,
    })
}

/// Serves the admin API on `listener` until `shutdown`, then finishes the requests in flight.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let ready = Arc::clone(&state.inner.ready);
    ready.store(true, Ordering::Relaxed);
    let limits = state.inner.edge;
    let app = router(state);
    let stop = shutdown.clone();
    let stop = async move {
        stop.cancelled().await;
        ready.store(false, Ordering::Relaxed);
    };
    ferroloop_telemetry::edge::serve(listener, app, limits, SocketAddr::clone, stop).await;
    tracing::info!("admin API stopped");
    Ok(())
}

/// Every route, with the operations endpoints merged in.
pub fn router(state: AppState) -> Router {
    let body_limit = state.inner.body_limit_bytes;
    let health = state.inner.health.clone();
    let api = settlement_routes(participant_routes(Router::new()))
        .route("/approvals", get(approvals::list))
        .route("/approvals/{id}", get(approvals::get_one))
        .route("/approvals/{id}/approve", post(approvals::approve))
        .route("/approvals/{id}/reject", post(approvals::reject))
        .route("/audit", get(audit_api::list))
        .route("/audit/verify", get(audit_api::verify))
        // The guard runs inside `track`, so refused requests are counted and timed too.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .route_layer(axum::middleware::from_fn(track))
        .with_state(state.clone());
    api.merge(ferroloop_telemetry::ops_router(health))
        .fallback(unknown_uri)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(state, deadline))
}

/// central-ledger's routes: the hub, participants and everything they own, funds in and out.
fn participant_routes(router: Router<AppState>) -> Router<AppState> {
    router
        .route("/health", get(hub::health))
        .route("/hub/jwsKey", get(hub::jws_key))
        .route(
            "/participants",
            get(participants::list).post(participants::create),
        )
        .route("/participants/limits", get(participants::all_limits))
        .route(
            "/participants/{name}",
            get(participants::get_one).put(participants::update),
        )
        .route(
            "/participants/{name}/endpoints",
            get(participants::get_endpoints).post(participants::add_endpoint),
        )
        .route(
            "/participants/{name}/jwsKey",
            get(jws_keys::get)
                .put(jws_keys::put)
                .delete(jws_keys::delete),
        )
        .route(
            "/participants/{name}/limits",
            get(participants::get_limits).put(participants::adjust_limits),
        )
        .route(
            "/participants/{name}/positions",
            get(participants::get_positions),
        )
        .route(
            "/participants/{name}/accounts",
            get(participants::get_accounts).post(participants::create_hub_account),
        )
        .route(
            "/participants/{name}/initialPositionAndLimits",
            post(participants::initial_position_and_limits),
        )
        .route(
            "/participants/{name}/accounts/{id}",
            post(funds::record_funds).put(participants::update_account),
        )
        .route(
            "/participants/{name}/accounts/{id}/transfers/{transfer_id}",
            put(funds::finish_funds_out),
        )
}

/// Settlement models, windows and settlements (central-ledger's and central-settlement's), and
/// the reference data.
fn settlement_routes(router: Router<AppState>) -> Router<AppState> {
    router
        .route(
            "/settlementModels",
            get(reference::list_settlement_models).post(reference::create_settlement_model),
        )
        .route(
            "/settlementModels/{name}",
            get(reference::get_settlement_model).put(reference::update_settlement_model),
        )
        .route("/settlementWindows", get(settlement_windows::list))
        .route(
            "/settlementWindows/{id}",
            get(settlement_windows::get_one).post(settlement_windows::close),
        )
        .route(
            "/settlements",
            get(settlements::list).post(settlements::create),
        )
        .route(
            "/settlements/{id}",
            get(settlements::get_one).put(settlements::update),
        )
        .route(
            "/settlements/{sid}/participants/{pid}",
            get(settlements::get_participant).put(settlements::update_participant),
        )
        .route(
            "/settlements/{sid}/participants/{pid}/accounts/{aid}",
            get(settlements::get_account).put(settlements::update_account),
        )
        .route(
            "/ledgerAccountTypes",
            get(reference::ledger_account_types).post(reference::create_ledger_account_type),
        )
        .route("/enums", get(reference::enums))
}

async fn unknown_uri() -> Response {
    error::error_response(&FspiopError::new(ErrorCode::UNKNOWN_URI))
}

/// `ADMIN_API_REQUEST_TIMEOUT_MS` around everything, body reading included.
async fn deadline(
    axum::extract::State(app): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(app.inner.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_elapsed) => {
            tracing::warn!("admin request timed out");
            error::error_response(&FspiopError::new(ErrorCode::SERVER_TIMED_OUT))
        }
    }
}

async fn method_not_allowed() -> Response {
    error::error_response(&FspiopError::from_entry(
        ferroloop_core::error::method_not_allowed(),
        None,
    ))
}

/// Counts and times every request by route and status, and logs it.
async fn track(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = matched.map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let elapsed = started.elapsed();
    metrics::counter!(
        "ferroloop_admin_requests_total",
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status.clone()
    )
    .increment(1);
    metrics::histogram!("ferroloop_admin_request_seconds", "route" => route.clone())
        .record(elapsed.as_secs_f64());
    tracing::info!(%method, %route, %status, elapsed_ms = elapsed.as_millis(), "admin request");
    response
}

/// Path parameters; a parameter that does not decode is 3101 like any malformed input.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S, T> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Params(value))
            .map_err(|e| input::malformed(format!("URI path parameter: {e}")).into())
    }
}

/// A request body's bytes, parsed only when the handler asks (after its path parameters, as
/// Hapi validates params before the payload). Over the size limit: 3104.
#[derive(Debug)]
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let context = request.extensions().get::<guard::RequestContext>().cloned();
        Bytes::from_request(request, state)
            .await
            .inspect(|bytes| {
                if let Some(context) = &context {
                    context.keep_body(bytes);
                }
            })
            .map(Body)
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    FspiopError::with_detail(ErrorCode::TOO_LARGE_PAYLOAD, e.body_text()).into()
                } else {
                    input::malformed(e.body_text()).into()
                }
            })
    }
}

impl Body {
    pub fn object(&self) -> Result<input::Obj, FspiopError> {
        input::parse_body(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::*;

    /// A change stored for approval must be executable when approved: every action has an
    /// executor.
    #[test]
    fn every_action_has_an_executor() {
        assert_eq!(executors().missing(), []);
    }

    #[test]
    fn defaults_are_central_ledgers() {
        Config::command().debug_assert();
        let config =
            Config::try_parse_from(["admin-api", "--database-url", "mysql://u:p@h/db"]).unwrap();
        assert_eq!(config.addr, SocketAddr::from(([0, 0, 0, 0], 3001)));
        assert_eq!(config.hub_name, "Hub");
        assert!(config.require_settlement_model);
        assert_eq!(config.edge_limits(), EdgeLimits::default());
        let for_tests = Config::for_database(config.database.clone());
        assert_eq!(for_tests.edge_limits(), config.edge_limits());
        assert_eq!(for_tests.request_timeout_ms, config.request_timeout_ms);
        let lenient = Config::try_parse_from([
            "admin-api",
            "--database-url",
            "mysql://u:p@h/db",
            "--require-settlement-model",
            "false",
            "--hub-name",
            "Switch",
        ])
        .unwrap();
        assert!(!lenient.require_settlement_model);
        assert_eq!(lenient.hub_name, "Switch");
    }

    #[test]
    fn the_callback_allow_list_is_empty_by_default_and_must_parse() {
        let base = ["admin-api", "--database-url", "mysql://u:p@h/db"];
        let config = Config::try_parse_from(base).unwrap();
        assert_eq!(config.callback_address_allow_list, AddressPolicy::default());
        let allowed = Config::try_parse_from(base.into_iter().chain([
            "--callback-address-allow-list",
            "169.254.10.0/24, metadata.example",
        ]))
        .unwrap();
        assert_eq!(
            allowed.callback_address_allow_list,
            AddressPolicy::parse("169.254.10.0/24,metadata.example").unwrap()
        );
        let bad = base
            .into_iter()
            .chain(["--callback-address-allow-list", "169.254.0.0/99"]);
        assert!(
            Config::try_parse_from(bad).is_err(),
            "a bad list stops the start"
        );
    }
}
