//! The notification handler: consumes `topic-notification-event` (Mojaloop's envelope) and turns
//! every event into HTTP callbacks to DFSPs — the callback matrix of
//! docs/callbacks.md#the-callback-matrix ([`matrix`]) — with endpoints from the database (cached,
//! invalidated by the admin change epoch), hub headers and optional hub JWS signatures on the
//! callbacks the hub originates, the DFSP's own headers and exact body bytes on the ones it
//! forwards, and bounded retries ([`delivery`], which also states the delivery guarantee).
//!
//! Differences from Mojaloop's adapter, deliberately:
//! - callbacks are retried with bounded exponential backoff (Mojaloop never retries);
//! - each recipient DFSP has its own in-flight limit, queue and circuit breaker, so one DFSP
//!   that hangs or fails cannot slow the callbacks to the others (Mojaloop has no limits);
//! - an endpoint whose host is, or resolves to, a link-local or cloud-metadata address is not
//!   called unless `CALLBACK_ADDRESS_ALLOW_LIST` names it (checked at every connect);
//! - offsets are stored once every callback of a batch has its first attempt answered, except
//!   those to a DFSP that is behind, and a callback whose fate is still open then is written to
//!   `topic-notification-retry` with the batch, so its retries survive a crash ([`retry`])
//!   (Mojaloop auto-commits: a crash loses the callbacks in hand);
//! - the default content version of hub callbacks is 1.1 (`PROTOCOL_VERSION`), the version of the
//!   bodies the hub builds; Mojaloop's `PROTOCOL_VERSIONS.CONTENT.DEFAULT` is 2.0;
//! - `abort-validation` always tells the payee too (Mojaloop only with
//!   `SEND_TRANSFER_CONFIRMATION_TO_PAYEE` and when the message did not come from the hub);
//! - hub-built bodies are canonical JSON (sorted keys, compact), so a hub signature verifies with
//!   spec-faithful and SDK validators alike;
//! - `Authorization`, cookies and the gateway's client id are not forwarded to the counterparty.
//!
//! Callbacks to `https` endpoints present the hub's client certificate (`CALLBACK_TLS_CERT_PATH`,
//! `CALLBACK_TLS_KEY_PATH`) and verify the DFSP's server certificate and host name against
//! `CALLBACK_TLS_CA_PATH` (or the system's roots); the files are reloaded when they change.

pub mod delivery;
mod handler;
pub mod matrix;
pub mod retry;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ferroloop_fspiop::endpoint::AddressPolicy;
use ferroloop_fspiop::headers::{DEFAULT_CONTENT_VERSIONS, ProtocolVersion};
use ferroloop_fspiop::jws::{Algorithm, SigningKey};
use ferroloop_messaging::{KafkaArgs, LoopParts, Outputs, probe};
use ferroloop_store::DatabaseArgs;
use ferroloop_telemetry::{Health, TelemetryArgs};
use tokio_util::sync::CancellationToken;

pub use delivery::{
    Delivery, DeliveryConfig, Handoff, HostLookup, LaneLimits, Outcome, RetryPolicy,
};
pub use handler::{NotificationHandler, Signer};
pub use matrix::MatrixConfig;
pub use retry::RetryHandler;

/// Configuration, from flags or environment variables (`notification-handler --help`).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "notification-handler",
    version,
    about = "ferroloop notification handler"
)]
pub struct Config {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    /// Consumer group of this handler.
    #[arg(
        long,
        env = "NOTIFICATION_CONSUMER_GROUP",
        default_value = "ml-group-notification-event"
    )]
    pub consumer_group: String,
    /// Consumer group of this handler's durable retries (`topic-notification-retry`); default:
    /// the consumer group followed by `-retry`.
    #[arg(long, env = "NOTIFICATION_RETRY_CONSUMER_GROUP")]
    pub retry_consumer_group: Option<String>,
    /// The hub's FSPIOP name: `FSPIOP-Source` of the callbacks it originates, and how messages
    /// from the hub are told from forwarded DFSP messages.
    #[arg(long, env = "HUB_NAME", default_value = "Hub")]
    pub hub_name: String,
    /// Also tell the payee the outcome of a commit (and of its own abort): a copy from the hub.
    #[arg(long, env = "SEND_TRANSFER_CONFIRMATION_TO_PAYEE", default_value_t = true, action = clap::ArgAction::Set)]
    pub send_transfer_confirmation_to_payee: bool,
    /// Content version (`Content-Type: …;version=X.Y`) of hub-originated callbacks: 1.0, 1.1 or
    /// 2.0. Mojaloop's default is 2.0; ours is 1.1, the version of the bodies the hub builds.
    /// Below 1.1 there is no PATCH, so `reserved-aborted` is not sent.
    #[arg(long, env = "PROTOCOL_VERSION", default_value = "1.1", value_parser = parse_content_version)]
    pub protocol_version: ProtocolVersion,
    /// Sign hub-originated callbacks (FSPIOP-Signature) with the key at JWS_SIGNING_KEY_PATH.
    #[arg(long, env = "JWS_SIGN", default_value_t = false, action = clap::ArgAction::Set)]
    pub jws_sign: bool,
    /// PEM private key of the hub (RSA ≥ 2048 bits, or P-256).
    #[arg(long, env = "JWS_SIGNING_KEY_PATH")]
    pub jws_signing_key_path: Option<PathBuf>,
    /// RS256, RS384, RS512, PS256 or ES256; default RS256 for an RSA key, ES256 for P-256.
    #[arg(long, env = "JWS_SIGNING_ALGORITHM", value_parser = parse_algorithm)]
    pub jws_signing_algorithm: Option<Algorithm>,
    #[command(flatten)]
    pub callbacks: CallbackArgs,
}

/// HTTP client, concurrency and retry settings of the callbacks.
#[derive(Debug, Clone, clap::Args)]
pub struct CallbackArgs {
    /// Longest one callback request may take, connection included.
    #[arg(long = "callback-timeout-ms", env = "CALLBACK_TIMEOUT_MS", default_value_t = CallbackArgs::DEFAULT.timeout_ms)]
    pub timeout_ms: u64,
    /// Longest a TCP connect may take.
    #[arg(long = "callback-connect-timeout-ms", env = "CALLBACK_CONNECT_TIMEOUT_MS", default_value_t = CallbackArgs::DEFAULT.connect_timeout_ms)]
    pub connect_timeout_ms: u64,
    /// Idle keep-alive connections kept per DFSP host. The default equals the in-flight limit:
    /// with fewer, every burst to one host closes the surplus connections afterwards and the
    /// next burst dials them again (at 64, connect/shutdown/close were a sixth of this
    /// handler's CPU at 1,500 transfers/s to one simulator host; docs/performance.md).
    #[arg(long = "callback-pool-max-idle-per-host", env = "CALLBACK_POOL_MAX_IDLE_PER_HOST", default_value_t = CallbackArgs::DEFAULT.pool_max_idle_per_host)]
    pub pool_max_idle_per_host: usize,
    /// How long an idle connection is kept; keep it below the DFSPs' keep-alive timeout
    /// (Node's default is 5 s).
    #[arg(long = "callback-pool-idle-timeout-ms", env = "CALLBACK_POOL_IDLE_TIMEOUT_MS", default_value_t = CallbackArgs::DEFAULT.pool_idle_timeout_ms)]
    pub pool_idle_timeout_ms: u64,
    /// Callback requests on the wire at once, all DFSPs together (first attempts and retries):
    /// bounds the handler's sockets. Keep it several times CALLBACK_MAX_IN_FLIGHT_PER_DFSP: with
    /// the defaults, four DFSPs hanging at the same moment take it all until their circuits open.
    #[arg(long = "callback-max-in-flight", env = "CALLBACK_MAX_IN_FLIGHT", default_value_t = CallbackArgs::DEFAULT.max_in_flight)]
    pub max_in_flight: usize,
    /// Callback requests on the wire to one DFSP at once (at most CALLBACK_MAX_IN_FLIGHT). A DFSP
    /// that accepts connections and never answers holds at most this many of the handler's
    /// requests; its further callbacks wait in its own queue, so the other DFSPs' callbacks never
    /// wait behind it.
    #[arg(long = "callback-max-in-flight-per-dfsp", env = "CALLBACK_MAX_IN_FLIGHT_PER_DFSP", default_value_t = CallbackArgs::DEFAULT.max_in_flight_per_dfsp)]
    pub max_in_flight_per_dfsp: usize,
    /// Callbacks waiting for one DFSP at once (its retries, and its callbacks while it is at its
    /// in-flight limit or its circuit is open); one more is dropped (counted, logged), so one
    /// DFSP can take at most this share of CALLBACK_RETRY_QUEUE_CAPACITY.
    #[arg(long = "callback-queue-capacity-per-dfsp", env = "CALLBACK_QUEUE_CAPACITY_PER_DFSP", default_value_t = CallbackArgs::DEFAULT.queue_capacity_per_dfsp)]
    pub queue_capacity_per_dfsp: usize,
    /// Longest a batch waits for a DFSP to take a callback (a free slot under its in-flight
    /// limit, a connection). Waiting keeps the consumer's pace to what DFSPs take; past this the
    /// DFSP counts as behind, the batch moves on and its callbacks go on from its queue, so a
    /// DFSP that hangs or does not accept connections delays the others at most this, once.
    #[arg(long = "callback-max-wait-per-dfsp-ms", env = "CALLBACK_MAX_WAIT_PER_DFSP_MS", default_value_t = CallbackArgs::DEFAULT.max_wait_per_dfsp_ms)]
    pub max_wait_per_dfsp_ms: u64,
    /// Consecutive failed attempts (connection errors, timeouts, 5xx, 429) to one DFSP that open
    /// its circuit: no request goes to it until a single probe gets an answer, so a DFSP that
    /// is down is not hammered and its retries do not hold slots. 0: never open.
    #[arg(long = "callback-circuit-failures", env = "CALLBACK_CIRCUIT_FAILURES", default_value_t = CallbackArgs::DEFAULT.circuit_failures)]
    pub circuit_failures: u32,
    /// How long an open circuit stays open before one probe may go.
    #[arg(long = "callback-circuit-open-ms", env = "CALLBACK_CIRCUIT_OPEN_MS", default_value_t = CallbackArgs::DEFAULT.circuit_open_ms)]
    pub circuit_open_ms: u64,
    /// Link-local and cloud-metadata addresses the hub may call after all: comma-separated host
    /// names, addresses and CIDR ranges (the admin API's rule, the same flag). Empty: none.
    /// Every address a callback host resolves to is checked when connecting, so a name that
    /// resolves to a refused address later (DNS rebinding) is refused too; an allow-listed host
    /// name therefore needs its addresses allow-listed as well.
    #[arg(long = "callback-address-allow-list", env = "CALLBACK_ADDRESS_ALLOW_LIST", default_value = "", value_parser = parse_allow_list)]
    pub address_allow_list: String,
    /// Host name lookups instead of the system resolver (embedding, tests); not a flag.
    #[arg(skip)]
    pub lookup: Option<HostLookup>,
    /// Delay before the first retry.
    #[arg(long = "callback-retry-initial-delay-ms", env = "CALLBACK_RETRY_INITIAL_DELAY_MS", default_value_t = CallbackArgs::DEFAULT.retry_initial_delay_ms)]
    pub retry_initial_delay_ms: u64,
    /// Each further delay is the previous one times this factor.
    #[arg(long = "callback-retry-factor", env = "CALLBACK_RETRY_FACTOR", default_value_t = CallbackArgs::DEFAULT.retry_factor)]
    pub retry_factor: u32,
    /// Upper bound of one delay.
    #[arg(long = "callback-retry-max-delay-ms", env = "CALLBACK_RETRY_MAX_DELAY_MS", default_value_t = CallbackArgs::DEFAULT.retry_max_delay_ms)]
    pub retry_max_delay_ms: u64,
    /// Attempts per callback, the first included (1 = never retry).
    #[arg(long = "callback-retry-max-attempts", env = "CALLBACK_RETRY_MAX_ATTEMPTS", default_value_t = CallbackArgs::DEFAULT.retry_max_attempts)]
    pub retry_max_attempts: u32,
    /// No retry starts later than this after the first attempt.
    #[arg(long = "callback-retry-max-total-ms", env = "CALLBACK_RETRY_MAX_TOTAL_MS", default_value_t = CallbackArgs::DEFAULT.retry_max_total_ms)]
    pub retry_max_total_ms: u64,
    /// Where the transfer's expiry is known (a forwarded prepare), no retry starts later than
    /// the expiry plus this.
    #[arg(long = "callback-retry-expiry-grace-ms", env = "CALLBACK_RETRY_EXPIRY_GRACE_MS", default_value_t = CallbackArgs::DEFAULT.retry_expiry_grace_ms)]
    pub retry_expiry_grace_ms: u64,
    /// Callbacks waiting at once, all DFSPs together (retries, and callbacks to DFSPs that are
    /// behind): bounds the handler's memory; one more is dropped (counted, logged).
    #[arg(long = "callback-retry-queue-capacity", env = "CALLBACK_RETRY_QUEUE_CAPACITY", default_value_t = CallbackArgs::DEFAULT.retry_queue_capacity)]
    pub retry_queue_capacity: usize,
    /// How long after its batch the retry record of a callback whose fate was still open is
    /// looked at, and again while it stays open: a crashed handler's callbacks resume about this
    /// long after the restart, and each open callback costs one record per interval.
    #[arg(long = "callback-retry-journal-interval-ms", env = "CALLBACK_RETRY_JOURNAL_INTERVAL_MS", default_value_t = CallbackArgs::DEFAULT.retry_journal_interval_ms)]
    pub retry_journal_interval_ms: u64,
    /// At shutdown, how long pending retries may still run before they are abandoned (their
    /// retry records let the next start resume them).
    #[arg(long = "callback-shutdown-grace-ms", env = "CALLBACK_SHUTDOWN_GRACE_MS", default_value_t = CallbackArgs::DEFAULT.shutdown_grace_ms)]
    pub shutdown_grace_ms: u64,
    /// PEM client certificate chain the hub presents to DFSPs on `https` callbacks (mTLS).
    #[arg(
        long = "callback-tls-cert-path",
        env = "CALLBACK_TLS_CERT_PATH",
        requires = "tls_key_path"
    )]
    pub tls_cert_path: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[arg(
        long = "callback-tls-key-path",
        env = "CALLBACK_TLS_KEY_PATH",
        requires = "tls_cert_path"
    )]
    pub tls_key_path: Option<PathBuf>,
    /// PEM CA bundle DFSPs' server certificates must chain to; unset: the system's trust store.
    #[arg(long = "callback-tls-ca-path", env = "CALLBACK_TLS_CA_PATH")]
    pub tls_ca_path: Option<PathBuf>,
    /// How often those files are checked for changes; new connections use the reloaded ones.
    #[arg(long = "callback-tls-reload-interval-ms", env = "CALLBACK_TLS_RELOAD_INTERVAL_MS", default_value_t = CallbackArgs::DEFAULT.tls_reload_interval_ms)]
    pub tls_reload_interval_ms: u64,
}

impl CallbackArgs {
    /// The defaults (also what `--help` shows).
    pub const DEFAULT: CallbackArgs = CallbackArgs {
        timeout_ms: 5_000,
        connect_timeout_ms: 2_000,
        pool_max_idle_per_host: 256,
        pool_idle_timeout_ms: 4_000,
        max_in_flight: 256,
        max_in_flight_per_dfsp: 64,
        queue_capacity_per_dfsp: 1_000,
        max_wait_per_dfsp_ms: 200,
        circuit_failures: 5,
        circuit_open_ms: 5_000,
        address_allow_list: String::new(),
        lookup: None,
        retry_initial_delay_ms: 250,
        retry_factor: 2,
        retry_max_delay_ms: 10_000,
        retry_max_attempts: 8,
        retry_max_total_ms: 60_000,
        retry_expiry_grace_ms: 0,
        retry_queue_capacity: 10_000,
        retry_journal_interval_ms: 1_000,
        shutdown_grace_ms: 5_000,
        tls_cert_path: None,
        tls_key_path: None,
        tls_ca_path: None,
        tls_reload_interval_ms: 5_000,
    };

    pub fn delivery_config(&self) -> Result<DeliveryConfig, StartError> {
        let address_policy =
            AddressPolicy::parse(&self.address_allow_list).map_err(StartError::AllowList)?;
        Ok(DeliveryConfig {
            request_timeout: Duration::from_millis(self.timeout_ms),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            pool_max_idle_per_host: self.pool_max_idle_per_host,
            pool_idle_timeout: Duration::from_millis(self.pool_idle_timeout_ms),
            max_in_flight: self.max_in_flight,
            retry: RetryPolicy {
                initial_delay: Duration::from_millis(self.retry_initial_delay_ms),
                factor: self.retry_factor,
                max_delay: Duration::from_millis(self.retry_max_delay_ms),
                max_attempts: self.retry_max_attempts.max(1),
                max_total: Duration::from_millis(self.retry_max_total_ms),
                expiry_grace: Duration::from_millis(self.retry_expiry_grace_ms),
            },
            retry_queue_capacity: self.retry_queue_capacity,
            lanes: LaneLimits {
                max_in_flight: self
                    .max_in_flight_per_dfsp
                    .clamp(1, self.max_in_flight.max(1)),
                queue_capacity: self.queue_capacity_per_dfsp,
                max_wait: Duration::from_millis(self.max_wait_per_dfsp_ms),
                circuit_failures: self.circuit_failures,
                circuit_open_for: Duration::from_millis(self.circuit_open_ms),
            },
            address_policy,
            lookup: self.lookup.clone(),
            tls: ferroloop_tls::ClientFiles {
                cert_and_key: self.tls_cert_path.clone().zip(self.tls_key_path.clone()),
                ca: self.tls_ca_path.clone(),
            },
        })
    }
}

impl Default for CallbackArgs {
    fn default() -> Self {
        Self::DEFAULT
    }
}

fn parse_allow_list(text: &str) -> Result<String, String> {
    AddressPolicy::parse(text).map(|_| text.to_owned())
}

fn parse_content_version(text: &str) -> Result<ProtocolVersion, String> {
    if !DEFAULT_CONTENT_VERSIONS.contains(&text) {
        return Err(format!(
            "{text:?} is not a supported content version ({})",
            DEFAULT_CONTENT_VERSIONS.join(", ")
        ));
    }
    ProtocolVersion::parse(text).ok_or_else(|| format!("{text:?} is not X.Y"))
}

fn parse_algorithm(text: &str) -> Result<Algorithm, String> {
    Algorithm::from_name(text).ok_or_else(|| {
        format!(
            "{text:?} is not one of {}",
            Algorithm::ALL.map(Algorithm::as_str).join(", ")
        )
    })
}

impl Config {
    /// The consumer group of the retry topic.
    pub fn retry_consumer_group(&self) -> String {
        self.retry_consumer_group
            .clone()
            .unwrap_or_else(|| format!("{}-retry", self.consumer_group))
    }

    /// The hub signer, if `JWS_SIGN` is on.
    pub fn signer(&self) -> Result<Option<Signer>, StartError> {
        if !self.jws_sign {
            return Ok(None);
        }
        let path = self.jws_signing_key_path.as_ref().ok_or_else(|| {
            StartError::Jws("JWS_SIGN is on but JWS_SIGNING_KEY_PATH is not set".into())
        })?;
        let pem = std::fs::read_to_string(path)
            .map_err(|e| StartError::Jws(format!("{}: {e}", path.display())))?;
        let key = SigningKey::from_pem(&pem)
            .map_err(|e| StartError::Jws(format!("{}: {e}", path.display())))?;
        let algorithm = self
            .jws_signing_algorithm
            .unwrap_or_else(|| key.default_algorithm());
        // Fail at start-up, not on the first callback, if the algorithm does not fit the key.
        let probe = ferroloop_fspiop::jws::ProtectedHeaders {
            uri: "/transfers".into(),
            http_method: "PUT".into(),
            source: self.hub_name.clone(),
            destination: None,
            date: None,
        };
        ferroloop_fspiop::jws::sign(b"{}", &probe, &key, algorithm)
            .map_err(|e| StartError::Jws(format!("{}: {e}", path.display())))?;
        Ok(Some(Signer { key, algorithm }))
    }

    pub fn matrix(&self) -> MatrixConfig {
        MatrixConfig {
            hub_name: self.hub_name.clone(),
            confirm_to_payee: self.send_transfer_confirmation_to_payee,
            content_version: self.protocol_version,
        }
    }
}

/// A started handler: its operations address and its task, which ends after `shutdown` once the
/// batch in hand is finished, its offsets committed and the pending retries done or abandoned.
#[derive(Debug)]
pub struct Running {
    pub ops_addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
    /// Bumped on every reload of the callback TLS files.
    pub tls_reloads: tokio::sync::watch::Receiver<u64>,
}

/// Starts the handler; it runs until `shutdown` fires.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<Running, StartError> {
    let signer = config.signer()?;
    let health = Health::default();
    let ops =
        ferroloop_telemetry::serve_ops(config.telemetry.ops_addr, health.clone(), shutdown.clone())
            .await
            .map_err(StartError::Ops)?;
    let pool = ferroloop_store::connect(&config.database).await?;
    let topics = config.kafka.topics();
    let parts = LoopParts::connect(
        &config.kafka,
        &config.consumer_group,
        &[topics.notification.as_str()],
        health.part("notification-consumer"),
    )?;
    let retry_parts = LoopParts::connect(
        &config.kafka,
        &config.retry_consumer_group(),
        &[topics.notification_retry.as_str()],
        health.part("notification-retry-consumer"),
    )?;
    // Readiness follows the broker too (docs/architecture.md#health).
    let broker = health.part("broker");
    probe::spawn(
        &config.kafka,
        &topics.notification,
        broker,
        shutdown.clone(),
    )?;
    let delivery_config = config.callbacks.delivery_config()?;
    let retry_interval = Duration::from_millis(config.callbacks.retry_journal_interval_ms.max(1));
    let retries = RetryHandler::new(
        Delivery::new(delivery_config.clone())?,
        Outputs::new(topics.clone(), "notification-retry"),
        delivery_config.retry.clone(),
        retry_interval,
        shutdown.clone(),
    );
    let delivery = retries.delivery().clone();
    let tls_reloads = delivery.tls().subscribe();
    ferroloop_tls::spawn_reload(
        delivery.tls(),
        Duration::from_millis(config.callbacks.tls_reload_interval_ms.max(1)),
        shutdown.clone(),
    );
    let handler = NotificationHandler::new(
        pool,
        topics,
        config.matrix(),
        signer,
        delivery.clone(),
        Duration::from_millis(config.callbacks.retry_expiry_grace_ms),
        retry_interval,
    );
    let grace = Duration::from_millis(config.callbacks.shutdown_grace_ms);
    let task = tokio::spawn(async move {
        use ferroloop_messaging::batch_loop::run as batch_loop;
        tokio::join!(
            batch_loop(parts, handler, shutdown.clone()),
            batch_loop(retry_parts, retries, shutdown),
        );
        delivery.shutdown(grace).await;
        tracing::info!("notification handler stopped");
    });
    Ok(Running {
        ops_addr: ops,
        task,
        tls_reloads,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("operations listener: {0}")]
    Ops(std::io::Error),
    #[error(transparent)]
    Store(#[from] ferroloop_store::StoreError),
    #[error("kafka: {0}")]
    Kafka(#[from] ferroloop_messaging::KafkaError),
    #[error("JWS signing: {0}")]
    Jws(String),
    #[error("callback TLS: {0}")]
    Tls(#[from] ferroloop_tls::TlsError),
    #[error("CALLBACK_ADDRESS_ALLOW_LIST: {0}")]
    AllowList(String),
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::*;

    #[test]
    fn callback_tls_settings() {
        Config::command().debug_assert();
        let base = ["notification-handler", "--database-url", "mysql://u:p@h/db"];
        let config = Config::try_parse_from(base).unwrap();
        assert_eq!(
            config.callbacks.delivery_config().unwrap().tls,
            ferroloop_tls::ClientFiles::default()
        );
        let config = Config::try_parse_from(base.into_iter().chain([
            "--callback-tls-cert-path",
            "hub.crt",
            "--callback-tls-key-path",
            "hub.key",
            "--callback-tls-ca-path",
            "dfsp-ca.crt",
        ]))
        .unwrap();
        let tls = config.callbacks.delivery_config().unwrap().tls;
        assert_eq!(tls.cert_and_key, Some(("hub.crt".into(), "hub.key".into())));
        assert_eq!(tls.ca, Some("dfsp-ca.crt".into()));
        // A certificate without its key is refused.
        assert!(
            Config::try_parse_from(base.into_iter().chain(["--callback-tls-cert-path", "c"]))
                .is_err()
        );
    }

    #[test]
    fn per_dfsp_limits_and_the_address_allow_list() {
        let base = ["notification-handler", "--database-url", "mysql://u:p@h/db"];
        let config = Config::try_parse_from(base).unwrap();
        let delivery = config.callbacks.delivery_config().unwrap();
        assert_eq!(delivery.lanes.max_in_flight, 64);
        assert_eq!(delivery.lanes.queue_capacity, 1_000);
        assert_eq!(delivery.lanes.max_wait, Duration::from_millis(200));
        assert_eq!(delivery.lanes.circuit_failures, 5);
        assert_eq!(delivery.address_policy, AddressPolicy::default());
        let config = Config::try_parse_from(base.into_iter().chain([
            "--callback-address-allow-list",
            "169.254.10.0/24, metadata.internal.example",
        ]))
        .unwrap();
        let policy = config.callbacks.delivery_config().unwrap().address_policy;
        assert!(policy.check_ip("169.254.10.7".parse().unwrap()).is_ok());
        assert!(policy.check_ip("169.254.169.254".parse().unwrap()).is_err());
        // A list that does not parse stops the start, with the flag's name.
        assert!(
            Config::try_parse_from(
                base.into_iter()
                    .chain(["--callback-address-allow-list", "10.0.0.0/33"])
            )
            .is_err()
        );
    }
}
