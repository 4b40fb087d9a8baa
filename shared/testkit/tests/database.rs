//! The per-test database is dropped even when the test still holds a transaction on it.

use std::time::Duration;

use ferroloop_testkit::TestDatabase;
use sqlx::Connection;

/// Far longer than the drop's own lock wait; far shorter than MariaDB's default of a year.
const DROP_DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_database_is_dropped_while_a_transaction_holds_its_tables() {
    let db = TestDatabase::new().await;
    let server = db.url.rsplit_once('/').unwrap().0.to_owned();
    let name = db.name.clone();
    // A transaction that has read a table holds its metadata lock until it ends, as a handler
    // task of the test does when the test ends between two of its statements.
    let mut transaction = db.pool.begin().await.unwrap();
    sqlx::query("SELECT COUNT(*) FROM participant")
        .fetch_one(&mut *transaction)
        .await
        .unwrap();

    let dropped = tokio::task::spawn_blocking(move || drop(db));
    tokio::time::timeout(DROP_DEADLINE, dropped)
        .await
        .expect("the test database was not dropped: DROP DATABASE waited for the open transaction")
        .unwrap();

    let mut admin = sqlx::MySqlConnection::connect(&server).await.unwrap();
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
    )
    .bind(&name)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(left, 0, "database {name} still exists");
    // Its connection was killed: ending the transaction fails or is a no-op, never hangs.
    let _ = tokio::time::timeout(DROP_DEADLINE, transaction.rollback()).await;
}
