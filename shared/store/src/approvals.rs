//! Maker/checker requests of the admin API (`admin_approval`): a change asked for by one person
//! and executed only when another approves it before it expires. A request leaves PENDING once,
//! through a conditional UPDATE, in the transaction that also executes (or refuses) the change.

use ferroloop_core::ledger_id::AccountId;
use sqlx::{MySqlConnection, Row};
use time::PrimitiveDateTime;

use crate::Result;

/// A request's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    Pending,
    /// Approved and executed; the action's answer is kept.
    Executed,
    /// Approved, but the action refused at execution (e.g. the account was deactivated
    /// meanwhile); nothing changed.
    Failed,
    Rejected,
    /// Not decided before `expires_at`; it can no longer be approved.
    Expired,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "PENDING",
            ApprovalStatus::Executed => "EXECUTED",
            ApprovalStatus::Failed => "FAILED",
            ApprovalStatus::Rejected => "REJECTED",
            ApprovalStatus::Expired => "EXPIRED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            ApprovalStatus::Pending,
            ApprovalStatus::Executed,
            ApprovalStatus::Failed,
            ApprovalStatus::Rejected,
            ApprovalStatus::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A new request.
#[derive(Debug, Clone)]
pub struct NewApproval<'a> {
    pub approval_id: &'a str,
    pub action: &'a str,
    pub participant_name: &'a str,
    pub account_id: Option<AccountId>,
    pub transfer_id: Option<&'a str>,
    pub request_path: &'a str,
    pub request_body: &'a str,
    pub maker: &'a str,
    pub created_at: PrimitiveDateTime,
    pub expires_at: PrimitiveDateTime,
}

/// A stored request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalView {
    pub approval_id: String,
    pub action: String,
    pub participant_name: String,
    pub account_id: Option<AccountId>,
    pub transfer_id: Option<String>,
    pub request_path: String,
    pub request_body: String,
    pub status: ApprovalStatus,
    pub maker: String,
    pub checker: Option<String>,
    pub created_at: PrimitiveDateTime,
    pub expires_at: PrimitiveDateTime,
    pub decided_at: Option<PrimitiveDateTime>,
    pub decision_reason: Option<String>,
    pub result_status: Option<u16>,
    pub result_body: Option<String>,
}

pub async fn insert(conn: &mut MySqlConnection, approval: &NewApproval<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO admin_approval (approval_id, action, participant_name, account_id, transfer_id,
             request_path, request_body, maker, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(approval.approval_id)
    .bind(approval.action)
    .bind(approval.participant_name)
    .bind(approval.account_id)
    .bind(approval.transfer_id)
    .bind(approval.request_path)
    .bind(approval.request_body)
    .bind(approval.maker)
    .bind(approval.created_at)
    .bind(approval.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

const COLUMNS: &str =
    "approval_id, action, participant_name, account_id, transfer_id, request_path,
     request_body, status, maker, checker, created_at, expires_at, decided_at, decision_reason,
     result_status, result_body";

fn view(r: &sqlx::mysql::MySqlRow) -> Result<ApprovalView> {
    let status: String = r.try_get("status")?;
    Ok(ApprovalView {
        approval_id: r.try_get("approval_id")?,
        action: r.try_get("action")?,
        participant_name: r.try_get("participant_name")?,
        account_id: r.try_get("account_id")?,
        transfer_id: r.try_get("transfer_id")?,
        request_path: r.try_get("request_path")?,
        request_body: r.try_get("request_body")?,
        status: ApprovalStatus::parse(&status).ok_or_else(|| {
            crate::StoreError::Corrupt(format!("unknown approval status {status}"))
        })?,
        maker: r.try_get("maker")?,
        checker: r.try_get("checker")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        decided_at: r.try_get("decided_at")?,
        decision_reason: r.try_get("decision_reason")?,
        result_status: r.try_get("result_status")?,
        result_body: r.try_get("result_body")?,
    })
}

/// One request; `lock` takes its row lock until the transaction ends.
pub async fn get(
    conn: &mut MySqlConnection,
    approval_id: &str,
    lock: bool,
) -> Result<Option<ApprovalView>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM admin_approval WHERE approval_id = ?{lock}"
    )))
    .bind(approval_id)
    .fetch_optional(&mut *conn)
    .await?;
    found.as_ref().map(view).transpose()
}

/// Up to `limit` requests, newest first, optionally only those stored with `status`.
pub async fn list(
    conn: &mut MySqlConnection,
    status: Option<ApprovalStatus>,
    limit: u32,
) -> Result<Vec<ApprovalView>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM admin_approval WHERE (? IS NULL OR status = ?)
         ORDER BY created_at DESC, approval_id DESC LIMIT ?"
    )))
    .bind(status.map(ApprovalStatus::as_str))
    .bind(status.map(ApprovalStatus::as_str))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(view).collect()
}

/// Claims a PENDING request for a decision: moves it to `to` only if it is still PENDING, not
/// expired at `now`, and `checker` is not its maker. True when this caller won the claim — the
/// one caller that may then execute the change, in the same transaction.
pub async fn claim(
    conn: &mut MySqlConnection,
    approval_id: &str,
    to: ApprovalStatus,
    checker: &str,
    reason: Option<&str>,
    now: PrimitiveDateTime,
) -> Result<bool> {
    let claimed = sqlx::query(
        "UPDATE admin_approval SET status = ?, checker = ?, decided_at = ?, decision_reason = ?
         WHERE approval_id = ? AND status = 'PENDING' AND expires_at > ? AND maker <> ?",
    )
    .bind(to.as_str())
    .bind(checker)
    .bind(now)
    .bind(reason)
    .bind(approval_id)
    .bind(now)
    .bind(checker)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// Marks a PENDING request past its expiry as EXPIRED; true when it did.
pub async fn expire(
    conn: &mut MySqlConnection,
    approval_id: &str,
    now: PrimitiveDateTime,
) -> Result<bool> {
    let expired = sqlx::query(
        "UPDATE admin_approval SET status = 'EXPIRED', decided_at = ?
         WHERE approval_id = ? AND status = 'PENDING' AND expires_at <= ?",
    )
    .bind(now)
    .bind(approval_id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(expired == 1)
}

/// Records the executed action's answer (and FAILED when it refused).
pub async fn record_result(
    conn: &mut MySqlConnection,
    approval_id: &str,
    status: ApprovalStatus,
    result_status: u16,
    result_body: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE admin_approval SET status = ?, result_status = ?, result_body = ? WHERE approval_id = ?",
    )
    .bind(status.as_str())
    .bind(result_status)
    .bind(result_body)
    .bind(approval_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Test support: moves a request's expiry (tests expire requests without waiting).
pub async fn set_expiry(
    conn: &mut MySqlConnection,
    approval_id: &str,
    expires_at: PrimitiveDateTime,
) -> Result<()> {
    sqlx::query("UPDATE admin_approval SET expires_at = ? WHERE approval_id = ?")
        .bind(expires_at)
        .bind(approval_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
