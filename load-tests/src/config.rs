//! The tool's settings: every one a flag or an environment variable (`ferroloop-load --help`).

use std::net::SocketAddr;
use std::path::PathBuf;

use rust_decimal::Decimal;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "ferroloop-load",
    version,
    about = "Load-test a ferroloop (or any FSPIOP) hub: onboard DFSPs, simulate them, drive transfers, measure, and check the ledger afterwards."
)]
pub struct Args {
    /// FSPIOP API of the hub.
    #[arg(
        long,
        env = "FERROLOOP_API_URL",
        default_value = "http://127.0.0.1:3000"
    )]
    pub api_url: String,
    /// Admin API of the hub (onboarding, positions).
    #[arg(
        long,
        env = "FERROLOOP_ADMIN_URL",
        default_value = "http://127.0.0.1:3001"
    )]
    pub admin_url: String,
    /// Bearer token for the admin API when its auth is on (operator and finance-maker roles:
    /// onboarding and funds-in requests). Without it the tool speaks central-ledger's
    /// unauthenticated admin API.
    #[arg(long, env = "FERROLOOP_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Token of a different operator with the finance-checker role: the tool approves its own
    /// requests (opening position and cap, endpoints, funds-in) with it when the admin API
    /// answers them with a pending approval.
    #[arg(long, env = "FERROLOOP_ADMIN_CHECKER_TOKEN", hide_env_values = true)]
    pub admin_checker_token: Option<String>,
    /// Where the embedded DFSP simulators listen.
    #[arg(long, env = "LOAD_SIMULATOR_ADDR", default_value = "127.0.0.1:0")]
    pub simulator_addr: SocketAddr,
    /// Base URL the hub calls the simulators at; defaults to `http://<simulator address>`. Set it
    /// when the hub runs elsewhere (e.g. a Kubernetes cluster reaching this machine).
    #[arg(long, env = "LOAD_CALLBACK_URL")]
    pub callback_url: Option<String>,
    /// MySQL URL of the hub's database, for the validity gate. Without it only the callback half
    /// of the gate runs. Never printed by `--help` (it holds the password).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The hub's Kafka broker, in words (e.g. "tansu 0.6.0, sqlite engine, 8 partitions per
    /// topic"): the tool cannot see it, so whoever runs it says; printed with the table and kept
    /// in the reports. `make bench` sets it.
    #[arg(long, env = "LOAD_BROKER")]
    pub broker: Option<String>,

    /// Simulated DFSPs to onboard (each is payer and payee).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(2..=1000))]
    pub dfsps: u16,
    /// Prefix of the DFSP names; a random run tag follows, so runs never collide.
    #[arg(long, default_value = "lt")]
    pub name_prefix: String,
    #[arg(long, default_value = "USD")]
    pub currency: String,
    /// Amount of every transfer.
    #[arg(long, default_value = "1")]
    pub amount: Decimal,
    /// `loose`: limits never bind. `binding`: each payer's net debit cap admits only
    /// `--binding-transfers` transfers, so the rest are refused with 4200 (expected, not errors).
    #[arg(long, value_enum, default_value_t = Limits::Loose)]
    pub limits: Limits,
    /// With `--limits binding`: transfers each payer's cap admits.
    #[arg(long, default_value_t = 10)]
    pub binding_transfers: u32,

    /// `open`: a constant arrival rate, whatever the hub does. `closed`: a fixed number of
    /// transfers in flight, each started when one ends.
    #[arg(long, value_enum, default_value_t = Mode::Open)]
    pub mode: Mode,
    /// Open loop: transfers started per second.
    #[arg(long, default_value_t = 100)]
    pub rate: u32,
    /// Closed loop: transfers in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: u32,
    /// How long to send, in seconds (the run then waits for the transfers in flight).
    #[arg(long, conflicts_with = "count")]
    pub duration_seconds: Option<u64>,
    /// How many transfers to send.
    #[arg(long)]
    pub count: Option<u64>,
    /// Seconds of the run's start left out of the latency figures (connection set-up, caches).
    #[arg(long, default_value_t = 0)]
    pub warmup_seconds: u64,
    /// Length of the report's latency windows in seconds: the performance bar asks for the
    /// end-to-end p99 of every 15-second window (docs/performance.md).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub window_seconds: u64,

    /// Who pays whom: `static` (fixed pairs 0→1, 2→3, …), `random`, or `skewed` (one DFSP sends
    /// `--skew-percent` of the traffic, as Mojaloop's own benchmark does).
    #[arg(long, value_enum, default_value_t = Pairs::Random)]
    pub pairs: Pairs,
    #[arg(long, default_value_t = 70, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub skew_percent: u8,
    /// Percent of transfers whose payee answers RESERVED (the hub then commits and PATCHes it).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub reserved_percent: u8,
    /// Percent of transfers whose payee never answers (they expire: timeout load).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub silent_percent: u8,
    /// Seconds from the POST to the transfer's expiration.
    #[arg(long, default_value_t = 30)]
    pub expiry_seconds: u64,
    /// How long after the last send to wait for transfers to end (beyond their expiry).
    #[arg(long, default_value_t = 15)]
    pub drain_grace_seconds: u64,
    /// After every payer heard the end, how long to wait for payee notices still owed before
    /// the simulators stop (within the drain's deadline).
    #[arg(long, default_value_t = 5_000)]
    pub payee_grace_ms: u64,
    /// Close the open settlement window and settle it to SETTLED every this many seconds while
    /// the run goes (docs/settlement.md); the gate then also checks the settlement invariants.
    #[arg(long, env = "LOAD_SETTLE_EVERY_SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub settle_every_seconds: Option<u64>,

    /// Upper bound on POSTs in flight; beyond it the driver waits (and, open loop, the wait
    /// counts as latency).
    #[arg(long, default_value_t = 20_000)]
    pub max_in_flight: u32,
    /// Timeout of one HTTP request the tool makes.
    #[arg(long, default_value_t = 10_000)]
    pub http_timeout_ms: u64,
    /// How long the tool keeps an idle connection to the hub for reuse. Shorter than the hub's
    /// idle close (`FSPIOP_HEADER_READ_TIMEOUT_MS`, 10 s by default), so the tool never sends on
    /// a connection the hub is closing at that instant (the request would fail unanswered).
    #[arg(long, default_value_t = 5_000)]
    pub http_idle_timeout_ms: u64,
    /// Seed of the pair choice, so a run can be repeated.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// The hub is under injected faults (`make chaos`): POSTs refused or unanswered while the
    /// adapter is down, and transfers that expired because a message was lost in a crash, are
    /// final states rather than gate failures; up to `--allowed-duplicate-callbacks` duplicate
    /// callbacks pass. The report's `faults` section counts all of them either way.
    #[arg(long)]
    pub under_faults: bool,
    /// Duplicate final callbacks (payer or payee) the gate lets pass (`make chaos` states its
    /// bound per fault).
    #[arg(long, default_value_t = 0)]
    pub allowed_duplicate_callbacks: u64,
    /// Attempts of a payee's PUT (the first included) when it fails to send or gets a 5xx, as a
    /// DFSP resends an answer the hub did not take.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub payee_answer_attempts: u32,
    /// The first DFSP answers every callback with 503 from this many seconds after the first
    /// send, for `--failing-dfsp-for-seconds` (the hub's callback retries are put to work).
    #[arg(long, requires = "failing_dfsp_for_seconds")]
    pub failing_dfsp_from_seconds: Option<u64>,
    #[arg(long, requires = "failing_dfsp_from_seconds")]
    pub failing_dfsp_for_seconds: Option<u64>,
    /// After the drain, every payer still waiting asks the hub with GET /transfers/{ID} (the
    /// FSPIOP recovery for a missed callback) and waits up to `--recover-wait-seconds` for the
    /// answers; the report counts the transfers learnt that way.
    #[arg(long)]
    pub recover_with_get: bool,
    #[arg(long, default_value_t = 20)]
    pub recover_wait_seconds: u64,

    /// A process whose CPU the report plots per second, as `NAME=PID` (repeatable; e.g. the
    /// hub's services, MariaDB and the broker). The tool always plots itself.
    #[arg(long = "watch-pid", value_name = "NAME=PID")]
    pub watch_pids: Vec<crate::cpu::Watched>,

    /// Directory for the JSON and HTML reports (a sub-directory per run).
    #[arg(long, default_value = "load-tests/reports")]
    pub report_dir: PathBuf,
    /// No progress bar (e.g. in CI logs).
    #[arg(long)]
    pub no_progress: bool,
    /// Write nothing but the table (no JSON/HTML files).
    #[arg(long)]
    pub no_files: bool,

    /// The DFSP names' run tag instead of a random one (6 lowercase letters or digits), so that
    /// certificates can be issued for the names beforehand (`scripts/certs.sh dfsp`).
    #[arg(long, env = "LOAD_RUN_TAG")]
    pub run_tag: Option<String>,
    /// PEM CA bundle that the hub's TLS server certificate must chain to (an `https` API URL).
    #[arg(long, env = "LOAD_TLS_CA_PATH")]
    pub tls_ca_path: Option<PathBuf>,
    /// PEM client certificate presented to an mTLS hub; its CN/SAN names must cover every
    /// simulated DFSP (`scripts/certs.sh dfsp NAME…`).
    #[arg(long, env = "LOAD_TLS_CERT_PATH", requires = "tls_key_path")]
    pub tls_cert_path: Option<PathBuf>,
    #[arg(long, env = "LOAD_TLS_KEY_PATH", requires = "tls_cert_path")]
    pub tls_key_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pairs {
    Static,
    Random,
    Skewed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limits {
    Loose,
    Binding,
}

impl Args {
    /// Checks that the settings make a run; the message says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.count.is_none() && self.duration_seconds.is_none() {
            return Err("give --count or --duration-seconds".into());
        }
        if u16::from(self.reserved_percent) + u16::from(self.silent_percent) > 100 {
            return Err("--reserved-percent plus --silent-percent exceeds 100".into());
        }
        if self.mode == Mode::Open && self.rate == 0 {
            return Err("--rate must be positive".into());
        }
        if self.mode == Mode::Closed && self.concurrency == 0 {
            return Err("--concurrency must be positive".into());
        }
        if self.amount <= Decimal::ZERO || self.amount.scale() > 4 {
            return Err("--amount must be positive with at most 4 decimals".into());
        }
        if self.pairs == Pairs::Static && self.dfsps % 2 == 1 {
            return Err("--pairs static needs an even number of --dfsps".into());
        }
        // Names are at most 30 characters (central-ledger's rule): prefix + 6-char tag + 'p' + 4 digits.
        if self.name_prefix.is_empty() || self.name_prefix.len() > 19 {
            return Err("--name-prefix must be 1 to 19 characters".into());
        }
        if !self.name_prefix.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("--name-prefix must be ASCII letters and digits".into());
        }
        if let Some(tag) = &self.run_tag
            && (tag.len() != 6
                || !tag
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        {
            return Err("--run-tag must be 6 lowercase letters or digits".into());
        }
        Ok(())
    }
}
