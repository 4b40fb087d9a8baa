//! Test support against the real services of the local stack (`make up`):
//! - [`TestDatabase`]: a fresh database per test, migrated, dropped when the test passes
//!   (kept for inspection when it fails);
//! - [`TestBroker`]: a unique topic prefix per test with every topic created, so tests run in
//!   parallel on one broker without seeing each other's messages;
//! - [`pki`]: an in-memory test PKI (CA, server and client certificates) for TLS tests;
//! - [`http_client`]: a reqwest client, after installing the TLS crypto provider reqwest needs.
//!
//! Locations come from `FERROLOOP_TEST_MYSQL_URL` (server URL without database, default
//! `mysql://ferroloop:ferroloop@127.0.0.1:3306`) and `FERROLOOP_TEST_KAFKA` (default
//! `127.0.0.1:9092`).

pub mod pki;

use ferroloop_messaging::{KafkaArgs, Topics};
use ferroloop_store::{DatabaseArgs, MySqlPool};
use sqlx::Connection as _;

pub const DEFAULT_MYSQL_URL: &str = "mysql://ferroloop:ferroloop@127.0.0.1:3306";
pub const DEFAULT_KAFKA: &str = "127.0.0.1:9092";

fn mysql_server_url() -> String {
    std::env::var("FERROLOOP_TEST_MYSQL_URL").unwrap_or_else(|_| DEFAULT_MYSQL_URL.to_owned())
}

/// A plain reqwest client. reqwest is built with rustls and no provider of its own (no aws-lc),
/// so a process must install one before building a client: this does.
pub fn http_client() -> reqwest::Client {
    ferroloop_tls::install_crypto_provider();
    reqwest::Client::new()
}

/// A unique lowercase name for per-test resources.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// A fresh, migrated database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    pub pool: MySqlPool,
}

impl TestDatabase {
    pub async fn new() -> Self {
        // Tests that use one also build reqwest clients (see `http_client`).
        ferroloop_tls::install_crypto_provider();
        let server = mysql_server_url();
        let name = unique_name("ft_");
        let mut admin = sqlx::MySqlConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("cannot reach MariaDB at {server} (run `make up`): {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )))
        .execute(&mut admin)
        .await
        .expect("create test database");
        admin.close().await.ok();
        let url = format!("{server}/{name}");
        let mut args = DatabaseArgs::for_url(&url);
        args.database_migrate = true;
        let pool = ferroloop_store::connect(&args)
            .await
            .expect("connect and migrate test database");
        Self { name, url, pool }
    }

    pub fn args(&self) -> DatabaseArgs {
        DatabaseArgs::for_url(&self.url)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: database {} kept for inspection", self.name);
            return;
        }
        let name = self.name.clone();
        // Drop runs outside async context: use a private runtime on a plain thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(drop_database(name))
        })
        .join();
        drop(dropped);
    }
}

/// Drops a test's database. The test's runtime is blocked while this runs (`Drop` joins it), so
/// the test's own tasks cannot finish a transaction they hold open: their connections are
/// killed first, and `DROP DATABASE` waits at most `DROP_LOCK_WAIT_SECONDS` for a metadata
/// lock (MariaDB's default wait is a year, which hung whole test runs). A database left behind
/// is removed by `scripts/stack.sh drop-test-databases` before the next `make test`.
async fn drop_database(name: String) -> Option<()> {
    const DROP_LOCK_WAIT_SECONDS: u32 = 10;
    let mut admin = sqlx::MySqlConnection::connect(&mysql_server_url())
        .await
        .ok()?;
    let set_wait = format!("SET SESSION lock_wait_timeout = {DROP_LOCK_WAIT_SECONDS}");
    sqlx::query(sqlx::AssertSqlSafe(set_wait))
        .execute(&mut admin)
        .await
        .ok()?;
    let users: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()",
    )
    .bind(&name)
    .fetch_all(&mut admin)
    .await
    .unwrap_or_else(|e| {
        eprintln!("database {name}: its connections could not be listed: {e}");
        Vec::new()
    });
    for id in users {
        let kill = format!("KILL CONNECTION {id}");
        sqlx::query(sqlx::AssertSqlSafe(kill))
            .execute(&mut admin)
            .await
            .ok();
    }
    let statement = format!("DROP DATABASE IF EXISTS `{name}`");
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(&mut admin)
        .await
        .ok()?;
    Some(())
}

/// Topics of one test on the shared broker.
#[derive(Debug, Clone)]
pub struct TestBroker {
    pub args: KafkaArgs,
}

impl TestBroker {
    /// Creates every topic of the flow under a unique prefix.
    pub async fn new() -> Self {
        // Tests that use one also build reqwest clients (see `http_client`).
        ferroloop_tls::install_crypto_provider();
        Self::with_partitions(2).await
    }

    pub async fn with_partitions(partitions: i32) -> Self {
        let brokers =
            std::env::var("FERROLOOP_TEST_KAFKA").unwrap_or_else(|_| DEFAULT_KAFKA.to_owned());
        let args = KafkaArgs::local(brokers, unique_name("ft-") + "-");
        let topics = args.topics();
        ferroloop_messaging::admin::ensure_topics(&args, &topics.all_with_partitions(partitions))
            .await
            .unwrap_or_else(|e| panic!("cannot create topics (run `make up`): {e}"));
        Self { args }
    }

    pub fn topics(&self) -> Topics {
        self.args.topics()
    }

    /// A consumer group id unique to this test.
    pub fn group(&self, name: &str) -> String {
        format!("{}{name}", self.args.kafka_topic_prefix)
    }
}
