//! The audit chain on the real MariaDB: concurrent appenders queue on the head and never fork
//! the chain; verification walks it in pages.

use ferroloop_store::audit::{self, AuditEntry, Verification};
use ferroloop_testkit::TestDatabase;

fn entry(actor: &str) -> AuditEntry {
    AuditEntry {
        at: ferroloop_store::db_time(time::OffsetDateTime::now_utc()),
        actor: actor.into(),
        roles: "operator".into(),
        method: "POST".into(),
        route: "/participants".into(),
        path: "/participants".into(),
        outcome: "ok".into(),
        http_status: 201,
        approval_id: None,
        request: Some("{\"name\":\"x\"}".into()),
        before: None,
        after: None,
        detail: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_form_one_chain() {
    let db = TestDatabase::new().await;
    let appenders = (0..8).map(|i| {
        let pool = db.pool.clone();
        tokio::spawn(async move {
            for j in 0..5 {
                let mut tx = pool.begin().await.unwrap();
                audit::append(&mut tx, &entry(&format!("actor-{i}-{j}")))
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        })
    });
    for appender in futures::future::join_all(appenders).await {
        appender.unwrap();
    }
    // A small page size makes the walk cross page boundaries.
    match audit::verify(&db.pool, 3, None).await.unwrap() {
        Verification::Intact(chain) => assert_eq!(chain.rows, 40),
        Verification::Broken(broken) => panic!("{broken}"),
    }
    let mut conn = db.pool.acquire().await.unwrap();
    let (seq, hash) = audit::head(&mut conn).await.unwrap().unwrap();
    assert_eq!(seq, 40);
    // An anchor taken from the head verifies; a wrong one names its row.
    assert!(matches!(
        audit::verify(&db.pool, 100, Some((seq, hash)))
            .await
            .unwrap(),
        Verification::Intact(_)
    ));
    match audit::verify(&db.pool, 100, Some((7, [1; 32])))
        .await
        .unwrap()
    {
        Verification::Broken(broken) => assert_eq!(broken.seq(), 7),
        Verification::Intact(_) => panic!("a wrong anchor verified"),
    }
}

#[tokio::test]
async fn a_rolled_back_action_leaves_no_row() {
    let db = TestDatabase::new().await;
    let mut tx = db.pool.begin().await.unwrap();
    audit::append(&mut tx, &entry("ghost")).await.unwrap();
    tx.rollback().await.unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    assert_eq!(audit::head(&mut conn).await.unwrap(), None);
    assert!(matches!(
        audit::verify(&db.pool, 10, None).await.unwrap(),
        Verification::Intact(chain) if chain.rows == 0
    ));
}
