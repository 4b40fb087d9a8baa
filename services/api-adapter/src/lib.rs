//! The API adapter: FSPIOP ingress of the switch, an axum server with **no database access on
//! the request path**.
//!
//! | request | success | topic |
//! |---|---|---|
//! | `POST /transfers` | 202, empty | `topic-transfer-prepare` |
//! | `PUT /transfers/{ID}` | 200, empty | `topic-transfer-fulfil` (action from `transferState`) |
//! | `PUT /transfers/{ID}/error` | 200, empty | `topic-transfer-fulfil` (action `abort`) |
//! | `GET /transfers/{ID}` | 202, empty | `topic-transfer-get` |
//! | `PATCH /transfers/{ID}` | — 501 / 2002 (PATCH is only ever sent by the hub) | |
//! | `GET /health` | Mojaloop's health document (200 `OK` / 502 `DOWN`) | |
//! | any other path | 404 / 3002 | |
//! | another method on a known path | 405 / 3000 "Method Not Allowed" | |
//!
//! Each accepted request becomes Mojaloop's boundary envelope (`ferroloop_messaging::events::
//! inbound_envelope`: the original body bytes as a data URI, headers lower-cased) produced without
//! a key; the HTTP answer is sent only after the broker acknowledged the message, and a failed
//! produce is 500 / 2001. What is checked, in order, and why, is in [`api`].
//!
//! `/health/live`, `/health/ready` and `/metrics` are on the operations listener (`OPS_ADDR`) as
//! in every other ferroloop process, so metrics are never exposed to DFSPs; only Mojaloop's
//! `GET /health` is on the FSPIOP port (load balancers in Mojaloop deployments probe it there).

pub mod admission;
pub mod api;
pub mod keys;
pub mod sender;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use ferroloop_fspiop::body::{BodyOptions, MAX_BODY_BYTES};
use ferroloop_fspiop::headers::{DEFAULT_ACCEPT_VERSIONS, DEFAULT_CONTENT_VERSIONS, VersionConfig};
use ferroloop_messaging::{BatchProducer, KafkaArgs, Topics};
use ferroloop_telemetry::edge::EdgeLimits;
use ferroloop_telemetry::{Health, TelemetryArgs};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admission::Admission;
use crate::keys::{KeySource, KeySourceError, KeySourceKind, KeyStore};
use crate::sender::SenderRules;
use crate::tls::{HandshakeLimits, Peer, TlsListener};
use ferroloop_tls::rustls::ServerConfig;
use ferroloop_tls::{Reloading, ServerFiles};
use tokio::sync::watch;

/// Configuration, from flags or environment variables (`api-adapter --help`).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "api-adapter", version, about = "ferroloop FSPIOP API adapter")]
pub struct Config {
    /// Address of the FSPIOP listener (Mojaloop's adapter listens on 3000).
    #[arg(long, env = "FSPIOP_API_ADDR", default_value = "0.0.0.0:3000")]
    pub fspiop_api_addr: SocketAddr,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    /// Largest request body accepted; a larger one is refused with 3104 before it is buffered.
    #[arg(long, env = "FSPIOP_MAX_BODY_BYTES", default_value_t = MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// How old a `completedTimestamp` of `PUT /transfers/{ID}` may be (Mojaloop's
    /// `MAX_FULFIL_TIMEOUT_DURATION_SECONDS`).
    #[arg(
        long,
        env = "MAX_FULFIL_TIMEOUT_DURATION_SECONDS",
        default_value_t = 300
    )]
    pub max_fulfil_timeout_seconds: u64,
    /// How far in the future a `completedTimestamp` may be (Mojaloop's
    /// `MAX_CALLBACK_TIME_LAG_DILATION_MILLISECONDS`).
    #[arg(
        long,
        env = "MAX_CALLBACK_TIME_LAG_DILATION_MILLISECONDS",
        default_value_t = 200
    )]
    pub max_callback_time_lag_ms: u64,
    /// Versions an `Accept` header may ask for, comma-separated (ml-api-adapter's default: the
    /// FSPIOP 1.x API).
    #[arg(
        long,
        env = "PROTOCOL_VERSIONS_ACCEPT",
        value_delimiter = ',',
        default_value = "1,1.0,1.1"
    )]
    pub accept_versions: Vec<String>,
    /// Whether an `Accept` entry without `;version=` (any version) is acceptable.
    #[arg(long, env = "PROTOCOL_VERSIONS_ACCEPT_ANY", default_value_t = true, action = clap::ArgAction::Set)]
    pub accept_any_version: bool,
    /// Versions a `Content-Type` may carry, comma-separated (the order shows in 3001 answers).
    #[arg(
        long,
        env = "PROTOCOL_VERSIONS_CONTENT",
        value_delimiter = ',',
        default_value = "1.1,1.0"
    )]
    pub content_versions: Vec<String>,
    /// Also accept FSPIOP 2.0: adds `2` and `2.0` to the `Accept` versions and `2.0` to the
    /// `Content-Type` versions. Off, a 2.0 request is 406 / 3001, as with ml-api-adapter's
    /// defaults.
    #[arg(long, env = "PROTOCOL_VERSIONS_ENABLE_2_0", default_value_t = false, action = clap::ArgAction::Set)]
    pub enable_2_0: bool,
    /// Mojaloop's switch: when a request carries `X-Client-Id`, it must be `FSPIOP-Source`
    /// (3100 "Invalid fspiop-source header"). On its own this authenticates nobody (the header is
    /// optional); `FSPIOP_GATEWAY_AUTHENTICATION` makes it the sender authentication.
    #[arg(long, env = "ENABLED_SOURCE_HEADER_VALIDATION", default_value_t = true, action = clap::ArgAction::Set)]
    pub source_header_validation: bool,
    /// The FSPIOP port is reachable only through an authenticating API gateway that sets
    /// `X-Client-Id` to the DFSP it authenticated: every transfer request must carry it (3100
    /// without) and it must be `FSPIOP-Source`. Turn on only where nothing but the gateway can
    /// reach the port (a NetworkPolicy): anyone else could write the header.
    #[arg(long, env = "FSPIOP_GATEWAY_AUTHENTICATION", default_value_t = false, action = clap::ArgAction::Set)]
    pub gateway_authentication: bool,
    /// The hub's own participant name: no DFSP may send as the hub (`FSPIOP-Source` equal to it
    /// is 3100), since the hub's name is what hub-originated messages carry.
    #[arg(long, env = "HUB_NAME", default_value = "Hub")]
    pub hub_name: String,
    /// The path prefix the DFSPs see in front of `/transfers` when an ingress rewrites paths
    /// (e.g. `/fspiop`): a signature's `FSPIOP-URI` must be this prefix plus the path (and query)
    /// the adapter receives, so that it binds the request it came with. Empty: no rewrite.
    #[arg(long, env = "FSPIOP_EXTERNAL_BASE_PATH", default_value = "", value_parser = parse_base_path)]
    pub external_base_path: String,
    /// Requests of one DFSP (its authenticated `FSPIOP-Source`) in flight at once; beyond it that
    /// DFSP gets 503 / 2003 with `Retry-After` at once, so that one DFSP flooding the API cannot
    /// take the capacity (`FSPIOP_MAX_CONCURRENT_REQUESTS`) the others need. Keep it well below
    /// that.
    #[arg(long, env = "FSPIOP_MAX_IN_FLIGHT_PER_FSP", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight_per_fsp: u32,
    /// `Retry-After` (seconds) of the answer to a DFSP over its in-flight limit.
    #[arg(long, env = "FSPIOP_BUSY_RETRY_AFTER_SECONDS", default_value_t = 1)]
    pub busy_retry_after_seconds: u32,
    /// Refuse body members the schemas do not define (3103), as the FSPIOP v2.0 definition does;
    /// `false` is Mojaloop's leniency.
    #[arg(long, env = "FSPIOP_REJECT_ADDITIONAL_PROPERTIES", default_value_t = true, action = clap::ArgAction::Set)]
    pub reject_additional_properties: bool,
    /// Mojaloop's switch: `true` verifies `FSPIOP-Signature` on non-GET transfer requests and
    /// requires one (the same as `JWS_MODE=required`).
    #[arg(long, env = "JWS_VALIDATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub jws_validate: bool,
    /// `off`, `verify-if-present` (a request without `FSPIOP-Signature` passes; one with it must
    /// verify) or `required` (3105 without one). Unset: `required` with `JWS_VALIDATE=true`, else
    /// `off`. Contradicting `JWS_VALIDATE=true` (with `off`) is a start-up error.
    #[arg(long, env = "JWS_MODE", value_enum)]
    pub jws_mode: Option<JwsMode>,
    /// Where the participants' public keys come from: `database` (registered through the admin
    /// API, `PUT /participants/{name}/jwsKey`; needs `DATABASE_URL`) or `directory`
    /// (`JWS_VERIFICATION_KEYS_DIRECTORY`). Unset: `directory` when that is set, else `database`.
    #[arg(long, env = "JWS_KEYS_SOURCE", value_enum)]
    pub jws_keys_source: Option<KeySourceKind>,
    /// Directory of the participants' public keys, one `<fspId>.pem` each; re-read when its
    /// files change.
    #[arg(long, env = "JWS_VERIFICATION_KEYS_DIRECTORY")]
    pub jws_verification_keys_directory: Option<PathBuf>,
    /// Database of the admin API, for `JWS_KEYS_SOURCE=database` only: read by a background task
    /// (the admin change epoch every interval, the keys when it moved), never per request. Never
    /// printed by `--help` (it holds the password).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// How often the key source is checked for changes: a rotated key is in use at most this
    /// long after it was registered.
    #[arg(long, env = "JWS_KEYS_RELOAD_INTERVAL_MS", default_value_t = 5_000)]
    pub jws_keys_reload_interval_ms: u64,
    /// Largest difference between a request's `Date` and the adapter's clock, either way
    /// (3100 beyond it): a captured request cannot be replayed later than this, and within it
    /// the handlers' duplicate checks make a replay a no-op. 0 disables the check (Mojaloop's
    /// adapter has none).
    #[arg(long, env = "FSPIOP_DATE_MAX_SKEW_SECONDS", default_value_t = 300)]
    pub date_max_skew_seconds: u64,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Requests handled at once; further requests wait (their time counts against the timeout).
    #[arg(long, env = "FSPIOP_MAX_CONCURRENT_REQUESTS", default_value_t = 4_096)]
    pub max_concurrent_requests: usize,
    /// Longest a request may take, body reading and the broker's acknowledgement included
    /// (2004 after it). Keep it above `KAFKA_MESSAGE_TIMEOUT_MS` so that a broker outage is
    /// answered with a definite 2001 rather than a timeout.
    #[arg(long, env = "FSPIOP_REQUEST_TIMEOUT_MS", default_value_t = 40_000)]
    pub request_timeout_ms: u64,
    #[command(flatten)]
    pub edge: EdgeArgs,
    /// On shutdown, how long to wait for messages still queued in the producer.
    #[arg(long, env = "SHUTDOWN_FLUSH_TIMEOUT_MS", default_value_t = 10_000)]
    pub shutdown_flush_timeout_ms: u64,
}

impl Config {
    /// The defaults, with the given broker and operations settings (for tests and embedding).
    pub fn new(kafka: KafkaArgs, telemetry: TelemetryArgs) -> Self {
        Self {
            fspiop_api_addr: SocketAddr::from(([0, 0, 0, 0], 3000)),
            kafka,
            telemetry,
            max_body_bytes: MAX_BODY_BYTES,
            max_fulfil_timeout_seconds: 300,
            max_callback_time_lag_ms: 200,
            accept_versions: DEFAULT_ACCEPT_VERSIONS.map(str::to_owned).to_vec(),
            accept_any_version: true,
            content_versions: DEFAULT_CONTENT_VERSIONS.map(str::to_owned).to_vec(),
            enable_2_0: false,
            source_header_validation: true,
            gateway_authentication: false,
            hub_name: ferroloop_fspiop::callback::DEFAULT_HUB_NAME.to_owned(),
            external_base_path: String::new(),
            max_in_flight_per_fsp: 256,
            busy_retry_after_seconds: 1,
            reject_additional_properties: true,
            jws_validate: false,
            jws_mode: None,
            jws_keys_source: None,
            jws_verification_keys_directory: None,
            database_url: None,
            jws_keys_reload_interval_ms: 5_000,
            date_max_skew_seconds: 300,
            tls: TlsArgs::default(),
            edge: EdgeArgs::default(),
            max_concurrent_requests: 4_096,
            request_timeout_ms: 40_000,
            shutdown_flush_timeout_ms: 10_000,
        }
    }

    /// The JWS mode in force (see `JWS_MODE`).
    pub fn effective_jws_mode(&self) -> Result<JwsMode, StartError> {
        match (self.jws_mode, self.jws_validate) {
            (Some(JwsMode::Off), true) => Err(StartError::JwsModeConflict),
            (Some(mode), _) => Ok(mode),
            (None, true) => Ok(JwsMode::Required),
            (None, false) => Ok(JwsMode::Off),
        }
    }

    fn version_config(&self) -> VersionConfig {
        let versions = VersionConfig {
            accept_versions: self.accept_versions.clone(),
            accept_any_version: self.accept_any_version,
            content_versions: self.content_versions.clone(),
        };
        if self.enable_2_0 {
            versions.with_2_0()
        } else {
            versions
        }
    }

    /// How senders are authenticated, with the JWS mode in force.
    pub fn sender_rules(&self, jws_mode: JwsMode) -> SenderRules {
        SenderRules {
            client_certificates: self.tls.files().is_some() && self.tls.client_ca_path.is_some(),
            gateway: self.gateway_authentication,
            compare_client_id: self.source_header_validation,
            signatures_required: jws_mode == JwsMode::Required,
            hub_name: self.hub_name.clone(),
        }
    }
}

/// `FSPIOP_EXTERNAL_BASE_PATH`: empty, or `/` followed by segments, without a trailing `/`.
fn parse_base_path(value: &str) -> Result<String, String> {
    let well_formed = value.is_empty()
        || (value.starts_with('/')
            && !value.ends_with('/')
            && !value.contains(['?', '#'])
            && !value.chars().any(|c| c.is_whitespace() || c.is_control()));
    if well_formed {
        Ok(value.to_owned())
    } else {
        Err("a path prefix such as /fspiop: starts with /, no trailing /, no query".to_owned())
    }
}

/// `JWS_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JwsMode {
    /// Signatures are not looked at.
    Off,
    /// A request with `FSPIOP-Signature` must verify; one without passes (a migration step
    /// while DFSPs start signing).
    VerifyIfPresent,
    /// Every non-GET transfer request must carry a signature that verifies.
    Required,
}

/// Connection limits of the FSPIOP listener (`ferroloop_telemetry::edge`;
/// docs/reliability.md#abuse-at-the-edge). Body size and request time are `FSPIOP_MAX_BODY_BYTES`
/// and `FSPIOP_REQUEST_TIMEOUT_MS`.
#[derive(Debug, Clone, clap::Args)]
pub struct EdgeArgs {
    /// Connections open at once; further clients wait in the listen backlog. The process needs
    /// that many file descriptors and some more (`ulimit -n`).
    #[arg(long, env = "FSPIOP_MAX_CONNECTIONS", default_value_t = 16_384, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Longest a request's line and headers may take to arrive, and so the longest a connection
    /// may stay open without sending a request (idle keep-alive included).
    #[arg(long, env = "FSPIOP_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,
    /// Headers one request may have (431 beyond).
    #[arg(long, env = "FSPIOP_MAX_HEADERS", default_value_t = 100)]
    pub max_headers: usize,
    /// Bytes of request line and headers one request may have (431 beyond).
    #[arg(long, env = "FSPIOP_MAX_HEADER_BYTES", default_value_t = 16_384)]
    pub max_header_bytes: usize,
}

impl Default for EdgeArgs {
    fn default() -> Self {
        let limits = EdgeLimits::default();
        Self {
            max_connections: u32::try_from(limits.max_connections).unwrap_or(u32::MAX),
            header_read_timeout_ms: u64::try_from(limits.header_read_timeout.as_millis())
                .unwrap_or(u64::MAX),
            max_headers: limits.max_headers,
            max_header_bytes: limits.max_header_bytes,
        }
    }
}

impl EdgeArgs {
    pub fn limits(&self) -> EdgeLimits {
        EdgeLimits {
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            max_headers: self.max_headers,
            max_header_bytes: self.max_header_bytes,
        }
    }
}

/// TLS of the FSPIOP listener (see [`tls`]).
#[derive(Debug, Clone, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain of the FSPIOP listener (leaf first). With the key: TLS only.
    #[arg(
        long = "fspiop-tls-cert-path",
        env = "FSPIOP_TLS_CERT_PATH",
        requires = "key_path"
    )]
    pub cert_path: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[arg(
        long = "fspiop-tls-key-path",
        env = "FSPIOP_TLS_KEY_PATH",
        requires = "cert_path"
    )]
    pub key_path: Option<PathBuf>,
    /// PEM CA bundle (the hub CA): clients must present a certificate that chains to it, and its
    /// identity (CN or a SAN DNS name) must be the request's `FSPIOP-Source` (3100 otherwise).
    #[arg(
        long = "fspiop-tls-client-ca-path",
        env = "FSPIOP_TLS_CLIENT_CA_PATH",
        requires = "cert_path"
    )]
    pub client_ca_path: Option<PathBuf>,
    /// How often the three files are checked for changes (size, modification time); new
    /// connections use the reloaded configuration.
    #[arg(
        long = "fspiop-tls-reload-interval-ms",
        env = "FSPIOP_TLS_RELOAD_INTERVAL_MS",
        default_value_t = 5_000
    )]
    pub reload_interval_ms: u64,
    /// Longest a TLS handshake may take.
    #[arg(
        long = "fspiop-tls-handshake-timeout-ms",
        env = "FSPIOP_TLS_HANDSHAKE_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub handshake_timeout_ms: u64,
    /// TLS handshakes in progress at most; further connections wait in the listen backlog.
    #[arg(
        long = "fspiop-tls-max-pending-handshakes",
        env = "FSPIOP_TLS_MAX_PENDING_HANDSHAKES",
        default_value_t = 1_024
    )]
    pub max_pending_handshakes: usize,
}

impl Default for TlsArgs {
    fn default() -> Self {
        Self {
            cert_path: None,
            key_path: None,
            client_ca_path: None,
            reload_interval_ms: 5_000,
            handshake_timeout_ms: 10_000,
            max_pending_handshakes: 1_024,
        }
    }
}

impl TlsArgs {
    /// The listener's files, when TLS is on.
    pub fn files(&self) -> Option<ServerFiles> {
        Some(ServerFiles {
            cert: self.cert_path.clone()?,
            key: self.key_path.clone()?,
            client_ca: self.client_ca_path.clone(),
        })
    }
}

/// What the request path shares: read-only settings, the one producer, the key store.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) producer: BatchProducer,
    pub(crate) topics: Topics,
    pub(crate) versions: VersionConfig,
    pub(crate) body_options: BodyOptions,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_fulfil_timeout: time::Duration,
    pub(crate) max_callback_lag: time::Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) jws_mode: JwsMode,
    pub(crate) keys: Option<Arc<KeyStore>>,
    /// `FSPIOP_DATE_MAX_SKEW_SECONDS`; `None` = no check.
    pub(crate) date_max_skew: Option<time::Duration>,
    /// Who may send: the sender authentication in force.
    pub(crate) sender: SenderRules,
    /// `FSPIOP_EXTERNAL_BASE_PATH`.
    pub(crate) external_base_path: String,
    /// In-flight requests per sender (`FSPIOP_MAX_IN_FLIGHT_PER_FSP`).
    pub(crate) admission: Arc<Admission>,
    /// `FSPIOP_BUSY_RETRY_AFTER_SECONDS`.
    pub(crate) busy_retry_after_seconds: u32,
    /// Admitted requests being handled at once (`FSPIOP_MAX_CONCURRENT_REQUESTS`); the rest wait.
    pub(crate) capacity: tokio::sync::Semaphore,
    /// The broker answered the last probe or produce.
    pub(crate) broker_up: Arc<AtomicBool>,
    /// The listener serves (false before start and from the start of a shutdown).
    pub(crate) serving: Arc<AtomicBool>,
    pub(crate) started: Instant,
    pub(crate) start_time: String,
}

/// A built adapter: its router, and what `run` starts around it.
#[derive(Debug)]
pub struct App {
    state: Arc<AppState>,
    health: Health,
    key_source: Option<KeySource>,
    tls: Option<Arc<Reloading<ServerConfig>>>,
}

impl App {
    /// The FSPIOP router (state applied, limits and metrics layered).
    pub fn router(&self) -> Router {
        api::router(Arc::clone(&self.state))
    }

    /// Readiness of the adapter's parts (`broker`, `fspiop-listener`).
    pub fn health(&self) -> &Health {
        &self.health
    }
}

/// Creates the producer and loads the JWS keys and TLS configuration; starts nothing.
pub async fn build(config: &Config) -> Result<App, StartError> {
    let producer = BatchProducer::new(&config.kafka)?;
    let jws_mode = config.effective_jws_mode()?;
    let (keys, key_source) = load_jws_keys(config, jws_mode).await?;
    let tls = listener_tls(config)?;
    let health = Health::default();
    let state = app_state(config, producer, jws_mode, keys, &health);
    Ok(App {
        state: Arc::new(state),
        health,
        key_source,
        tls,
    })
}

/// The DFSPs' JWS verification keys and where they are reloaded from; none when JWS is off.
async fn load_jws_keys(
    config: &Config,
    jws_mode: JwsMode,
) -> Result<(Option<Arc<KeyStore>>, Option<KeySource>), StartError> {
    if jws_mode == JwsMode::Off {
        return Ok((None, None));
    }
    let kind = config
        .jws_keys_source
        .unwrap_or(match config.jws_verification_keys_directory {
            Some(_) => KeySourceKind::Directory,
            None => KeySourceKind::Database,
        });
    let (source, keys) = match kind {
        KeySourceKind::Directory => {
            let dir = config
                .jws_verification_keys_directory
                .clone()
                .ok_or(StartError::JwsKeysDirectoryMissing)?;
            KeySource::directory(dir)?
        }
        KeySourceKind::Database => {
            let url = config
                .database_url
                .as_deref()
                .ok_or(StartError::JwsKeysDatabaseMissing)?;
            KeySource::database(url).await?
        }
    };
    tracing::info!(keys = keys.len(), mode = ?jws_mode, source = ?kind, "JWS verification enabled");
    Ok((Some(Arc::new(KeyStore::new(keys))), Some(source)))
}

/// The listener's TLS configuration, reloaded when its files change; none for plain TCP.
fn listener_tls(config: &Config) -> Result<Option<Arc<Reloading<ServerConfig>>>, StartError> {
    let Some(files) = config.tls.files() else {
        return Ok(None);
    };
    let paths = files.paths();
    let reloading = Reloading::new("FSPIOP listener", paths, move || {
        ferroloop_tls::server_config(&files)
    })?;
    tracing::info!(
        client_certificates = config.tls.client_ca_path.is_some(),
        "FSPIOP listener speaks TLS"
    );
    Ok(Some(Arc::new(reloading)))
}

/// What every request handler shares, from the configuration; its readiness parts registered
/// on `health`.
fn app_state(
    config: &Config,
    producer: BatchProducer,
    jws_mode: JwsMode,
    keys: Option<Arc<KeyStore>>,
    health: &Health,
) -> AppState {
    let seconds = |s: u64| time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
    AppState {
        producer,
        topics: config.kafka.topics(),
        versions: config.version_config(),
        body_options: BodyOptions {
            reject_additional_properties: config.reject_additional_properties,
        },
        max_body_bytes: config.max_body_bytes,
        max_fulfil_timeout: seconds(config.max_fulfil_timeout_seconds),
        max_callback_lag: time::Duration::milliseconds(
            i64::try_from(config.max_callback_time_lag_ms).unwrap_or(i64::MAX),
        ),
        request_timeout: Duration::from_millis(config.request_timeout_ms),
        jws_mode,
        keys,
        date_max_skew: (config.date_max_skew_seconds > 0)
            .then(|| seconds(config.date_max_skew_seconds)),
        sender: config.sender_rules(jws_mode),
        external_base_path: config.external_base_path.clone(),
        admission: Admission::new(
            usize::try_from(config.max_in_flight_per_fsp).unwrap_or(usize::MAX),
        ),
        busy_retry_after_seconds: config.busy_retry_after_seconds,
        capacity: tokio::sync::Semaphore::new(
            config
                .max_concurrent_requests
                .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
        ),
        broker_up: health.part("broker"),
        serving: health.part("fspiop-listener"),
        started: Instant::now(),
        start_time: ferroloop_messaging::envelope::now_iso(),
    }
}

/// A started adapter: its addresses, and the server task, which ends after `shutdown` once
/// in-flight requests are answered and the producer is flushed.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub ops_addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
    /// Bumped on every reload of the JWS keys (when JWS is on).
    pub jws_key_reloads: Option<watch::Receiver<u64>>,
    /// The keys in use (when JWS is on), read-only for operators' tools and tests.
    pub jws_keys: Option<Arc<KeyStore>>,
    /// Bumped on every reload of the listener's TLS files (when TLS is on).
    pub tls_reloads: Option<watch::Receiver<u64>>,
}

/// Serves the FSPIOP API on `listener` (and the operations endpoints on `OPS_ADDR`) until
/// `shutdown`: then it stops accepting, finishes the requests in flight and flushes the producer.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<Running, StartError> {
    if config.request_timeout_ms <= config.kafka.kafka_message_timeout_ms {
        tracing::warn!(
            request_timeout_ms = config.request_timeout_ms,
            kafka_message_timeout_ms = config.kafka.kafka_message_timeout_ms,
            "FSPIOP_REQUEST_TIMEOUT_MS should exceed KAFKA_MESSAGE_TIMEOUT_MS"
        );
    }
    let mut app = build(&config).await?;
    let addr = listener.local_addr().map_err(StartError::Listener)?;
    let ops_addr = ferroloop_telemetry::serve_ops(
        config.telemetry.ops_addr,
        app.health.clone(),
        shutdown.clone(),
    )
    .await
    .map_err(StartError::Ops)?;
    // After the operations listener, whose recorder the gauges need.
    app.state.sender.report();

    // `/health` and readiness follow the broker (BROKER_HEALTH_CHECK_INTERVAL_MS).
    ferroloop_messaging::probe::spawn(
        &config.kafka,
        app.state.topics.prepare.clone(),
        Arc::clone(&app.state.broker_up),
        shutdown.clone(),
    )?;
    let jws_key_reloads = app.state.keys.as_ref().map(|k| k.subscribe());
    if let (Some(keys), Some(source)) = (&app.state.keys, app.key_source.take()) {
        keys::spawn_reload(
            Arc::clone(keys),
            source,
            Duration::from_millis(config.jws_keys_reload_interval_ms.max(1)),
            shutdown.clone(),
        );
    }
    let tls_reloads = app.tls.as_ref().map(|t| t.subscribe());
    let listener = start_listener(listener, &app, &config, &shutdown)?;

    tracing::info!(%addr, "FSPIOP API listening");
    let task = tokio::spawn(serve(listener, &app, &config, shutdown));
    Ok(Running {
        addr,
        ops_addr,
        task,
        jws_key_reloads,
        jws_keys: app.state.keys.clone(),
        tls_reloads,
    })
}

/// The listener as the server takes it: plain, or TLS with its files reloaded in the background.
fn start_listener(
    listener: TcpListener,
    app: &App,
    config: &Config,
    shutdown: &CancellationToken,
) -> Result<Serving, StartError> {
    let Some(tls) = &app.tls else {
        return Ok(Serving::Plain(listener));
    };
    ferroloop_tls::spawn_reload(
        Arc::clone(tls),
        Duration::from_millis(config.tls.reload_interval_ms.max(1)),
        shutdown.clone(),
    );
    let limits = HandshakeLimits {
        timeout: Duration::from_millis(config.tls.handshake_timeout_ms),
        max_pending: config.tls.max_pending_handshakes,
    };
    TlsListener::start(listener, Arc::clone(tls), limits, shutdown.clone())
        .map(Serving::Tls)
        .map_err(StartError::Listener)
}

/// The server: serves until `shutdown`, finishes the requests in flight, then flushes the
/// producer (at most `SHUTDOWN_FLUSH_TIMEOUT_MS`).
fn serve(
    listener: Serving,
    app: &App,
    config: &Config,
    shutdown: CancellationToken,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let router = app.router();
    let state = Arc::clone(&app.state);
    state.serving.store(true, Ordering::Relaxed);
    let flush_timeout = Duration::from_millis(config.shutdown_flush_timeout_ms);
    let limits = config.edge.limits();
    async move {
        let serving = Arc::clone(&state.serving);
        let stop = async move {
            shutdown.cancelled().await;
            serving.store(false, Ordering::Relaxed);
            tracing::info!("FSPIOP API stops accepting; finishing requests in flight");
        };
        // Every request carries its connection's peer (address, certificate identity).
        match listener {
            Serving::Plain(l) => {
                let peer = |addr: &SocketAddr| Peer {
                    addr: *addr,
                    identity: None,
                };
                ferroloop_telemetry::edge::serve(l, router, limits, peer, stop).await;
            }
            Serving::Tls(l) => {
                ferroloop_telemetry::edge::serve(l, router, limits, Peer::clone, stop).await;
            }
        }
        let producer = state.producer.clone();
        if let Err(error) = tokio::task::spawn_blocking(move || producer.flush(flush_timeout)).await
        {
            tracing::warn!(%error, "producer flush task");
        }
        tracing::info!("FSPIOP API stopped");
    }
}

/// The FSPIOP listener: plain TCP or TLS.
enum Serving {
    Plain(TcpListener),
    Tls(TlsListener),
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("FSPIOP listener: {0}")]
    Listener(std::io::Error),
    #[error("operations listener: {0}")]
    Ops(std::io::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] ferroloop_messaging::KafkaError),
    #[error("JWS_KEYS_SOURCE=directory needs JWS_VERIFICATION_KEYS_DIRECTORY")]
    JwsKeysDirectoryMissing,
    #[error("JWS_KEYS_SOURCE=database needs DATABASE_URL")]
    JwsKeysDatabaseMissing,
    #[error("JWS_VALIDATE=true contradicts JWS_MODE=off")]
    JwsModeConflict,
    #[error(transparent)]
    JwsKeys(#[from] KeySourceError),
    #[error("FSPIOP listener TLS: {0}")]
    Tls(#[from] ferroloop_tls::TlsError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[test]
    fn defaults_are_the_references() {
        let config = Config::try_parse_from(["api-adapter"]).unwrap();
        let expected = Config::new(config.kafka.clone(), config.telemetry.clone());
        assert_eq!(config.fspiop_api_addr, expected.fspiop_api_addr);
        assert_eq!(config.max_body_bytes, 65_536);
        assert_eq!(config.max_fulfil_timeout_seconds, 300);
        assert_eq!(config.max_callback_time_lag_ms, 200);
        assert_eq!(config.accept_versions, expected.accept_versions);
        assert_eq!(config.content_versions, expected.content_versions);
        assert_eq!(config.version_config(), VersionConfig::default());
        assert!(!config.jws_validate);
        assert_eq!(config.request_timeout_ms, expected.request_timeout_ms);
        assert_eq!(
            config.max_concurrent_requests,
            expected.max_concurrent_requests
        );
        assert_eq!(config.edge.limits(), EdgeLimits::default());
        let config = Config::try_parse_from([
            "api-adapter",
            "--content-versions",
            "2.0,1.1",
            "--jws-validate",
            "true",
        ])
        .unwrap();
        assert_eq!(config.content_versions, ["2.0", "1.1"]);
        assert!(config.jws_validate);
        assert_eq!(config.effective_jws_mode().unwrap(), JwsMode::Required);
        let config = Config::try_parse_from(["api-adapter", "--enable-2-0", "true"]).unwrap();
        assert_eq!(config.version_config(), VersionConfig::default().with_2_0());
    }

    #[test]
    fn external_base_path_and_admission_limits_are_checked_at_parsing() {
        let parse = |args: &[&str]| {
            let mut argv = vec!["api-adapter"];
            argv.extend_from_slice(args);
            Config::try_parse_from(argv)
        };
        for ok in ["", "/fspiop", "/api/fspiop"] {
            let config = parse(&["--external-base-path", ok]).unwrap();
            assert_eq!(config.external_base_path, ok);
        }
        for bad in ["fspiop", "/fspiop/", "/", "/a?b", "/a b"] {
            assert!(parse(&["--external-base-path", bad]).is_err(), "{bad:?}");
        }
        assert!(parse(&["--max-in-flight-per-fsp", "0"]).is_err());
        assert_eq!(
            parse(&["--max-in-flight-per-fsp", "8"])
                .unwrap()
                .max_in_flight_per_fsp,
            8
        );
    }

    #[test]
    fn jws_mode_and_mojaloops_switch() {
        <Config as clap::CommandFactory>::command().debug_assert();
        let mode = |args: &[&str]| {
            let mut argv = vec!["api-adapter"];
            argv.extend_from_slice(args);
            Config::try_parse_from(argv).unwrap().effective_jws_mode()
        };
        assert_eq!(mode(&[]).unwrap(), JwsMode::Off);
        assert_eq!(
            mode(&["--jws-validate", "true"]).unwrap(),
            JwsMode::Required
        );
        assert_eq!(
            mode(&["--jws-mode", "verify-if-present"]).unwrap(),
            JwsMode::VerifyIfPresent
        );
        assert_eq!(
            mode(&["--jws-mode", "required", "--jws-validate", "false"]).unwrap(),
            JwsMode::Required
        );
        assert!(matches!(
            mode(&["--jws-mode", "off", "--jws-validate", "true"]),
            Err(StartError::JwsModeConflict)
        ));
        let config = Config::try_parse_from(["api-adapter"]).unwrap();
        assert_eq!(config.date_max_skew_seconds, 300);
        // Secure defaults of the sender rules: only the hub's name is refused by default, and
        // nothing is authenticated without configuration (the start-up warning says so).
        let rules = config.sender_rules(JwsMode::Off);
        assert!(!rules.authenticates());
        assert_eq!(rules.hub_name, "Hub");
        assert_eq!(config.max_in_flight_per_fsp, 256);
        assert_eq!(config.busy_retry_after_seconds, 1);
        assert!(config.sender_rules(JwsMode::Required).authenticates());
        assert!(
            !config
                .sender_rules(JwsMode::VerifyIfPresent)
                .authenticates()
        );
        assert!(config.tls.files().is_none());
        // A certificate without its key (or the reverse) is refused at parsing.
        assert!(Config::try_parse_from(["api-adapter", "--fspiop-tls-cert-path", "c"]).is_err());
        assert!(
            Config::try_parse_from(["api-adapter", "--fspiop-tls-client-ca-path", "ca"]).is_err()
        );
    }
}
