//! Maker/checker requests of the admin API (`admin_approval`): a change asked for by one person
//! and executed only when another approves it before it expires. A request leaves PENDING once,
//! through a conditional UPDATE, in the transaction that also executes (or refuses) the change.

use ferroloop_core::ledger_id::AccountId;
use sqlx::MySqlConnection;
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
    sqlx::query!(
        "INSERT INTO admin_approval (approval_id, action, participant_name, account_id, transfer_id,
             request_path, request_body, maker, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        approval.approval_id,
        approval.action,
        approval.participant_name,
        approval.account_id,
        approval.transfer_id,
        approval.request_path,
        approval.request_body,
        approval.maker,
        approval.created_at,
        approval.expires_at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A stored request as read: [`ApprovalView`] with its status still text.
struct ApprovalRow {
    approval_id: String,
    action: String,
    participant_name: String,
    account_id: Option<AccountId>,
    transfer_id: Option<String>,
    request_path: String,
    request_body: String,
    status: String,
    maker: String,
    checker: Option<String>,
    created_at: PrimitiveDateTime,
    expires_at: PrimitiveDateTime,
    decided_at: Option<PrimitiveDateTime>,
    decision_reason: Option<String>,
    result_status: Option<u16>,
    result_body: Option<String>,
}

impl TryFrom<ApprovalRow> for ApprovalView {
    type Error = crate::StoreError;

    fn try_from(r: ApprovalRow) -> Result<Self> {
        let status = ApprovalStatus::parse(&r.status).ok_or_else(|| {
            crate::StoreError::Corrupt(format!("unknown approval status {}", r.status))
        })?;
        Ok(ApprovalView {
            approval_id: r.approval_id,
            action: r.action,
            participant_name: r.participant_name,
            account_id: r.account_id,
            transfer_id: r.transfer_id,
            request_path: r.request_path,
            request_body: r.request_body,
            status,
            maker: r.maker,
            checker: r.checker,
            created_at: r.created_at,
            expires_at: r.expires_at,
            decided_at: r.decided_at,
            decision_reason: r.decision_reason,
            result_status: r.result_status,
            result_body: r.result_body,
        })
    }
}

/// One request; `lock` takes its row lock until the transaction ends.
pub async fn get(
    conn: &mut MySqlConnection,
    approval_id: &str,
    lock: bool,
) -> Result<Option<ApprovalView>> {
    let found = if lock {
        sqlx::query_as!(
            ApprovalRow,
            r#"SELECT approval_id, action, participant_name, account_id AS "account_id: AccountId",
                 transfer_id, request_path, request_body, status, maker, checker, created_at,
                 expires_at, decided_at, decision_reason, result_status, result_body
               FROM admin_approval WHERE approval_id = ? FOR UPDATE"#,
            approval_id
        )
        .fetch_optional(&mut *conn)
        .await?
    } else {
        sqlx::query_as!(
            ApprovalRow,
            r#"SELECT approval_id, action, participant_name, account_id AS "account_id: AccountId",
                 transfer_id, request_path, request_body, status, maker, checker, created_at,
                 expires_at, decided_at, decision_reason, result_status, result_body
               FROM admin_approval WHERE approval_id = ?"#,
            approval_id
        )
        .fetch_optional(&mut *conn)
        .await?
    };
    found.map(ApprovalView::try_from).transpose()
}

/// Up to `limit` requests, newest first, optionally only those stored with `status`.
pub async fn list(
    conn: &mut MySqlConnection,
    status: Option<ApprovalStatus>,
    limit: u32,
) -> Result<Vec<ApprovalView>> {
    let status = status.map(ApprovalStatus::as_str);
    let rows = sqlx::query_as!(
        ApprovalRow,
        r#"SELECT approval_id, action, participant_name, account_id AS "account_id: AccountId",
             transfer_id, request_path, request_body, status, maker, checker, created_at,
             expires_at, decided_at, decision_reason, result_status, result_body
           FROM admin_approval WHERE (? IS NULL OR status = ?)
           ORDER BY created_at DESC, approval_id DESC LIMIT ?"#,
        status,
        status,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(ApprovalView::try_from).collect()
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
    let claimed = sqlx::query!(
        "UPDATE admin_approval SET status = ?, checker = ?, decided_at = ?, decision_reason = ?
         WHERE approval_id = ? AND status = 'PENDING' AND expires_at > ? AND maker <> ?",
        to.as_str(),
        checker,
        now,
        reason,
        approval_id,
        now,
        checker,
    )
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
    let expired = sqlx::query!(
        "UPDATE admin_approval SET status = 'EXPIRED', decided_at = ?
         WHERE approval_id = ? AND status = 'PENDING' AND expires_at <= ?",
        now,
        approval_id,
        now,
    )
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
    sqlx::query!(
        "UPDATE admin_approval SET status = ?, result_status = ?, result_body = ? WHERE approval_id = ?",
        status.as_str(),
        result_status,
        result_body,
        approval_id,
    )
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
    sqlx::query!(
        "UPDATE admin_approval SET expires_at = ? WHERE approval_id = ?",
        expires_at,
        approval_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
