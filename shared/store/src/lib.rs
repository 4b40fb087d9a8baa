//! MySQL access for ferroloop.
//!
//! Every SQL statement of the project lives in this crate, grouped by aggregate. Handlers ask
//! for what a whole batch needs in one call and write a batch in one transaction; nothing here
//! decides business outcomes (that is `ferroloop-core`).
//!
//! - [`connect`] / [`DatabaseArgs`]: a pool from typed configuration.
//! - [`MIGRATOR`]: the schema in `migrations/`, embedded at compile time.
//!
//! One module per aggregate, each with its reads, writes and (where the handlers cache) its
//! cache:
//!
//! - [`transfers`]: transfers, duplicate checks, the state journal, details, timeouts, views,
//!   and the admin API's funds in and out;
//! - [`positions`]: positions, the net debit caps a reservation reads, the position journal;
//! - [`participants`]: participants with their accounts, limits, endpoints and JWS keys;
//! - [`approvals`] / [`audit`]: the admin API's maker/checker requests and hash-chained audit log;
//! - [`settlement`]: settlement models, windows, settlements and their invariants;
//! - [`invariants`]: the SQL that checks the storage invariants I1–I4 (docs/invariants.md),
//!   shared by the test suite and the load test's validity gate.
//!
//! Across them: [`epoch`] (the admin change epoch every admin transaction bumps), [`cache`] (the
//! one read-through cache the handlers keep, emptied when that epoch moves) and [`admin`] (what
//! an admin change starts with, under one name).

pub mod admin;
pub mod approvals;
pub mod audit;
pub mod cache;
mod columns;
pub mod epoch;
pub mod invariants;
pub mod participants;
pub mod positions;
pub mod settlement;
pub mod statements;
pub mod transfers;

// The endpoint and JWS key modules at their former top-level paths: the API adapter and the
// notification handler name them so.
pub use participants::{endpoints, jws_keys};

use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
pub use sqlx::{MySql, MySqlConnection, MySqlPool, Transaction};

/// The schema, embedded from `migrations/` at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Errors of the storage layer. Deadlocks and lock-wait timeouts are transient: callers retry
/// the whole batch transaction a bounded number of times (see [`StoreError::is_transient`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// A column holds text its domain type refuses (a transfer id, a currency, a hash): a row
    /// written outside the hub's rules. The row is refused where it is read, never unwrapped.
    #[error("{column} holds {value:?}, which is not a valid {expected}")]
    InvalidColumn {
        column: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// MySQL error numbers that mean "try the transaction again".
const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
const ER_LOCK_DEADLOCK: u16 = 1213;

impl StoreError {
    /// True for errors that a retry of the same transaction can cure: lock waits, deadlocks and
    /// lost connections. Constraint violations and corrupt data are not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => db
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .is_some_and(|e| matches!(e.number(), ER_LOCK_WAIT_TIMEOUT | ER_LOCK_DEADLOCK)),
            StoreError::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
            ) => true,
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Rows per multi-row statement; keeps every statement far below MySQL's 65,535 placeholders.
pub const MAX_ROWS_PER_STATEMENT: usize = statements::MAX_ROWS;

/// MySQL's "duplicate entry" error (a unique key refused the row).
const ER_DUP_ENTRY: u16 = 1062;

/// True when the error is a unique-key violation.
pub fn is_duplicate_key(error: &StoreError) -> bool {
    match error {
        StoreError::Database(sqlx::Error::Database(db)) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|e| e.number() == ER_DUP_ENTRY),
        _ => false,
    }
}

/// A UTC instant as stored in a `DATETIME(3)` column: truncated to the millisecond (MySQL would
/// round, and the value kept in memory must equal the stored one).
pub fn db_time(t: time::OffsetDateTime) -> time::PrimitiveDateTime {
    let utc = t.to_offset(time::UtcOffset::UTC);
    let millis = u32::from(utc.millisecond());
    let truncated = utc.replace_nanosecond(millis * 1_000_000).unwrap_or(utc);
    time::PrimitiveDateTime::new(truncated.date(), truncated.time())
}

/// A savepoint inside the caller's transaction: work that can be undone on its own
/// (`rollback`) while the enclosing transaction goes on (the admin API's dry runs and approved
/// executions).
pub async fn savepoint(conn: &mut MySqlConnection) -> Result<Transaction<'_, MySql>> {
    Ok(sqlx::Connection::begin(conn).await?)
}

/// Database settings shared by every process (flattened into each binary's configuration).
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// MySQL/MariaDB URL, e.g. mysql://ferroloop:ferroloop@127.0.0.1:3306/ferroloop. It holds the
    /// password, so `--help` names the variable but never prints its value.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Upper bound on pooled connections of this process.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 8)]
    pub database_max_connections: u32,
    /// How long a caller may wait for a pooled connection before the batch fails (and is retried).
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_MS", default_value_t = 5_000)]
    pub database_acquire_timeout_ms: u64,
    /// Apply pending migrations at start-up (the Helm chart runs them as a Job instead).
    #[arg(long, env = "DATABASE_MIGRATE", default_value_t = false)]
    pub database_migrate: bool,
}

impl DatabaseArgs {
    pub fn for_url(url: impl Into<String>) -> Self {
        Self {
            database_url: url.into(),
            database_max_connections: 8,
            database_acquire_timeout_ms: 5_000,
            database_migrate: false,
        }
    }
}

/// Opens a pool. Sessions run in UTC and in READ COMMITTED: every read that guards a write is a
/// locking read (`FOR UPDATE`), so REPEATABLE READ's gap locks would only add deadlocks.
pub async fn connect(args: &DatabaseArgs) -> Result<MySqlPool> {
    let options: MySqlConnectOptions = args.database_url.parse()?;
    let options = options.statement_cache_capacity(512);
    let pool = MySqlPoolOptions::new()
        .max_connections(args.database_max_connections)
        .acquire_timeout(Duration::from_millis(args.database_acquire_timeout_ms))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    if args.database_migrate {
        accept_comment_revisions(&pool).await?;
        MIGRATOR.run(&pool).await?;
    }
    Ok(pool)
}

/// Migrations whose comments were reworded after they were released, with the SHA-384 checksum
/// of the released text. sqlx refuses to run when an applied migration's checksum changed, so a
/// database that applied the released text has its recorded checksum moved to the current one —
/// only from exactly that old value, so a migration whose SQL really changed is still refused.
const COMMENT_REVISIONS: [(i64, &str); 1] = [(
    20261202000001,
    "1085f0e2bab46846cde07df64ad80f866b1268c4d4e9a7c9d31b583ca1a65fefe01ed0ffe272f36239b430e38611f7d0",
)];

async fn accept_comment_revisions(pool: &MySqlPool) -> Result<(), StoreError> {
    let table: Option<String> = sqlx::query_scalar(
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name = '_sqlx_migrations'",
    )
    .fetch_optional(pool)
    .await?;
    if table.is_none() {
        return Ok(());
    }
    for (version, released) in COMMENT_REVISIONS {
        let Some(current) = MIGRATOR.iter().find(|m| m.version == version) else {
            continue;
        };
        let released = decode_hex(released);
        sqlx::query("UPDATE _sqlx_migrations SET checksum = ? WHERE version = ? AND checksum = ?")
            .bind(current.checksum.as_ref())
            .bind(version)
            .bind(released)
            .execute(pool)
            .await?;
    }
    Ok(())
}

fn decode_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod args_tests {
    use super::*;
    use clap::Args as _;

    /// The database URL holds the password: `--help` names the variable, never its value.
    #[test]
    fn database_url_is_hidden_from_help() {
        let command = DatabaseArgs::augment_args(clap::Command::new("t"));
        let hidden: Vec<&str> = command
            .get_arguments()
            .filter(|a| a.is_hide_env_values_set())
            .map(|a| a.get_id().as_str())
            .collect();
        assert_eq!(hidden, ["database_url"]);
    }
}
