//! The admin audit log: appending to the hash chain (`admin_audit`, head in `admin_audit_head`)
//! and walking it for verification. The chain's format and checks are
//! [`ferroloop_core::audit`]'s; this module only stores and reads rows.

use ferroloop_core::audit::{AuditContent, AuditRow, ChainBreak, ChainVerifier, VerifiedChain};
use sqlx::{MySqlConnection, MySqlPool};
use time::PrimitiveDateTime;
use time::macros::format_description;

use crate::{Result, StoreError};

/// One admin action to append (its `seq` and hashes are the appender's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: PrimitiveDateTime,
    pub actor: String,
    pub roles: String,
    pub method: String,
    pub route: String,
    pub path: String,
    pub outcome: String,
    pub http_status: u16,
    pub approval_id: Option<String>,
    pub request: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub detail: Option<String>,
}

/// Where a row landed in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub row_hash: [u8; 32],
}

/// `at` as the canonical form prints it (UTC, milliseconds).
pub fn format_at(at: PrimitiveDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

/// Bounds of the text columns (VARCHAR lengths), so an oversized value is cut instead of
/// failing the action it records.
fn cut(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

fn hash32(bytes: &[u8], what: &str) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

/// Appends `entry` in the caller's transaction: locks the chain head (so concurrent appenders
/// queue and the chain cannot fork), links the row to it and moves the head. The row is part of
/// the caller's transaction: it exists exactly when the action it records committed.
pub async fn append(conn: &mut MySqlConnection, entry: &AuditEntry) -> Result<Appended> {
    let head = sqlx::query!("SELECT seq, row_hash FROM admin_audit_head WHERE id = 1 FOR UPDATE")
        .fetch_one(&mut *conn)
        .await?;
    let head_seq = head.seq;
    let prev_hash = hash32(&head.row_hash, "audit head hash")?;
    let content = AuditContent {
        seq: head_seq + 1,
        at: format_at(entry.at),
        actor: cut(&entry.actor, 128),
        roles: cut(&entry.roles, 512),
        method: cut(&entry.method, 8),
        route: cut(&entry.route, 128),
        path: cut(&entry.path, 512),
        outcome: cut(&entry.outcome, 16),
        http_status: entry.http_status,
        approval_id: entry.approval_id.as_deref().map(|a| cut(a, 36)),
        request: entry.request.clone(),
        before: entry.before.clone(),
        after: entry.after.clone(),
        detail: entry.detail.clone(),
    };
    let row_hash = content.chain_hash(&prev_hash);
    sqlx::query!(
        "INSERT INTO admin_audit (seq, at, actor, roles, method, route, path, outcome, http_status,
             approval_id, request, before_state, after_state, detail, prev_hash, row_hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        content.seq,
        entry.at,
        content.actor,
        content.roles,
        content.method,
        content.route,
        content.path,
        content.outcome,
        content.http_status,
        content.approval_id,
        content.request,
        content.before,
        content.after,
        content.detail,
        &prev_hash[..],
        &row_hash[..],
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE admin_audit_head SET seq = ?, row_hash = ? WHERE id = 1",
        content.seq,
        &row_hash[..]
    )
    .execute(&mut *conn)
    .await?;
    Ok(Appended {
        seq: content.seq,
        row_hash,
    })
}

/// A chain row as read: [`AuditRow`] with its time and hashes not yet in their chain form.
struct AuditRecord {
    seq: u64,
    at: PrimitiveDateTime,
    actor: String,
    roles: String,
    method: String,
    route: String,
    path: String,
    outcome: String,
    http_status: u16,
    approval_id: Option<String>,
    request: Option<String>,
    before_state: Option<String>,
    after_state: Option<String>,
    detail: Option<String>,
    prev_hash: Vec<u8>,
    row_hash: Vec<u8>,
}

fn row(r: AuditRecord) -> Result<AuditRow> {
    Ok(AuditRow {
        prev_hash: hash32(&r.prev_hash, "prev_hash")?,
        row_hash: hash32(&r.row_hash, "row_hash")?,
        content: AuditContent {
            seq: r.seq,
            at: format_at(r.at),
            actor: r.actor,
            roles: r.roles,
            method: r.method,
            route: r.route,
            path: r.path,
            outcome: r.outcome,
            http_status: r.http_status,
            approval_id: r.approval_id,
            request: r.request,
            before: r.before_state,
            after: r.after_state,
            detail: r.detail,
        },
    })
}

/// Up to `limit` rows with `seq > after`, in chain order.
pub async fn rows_after(
    conn: &mut MySqlConnection,
    after: u64,
    limit: u32,
) -> Result<Vec<AuditRow>> {
    let rows = sqlx::query_as!(
        AuditRecord,
        "SELECT seq, at, actor, roles, method, route, path, outcome, http_status, approval_id,
             request, before_state, after_state, detail, prev_hash, row_hash
         FROM admin_audit WHERE seq > ? ORDER BY seq LIMIT ?",
        after,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(row).collect()
}

/// Up to `limit` rows, newest first, with `seq < before` (all when `None`).
pub async fn rows_before(
    conn: &mut MySqlConnection,
    before: Option<u64>,
    limit: u32,
) -> Result<Vec<AuditRow>> {
    let rows = sqlx::query_as!(
        AuditRecord,
        "SELECT seq, at, actor, roles, method, route, path, outcome, http_status, approval_id,
             request, before_state, after_state, detail, prev_hash, row_hash
         FROM admin_audit WHERE seq < ? ORDER BY seq DESC LIMIT ?",
        before.unwrap_or(u64::MAX),
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(row).collect()
}

/// The stored head: last `seq` and its hash (`None` before the first append).
pub async fn head(conn: &mut MySqlConnection) -> Result<Option<(u64, [u8; 32])>> {
    let head = sqlx::query!("SELECT seq, row_hash FROM admin_audit_head WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?;
    let Some(head) = head else {
        return Err(StoreError::Corrupt(
            "the audit chain head row is missing".into(),
        ));
    };
    let seq = head.seq;
    let hash = hash32(&head.row_hash, "audit head hash")?;
    Ok((seq > 0).then_some((seq, hash)))
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Intact(VerifiedChain),
    Broken(ChainBreak),
}

/// Walks the whole chain, `page_size` rows per query, in one consistent snapshot (so appends
/// running meanwhile neither block on the walk nor look like insertions), and names the first
/// row that breaks it. `anchor`: a (seq, hash) recorded earlier outside the database.
pub async fn verify(
    pool: &MySqlPool,
    page_size: u32,
    anchor: Option<(u64, [u8; 32])>,
) -> Result<Verification> {
    let mut conn = pool.acquire().await?;
    // A REPEATABLE READ snapshot for this one transaction (sessions run READ COMMITTED).
    sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *conn)
        .await?;
    sqlx::raw_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .execute(&mut *conn)
        .await?;
    let walked = walk(&mut conn, page_size.max(1), anchor).await;
    let ended = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
    if ended.is_err() {
        // Never hand a connection with an open transaction back to the pool.
        conn.detach();
    }
    let walked = walked?;
    ended?;
    Ok(walked)
}

async fn walk(
    conn: &mut MySqlConnection,
    page_size: u32,
    anchor: Option<(u64, [u8; 32])>,
) -> Result<Verification> {
    let mut verifier = ChainVerifier::new(head(conn).await?);
    if let Some((seq, hash)) = anchor {
        verifier = verifier.expect(seq, hash);
    }
    let mut after = 0;
    loop {
        let page = rows_after(conn, after, page_size).await?;
        let Some(last) = page.last() else { break };
        after = last.content.seq;
        for row in &page {
            if let Err(broken) = verifier.push(row) {
                return Ok(Verification::Broken(broken));
            }
        }
    }
    Ok(match verifier.finish() {
        Ok(chain) => Verification::Intact(chain),
        Err(broken) => Verification::Broken(broken),
    })
}
